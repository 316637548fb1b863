"""The one place where ShangMi OIDs (gm/oids.py) get names inside asn1crypto.

After `import gm`, asn1crypto parses and dumps SM2 keys, SM2-with-SM3 signatures, SM3
digests, SM4 parameters, GM/T 0010 content types and GM/T 0015 extensions by name.
asn1crypto keeps its OID tables in class-level `_map` dicts (and hand-written
`_reverse_map`s for some classes), and a few properties use closed lookup tables; this
module extends both. `register()` is idempotent.
"""
from __future__ import annotations

from collections.abc import Callable

from asn1crypto import algos, cms, core, keys, x509

from gm import oids

CURVE_NAME = "sm2p256v1"

_SIGNATURES = {
    oids.SM2_WITH_SM3: "sm2_sm3",
    oids.SM2_SIGN: "sm2",  # GM/T 0010 SignerInfo: the hash comes from digestAlgorithm
    oids.SM2_WITH_SHA1: "sm2_sha1",
    oids.SM2_WITH_SHA256: "sm2_sha256",
    oids.RSA_WITH_SM3: "sm3_rsa",  # asn1crypto spells sha256WithRSAEncryption "sha256_rsa"
}
_SIGNATURE_ALGO = {"sm2_sm3": "sm2", "sm2": "sm2", "sm2_sha1": "sm2", "sm2_sha256": "sm2",
                   "sm3_rsa": "rsassa_pkcs1v15"}
_SIGNATURE_HASH = {"sm2_sm3": "sm3", "sm2_sha1": "sha1", "sm2_sha256": "sha256", "sm3_rsa": "sm3"}

_SM4_MODES = {
    oids.SM4: "sm4",  # bare SM4: GM/T 0010 envelopes use it for CBC with the IV as parameters
    oids.SM4_ECB: "sm4_ecb",
    oids.SM4_CBC: "sm4_cbc",
    oids.SM4_OFB: "sm4_ofb",
    oids.SM4_CFB: "sm4_cfb",
    oids.SM4_CFB1: "sm4_cfb1",
    oids.SM4_CFB8: "sm4_cfb8",
    oids.SM4_CTR: "sm4_ctr",
    oids.SM4_GCM: "sm4_gcm",
    oids.SM4_CCM: "sm4_ccm",
    oids.SM4_XTS: "sm4_xts",
}
# Parameters are the IV as an OCTET STRING, as for AES in RFC 3565 / PKCS#5.
_SM4_IV_PARAMS = ("sm4", "sm4_cbc", "sm4_ofb", "sm4_cfb", "sm4_cfb1", "sm4_cfb8", "sm4_ctr")
# RFC 5084 GCMParameters and CCMParameters share one shape: { nonce OCTET STRING, ICVlen INTEGER }.
_SM4_AEAD_PARAMS = ("sm4_gcm", "sm4_ccm")

_CONTENT_TYPES = {
    oids.GMT0010_DATA: "sm2_data",
    oids.GMT0010_SIGNED_DATA: "sm2_signed_data",
    oids.GMT0010_ENVELOPED_DATA: "sm2_enveloped_data",
    oids.GMT0010_SIGNED_AND_ENVELOPED_DATA: "sm2_signed_and_enveloped_data",
    oids.GMT0010_ENCRYPTED_DATA: "sm2_encrypted_data",
    oids.GMT0010_KEY_AGREEMENT_INFO: "sm2_key_agreement_info",
}
# GM/T 0010 reuses the PKCS#7 structures under its own content-type OIDs.
_CONTENT_SPECS = {
    "sm2_signed_data": cms.SignedData,
    "sm2_enveloped_data": cms.EnvelopedData,
    "sm2_signed_and_enveloped_data": cms.SignedAndEnvelopedData,
    "sm2_encrypted_data": cms.EncryptedData,
}

_EXTENSIONS = {
    oids.IDENTIFY_CODE: "identify_code",
    oids.INSURANCE_NUMBER: "insurance_number",
    oids.IC_REGISTRATION_NUMBER: "ic_registration_number",
    oids.ORGANIZATION_CODE: "organization_code",
    oids.TAXATION_NUMBER: "taxation_number",
}


def _add_names(cls: type[core.ObjectIdentifier], names: dict[str, str]) -> None:
    """Add OID -> name to `cls._map` and keep every already-built reverse map in step."""
    for oid, name in names.items():
        existing = cls._map.get(oid)
        if existing not in (None, name):
            raise RuntimeError(f"{cls.__name__} already maps {oid} to {existing!r}, not {name!r}")
        cls._map[oid] = name
    pending = [cls]
    while pending:  # subclasses share _map but may have built their own _reverse_map
        klass = pending.pop()
        reverse = klass.__dict__.get("_reverse_map")
        if reverse is not None:
            for oid, name in names.items():
                reverse[name] = oid
        pending.extend(klass.__subclasses__())


def _extend_property(cls: type, attr: str, table: dict[str, object]) -> None:
    """Answer `attr` from `table` for our algorithm names and defer to asn1crypto otherwise.

    asn1crypto's SignedDigestAlgorithm.signature_algo and friends use closed dicts inside
    the property body; without this `cert.signature_algo` raises for SM2 certificates.
    """
    original = cls.__dict__[attr]
    if getattr(original.fget, "_gm_original", None) is not None:
        original = property(original.fget._gm_original)

    def fget(self: core.Sequence) -> object:
        name = self["algorithm"].native
        if name in table:
            value = table[name]
            return value(self) if callable(value) else value
        return original.fget(self)

    fget._gm_original = original.fget  # type: ignore[attr-defined]
    fget.__doc__ = original.fget.__doc__
    setattr(cls, attr, property(fget))


def _sm4_iv(algorithm: algos.EncryptionAlgorithm) -> bytes | None:
    name = algorithm["algorithm"].native
    if name in _SM4_IV_PARAMS:
        return algorithm["parameters"].native
    if name in _SM4_AEAD_PARAMS:
        return algorithm["parameters"]["aes_nonce"].native
    return None  # ECB and XTS carry no IV here


def register() -> None:
    keys.NamedCurve.register(CURVE_NAME, oids.SM2, 32)

    _add_names(algos.SignedDigestAlgorithmId, _SIGNATURES)
    _extend_property(algos.SignedDigestAlgorithm, "signature_algo", _SIGNATURE_ALGO)
    _extend_property(algos.SignedDigestAlgorithm, "hash_algo", _SIGNATURE_HASH)

    _add_names(algos.DigestAlgorithmId, {oids.SM3: "sm3"})
    # The PBES2 PRF; the other hmacWithSM3 OID (401.2) stays unnamed because OFD uses the
    # same OID for SM3-with-Z_A. gm.keyformat accepts both by dotted OID.
    _add_names(algos.HmacAlgorithmId, {oids.HMAC_SM3: "sm3"})

    _add_names(algos.EncryptionAlgorithmId, _SM4_MODES)
    for name in _SM4_IV_PARAMS:
        algos.EncryptionAlgorithm._oid_specs[name] = core.OctetString
    for name in _SM4_AEAD_PARAMS:
        algos.EncryptionAlgorithm._oid_specs[name] = algos.CcmParams
    sm4_names = list(_SM4_MODES.values())
    _extend_property(algos.EncryptionAlgorithm, "encryption_cipher", dict.fromkeys(sm4_names, "sm4"))
    _extend_property(algos.EncryptionAlgorithm, "key_length",
                     {name: (32 if name == "sm4_xts" else 16) for name in sm4_names})
    _extend_property(algos.EncryptionAlgorithm, "encryption_block_size", dict.fromkeys(sm4_names, 16))
    _extend_property(algos.EncryptionAlgorithm, "encryption_mode",
                     {name: ("cbc" if name == "sm4" else name[4:]) for name in sm4_names})
    iv_getter: Callable[[algos.EncryptionAlgorithm], bytes | None] = _sm4_iv
    _extend_property(algos.EncryptionAlgorithm, "encryption_iv", dict.fromkeys(sm4_names, iv_getter))

    _add_names(cms.KeyEncryptionAlgorithmId, {oids.SM2_ENCRYPT: "sm2_encrypt"})

    _add_names(cms.ContentType, _CONTENT_TYPES)
    cms.ContentInfo._oid_specs["sm2_data"] = core.OctetString
    for name, spec in _CONTENT_SPECS.items():
        cms.ContentInfo._oid_specs[name] = spec
        cms.EncapsulatedContentInfo._oid_specs[name] = spec

    _add_names(x509.ExtensionId, _EXTENSIONS)
