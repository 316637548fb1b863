"""Signed trust lists (TL) and the national list of lists (LOTL), modelled on ETSI TS 119 612.

* :mod:`verify.trustlist.model` — the JSON format, canonical bytes, signing and opening
  (detached GM/T 0010 CMS over the canonical list); documented in docs/trust-list.md;
* :mod:`verify.trustlist.store` — :class:`TrustStore`, "was this service granted at T?";
* :mod:`verify.trustlist.service` — publish a region TL, build the LOTL, import, refresh.
"""
from verify.trustlist.model import TrustList, canonical_json, open_list, sign_list
from verify.trustlist.store import ServiceStatus, TrustStore

__all__ = ["TrustList", "TrustStore", "ServiceStatus", "canonical_json", "open_list", "sign_list"]
