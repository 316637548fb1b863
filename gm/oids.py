"""Every ShangMi object identifier eseal uses, once, with the standard that defines it.

Arcs: 1.2.156.10197 is the cryptography standardisation committee (GM/T 0006-2012
"Cryptographic application identifier criterion specification", also GB/T 33560-2017);
1.2.156.10260 carries the certificate identity extensions of GM/T 0015-2012.
Plain dotted strings: gm/asn1/registry.py gives them names inside asn1crypto.
Where sources disagree the comment says so; OIDs marked "(seen)" were checked in real
files or in OpenSSL 3 (`openssl asn1parse -genstr OID:sm4-ctr` prints the name it knows).
"""
from __future__ import annotations

# --- Block ciphers (GM/T 0006-2012 Table A.1; mode arcs as in OpenSSL / Tongsuo objects.txt) ---
SM1 = "1.2.156.10197.1.102"  # SM1 (hardware-only cipher; listed so it is recognised in AlgorithmIdentifiers)
SSF33 = "1.2.156.10197.1.103"  # SSF33, same status as SM1
SM4 = "1.2.156.10197.1.104"  # SM4 (GB/T 32907); GM/T 0010 envelopes use it bare, IV as OCTET STRING (seen)
SM4_ECB = "1.2.156.10197.1.104.1"  # (seen, OpenSSL sm4-ecb)
SM4_CBC = "1.2.156.10197.1.104.2"  # (seen, OpenSSL sm4-cbc; what `openssl pkcs8 -v2 sm4` writes)
SM4_OFB = "1.2.156.10197.1.104.3"  # (seen, OpenSSL sm4-ofb)
SM4_CFB = "1.2.156.10197.1.104.4"  # (seen, OpenSSL sm4-cfb, 128-bit feedback)
SM4_CFB1 = "1.2.156.10197.1.104.5"  # (seen, OpenSSL sm4-cfb1)
SM4_CFB8 = "1.2.156.10197.1.104.6"  # (seen, OpenSSL sm4-cfb8)
SM4_CTR = "1.2.156.10197.1.104.7"  # (seen, OpenSSL sm4-ctr)
SM4_GCM = "1.2.156.10197.1.104.8"  # OpenSSL 3 provider "SM4-GCM"; RFC 8998 mode
SM4_CCM = "1.2.156.10197.1.104.9"  # OpenSSL 3 provider "SM4-CCM"; RFC 8998 mode
SM4_XTS = "1.2.156.10197.1.104.10"  # OpenSSL 3 provider "SM4-XTS"; GB/T 17964-2021

# --- Stream cipher (GM/T 0006-2012) ---
ZUC = "1.2.156.10197.1.201"  # ZUC (GM/T 0001-2012)

# --- Public key: SM2 (GB/T 32918, GM/T 0006-2012) ---
SM2 = "1.2.156.10197.1.301"  # SM2 algorithm; as an ECParameters namedCurve it is sm2p256v1 (GB/T 32918.5) (seen)
SM2_SIGN = "1.2.156.10197.1.301.1"  # SM2-1 signature; GM/T 0010 / GB/T 35275 SignerInfo signatureAlgorithm (seen)
SM2_KEY_EXCHANGE = "1.2.156.10197.1.301.2"  # SM2-2 key exchange protocol (GB/T 32918.3)
SM2_ENCRYPT = "1.2.156.10197.1.301.3"  # SM2-3 public key encryption; GM/T 0010 KeyTransRecipientInfo (seen)
SM9 = "1.2.156.10197.1.302"  # SM9 identity-based cryptography (GM/T 0044); recognised only

# --- Hash: SM3 (GB/T 32905, GM/T 0006-2012) ---
SM3 = "1.2.156.10197.1.401"  # SM3 (seen); also an OFD Reference CheckMethod
SM3_WITHOUT_KEY = "1.2.156.10197.1.401.1"  # GM/T 0006: "SM3 used without a key"
# GM/T 0006: "SM3 used with a key". Read two ways in the wild:
#  - OFD References (GB/T 33190): CheckMethod = SM3(Z_A || file), Z_A of the signer's key (dms360);
#  - PBES2 PRF hmacWithSM3 in emmansun/gmsm and GM/T 0091-2020 Annex C.
SM3_WITH_KEY = "1.2.156.10197.1.401.2"
# hmacWithSM3 of GM/T 0091-2020 Annex A.2 (contradicts its own Annex C, which says 401.2);
# the value Tongsuo / newer OpenSSL objects.txt give "hmacWithSM3". PBES2 readers accept both.
HMAC_SM3 = "1.2.156.10197.1.401.3.1"

# --- Signature algorithms (GM/T 0006-2012) ---
SM2_WITH_SM3 = "1.2.156.10197.1.501"  # SM2 signature with SM3: X.509, CRL, OCSP, SES (seen)
SM2_WITH_SHA1 = "1.2.156.10197.1.502"
SM2_WITH_SHA256 = "1.2.156.10197.1.503"
RSA_WITH_SM3 = "1.2.156.10197.1.504"  # sm3WithRSAEncryption (seen, OpenSSL)

# --- GM/T 0010-2012 / GB/T 35275-2017 message syntax (PKCS#7 content types under the SM2 arc) ---
GMT0010_DATA = "1.2.156.10197.6.1.4.2.1"  # data (seen in CFCA SADK SignedData and GM/T 0010 envelopes)
GMT0010_SIGNED_DATA = "1.2.156.10197.6.1.4.2.2"  # signedData (seen)
GMT0010_ENVELOPED_DATA = "1.2.156.10197.6.1.4.2.3"  # envelopedData (seen)
GMT0010_SIGNED_AND_ENVELOPED_DATA = "1.2.156.10197.6.1.4.2.4"  # signedAndEnvelopedData
GMT0010_ENCRYPTED_DATA = "1.2.156.10197.6.1.4.2.5"  # encryptedData
GMT0010_KEY_AGREEMENT_INFO = "1.2.156.10197.6.1.4.2.6"  # keyAgreementInfo

# --- GM/T 0091-2020 password-based cryptography (PKCS#5 look-alikes; not used by OpenSSL) ---
GMT0091_PBKDF = "1.2.156.10197.6.1.4.1.5.1"
GMT0091_PBES = "1.2.156.10197.6.1.4.1.5.2"
GMT0091_PBMAC = "1.2.156.10197.6.1.4.1.5.3"

# --- GM/T 0015-2012 certificate identity extensions (arc 1.2.156.10260.4.1) ---
# Names as the 2012 standard spells them; values are strings chosen by the issuing CA.
# (GM/T 0015-2023 reportedly moves the resident ID / passport numbers below .4.1.1 -- one secondary
# source only, not checked against the text; such OIDs read as unknown extensions.)
IDENTIFY_CODE = "1.2.156.10260.4.1.1"  # IdentifyCode: personal identity number (resident ID card, officer ID, passport)
INSURANCE_NUMBER = "1.2.156.10260.4.1.2"  # InsuranceNumber: social insurance number
IC_REGISTRATION_NUMBER = "1.2.156.10260.4.1.3"  # ICRegistrationNumber: business registration number
ORGANIZATION_CODE = "1.2.156.10260.4.1.4"  # OrganizationCode: organisation code (unified social credit code)
TAXATION_NUMBER = "1.2.156.10260.4.1.5"  # TaxationNumber: taxpayer number

# PBES2 PRFs for SM3 that a reader must accept (see SM3_WITH_KEY and HMAC_SM3 above).
HMAC_SM3_ALIASES = (HMAC_SM3, SM3_WITH_KEY)
