"""The plain-v4 reading of an SES_Signature (DER slices around a seal already read) gives
exactly what the full asn1crypto reading gives, and declines (None) whatever it does not
handle: other versions, quirks, extDatas, damaged bytes, a seal not seen before."""
from __future__ import annotations

import datetime as dt
import zipfile

import pytest

from ca.certificate import CertificateBuilder
from ca.testing import LocalSigner, make_hierarchy
from gm.asn1 import der as der_walk
from gm.sm3 import sm3
from seal import structures as st
from seal.errors import SealFormatError

UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def ours() -> dict[str, bytes]:
    h = make_hierarchy()
    now = dt.datetime.now(UTC) - dt.timedelta(minutes=5)
    maker_signer, holder_signer = LocalSigner(), LocalSigner()

    def issue(profile: str, cn: str, signer: LocalSigner) -> bytes:
        return (CertificateBuilder(profile, h.config).subject({"C": "CN", "O": "测试", "CN": cn}).public_key(signer.public_key)
                .issuer(h.issuing).validity(now, now + dt.timedelta(days=30)).sign(h.issuing_signer)).dump()

    maker, holder = issue("seal_maker", "制章", maker_signer), issue("device", "某局", holder_signer)
    info = st.build_seal_info(es_id="44010020260000001X", seal_type=1, name="测试市人民政府",
                              valid_start=now, valid_end=now + dt.timedelta(days=365),
                              picture=st.Picture("PNG", b"\x89PNG...", 42, 42), certificates=[holder])
    seal = st.assemble_seal(info, maker, maker_signer.sign(info))
    out = {}
    for name, ts in (("plain", None), ("timestamped", b"\x30\x03\x02\x01\x01")):
        tbs = st.build_tbs_sign(seal, data_hash=sm3(name.encode()), property_info="/Doc_0/Signs/Sign_0/Signature.xml",
                                time_info=dt.datetime(2026, 3, 1, 8, 0, 7, tzinfo=UTC))
        out[name] = st.assemble_signature(tbs, holder, holder_signer.sign(tbs), timestamp=ts)
    return out


@pytest.fixture(scope="module")
def signatures(ours, shared_vectors) -> dict[str, bytes]:
    out = dict(ours)
    out["SignedValueV4.dat"] = (shared_vectors / "seals" / "SignedValueV4.dat").read_bytes()
    for ofd in sorted((shared_vectors / "ofd").glob("*.ofd")):
        with zipfile.ZipFile(ofd) as package:
            out[ofd.name] = package.read("Doc_0/Signs/Sign_0/SignedValue.dat")
    return out


def _full(der: bytes) -> st.SealSignature | SealFormatError:
    try:
        return st._parse_signature_fully(der)
    except SealFormatError as exc:
        return exc


def test_same_facts_as_the_full_reading(signatures) -> None:
    taken = []
    for name, der in signatures.items():
        full = _full(der)                   # also reads the seal once, as the first document would
        assert not isinstance(full, SealFormatError), name
        fast = st._plain_v4_signature(der)
        if fast is None:
            continue
        taken.append(name)
        assert fast == full, name
        assert fast.time_info.utcoffset() == full.time_info.utcoffset()
        assert st.parse_signature(der) == full
    # ours (with and without a timestamp) and ofdrw's v4 signatures are all plain
    assert set(taken) == set(signatures)


def test_a_seal_not_yet_read_is_read_fully(ours) -> None:
    st.clear_read_caches()
    assert st._plain_v4_signature(ours["plain"]) is None
    first = st.parse_signature(ours["plain"])
    assert st._plain_v4_signature(ours["plain"]) == first


@pytest.mark.parametrize("name", ["plain", "timestamped"])
def test_every_single_byte_change_is_declined_or_read_alike(ours, name) -> None:
    """Each octet changed (two ways): the fast reading is None, or equal to the full reading;
    never a result where the full reading refuses the bytes."""
    der = ours[name]
    st.parse_signature(der)
    for pos in range(len(der)):
        for delta in (0x01, 0x80):
            bad = bytearray(der)
            bad[pos] ^= delta
            bad = bytes(bad)
            fast = st._plain_v4_signature(bad)
            if fast is None:
                continue
            full = _full(bad)
            assert fast == full, (pos, delta)


def test_quirky_or_other_versions_are_declined(ours, shared_vectors) -> None:
    der = ours["plain"]
    st.parse_signature(der)
    # toSign.version 3 instead of 4: a quirk only the full reading reports
    outer = der_walk.tlv(der, 0, len(der))
    to_sign = der_walk.children(der, outer[2], outer[3])[0]
    version = der_walk.children(der, to_sign[2], to_sign[3])[0]
    v3 = der[:version[2]] + b"\x03" + der[version[3]:]
    assert st._plain_v4_signature(v3) is None
    assert any(q.code == "tbs-version" for q in st.parse_signature(v3).quirks)
    # a seal file (SESeal) or trailing bytes are not a plain signature
    assert st._plain_v4_signature((shared_vectors / "seals" / "UserV4.esl").read_bytes()) is None
    assert st._plain_v4_signature(der + b"\x00") is None


def test_der_walker_refuses_non_minimal_and_indefinite_lengths() -> None:
    assert der_walk.tlv(b"\x04\x02ab", 0, 4) == (0x04, 0, 2, 4)
    assert der_walk.tlv(b"\x04\x81\x02ab", 0, 5) is None          # long form for a short length
    assert der_walk.tlv(b"\x30\x80\x00\x00", 0, 4) is None        # indefinite length
    assert der_walk.tlv(b"\x04\x05ab", 0, 4) is None              # runs past the end
    assert der_walk.tlv(b"\x1f\x01\x00", 0, 3) is None            # high tag number form
    assert der_walk.children(b"\x04\x01a\x04", 0, 4) is None      # a truncated second child


def test_a_seal_is_found_by_its_whole_bytes_not_by_its_end(ours) -> None:
    """The plain reading looks a known seal up by its length and last bytes, then compares
    all of it: a seal of the same length and end but another byte inside is not the known
    one, and two known seals sharing an end are both still found."""
    der = ours["plain"]
    known = st.parse_signature(der).seal
    start = der.index(known.der)
    picture = st.parse_seal(known.der).picture.data  # a byte of the picture: the seal still parses
    middle = der.index(picture, start) + len(picture) // 2
    other = bytearray(der)
    other[middle] ^= 0x01
    other = bytes(other)
    assert st._known_v4_seal(other, start, start + len(known.der)) is None
    fast = st._plain_v4_signature(other)
    assert fast is None or fast.seal.der == other[start:start + len(known.der)]

    # a second seal with the very same end is read (fully, once) and kept too: the index by
    # end now names it, and the first is still found by its exact bytes
    twin = _full(other)
    assert not isinstance(twin, SealFormatError)
    assert twin.seal.der[-32:] == known.der[-32:] and twin.seal.der != known.der
    assert st._known_v4_seal(other, start, start + len(known.der)) is twin.seal
    assert st._known_v4_seal(der, start, start + len(known.der)) is known
    assert st._plain_v4_signature(der) == st._parse_signature_fully(der)
