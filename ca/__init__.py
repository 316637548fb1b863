"""Certificate authority core: pure builders and parsers, no storage, no key bytes.

Modules (each signs, when it signs, through an injected :class:`ca.signer.Signer`):

* :mod:`ca.identifiers` — GB 11643 citizen ID, GB 32100 unified social credit code,
  GB 11714 organization code validation.
* :mod:`ca.profiles` — GM/T 0015 profiles as data (root CA, issuing CA, personal,
  organization, device, seal maker, TSA, OCSP, TLS server, audit signer, and the
  encryption twins for dual certificates) and the one engine that applies them;
  :class:`ca.profiles.CAConfig` holds the region code, base URL and policy arc.
* :mod:`ca.certificate` — the immutable certificate builder.
* :mod:`ca.csr` — PKCS#10 parse with SM2 proof of possession; CSR building.
* :mod:`ca.crl` — full and delta CRLs with a fast revoked-list encoder.
* :mod:`ca.ocsp` — OCSP request parsing, responses, pre-signed answers.
* :mod:`ca.keystore_signer` — the :class:`ca.signer.Signer` over a key store key reference.
* :mod:`ca.request` — the request keywords of every issue_* function (profile, subject,
  identity numbers, SAN, validity) as one :class:`ca.request.CertificateRequest`.
* :mod:`ca.service` — the storage side: region set-up, issuance, suspend / resume /
  revoke, CRLs, OCSP answers and the CA chain over the database (store.models.ca), each
  state change audited in its own transaction, each issued certificate appended to the
  transparency log (store.translog).
* :mod:`ca.crl_entries` — the full CRL's revoked list kept as DER (ca_crl_entries),
  written with each revoke / suspend / resume and read back joined by the database.
* :mod:`ca.errors` — the typed errors; :mod:`ca.testing` — an in-memory signer and a
  throw-away hierarchy for tests and demos (never used by the service).
"""
