"""A value read with a definite length whose last octet is 0x80 dumps as read (gm/asn1/definite.py).

asn1crypto alone takes such a length (``81 80``, ``82 03 80``, ...) for the indefinite form
and encodes the value again on every dump(): each case below came out changed (BER turned
into DER) or parsed whole before the fix.
"""
from __future__ import annotations

import datetime as dt

import pytest
from asn1crypto import core, x509

import gm  # noqa: F401  (installs the fix, as every eseal entry point does)
from gm.asn1.der import encode as _tlv
from gm.keyformat import encode_public_key_der
from gm.sm2 import PrivateKey
from verify.certfacts import facts_of
from verify.path import verify_signed

SM2_WITH_SM3 = "1.2.156.10197.1.501"



class _Flags(core.Sequence):
    _fields = [("flag", core.Boolean), ("blob", core.OctetString)]


class _Names(core.SetOf):
    _child_spec = core.UTF8String


class _Tagged(core.Choice):
    _alternatives = [("flags", _Flags, {"explicit": 1})]


def _padded_flags(*, flag: bytes) -> bytes:
    """A _Flags of exactly 0x180 content octets (header 30 82 01 80) with the BOOLEAN as given."""
    blob_len = 0x180 - 3 - 4   # BOOLEAN TLV, OCTET STRING header 04 82 xx xx
    return _tlv(0x30, b"\x01\x01" + flag + _tlv(0x04, b"\x07" * blob_len))


def test_a_length_ending_in_0x80_is_what_the_fix_is_about() -> None:
    der = _padded_flags(flag=b"\xff")
    assert der[:4] == bytes.fromhex("30820180")


def test_a_sequence_read_from_ber_dumps_as_read_and_parses_nothing() -> None:
    der = _padded_flags(flag=b"\x01")       # BER TRUE; DER says 0xFF
    value = _Flags.load(der)
    assert value.dump() == der
    assert value.children is None           # not parsed, let alone encoded again
    assert value["flag"].native is True and value.dump() == der


def test_a_set_of_out_of_order_keeps_its_order() -> None:
    names = [_tlv(0x0C, b"z" * 200), _tlv(0x0C, b"a" * 178)]   # DER would sort them
    der = _tlv(0x31, b"".join(names))
    assert der[:4] == bytes.fromhex("31820180")
    value = _Names.load(der)
    assert [v.native[0] for v in value] == ["z", "a"]
    assert value.dump() == der


def test_a_primitive_with_a_leading_zero_octet_keeps_it() -> None:
    der = b"\x02\x81\x80" + b"\x00\x00" + b"\x01" * 126      # non-minimal INTEGER (BER)
    value = core.Integer.load(der)
    assert value.dump() == der


def test_an_explicitly_tagged_choice_dumps_as_read() -> None:
    inner = _padded_flags(flag=b"\x01")
    der = _tlv(0xA1, inner)
    assert der[-len(inner):] == inner and der[:4] == bytes.fromhex("a1820184")
    value = _Tagged.load(der)
    assert value.dump() == der


def test_changed_values_and_forced_dumps_still_encode_again() -> None:
    value = _Flags.load(_padded_flags(flag=b"\x01"))
    assert value.dump(force=True) == _padded_flags(flag=b"\xff")
    changed = _Flags.load(_padded_flags(flag=b"\x01"))
    changed["blob"] = b"short"      # a new length and header; the child left alone stays as read
    assert changed.dump() == _tlv(0x30, b"\x01\x01\x01" + _tlv(0x04, b"short"))


def test_the_indefinite_form_is_still_written_as_der() -> None:
    body = b"\x01\x01\xff\x04\x02ab"
    value = _Flags.load(b"\x30\x80" + body + b"\x00\x00")
    assert value.dump() == _tlv(0x30, body)


def _certificate_with_ber_boolean(key: PrivateKey) -> tuple[bytes, bytes]:
    """(certificate DER, TBS as signed): an SM2 certificate signed by ``key`` (its own, the
    issuer named apart) whose TBS holds a critical flag encoded 0x01 and a length ending in 0x80."""
    spki = x509.PublicKeyInfo.load(encode_public_key_der(key.public_key.to_bytes()))
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    issuer = x509.Name.build({"common_name": "definite-length", "country_name": "CN"})
    for pad in range(1, 400):
        subject = x509.Name.build({"common_name": "definite-length", "organization_name": "x" * pad})
        tbs = x509.TbsCertificate({
            "version": "v3", "serial_number": 0x80, "signature": {"algorithm": SM2_WITH_SM3},
            "issuer": issuer, "subject": subject, "subject_public_key_info": spki,
            "validity": {"not_before": x509.Time(name="utc_time", value=now),
                         "not_after": x509.Time(name="utc_time", value=now + dt.timedelta(days=365))},
            "extensions": [{"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": True}}],
        }).dump()
        if tbs[:2] == b"\x30\x82" and tbs[3] == 0x80:
            break
    else:  # pragma: no cover - some padding always gives such a length
        pytest.fail("no padding gave a TBS length ending in 0x80")
    assert tbs.count(b"\x01\x01\xff") >= 1
    tbs = tbs.replace(b"\x01\x01\xff", b"\x01\x01\x01")     # the BER TRUEs some producers write
    signature = key.sign(tbs)
    algorithm = _tlv(0x30, _tlv(0x06, bytes.fromhex("2a811ccf55018375")))
    return _tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x00" + signature)), tbs


def test_a_certificate_signed_over_ber_verifies() -> None:
    key = PrivateKey.generate()
    der, signed_tbs = _certificate_with_ber_boolean(key)
    cert = x509.Certificate.load(der)
    facts = facts_of(cert)
    assert facts.tbs == signed_tbs           # before the fix: DER again, TRUE as 0xFF
    outcome = verify_signed(cert["signature_algorithm"], facts.signature, facts.tbs, facts.spki)
    assert outcome.ok, outcome


def _nested(depth: int) -> core.Sequence:
    """A SEQUENCE built here (not read), ``depth`` SEQUENCEs deep, as pyHanko builds a CMS."""
    spec: type[core.Sequence] = type("_Level0", (core.Sequence,), {"_fields": [("n", core.Integer)]})
    value: dict = {"n": 0}
    for level in range(1, depth + 1):
        spec = type(f"_Level{level}", (core.Sequence,), {"_fields": [("inner", spec), ("n", core.Integer)]})
        value = {"inner": value, "n": level}
    return spec(value)


def _encodings_of_a_dump(depth: int) -> int:
    """How many times dumping a built value encodes a SEQUENCE's contents again."""
    count = 0
    encode = core.Sequence._set_contents

    def counted(self: core.Sequence, force: bool = False) -> None:
        nonlocal count
        count += 1
        encode(self, force)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(core.Sequence, "_set_contents", counted)
        _nested(depth).dump()
    return count


def test_a_built_value_is_encoded_no_more_often_than_asn1crypto_alone_encodes_it() -> None:
    """The fix reads ``contents`` only for a value that passes the header test: reading it for
    every value encoded a changed SEQUENCE's subtree once more per level, four times the work
    per level of nesting instead of asn1crypto's two (a PDF seal's CMS took 2 s, not 50 ms)."""
    with_fix = _encodings_of_a_dump(6)
    assert with_fix < 3 * _encodings_of_a_dump(5)   # a level more: about twice the work, not four times
    with pytest.MonkeyPatch.context() as patch:
        for cls in (core.Asn1Value, core.Primitive, core.Sequence, core.SequenceOf, core.Choice):
            patch.setattr(cls, "dump", cls.__dict__["dump"].__wrapped__)  # asn1crypto's own
        alone = _encodings_of_a_dump(6)
    assert with_fix == alone
