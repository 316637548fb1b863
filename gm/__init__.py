"""ShangMi primitives (SM2, SM3, SM4), their OIDs and key containers.

Importing gm names the ShangMi OIDs inside asn1crypto (see gm/asn1/registry.py).
"""
import gm.asn1  # noqa: F401  (side effect: OID registration)
