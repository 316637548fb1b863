"""A region whose key store holds an agency's seal key: what sealing tests start from."""
from __future__ import annotations

from typing import Any

from ca import service as ca_service
from gm.records import frozen_record
from keystore.soft import SoftKeyStore
from seal import service as seal_service
from store.db import make_sessionmaker


@frozen_record
class SealRegion:
    keystore: Any
    es_id: str
    signer: Any  # the organization certificate the seal binds (asn1crypto)


def seal_region(home: Any, *, passphrase: str, agency: str, name: str, region_code: str = "440000",
                region_name: str = "广东省", base_url: str = "http://pki.gd.example.gov.cn",
                label: str = "agency-signer", credit_code: str = "91350100M000100Y43",
                actor: str = "admin") -> SealRegion:
    """Key store, region (root, CAs, seal maker, TSA), an organization certificate for ``name``
    over a key the store holds, and ``agency``'s organization seal ``name`` binding it."""
    ks = SoftKeyStore.initialise(make_sessionmaker(home.engine), actor="admin", passphrase=passphrase).store
    ca_service.init_region(home, ks, region_code=region_code, region_name=region_name, base_url=base_url)
    key_ref = ks.generate(label, "seal", actor="admin")
    _, cert = ca_service.issue_for_key(home, ks, profile="organization", key_ref=key_ref,
                                       subject=f"C=CN,O={name},CN={name}", credit_code=credit_code)
    es_id = seal_service.make_seal(home, ks, seal_type="organization", name=name, agency=agency,
                                   holder_certs=[cert.dump()], actor=actor)
    return SealRegion(ks, es_id, cert)
