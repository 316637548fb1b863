"""verify/path.py: RFC 5280 path building and validation, one test per failure kind, the
real ROOTCA -> SHECA chain, and OpenSSL as the referee on our own chains."""
from __future__ import annotations

import datetime as dt
import subprocess

import pytest
from asn1crypto import x509

from ca.certificate import CertificateBuilder, key_identifier, to_pem
from ca.profiles import build_name
from ca.signer import sm2_spki
from ca.testing import LocalSigner, make_hierarchy
from verify.errors import InputError
from verify.path import StaticTrust, load_certificate, validate_path
from verify.report import LENIENT, STRICT, CheckResult, SubIndication, summarise

UTC = dt.timezone.utc
NOW = dt.datetime.now(UTC).replace(microsecond=0)


def raw_cert(subject: str, key: LocalSigner, issuer: x509.Certificate | None, issuer_signer: LocalSigner, *,
             ca: bool | None = None, path_len: int | None = None, key_usage=("digital_signature",),
             extra_exts=(), not_before=None, not_after=None) -> x509.Certificate:
    """A certificate built field by field, for shapes the CA's builder rightly refuses."""
    name = build_name({"C": "CN", "O": "测试", "CN": subject})
    ski = key_identifier(key.public_key)
    aki = key_identifier(issuer_signer.public_key)
    exts = [{"extn_id": "key_identifier", "critical": False, "extn_value": ski},
            {"extn_id": "authority_key_identifier", "critical": False, "extn_value": {"key_identifier": aki}}]
    if ca is not None:
        exts.append({"extn_id": "basic_constraints", "critical": True,
                     "extn_value": {"ca": ca, "path_len_constraint": path_len}})
    if key_usage:
        exts.append({"extn_id": "key_usage", "critical": True, "extn_value": set(key_usage)})
    exts.extend(extra_exts)
    tbs = x509.TbsCertificate({
        "version": "v3", "serial_number": int.from_bytes(ski[:8], "big"),
        "signature": {"algorithm": "1.2.156.10197.1.501"},
        "issuer": issuer.subject if issuer is not None else name,
        "validity": {"not_before": x509.Time(name="utc_time", value=not_before or NOW - dt.timedelta(hours=1)),
                     "not_after": x509.Time(name="utc_time", value=not_after or NOW + dt.timedelta(days=30))},
        "subject": name, "subject_public_key_info": sm2_spki(key.public_key), "extensions": exts,
    })
    return x509.Certificate({"tbs_certificate": tbs, "signature_algorithm": {"algorithm": "1.2.156.10197.1.501"},
                             "signature_value": issuer_signer.sign(tbs.dump())})


@pytest.fixture(scope="module")
def region():
    return make_hierarchy()


def leaf_of(h, *, profile="seal_maker", nb=None, na=None):
    k = LocalSigner()
    nb = nb or NOW - dt.timedelta(minutes=10)
    cert = (CertificateBuilder(profile, h.config).subject({"C": "CN", "O": "某某局", "CN": "某某局签章"})
            .public_key(k.public_key).issuer(h.issuing).validity(nb, na or nb + dt.timedelta(days=365))
            .sign(h.issuing_signer))
    return cert, k


def openssl_verify(openssl_bin, tmp_path, h, leaf) -> list[subprocess.CompletedProcess]:
    """OpenSSL 3.0 checks only the leaf with the distid given, so each link is checked on its
    own (the known OpenSSL bug tests/test_ca_interop.py documents): issuing CA under the
    root, then the leaf under the issuing CA (-partial_chain)."""
    for n, c in (("root", h.root), ("sub", h.issuing), ("leaf", leaf)):
        (tmp_path / f"{n}.pem").write_bytes(to_pem(c))
    base = [openssl_bin, "verify", "-vfyopt", "distid:1234567812345678"]
    return [subprocess.run(base + ["-CAfile", str(tmp_path / "root.pem"), str(tmp_path / "sub.pem")],
                           capture_output=True, text=True),
            subprocess.run(base + ["-partial_chain", "-CAfile", str(tmp_path / "sub.pem"), str(tmp_path / "leaf.pem")],
                           capture_output=True, text=True)]


def trust_of(h):
    return StaticTrust([h.root], [h.issuing])


def test_our_chain_passes_and_openssl_agrees(region, openssl_bin, tmp_path) -> None:
    leaf, _ = leaf_of(region)
    result = validate_path(leaf, trust=trust_of(region))
    assert result.ok, [c.message for c in result.checks if c.failed]
    assert [c.dump() for c in result.path] == [leaf.dump(), region.issuing.dump(), region.root.dump()]
    assert summarise(result.checks)[0].value == "PASSED"
    for out in openssl_verify(openssl_bin, tmp_path, region, leaf):
        assert out.returncode == 0 and out.stdout.strip().endswith(": OK"), out.stdout + out.stderr


def test_real_rootca_sheca_chain(shared_vectors) -> None:
    root = load_certificate((shared_vectors / "certs" / "ROOTCA.pem").read_bytes())
    sheca = load_certificate((shared_vectors / "certs" / "SHECA_SM2_by_ROOTCA.pem").read_bytes())
    result = validate_path(sheca, trust=StaticTrust([root]), purpose="ca",
                           at=dt.datetime(2024, 1, 1, tzinfo=UTC))
    assert result.ok, [c.message for c in result.checks if c.failed]
    assert result.anchor.dump() == root.dump()
    # the same certificate in 2040 is past its not_after (2033-09-08)
    late = validate_path(sheca, trust=StaticTrust([root]), purpose="ca", at=dt.datetime(2040, 1, 1, tzinfo=UTC))
    assert summarise(late.checks)[1] is SubIndication.EXPIRED


def test_issuer_found_from_document_certificates(region) -> None:
    leaf, _ = leaf_of(region)
    alone = validate_path(leaf, trust=StaticTrust([region.root]))
    assert summarise(alone.checks)[1] is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    with_doc = validate_path(leaf, trust=StaticTrust([region.root]), extra_certs=[region.issuing])
    assert with_doc.ok


def _broken_signature(h):
    leaf, _ = leaf_of(h)
    der = bytearray(leaf.dump())
    der[-1] ^= 0x01          # the last byte of s
    return x509.Certificate.load(bytes(der)), trust_of(h), {}


def _expired(h):
    return leaf_of(h, nb=NOW - dt.timedelta(days=400), na=NOW - dt.timedelta(days=1))[0], trust_of(h), {}


def _not_yet_valid(h):
    return leaf_of(h, nb=NOW + dt.timedelta(days=2))[0], trust_of(h), {}


def _wrong_issuer(h):
    twin = make_hierarchy()      # same names, other keys: the AKI names another key
    return leaf_of(twin)[0], trust_of(h), {}


def _no_anchor(h):
    return leaf_of(h)[0], StaticTrust([], [h.issuing]), {}


def _pathlen_exceeded(h):
    sub_key = LocalSigner()
    sub = raw_cert("下级CA", sub_key, h.issuing, h.issuing_signer, ca=True, key_usage=("key_cert_sign", "crl_sign"))
    leaf = raw_cert("终端", LocalSigner(), sub, sub_key)
    return leaf, StaticTrust([h.root], [h.issuing, sub]), {}


def _ca_flag_missing(h):
    sub_key = LocalSigner()
    sub = raw_cert("不是CA", sub_key, h.issuing, h.issuing_signer, ca=False, key_usage=("key_cert_sign",))
    leaf = raw_cert("终端", LocalSigner(), sub, sub_key)
    # anchor the intermediate's issuer at the issuing CA so path length is not the issue
    return leaf, StaticTrust([h.issuing], [sub]), {}


def _unknown_critical_extension(h):
    ext = {"extn_id": "1.2.3.4.5.6", "critical": True, "extn_value": b"\x05\x00"}
    leaf = raw_cert("终端", LocalSigner(), h.issuing, h.issuing_signer, extra_exts=[ext])
    return leaf, trust_of(h), {}


def _wrong_purpose(h):
    return leaf_of(h)[0], trust_of(h), {"purpose": "tsa"}


@pytest.mark.parametrize("make, code, sub, result", [
    (_broken_signature, "X509_SIGNATURE", SubIndication.SIG_CRYPTO_FAILURE, CheckResult.FAILED),
    (_expired, "X509_VALIDITY", SubIndication.EXPIRED, CheckResult.FAILED),
    (_not_yet_valid, "X509_VALIDITY", SubIndication.NOT_YET_VALID, CheckResult.FAILED),
    (_wrong_issuer, "X509_PATH_BUILT", SubIndication.NO_CERTIFICATE_CHAIN_FOUND, CheckResult.INDETERMINATE),
    (_no_anchor, "X509_PATH_BUILT", SubIndication.NO_CERTIFICATE_CHAIN_FOUND, CheckResult.INDETERMINATE),
    (_pathlen_exceeded, "X509_PATH_LENGTH", SubIndication.CHAIN_CONSTRAINTS_FAILURE, CheckResult.INDETERMINATE),
    (_ca_flag_missing, "X509_BASIC_CONSTRAINTS", SubIndication.CHAIN_CONSTRAINTS_FAILURE, CheckResult.INDETERMINATE),
    (_unknown_critical_extension, "X509_CRITICAL_EXTENSIONS", SubIndication.CHAIN_CONSTRAINTS_FAILURE,
     CheckResult.INDETERMINATE),
    (_wrong_purpose, "X509_PURPOSE", SubIndication.CHAIN_CONSTRAINTS_FAILURE, CheckResult.INDETERMINATE),
], ids=lambda v: getattr(v, "__name__", None))
def test_each_failure_has_its_sub_indication(region, make, code, sub, result) -> None:
    leaf, trust, kwargs = make(region)
    outcome = validate_path(leaf, trust=trust, **kwargs)
    failed = [c for c in outcome.checks if c.failed]
    assert failed, "the path must not pass"
    assert (failed[0].code, failed[0].sub_indication, failed[0].result) == (code, sub, result)
    indication, first_sub = summarise(outcome.checks)
    assert first_sub is sub and indication.value == result.value


def test_broken_signature_refused_by_openssl_too(region, openssl_bin, tmp_path) -> None:
    leaf, trust, _ = _broken_signature(region)
    ca_link, leaf_link = openssl_verify(openssl_bin, tmp_path, region, leaf)
    assert ca_link.returncode == 0
    assert leaf_link.returncode != 0 and "signature failure" in (leaf_link.stdout + leaf_link.stderr)


def test_validity_follows_the_validation_time(region) -> None:
    leaf, _ = leaf_of(region, nb=NOW - dt.timedelta(days=10), na=NOW - dt.timedelta(days=1))
    then = validate_path(leaf, trust=trust_of(region), at=NOW - dt.timedelta(days=5))
    # the issuing CA itself only became valid an hour ago: that is what fails five days back
    fails = [c for c in then.checks if c.failed]
    assert [c.subject for c in fails] == [c.subject for c in fails if "签发CA" in c.subject]
    assert not any("某某局" in c.subject for c in fails)
    assert summarise(validate_path(leaf, trust=trust_of(region)).checks)[1] is SubIndication.EXPIRED


def test_raw_rs_certificate_signature_is_a_quirk(region) -> None:
    leaf, _ = leaf_of(region)
    from gm.sm2 import signature_to_rs

    r, s = signature_to_rs(leaf["signature_value"].native)
    raw = x509.Certificate({"tbs_certificate": leaf["tbs_certificate"],
                            "signature_algorithm": leaf["signature_algorithm"],
                            "signature_value": r.to_bytes(32, "big") + s.to_bytes(32, "big")})
    raw = x509.Certificate.load(raw.dump())
    strict = validate_path(raw, trust=trust_of(region), policy=STRICT)
    lenient = validate_path(raw, trust=trust_of(region), policy=LENIENT)
    quirk_strict = next(c for c in strict.checks if c.code == "X509_SIGNATURE_ENCODING")
    quirk_lenient = next(c for c in lenient.checks if c.code == "X509_SIGNATURE_ENCODING")
    assert quirk_strict.result is CheckResult.FAILED and "r||s" in quirk_strict.message
    assert quirk_lenient.result is CheckResult.WARNING
    assert not strict.ok and lenient.ok


def test_not_a_certificate_is_an_input_error() -> None:
    with pytest.raises(InputError, match="not an X.509 certificate"):
        load_certificate(b"\x30\x03\x02\x01\x01")
    with pytest.raises(InputError, match="empty"):
        load_certificate(b"")


def test_unknown_purpose_is_refused(region) -> None:
    with pytest.raises(ValueError, match="unknown purpose 'mail'"):
        validate_path(region.issuing, trust=trust_of(region), purpose="mail")


def _foreign_chain(kind: str):
    """root -> leaf made by the `cryptography` package (RSA-2048 / ECDSA P-256, SHA-256)."""
    from cryptography import x509 as cx
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    def key():
        return rsa.generate_private_key(65537, 2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())

    root_key, leaf_key = key(), key()
    root_name = cx.Name([cx.NameAttribute(NameOID.COMMON_NAME, f"foreign {kind} root")])
    leaf_name = cx.Name([cx.NameAttribute(NameOID.COMMON_NAME, f"foreign {kind} leaf")])
    start, end = NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=30)
    root = (cx.CertificateBuilder().subject_name(root_name).issuer_name(root_name).public_key(root_key.public_key())
            .serial_number(1).not_valid_before(start).not_valid_after(end)
            .add_extension(cx.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(root_key, hashes.SHA256()))
    leaf = (cx.CertificateBuilder().subject_name(leaf_name).issuer_name(root_name).public_key(leaf_key.public_key())
            .serial_number(2).not_valid_before(start).not_valid_after(end).sign(root_key, hashes.SHA256()))
    der = lambda c: c.public_bytes(serialization.Encoding.DER)  # noqa: E731
    return load_certificate(der(root)), load_certificate(der(leaf))


@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
def test_foreign_rsa_and_ecdsa_chains(kind) -> None:
    root, leaf = _foreign_chain(kind)
    good = validate_path(leaf, trust=StaticTrust([root]), purpose="any")
    assert good.ok, [c.message for c in good.checks if c.failed]
    der = bytearray(leaf.dump())
    der[-3] ^= 0x01
    bad = validate_path(x509.Certificate.load(bytes(der)), trust=StaticTrust([root]), purpose="any")
    assert summarise(bad.checks)[1] is SubIndication.SIG_CRYPTO_FAILURE


@pytest.mark.parametrize("algorithm", ["1.2.156.10197.1.503", "1.2.840.10045.4.3.2"])
def test_an_sm2_key_under_another_signature_algorithm_is_a_failed_check(algorithm) -> None:
    # SM2 with SHA-256 and ECDSA with SHA-256 over an SM2 key: the `cryptography` package knows
    # no SM2 curve and raised UnsupportedAlgorithm out of the check (found by fuzzing OCSP answers)
    from asn1crypto import algos

    from verify.path import verify_signed

    key = LocalSigner()
    tbs = b"to be signed"
    outcome = verify_signed(algos.SignedDigestAlgorithm({"algorithm": algorithm}), key.sign(tbs), tbs,
                            sm2_spki(key.public_key))
    assert outcome.ok is False
    assert algorithm in outcome.error and "not supported" in outcome.error, outcome.error


# --------------------------------------------------------------------------- name constraints (RFC 5280 §4.2.1.10)


def _gn(kind: str, value):
    return x509.GeneralName(name=kind, value=value)


def nc_cert(subject, key: LocalSigner, issuer: x509.Certificate | None, issuer_signer: LocalSigner, *, ca: bool,
            permitted=(), excluded=(), san=(), email: str | None = None) -> x509.Certificate:
    """An SM2 certificate with any subject, SANs and name constraints (critical, as RFC 5280 asks)."""
    name = build_name(subject)
    if email is not None:        # an emailAddress attribute in the DN (checked as an rfc822Name)
        rdns = list(name.chosen) + [x509.RelativeDistinguishedName([x509.NameTypeAndValue(
            {"type": "email_address", "value": email})])]
        name = x509.Name(name="", value=x509.RDNSequence(rdns))
    exts = [{"extn_id": "key_identifier", "critical": False, "extn_value": key_identifier(key.public_key)},
            {"extn_id": "authority_key_identifier", "critical": False,
             "extn_value": {"key_identifier": key_identifier(issuer_signer.public_key)}},
            {"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": ca}},
            {"extn_id": "key_usage", "critical": True,
             "extn_value": {"key_cert_sign", "crl_sign"} if ca else {"digital_signature"}}]
    if permitted or excluded:
        value = {}
        if permitted:
            value["permitted_subtrees"] = [{"base": _gn(*p)} for p in permitted]
        if excluded:
            value["excluded_subtrees"] = [{"base": _gn(*e)} for e in excluded]
        exts.append({"extn_id": "name_constraints", "critical": True, "extn_value": value})
    if san:
        exts.append({"extn_id": "subject_alt_name", "critical": False, "extn_value": [_gn(*s) for s in san]})
    tbs = x509.TbsCertificate({
        "version": "v3", "serial_number": int.from_bytes(key_identifier(key.public_key)[:8], "big"),
        "signature": {"algorithm": "1.2.156.10197.1.501"},
        "issuer": issuer.subject if issuer is not None else name,
        "validity": {"not_before": x509.Time(name="utc_time", value=NOW - dt.timedelta(hours=1)),
                     "not_after": x509.Time(name="utc_time", value=NOW + dt.timedelta(days=30))},
        "subject": name, "subject_public_key_info": sm2_spki(key.public_key), "extensions": exts,
    })
    return x509.Certificate({"tbs_certificate": tbs, "signature_algorithm": {"algorithm": "1.2.156.10197.1.501"},
                             "signature_value": issuer_signer.sign(tbs.dump())})


@pytest.fixture(scope="module")
def constrained_region():
    """root (unconstrained) -> issuing CA limited to C=CN,O=广东省 (but not OU=已撤销部门), DNS
    gd.gov.cn and mail in .gd.gov.cn."""
    root_key, ca_key = LocalSigner(), LocalSigner()
    root = nc_cert({"C": "CN", "O": "国家根", "CN": "国家根CA"}, root_key, None, root_key, ca=True)
    gd = build_name({"C": "CN", "O": "广东省"})
    issuing = nc_cert({"C": "CN", "O": "广东省", "CN": "广东省CA"}, ca_key, root, root_key, ca=True,
                      permitted=[("directory_name", gd), ("dns_name", "gd.gov.cn"), ("rfc822_name", ".gd.gov.cn")],
                      excluded=[("directory_name", build_name({"C": "CN", "O": "广东省", "OU": "已撤销部门"}))])
    return root, issuing, ca_key


def _leaf_under(region_, subject, **kw):
    _, issuing, ca_key = region_
    return nc_cert(subject, LocalSigner(), issuing, ca_key, ca=False, **kw)


def _nc_result(region_, leaf):
    root, issuing, _ = region_
    return validate_path(leaf, trust=StaticTrust([root], [issuing]), purpose="any")


def test_name_constraints_leaf_inside_passes(constrained_region) -> None:
    leaf = _leaf_under(constrained_region, {"C": "CN", "O": "广东省", "OU": "市场监督管理局", "CN": "某局"},
                       san=[("dns_name", "www.amr.gd.gov.cn"), ("rfc822_name", "seal@mail.gd.gov.cn")],
                       email="office@amr.gd.gov.cn")
    result = _nc_result(constrained_region, leaf)
    assert result.ok, [c.message for c in result.checks if c.failed]
    assert [c.result for c in result.checks if c.code == "X509_NAME_CONSTRAINTS"] == [CheckResult.PASSED]


@pytest.mark.parametrize("subject, kw, found", [
    ({"C": "CN", "O": "浙江省", "CN": "某局"}, {}, "outside the subtrees"),                       # other DN
    ({"C": "CN", "O": "广东省", "OU": "已撤销部门", "CN": "某局"}, {}, "excludes"),              # excluded DN
    ({"C": "CN", "O": "广东省", "CN": "某局"}, {"san": [("dns_name", "gd.gov.cn.evil.example")]}, "dNSName"),
    ({"C": "CN", "O": "广东省", "CN": "某局"}, {"san": [("rfc822_name", "a@gd.gov.cn")]}, "rfc822Name"),
    ({"C": "CN", "O": "广东省", "CN": "某局"}, {"email": "a@example.com"}, "rfc822Name a@example.com"),
], ids=["directory-outside", "directory-excluded", "dns-outside", "mail-host-not-subdomain", "subject-email"])
def test_name_constraints_leaf_outside_is_refused(constrained_region, subject, kw, found) -> None:
    leaf = _leaf_under(constrained_region, subject, **kw)
    result = _nc_result(constrained_region, leaf)
    assert result.path, "the path is built; the constraint refuses it"
    assert summarise(result.checks) == (summarise(result.checks)[0], SubIndication.CHAIN_CONSTRAINTS_FAILURE)
    assert summarise(result.checks)[0].value == "INDETERMINATE"
    bad = [c.message for c in result.checks if c.code == "X509_NAME_CONSTRAINTS" and c.failed]
    assert bad and found in bad[0], bad
    # the lenient policy shares the engine: still refused (a constraint is not an encoding quirk)
    assert summarise(validate_path(leaf, trust=StaticTrust([constrained_region[0]], [constrained_region[1]]),
                                   purpose="any", policy=LENIENT).checks)[1] is SubIndication.CHAIN_CONSTRAINTS_FAILURE


def test_anchor_name_constraints_bind_the_whole_path() -> None:
    """A root that confines itself to C=CN,O=广东省 refuses an issuing CA (and so its leaf) outside."""
    root_key, ca_key = LocalSigner(), LocalSigner()
    root = nc_cert({"C": "CN", "O": "广东省", "CN": "广东省根CA"}, root_key, None, root_key, ca=True,
                   permitted=[("directory_name", build_name({"C": "CN", "O": "广东省"}))])
    stray = nc_cert({"C": "CN", "O": "其他", "CN": "其他CA"}, ca_key, root, root_key, ca=True)
    leaf = nc_cert({"C": "CN", "O": "广东省", "CN": "某局"}, LocalSigner(), stray, ca_key, ca=False)
    result = validate_path(leaf, trust=StaticTrust([root], [stray]), purpose="any")
    assert summarise(result.checks)[1] is SubIndication.CHAIN_CONSTRAINTS_FAILURE
    assert any("其他CA" in c.message for c in result.checks if c.code == "X509_NAME_CONSTRAINTS")


def test_name_constraint_on_an_unprocessed_form_refuses_names_of_that_form() -> None:
    from verify.name_constraints import within

    root_key = LocalSigner()
    rid = "1.2.156.10197.1"
    root = nc_cert({"C": "CN", "O": "根", "CN": "根CA"}, root_key, None, root_key, ca=True,
                   permitted=[("registered_id", rid)])
    plain = nc_cert({"C": "CN", "O": "根", "CN": "无此类名称"}, LocalSigner(), root, root_key, ca=False)
    assert validate_path(plain, trust=StaticTrust([root]), purpose="any").ok
    carrying = nc_cert({"C": "CN", "O": "根", "CN": "有此类名称"}, LocalSigner(), root, root_key, ca=False,
                       san=[("registered_id", rid)])
    result = validate_path(carrying, trust=StaticTrust([root]), purpose="any")
    assert summarise(result.checks)[1] is SubIndication.CHAIN_CONSTRAINTS_FAILURE
    # iPAddress subtrees: address and mask
    net = x509.GeneralName(name="ip_address", value="10.1.0.0/16").chosen.contents
    assert within("iPAddress", bytes([10, 1, 2, 3]), net) and not within("iPAddress", bytes([10, 2, 0, 1]), net)
    assert within("uniformResourceIdentifier", "https://ocsp.gd.gov.cn/x", ".gd.gov.cn")
    assert not within("uniformResourceIdentifier", "https://gd.gov.cn.evil/x", ".gd.gov.cn")


def _ecdsa_constrained_chain(leaf_dns: str):
    """root -> CA (permitted dNSName gd.gov.cn, critical) -> leaf with one DNS SAN, by `cryptography`."""
    from cryptography import x509 as cx
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    names = [cx.Name([cx.NameAttribute(NameOID.COMMON_NAME, n)]) for n in ("nc root", "nc ca", "nc leaf")]
    start, end = NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=30)

    def build(i, issuer_i, ca, *exts):
        b = (cx.CertificateBuilder().subject_name(names[i]).issuer_name(names[issuer_i])
             .public_key(keys[i].public_key()).serial_number(100 + i).not_valid_before(start).not_valid_after(end)
             .add_extension(cx.BasicConstraints(ca=ca, path_length=None), critical=True))
        for ext, critical in exts:
            b = b.add_extension(ext, critical=critical)
        return b.sign(keys[issuer_i], hashes.SHA256())

    root = build(0, 0, True)
    ca = build(1, 0, True, (cx.NameConstraints(permitted_subtrees=[cx.DNSName("gd.gov.cn")], excluded_subtrees=None),
                            True))
    leaf = build(2, 1, False, (cx.SubjectAlternativeName([cx.DNSName(leaf_dns)]), False))
    return [c.public_bytes(serialization.Encoding.PEM) for c in (root, ca, leaf)]


@pytest.mark.parametrize("dns, inside", [("seal.gd.gov.cn", True), ("seal.zj.gov.cn", False)])
def test_name_constraints_agree_with_openssl(openssl_bin, tmp_path, dns, inside) -> None:
    root, ca, leaf = _ecdsa_constrained_chain(dns)
    result = validate_path(load_certificate(leaf), trust=StaticTrust([load_certificate(root)]), purpose="any",
                           extra_certs=[load_certificate(ca)])
    assert result.ok is inside, [c.message for c in result.checks if c.failed]
    if not inside:
        assert summarise(result.checks)[1] is SubIndication.CHAIN_CONSTRAINTS_FAILURE
    for n, pem_bytes in (("root", root), ("ca", ca), ("leaf", leaf)):
        (tmp_path / f"{n}.pem").write_bytes(pem_bytes)
    out = subprocess.run([openssl_bin, "verify", "-CAfile", str(tmp_path / "root.pem"), "-untrusted",
                          str(tmp_path / "ca.pem"), str(tmp_path / "leaf.pem")], capture_output=True, text=True)
    assert (out.returncode == 0) is inside, out.stdout + out.stderr
    if not inside:
        assert "permitted subtree violation" in out.stdout + out.stderr
