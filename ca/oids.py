"""Object identifiers used by ca/ beyond the ShangMi ones of ``gm/oids.py``.

The SM2/SM3 and GM/T 0015 identity-extension OIDs come from :mod:`gm.oids` (re-exported
here under the names ca/ uses); this module adds the RFC 5280 / RFC 6960 identifiers the
profiles name and the private certificate-policy arc of eseal.
"""
from __future__ import annotations

from gm import oids as _gm

ID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"          # RFC 5480 id-ecPublicKey
SHA1 = "1.3.14.3.2.26"
SM2_CURVE = _gm.SM2                             # as ECParameters namedCurve: sm2p256v1
SM3 = _gm.SM3
SM2_WITH_SM3 = _gm.SM2_WITH_SM3

# GM/T 0015-2012 identity extensions (always non-critical). The unified social credit
# code (GB 32100, 2015) is younger than GM/T 0015-2012; Chinese CAs carry it in
# OrganizationCode (its characters 9-17 are the organization code), which relying
# parties read -- so do we.
GMT0015_IDENTIFY_CODE = _gm.IDENTIFY_CODE
GMT0015_INSURANCE_NUMBER = _gm.INSURANCE_NUMBER
GMT0015_IC_REGISTRATION_NUMBER = _gm.IC_REGISTRATION_NUMBER
GMT0015_ORGANIZATION_CODE = _gm.ORGANIZATION_CODE
GMT0015_TAXATION_NUMBER = _gm.TAXATION_NUMBER

# RFC 5280 / RFC 6960 ids used by profiles
ANY_POLICY = "2.5.29.32.0"
KP_SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
KP_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"
KP_EMAIL_PROTECTION = "1.3.6.1.5.5.7.3.4"
KP_TIME_STAMPING = "1.3.6.1.5.5.7.3.8"
KP_OCSP_SIGNING = "1.3.6.1.5.5.7.3.9"
PKIX_OCSP_NOCHECK = "1.3.6.1.5.5.7.48.1.5"
PKIX_OCSP_NONCE = "1.3.6.1.5.5.7.48.1.2"
HOLD_INSTRUCTION_REJECT = "1.2.840.10040.2.3"   # RFC 5280 holdInstruction-reject

# Private arc of eseal for certificate policies. No registration authority hands out
# arcs under 1.2.156 to a software product, so the arc is a UUID OID (ITU-T X.667,
# 2.25.<UUID as integer>), unique without registration. Policies are
# ESEAL_ARC.1.<region code>.<profile number>; an operator whose region owns a
# registered arc configures it instead (``policy_arc=`` of ca.profiles.CAConfig).
ESEAL_ARC = "2.25.172213403981946219014592213393398203871"
