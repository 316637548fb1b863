"""The validation engine: chains, revocation, trust lists, seal and document checks, reports.

* :mod:`verify.report` — indications, sub-indications, checks, policies, JSON / HTML;
* :mod:`verify.path` — RFC 5280 path building and validation over asn1crypto certificates;
* :mod:`verify.revocation` and :mod:`verify.fetch` — OCSP / CRL with caching, a defensive
  http(s) fetcher;
* :mod:`verify.trustlist` — signed trust lists and the national list of lists;
* :mod:`verify.engine` — facts -> named checks -> summary, for certificates and signatures.

Validation never raises for a bad signature: it returns a :class:`verify.report.Report`.
"""
