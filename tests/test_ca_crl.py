"""CRL builder: the fast revoked-list encoder against asn1crypto, extensions, refusals."""
import datetime as dt

import pytest
from asn1crypto import crl, x509

from ca.crl import CRLBuilder, RevokedEntry, encode_entry, encode_revoked, tbs_of
from ca.errors import BuilderError, IncompleteBuilder, ProfileViolation
from ca.testing import make_hierarchy

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 1, 8, 30, 15, tzinfo=UTC)
CST = dt.timezone(dt.timedelta(hours=8))

ENTRIES = [
    (1, T0, None, None),
    (0x7F, T0, "keyCompromise", None),
    (0x80, T0 + dt.timedelta(seconds=1), 1, T0 - dt.timedelta(days=3)),
    (0xFF, dt.datetime(2026, 3, 1, 16, 30, 15, tzinfo=CST), "certificate_hold", None),
    ((1 << 127) + 12345, dt.datetime(2051, 1, 1, tzinfo=UTC), "cessationOfOperation", None),
    ((1 << 159) - 1, dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC), None,
     dt.datetime(1999, 12, 30, tzinfo=UTC)),
    RevokedEntry(0x1234567890ABCDEF1234567890ABCDEF, T0, "superseded"),
]
NAMES = {None: None, "keyCompromise": "key_compromise", 1: "key_compromise",
         "certificate_hold": "certificate_hold", "cessationOfOperation": "cessation_of_operation",
         "superseded": "superseded", 4: "superseded", 5: "cessation_of_operation",
         6: "certificate_hold"}


def reference_revoked(entries):
    """The same list encoded entirely by asn1crypto."""
    out = []
    for serial, when, reason, invalid in entries:
        when = when.astimezone(UTC)
        item = {"user_certificate": serial,
                "revocation_date": x509.Time(name="utc_time" if when.year < 2050 else "general_time",
                                             value=when)}
        exts = []
        if NAMES[reason]:
            exts.append({"extn_id": "crl_reason", "critical": False, "extn_value": NAMES[reason]})
        if invalid is not None:
            exts.append({"extn_id": "invalidity_date", "critical": False,
                         "extn_value": invalid.astimezone(UTC)})
        if exts:
            item["crl_entry_extensions"] = exts
        out.append(item)
    return crl.RevokedCertificates(out).dump()


def test_fast_encoder_is_byte_identical_to_asn1crypto():
    assert encode_revoked(ENTRIES) == reference_revoked(ENTRIES)
    for n in (1, 2, 5):
        assert encode_revoked(ENTRIES[:n]) == reference_revoked(ENTRIES[:n])


def test_fast_encoder_many_entries_identical():
    entries = [(i * 7919 + 1, T0 + dt.timedelta(seconds=i * 37), [None, 1, 4, 5, 6][i % 5],
                T0 - dt.timedelta(hours=i) if i % 7 == 0 else None) for i in range(500)]
    assert encode_revoked(entries) == reference_revoked(entries)


def test_epoch_seconds_encode_like_datetimes():
    """ca/service.py hands the encoder epoch seconds read by the database."""
    as_ints = [(serial, int(when.timestamp()), reason, None if inv is None else int(inv.timestamp()))
               for serial, when, reason, inv in ENTRIES]
    assert encode_revoked(as_ints) == reference_revoked(ENTRIES)


def test_empty_list_omits_the_field():
    assert encode_revoked([]) == b""


@pytest.fixture(scope="module")
def region():
    return make_hierarchy()


def test_full_crl_whole_tbs_matches_asn1crypto(region):
    this, nxt = T0, T0 + dt.timedelta(days=1)
    der = (CRLBuilder(region.issuing, region.config).crl_number(42).this_update(this)
           .next_update(nxt).revoked(ENTRIES).sign(region.issuing_signer))
    parsed = crl.CertificateList.load(der)
    tbs = parsed["tbs_cert_list"]
    # re-encode the parsed structure with asn1crypto from native values: same bytes
    rebuilt = crl.TbsCertList({
        "version": "v2", "signature": {"algorithm": "1.2.156.10197.1.501"},
        "issuer": region.issuing.subject,
        "this_update": x509.Time(name="utc_time", value=this),
        "next_update": x509.Time(name="utc_time", value=nxt),
        "revoked_certificates": crl.RevokedCertificates.load(reference_revoked(ENTRIES)),
        "crl_extensions": tbs["crl_extensions"].copy(),
    })
    assert rebuilt.dump() == tbs_of(der)
    assert parsed["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"
    assert parsed["signature_algorithm"]["parameters"].native is None
    assert region.issuing_signer.public_key.verify(parsed["signature"].native, tbs_of(der))
    exts = {e["extn_id"].dotted: e for e in tbs["crl_extensions"]}
    assert exts["2.5.29.20"]["extn_value"].parsed.native == 42
    assert exts["2.5.29.35"]["extn_value"].parsed["key_identifier"].native == region.issuing.key_identifier
    idp = exts["2.5.29.28"]
    assert idp["critical"].native is True
    iid = region.issuing.key_identifier.hex()
    assert idp["extn_value"].parsed.native["distribution_point"] == \
        [f"http://pki.example.gov.cn/crl/{iid}.crl"]
    assert exts["2.5.29.46"]["extn_value"].parsed.native[0]["distribution_point"] == \
        [f"http://pki.example.gov.cn/crl/{iid}-delta.crl"]
    assert "2.5.29.27" not in exts
    assert [r["user_certificate"].native for r in tbs["revoked_certificates"]] == [e[0] for e in ENTRIES]


def test_entries_encoded_one_by_one_splice_into_the_same_crl(region):
    """ca_crl_entries keeps encode_entry of each revoked certificate; a full CRL made from
    their concatenation (revoked_der) is the CRL made from the entries themselves."""
    entries = list(ENTRIES)
    elements = b"".join(encode_entry(*e) for e in entries)
    assert encode_revoked(entries) == reference_revoked(entries)
    base = CRLBuilder(region.issuing, region.config).crl_number(7).this_update(T0).next_update(T0 + dt.timedelta(days=1))
    spliced, built = base.revoked_der(elements), base.revoked(entries)
    assert spliced.build_tbs(region.issuing_signer.public_key) == built.build_tbs(region.issuing_signer.public_key)
    key = region.issuing_signer.public_key
    assert base.revoked_der(b"").build_tbs(key) == base.revoked([]).build_tbs(key)  # no entries: no field
    with pytest.raises(BuilderError, match="already given as entries"):
        built.revoked_der(elements)
    with pytest.raises(BuilderError, match="already given as DER"):
        spliced.revoked(entries)
    with pytest.raises(BuilderError, match="DER SEQUENCE elements"):
        base.revoked_der(b"\x02\x01\x01")
    with pytest.raises(BuilderError, match="removeFromCRL only in a delta CRL"):
        encode_entry(5, T0, "removeFromCRL")


def test_delta_crl(region):
    der = (CRLBuilder(region.issuing, region.config).crl_number(43).delta_of(42)
           .next_update(dt.datetime.now(UTC) + dt.timedelta(hours=1))
           .revoked([(5, T0, "removeFromCRL", None), (6, T0, "certificateHold", None)])
           .sign(region.issuing_signer))
    tbs = crl.CertificateList.load(der)["tbs_cert_list"]
    exts = {e["extn_id"].dotted: e for e in tbs["crl_extensions"]}
    assert exts["2.5.29.27"]["critical"].native is True
    assert exts["2.5.29.27"]["extn_value"].parsed.native == 42
    assert "2.5.29.46" not in exts
    reasons = [r["crl_entry_extensions"][0]["extn_value"].parsed.native for r in tbs["revoked_certificates"]]
    assert reasons == ["remove_from_crl", "certificate_hold"]


def test_refusals(region):
    b = CRLBuilder(region.issuing, region.config)
    nxt = dt.datetime.now(UTC) + dt.timedelta(days=1)
    with pytest.raises(IncompleteBuilder, match="number"):
        b.next_update(nxt).sign(region.issuing_signer)
    with pytest.raises(BuilderError, match="already set"):
        b.crl_number(1).crl_number(2)
    with pytest.raises(BuilderError, match="removeFromCRL only in a delta CRL"):
        b.crl_number(1).next_update(nxt).revoked([(5, T0, 8, None)]).sign(region.issuing_signer)
    with pytest.raises(BuilderError, match="entry 1: unknown reason 'stolen'"):
        rows = [(5, T0, None, None), (6, T0, "stolen", None)]
        b.crl_number(1).next_update(nxt).revoked(rows).sign(region.issuing_signer)
    with pytest.raises(BuilderError, match="entry 0: revocation date must be timezone-aware"):
        encode_revoked([(5, dt.datetime(2026, 1, 1), None, None)])
    with pytest.raises(BuilderError, match="entry 0: serial must be positive"):
        encode_revoked([(0, T0, None, None)])
    with pytest.raises(BuilderError, match="greater than its base"):
        b.crl_number(5).delta_of(5).next_update(nxt).sign(region.issuing_signer)
    with pytest.raises(ProfileViolation, match="signer's key is not the CRL issuer"):
        b.crl_number(1).next_update(nxt).sign(region.root_signer)
    leaf_like = region.root  # has cRLSign, fine; a cert without cRLSign is refused:
    CRLBuilder(leaf_like)
