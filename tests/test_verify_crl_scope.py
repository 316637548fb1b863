"""A CRL answers only for the certificates in its scope (verify/crl_scope.py, RFC 5280
§6.3.3 (b)(2)): a CA that partitions its CRLs at two distribution points, each CRL naming
its own point in its Issuing Distribution Point; CRLs scoped to CA or end-entity
certificates; indirect and reason-partitioned CRLs, which are refused, not read as complete.
CRLs are made by ca.crl (our CA) or, for the IDP flags our CA never writes, by asn1crypto
and our SM2 signer; they are served by a real local HTTP server."""
from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
from asn1crypto import crl as acrl
from asn1crypto import x509

from ca import oids
from ca.certificate import CertificateBuilder, subject_key_identifier, x509_time
from ca.crl import CRLBuilder
from ca.profiles import CAConfig
from ca.signer import sign_checked
from ca.testing import LocalSigner
from verify.certfacts import facts_of
from verify.report import CheckResult, SubIndication
from verify.revocation import RevocationChecker

UTC = dt.timezone.utc


def _now() -> dt.datetime:
    return dt.datetime.now(UTC).replace(microsecond=0)


def partition(pki, pki_server, part: str) -> CAConfig:
    """The issuing CA's configuration for one CRL partition: its own CRL address."""
    return CAConfig(region_code=pki.region_code, base_url=f"{pki_server.url}/{part}")


def leaf_in(pki, config: CAConfig, cn: str) -> x509.Certificate:
    return (CertificateBuilder("seal_maker", config).subject({"C": "CN", "O": pki.region_name, "CN": cn})
            .public_key(LocalSigner().public_key).issuer(pki.issuing).sign(pki.h.issuing_signer))


def partition_crl(pki, config: CAConfig, revoked: list[x509.Certificate]) -> bytes:
    """Our CA's CRL for one partition: its IDP names the partition's CRL address."""
    now = _now()
    return (CRLBuilder(pki.issuing, config).crl_number(1).this_update(now - dt.timedelta(minutes=1))
            .next_update(now + dt.timedelta(days=1))
            .revoked([(c.serial_number, now - dt.timedelta(hours=1), "keyCompromise", None) for c in revoked])
            .sign(pki.h.issuing_signer))


def crl_path(cert: x509.Certificate) -> str:
    return urlsplit(facts_of(cert).crl_urls[0]).path


@pytest.fixture
def partitions(pki, pki_server):
    """Partition A (nothing revoked) and B (its certificate revoked); OCSP not offered."""
    configs = {part: partition(pki, pki_server, part) for part in "AB"}
    a, b = leaf_in(pki, configs["A"], "分区甲"), leaf_in(pki, configs["B"], "分区乙")
    crls = {"A": partition_crl(pki, configs["A"], []), "B": partition_crl(pki, configs["B"], [b])}
    for part in "AB":
        pki_server.routes.pop(urlsplit(configs[part].ocsp_url()).path, None)
    return a, b, crls


def test_our_partition_crls_answer_for_their_own_certificates(pki, pki_server, partitions) -> None:
    a, b, crls = partitions
    pki_server.routes[crl_path(a)], pki_server.routes[crl_path(b)] = crls["A"], crls["B"]
    checker = RevocationChecker()
    assert checker.check(a, pki.issuing).evidence.status == "good"
    out = checker.check(b, pki.issuing)
    assert (out.evidence.source, out.check.sub_indication) == ("crl", SubIndication.REVOKED), out.evidence


def test_another_partitions_crl_served_for_a_certificate_is_not_used(pki, pki_server, partitions) -> None:
    """B's address hands back A's CRL (same CA, valid signature, B's certificate not on it):
    the old verifier said good for the revoked B certificate."""
    a, b, crls = partitions
    pki_server.routes[crl_path(b)] = crls["A"]
    out = RevocationChecker().check(b, pki.issuing)
    assert (out.check.result, out.check.sub_indication) == (CheckResult.INDETERMINATE, SubIndication.TRY_LATER), \
        out.evidence
    assert any("covers the distribution point" in e and facts_of(a).crl_urls[0] in e
               and facts_of(b).crl_urls[0] in e for e in out.evidence.errors), out.evidence.errors


def test_the_partition_that_covers_the_certificate_answers(pki, partitions) -> None:
    """A's CRL and B's both at hand (offline, A's first): B's answers -- revoked."""
    _, b, crls = partitions
    out = RevocationChecker(online=False, offline_crls=[crls["A"], crls["B"]]).check(b, pki.issuing)
    assert (out.evidence.source, out.check.sub_indication) == ("offline-crl", SubIndication.REVOKED), out.evidence
    assert any("covers the distribution point" in e for e in out.evidence.errors)


def test_a_partitioned_crl_does_not_answer_for_a_certificate_without_distribution_points(pki) -> None:
    bare = (CertificateBuilder("ocsp", pki.config).subject({"C": "CN", "O": pki.region_name, "CN": "无分发点"})
            .public_key(LocalSigner().public_key).issuer(pki.issuing).sign(pki.h.issuing_signer))
    assert facts_of(bare).crl_urls == ()
    out = RevocationChecker(online=False, offline_crls=[pki.crl()]).check(bare, pki.issuing)
    assert out.check.sub_indication is SubIndication.TRY_LATER
    assert "the certificate names no distribution point" in out.check.message


# --------------------------------------------------------------------------- IDP flags


def crl_with_idp(pki, idp: dict | None, revoked: list[x509.Certificate], *, root: bool = False,
                 number: int = 1, delta_of: int | None = None) -> bytes:
    """A CRL of the issuing CA (or the root) with the given IssuingDistributionPoint, built
    with asn1crypto and signed by the CA's SM2 key."""
    issuer, signer = (pki.root, pki.h.root_signer) if root else (pki.issuing, pki.h.issuing_signer)
    now = _now()
    exts = [{"extn_id": "authority_key_identifier", "critical": False,
             "extn_value": {"key_identifier": subject_key_identifier(issuer)}},
            {"extn_id": "crl_number", "critical": False, "extn_value": number}]
    if delta_of is not None:
        exts.append({"extn_id": "delta_crl_indicator", "critical": True, "extn_value": delta_of})
    if idp is not None:
        exts.append({"extn_id": "issuing_distribution_point", "critical": True, "extn_value": idp})
    tbs = {"version": "v2", "signature": {"algorithm": oids.SM2_WITH_SM3}, "issuer": issuer.subject,
           "this_update": x509_time(now - dt.timedelta(minutes=1)), "next_update": x509_time(now + dt.timedelta(days=1)),
           "crl_extensions": exts}
    if revoked:
        tbs["revoked_certificates"] = [{"user_certificate": c.serial_number,
                                        "revocation_date": x509_time(now - dt.timedelta(hours=1))} for c in revoked]
    tbs_der = acrl.TbsCertList(tbs).dump()
    return acrl.CertificateList({"tbs_cert_list": acrl.TbsCertList.load(tbs_der),
                                 "signature_algorithm": {"algorithm": oids.SM2_WITH_SM3},
                                 "signature": sign_checked(signer, tbs_der)}).dump()


def point(url: str) -> x509.DistributionPointName:
    return x509.DistributionPointName(name="full_name",
                                      value=[x509.GeneralName(name="uniform_resource_identifier", value=url)])


def test_a_crl_of_ca_certificates_does_not_answer_for_an_end_entity(pki, pki_server) -> None:
    leaf, _ = pki.issue()
    del pki_server.routes[pki.ocsp_path]
    pki_server.routes[pki.crl_path] = crl_with_idp(pki, {"only_contains_ca_certs": True}, [])
    out = RevocationChecker().check(leaf, pki.issuing)
    assert out.check.sub_indication is SubIndication.TRY_LATER, out.evidence
    assert "covers only CA certificates" in out.check.message


def test_a_crl_of_end_entities_does_not_answer_for_a_ca(pki, pki_server) -> None:
    pki_server.routes[pki.root_crl_path] = crl_with_idp(pki, {"only_contains_user_certs": True}, [], root=True)
    out = RevocationChecker(prefer_ocsp=False).check(pki.issuing, pki.root)
    assert out.check.sub_indication is SubIndication.TRY_LATER, out.evidence
    assert "covers only end-entity certificates" in out.check.message
    # and the flags that fit the certificate leave the CRL usable
    pki_server.routes[pki.root_crl_path] = crl_with_idp(
        pki, {"distribution_point": point(f"{pki_server.url}{pki.root_crl_path}"), "only_contains_ca_certs": True},
        [pki.issuing], root=True)
    revoked = RevocationChecker(prefer_ocsp=False).check(pki.issuing, pki.root)
    assert (revoked.evidence.source, revoked.check.sub_indication) == ("crl", SubIndication.REVOKED)


@pytest.mark.parametrize("idp, why", [
    ({"only_some_reasons": {"key_compromise", "ca_compromise"}}, "onlySomeReasons"),
    ({"indirect_crl": True}, "indirect CRL"),
    ({"only_contains_attribute_certs": True}, "only attribute certificates"),
])
def test_crls_we_cannot_read_as_complete_are_refused(pki, pki_server, idp, why) -> None:
    """A reasons partition that does not list keyCompromise... is not a complete CRL: a
    certificate revoked for another reason would look good."""
    leaf, _ = pki.issue()
    del pki_server.routes[pki.ocsp_path]
    pki_server.routes[pki.crl_path] = crl_with_idp(pki, {"distribution_point": point(facts_of(leaf).crl_urls[0]), **idp},
                                               [])
    out = RevocationChecker().check(leaf, pki.issuing)
    assert out.check.sub_indication is SubIndication.TRY_LATER, out.evidence
    assert why in out.check.message


def with_distribution_points(pki, cert: x509.Certificate, points: list[dict]) -> x509.Certificate:
    """``cert`` with its CRL distribution points replaced, signed again by the issuing CA."""
    tbs = x509.TbsCertificate.load(cert["tbs_certificate"].dump())
    exts = [e for e in tbs["extensions"] if e["extn_id"].native not in ("crl_distribution_points", "freshest_crl")]
    exts.append(x509.Extension({"extn_id": "crl_distribution_points", "critical": False, "extn_value": points}))
    tbs["extensions"] = x509.Extensions(exts)
    tbs_der = tbs.dump(force=True)
    return x509.Certificate({"tbs_certificate": x509.TbsCertificate.load(tbs_der),
                             "signature_algorithm": {"algorithm": oids.SM2_WITH_SM3},
                             "signature_value": sign_checked(pki.h.issuing_signer, tbs_der)})


def test_a_name_relative_to_the_crl_issuer_matches_the_same_name(pki) -> None:
    """The certificate's point and the CRL's are both named relative to the CA's name."""
    rdn = x509.RelativeDistinguishedName([{"type": "organizational_unit_name",
                                           "value": x509.DirectoryString(name="utf8_string", value="分区丙")}])
    relative = x509.DistributionPointName(name="name_relative_to_crl_issuer", value=rdn)
    other = x509.DistributionPointName(name="name_relative_to_crl_issuer", value=x509.RelativeDistinguishedName(
        [{"type": "organizational_unit_name", "value": x509.DirectoryString(name="utf8_string", value="分区丁")}]))
    leaf = with_distribution_points(pki, pki.issue(cn="相对名")[0], [{"distribution_point": relative}])
    ours = crl_with_idp(pki, {"distribution_point": relative}, [leaf])
    theirs = crl_with_idp(pki, {"distribution_point": other}, [])
    out = RevocationChecker(online=False, offline_crls=[theirs, ours]).check(leaf, pki.issuing)
    assert out.check.sub_indication is SubIndication.REVOKED, out.evidence
    assert any("分区丁" in e for e in out.evidence.errors), out.evidence.errors


def test_a_delta_of_another_scope_does_not_complete_the_full_crl(pki, pki_server) -> None:
    leaf, _ = pki.issue()
    del pki_server.routes[pki.ocsp_path]
    delta_path = pki.crl_path.replace(".crl", "-delta.crl")
    other = point(f"{pki_server.url}/elsewhere.crl")
    pki_server.routes[delta_path] = crl_with_idp(pki, {"distribution_point": other}, [leaf], number=2, delta_of=1)
    out = RevocationChecker().check(leaf, pki.issuing)
    assert out.evidence.status == "good" and out.evidence.source == "crl", out.evidence
    assert any("is not the full CRL's" in e for e in out.evidence.errors), out.evidence.errors
    # the same delta with the full CRL's scope is used
    pki_server.routes[delta_path] = crl_with_idp(pki, {"distribution_point": point(facts_of(leaf).crl_urls[0])},
                                             [leaf], number=2, delta_of=1)
    used = RevocationChecker().check(leaf, pki.issuing)
    assert (used.evidence.source, used.check.sub_indication) == ("crl+delta", SubIndication.REVOKED), used.evidence


def test_unreadable_distribution_points_are_a_reason_not_a_fault(pki) -> None:
    leaf, _ = pki.issue()
    der = bytearray(leaf.dump())
    at = der.find(b"\x86", der.find(bytes.fromhex("551d1f")))     # the CRL DP's URI tag
    der[at] = 0x8f                                                 # a GeneralName choice that does not exist
    broken = x509.Certificate.load(bytes(der))
    out = RevocationChecker(online=False, offline_crls=[pki.crl()]).check(broken, pki.issuing)
    assert out.check.sub_indication is SubIndication.TRY_LATER, out.evidence
    assert "CRL distribution points are unreadable" in out.check.message


def test_openssl_draws_the_same_scope_lines(pki, partitions, openssl_bin, tmp_path) -> None:
    """OpenSSL 3 (``verify -crl_check``) picks CRLs by the same rules: A's CRL and a CA-only
    CRL are of a "different CRL scope" for B's certificate, B's own CRL is taken up (OpenSSL
    3.0's ``verify`` then fails SM2 signatures as such, so only the scope choice is compared)."""
    import subprocess

    from asn1crypto import pem

    _, b, crls = partitions
    ca_only = crl_with_idp(pki, {"only_contains_ca_certs": True}, [b])
    files = {"chain.pem": pem.armor("CERTIFICATE", pki.root.dump()) + pem.armor("CERTIFICATE", pki.issuing.dump()),
             "b.pem": pem.armor("CERTIFICATE", b.dump())}
    for name, der in (("a.crl", crls["A"]), ("b.crl", crls["B"]), ("ca-only.crl", ca_only)):
        files[name] = pem.armor("X509 CRL", der)
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)

    def openssl_scope_refused(crl_file: str) -> bool:
        run = subprocess.run([openssl_bin, "verify", "-crl_check", "-CAfile", str(tmp_path / "chain.pem"),
                              "-CRLfile", str(tmp_path / crl_file), str(tmp_path / "b.pem")],
                             capture_output=True, text=True)
        return "different CRL scope" in run.stdout + run.stderr

    def ours(crl_der: bytes) -> SubIndication | None:
        return RevocationChecker(online=False, offline_crls=[crl_der]).check(b, pki.issuing).check.sub_indication

    assert openssl_scope_refused("a.crl") and ours(crls["A"]) is SubIndication.TRY_LATER
    assert openssl_scope_refused("ca-only.crl") and ours(ca_only) is SubIndication.TRY_LATER
    assert not openssl_scope_refused("b.crl") and ours(crls["B"]) is SubIndication.REVOKED
