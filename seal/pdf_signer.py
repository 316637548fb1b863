"""The pyHanko side of SM2/SM3 PDF signing: a ``pyhanko.sign.signers.Signer`` whose raw
signature comes from a ``sign(bytes) -> DER SM2 signature`` callable, and the hook that
puts an RFC 3161 token over that signature into the unsigned attributes.

Why these choices:

* The key stays in the key store (DESIGN "keys stay in one place"): pyHanko hands
  ``async_sign_raw`` the DER of the signed attributes and we pass those bytes, unhashed,
  to ``sign`` — SM2 hashes them itself as SM3(Z_A ‖ M) with the default signer ID, which
  is what ``keystore.sign`` and ``gm.sm2.PrivateKey.sign`` do. The returned value is
  checked against the certificate's key before it goes into the file, so a key
  reference that does not match the certificate fails here (``PdfSigningError``) rather
  than at the relying party.
* Digest SM3 (1.2.156.10197.1.401) by name ``"sm3"``: asn1crypto knows that name after
  ``import gm`` (gm/asn1/registry.py), and pyHanko digests by name through hashlib /
  cryptography, both of which have SM3 with OpenSSL 3 (``hashlib.new("sm3")`` works here).
* signatureAlgorithm 1.2.156.10197.1.501 (sm2-with-SM3, asn1crypto ``sm2_sm3``), not the
  GM/T 0010 1.2.156.10197.1.301.1: pyHanko derives the messageDigest algorithm from the
  mechanism (``SignedDigestAlgorithm.hash_algo``), and only sm2-with-SM3 names its hash
  (SM3) — with 301.1 pyHanko cannot tell the digest and its consistency check is skipped;
  OpenSSL 3's CMS code maps 1.501 to (SM3, SM2) through ``OBJ_find_sigid_algs`` and
  ``openssl cms -cmsout -print`` names it ``SM2-with-SM3``, while it has no name for
  301.1. The PKCS#7 content types are used for the same reason (seal/cms.py ``pkcs7``
  flavour): PDF readers expect them.
* Timestamps: ``timestamp(signature_value) -> TimeStampToken DER`` is the same callable
  shape seal/cms.py takes (``seal.tsa.tsa_callable``); it is wired in as a pyHanko
  unsigned-attribute provider, so pyHanko itself never talks to a TSA and our TSA is
  called in process, once per seal (no dry-run token: space is reserved instead).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from asn1crypto import algos, cms, x509
from pyhanko.sign.attributes import CMSAttributeProvider, UnsignedAttributeProviderSpec
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

import gm  # noqa: F401  (registers the ShangMi OIDs in asn1crypto)
from gm.errors import GMError
from gm.sm2 import DEFAULT_UID, PublicKey
from seal.pdf_errors import PdfSealArgumentError, PdfSigningError

__all__ = ["SM2PdfSigner", "SignFn", "TimestampFn", "sm2_public_key", "DIGEST", "MECHANISM"]

SignFn = Callable[[bytes], bytes]
TimestampFn = Callable[[bytes], bytes]

DIGEST = "sm3"
MECHANISM = "sm2_sm3"  # 1.2.156.10197.1.501
# Largest DER SM2 signature: SEQUENCE { INTEGER(33), INTEGER(33) } = 2 + 35 + 35.
_MAX_SIG_LEN = 72


def sm2_public_key(cert: x509.Certificate) -> PublicKey:
    """The SM2 point in ``cert``; ``PdfSealArgumentError`` when the key is not SM2."""
    spki = cert.public_key
    curve = spki["algorithm"]["parameters"].chosen.native if spki.algorithm == "ec" else None
    if curve not in ("sm2p256v1", "1.2.156.10197.1.301"):
        raise PdfSealArgumentError(f"the certificate's key is not an SM2 key ({spki.algorithm} {curve or ''})".strip())
    return PublicKey.shared(spki["public_key"].native)


class _TimestampAttribute(CMSAttributeProvider):
    attribute_type = "signature_time_stamp_token"

    def __init__(self, timestamp: TimestampFn, signature: bytes) -> None:
        self._timestamp = timestamp
        self._signature = signature

    async def build_attr_value(self, dry_run: bool = False) -> cms.ContentInfo:
        if dry_run:  # never reached: seal_pdf reserves space, so pyHanko does no dry run
            raise PdfSealArgumentError("a timestamped seal needs reserved space (no dry run)")
        try:
            token = cms.ContentInfo.load(bytes(self._timestamp(self._signature)))
            token["content"]  # parse now: a broken token fails here, not in a reader
        except (ValueError, TypeError) as exc:
            raise PdfSigningError(f"the timestamp callable returned no TimeStampToken: {exc}") from None
        return token


class _TimestampSpec(UnsignedAttributeProviderSpec):
    """Unsigned attributes: one signatureTimeStampToken over the signature value."""

    def __init__(self, timestamp: TimestampFn) -> None:
        self._timestamp = timestamp

    def unsigned_attr_providers(self, signature: bytes, signed_attrs: cms.CMSAttributes,
                                digest_algorithm: str) -> Iterable[CMSAttributeProvider]:
        yield _TimestampAttribute(self._timestamp, signature)


class SM2PdfSigner(Signer):
    """pyHanko Signer over a ``sign(bytes) -> DER SM2 signature`` callable (SM2 with Z_A of
    the default signer ID, as ``keystore.sign`` computes it)."""

    def __init__(self, sign: SignFn, certificate: x509.Certificate, chain: Sequence[x509.Certificate] = (),
                 *, timestamp: TimestampFn | None = None) -> None:
        if not callable(sign):
            raise PdfSealArgumentError("sign must be a callable sign(bytes) -> DER SM2 signature")
        if not isinstance(certificate, x509.Certificate):
            raise PdfSealArgumentError("certificate must be an asn1crypto x509.Certificate")
        for c in chain:
            if not isinstance(c, x509.Certificate):
                raise PdfSealArgumentError("chain must hold asn1crypto x509.Certificate objects")
        # Re-parse from DER: a certificate built in memory (ca.certificate) has no cached
        # encoding, and pyHanko re-dumps every certificate several times per signature
        # (set hashing, size estimation) — that re-encoding cost 2/3 of a seal's time.
        certificate = x509.Certificate.load(certificate.dump())
        chain = [x509.Certificate.load(c.dump()) for c in chain]
        self._key = sm2_public_key(certificate)
        self._sign = sign
        super().__init__(signing_cert=certificate,
                         signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": MECHANISM}),
                         cert_registry=SimpleCertificateStore.from_certs([certificate, *chain]))
        if timestamp is not None:
            if not callable(timestamp):
                raise PdfSealArgumentError("timestamp must be a callable timestamp(signature) -> token DER")
            self.unsigned_attr_prov_spec = _TimestampSpec(timestamp)

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if digest_algorithm != DIGEST:
            raise PdfSigningError(f"SM2 signs with SM3, not {digest_algorithm}")
        if dry_run:
            return bytes(_MAX_SIG_LEN)
        try:
            signature = bytes(self._sign(bytes(data)))
        except Exception as exc:  # the key store's own refusal, passed on with its message
            raise PdfSigningError(f"the signer failed: {exc}") from exc
        try:
            good = self._key.verify(signature, bytes(data), DEFAULT_UID)
        except GMError as exc:
            raise PdfSigningError(f"the signer returned a malformed SM2 signature: {exc}") from None
        if not good:
            raise PdfSigningError("the signature does not verify with the certificate's public key "
                                  "(wrong key reference for this certificate?)")
        return signature
