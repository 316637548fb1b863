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
