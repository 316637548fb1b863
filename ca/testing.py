"""Test and development helpers: an in-process :class:`Signer` over ``gm.sm2.PrivateKey``
and a throw-away region hierarchy. Never used by the service, whose signers come from
the keystore by key reference."""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from asn1crypto import x509

from ca.certificate import CertificateBuilder
from ca.profiles import CAConfig


class LocalSigner:
    """A :class:`ca.signer.Signer` holding a ``gm.sm2.PrivateKey`` in memory."""

    def __init__(self, private_key=None) -> None:
        from gm.sm2 import PrivateKey

        self._key = private_key if private_key is not None else PrivateKey.generate()

    @property
    def public_key(self):
        return self._key.public_key

    @property
    def private_key(self):
        return self._key

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)


@dataclass
class Hierarchy:
    config: CAConfig
    root_signer: LocalSigner
    root: x509.Certificate
    issuing_signer: LocalSigner
    issuing: x509.Certificate


def make_hierarchy(config: CAConfig | None = None, *, region_name: str = "测试省") -> Hierarchy:
    """Root CA -> issuing CA, both freshly keyed, valid from an hour ago."""
    config = config or CAConfig(region_code="440000", base_url="http://pki.example.gov.cn")
    now = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(hours=1)
    root_signer, issuing_signer = LocalSigner(), LocalSigner()
    root = (CertificateBuilder("root_ca", config)
            .subject({"C": "CN", "O": f"{region_name}电子认证中心", "CN": f"{region_name}根CA"})
            .public_key(root_signer.public_key)
            .validity(now, now + _dt.timedelta(days=365 * 20))
            .sign(root_signer))
    issuing = (CertificateBuilder("issuing_ca", config)
               .subject({"C": "CN", "O": f"{region_name}电子认证中心", "CN": f"{region_name}签发CA"})
               .public_key(issuing_signer.public_key)
               .issuer(root)
               .validity(now, now + _dt.timedelta(days=365 * 10))
               .sign(root_signer))
    return Hierarchy(config, root_signer, root, issuing_signer, issuing)


def organization_signer(h: Hierarchy, *, name: str = "某某市市场监督管理局",
                        credit_code: str = "91350100M000100Y43") -> tuple[LocalSigner, x509.Certificate]:
    """A fresh key and an organization certificate for it from ``h``'s issuing CA: the
    agency signer of the sealing tests and benchmarks."""
    signer = LocalSigner()
    cert = (CertificateBuilder("organization", h.config)
            .subject({"C": "CN", "O": name, "CN": name})
            .identity(organization_code=credit_code)
            .public_key(signer.public_key).issuer(h.issuing).sign(h.issuing_signer))
    return signer, cert


def issue_revoke_worker(home_path: str, passphrase: str, csr_der: bytes, count: int, out_dir: str,
                        name: str, start=None) -> None:
    """One worker of the multi-process CA test: after waiting on ``start`` (a multiprocessing
    Barrier), issues ``count`` device certificates, revokes every other one and signs a CRL
    after each revocation, writing the CRLs to ``out_dir/<name>-<i>.crl`` in order. A
    top-level function so spawned processes can run it."""
    from pathlib import Path

    from ca import service
    from keystore.soft import SoftKeyStore
    from store.home import Home

    home = Home.open(home_path)
    try:
        store = SoftKeyStore.from_home(home)
        store.unlock_with_passphrase(passphrase, actor=name)
        if start is not None:
            start.wait()
        for i in range(count):
            serial, _ = service.issue_certificate(home, store, profile="device", csr_pem=csr_der,
                                                  subject=f"C=CN,O=测试,CN={name}-{i}", actor=name)
            if i % 2:
                service.revoke(home, serial, "superseded", actor=name)
                der = service.generate_crl(home, store, actor=name)
                (Path(out_dir) / f"{name}-{i:04d}.crl").write_bytes(der)
        store.lock()
    finally:
        home.close()


def soft_region(home, passphrase: str, *, base_url: str = "http://pki.gd.example.gov.cn"):
    """A soft key store initialised in ``home`` and region 440000 (广东省) made with it, as
    ``eseal init`` does: returns (key store, RegionInfo). For tests of the service layer."""
    from ca import service
    from keystore.soft import SoftKeyStore
    from store.db import make_sessionmaker

    ks = SoftKeyStore.initialise(make_sessionmaker(home.engine), actor="admin", passphrase=passphrase).store
    return ks, service.init_region(home, ks, region_code="440000", region_name="广东省", base_url=base_url)


def bulk_certificates(home, rows, *, batch: int = 50_000) -> None:
    """Insert certificates of the issuing CA with plain SQL through the driver's executemany
    (no ORM objects, no per-value type processing). ``rows``: (serial, revoked_at or None,
    CRL reason or None) -- revoked_at None is a good certificate; the DER is a placeholder."""
    from sqlalchemy import select

    from store.db import transaction
    from store.models.ca import CertificateAuthority

    with transaction(home.engine) as s:
        issuer_id = s.scalar(select(CertificateAuthority.id).where(CertificateAuthority.kind == "issuing"))
    sqlite = home.engine.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    columns = ("serial", "issuer_id", "profile", "subject", "not_before", "not_after", "status", "reason",
               "revoked_at", "status_changed_at", "der", "issued_at")
    sql = f"INSERT INTO ca_certificates ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    # UTCDateTime stores naive UTC text on SQLite and timestamptz on PostgreSQL
    stamp = (lambda t: t.replace(tzinfo=None).isoformat(" ", "microseconds")) if sqlite else (lambda t: t)
    start = _dt.datetime(2025, 1, 1, tzinfo=_dt.timezone.utc)
    nb, na = stamp(start), stamp(start + _dt.timedelta(days=3650))

    def row(serial, when, reason) -> tuple:
        status = "good" if when is None else "hold" if reason == "certificateHold" else "revoked"
        changed = None if when is None else stamp(when)
        return (format(serial, "x"), issuer_id, "device", "CN=bulk", nb, na, status,
                None if when is None else reason or "unspecified", changed, changed, b"\x30\x00", nb)
    rows = iter(rows)
    while chunk := [row(*r) for _, r in zip(range(batch), rows)]:
        with home.engine.begin() as conn:
            conn.exec_driver_sql(sql, chunk)
