"""The demo region's agency: what `make serve` (``eseal serve --demo``) and
``eseal init --demo`` add so that sealing and e-licenses work out of the box.

An agency (演示市市场监督管理局, id ``DEMO-AMR``) with a signer key held in the key store, its
organization certificate, and its red round official seal drawn by seal/picture.py. License
types are built in (seal/license/types), the business licence (营业执照) among them.
"""
from __future__ import annotations

from typing import Any

from gm.records import frozen_record

__all__ = ["DemoAgency", "create_demo_agency", "DEMO_AGENCY", "DEMO_AGENCY_NAME"]

DEMO_AGENCY = "DEMO-AMR"
DEMO_AGENCY_NAME = "演示市市场监督管理局"
# a unified social credit code with a valid check character (GB 32100), for the demo only
DEMO_CREDIT_CODE = "91350100M000100Y43"


@frozen_record
class DemoAgency:
    agency: str
    name: str
    es_id: str
    signer_serial: str


def create_demo_agency(home: Any, keystore: Any, *, actor: str = "demo") -> DemoAgency:
    from ca import service as ca_service
    from seal import service

    key_ref = keystore.generate("demo-agency-signer", "seal", actor=actor)
    serial, cert = ca_service.issue_for_key(home, keystore, profile="organization", key_ref=key_ref,
                                            subject=f"C=CN,O={DEMO_AGENCY_NAME},CN={DEMO_AGENCY_NAME}",
                                            credit_code=DEMO_CREDIT_CODE, actor=actor)
    es_id = service.make_seal(home, keystore, seal_type="organization", name=DEMO_AGENCY_NAME, agency=DEMO_AGENCY,
                              holder_certs=[cert.dump()], actor=actor)
    return DemoAgency(DEMO_AGENCY, DEMO_AGENCY_NAME, es_id, serial)
