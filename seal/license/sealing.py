"""Seal a license's OFD with an agency's seal from the region's registry, timestamped.

The sealer works in two steps so that a refused seal use costs nothing:

1. ``authorise(seal_id=, agency=, actor=)`` — before a license identifier is taken:
   the registry (``seal.service.authorise_use``) checks the agency's authorisation, the
   seal's status and validity, the bound signer certificate and its status; each refusal
   is its own ``seal.errors`` exception and an audit record. ``agency`` defaults to the
   seal's own agency. Returns the registry's short-lived use grant.
2. ``seal(ofd, grant, box=)`` — ``seal.ofd.signing.seal_ofd`` writes the Seal-type
   signature (StampAnnot at the template's seal box on page 1, References over every file,
   the seal as Seal.esl) and asks ``seal.service.make_signature`` for SignedValue.dat: an
   SES_Signature over SM3(Signature.xml) signed by the key store, with an RFC 3161 token
   from the region's TSA (``seal.tsa.tsa_callable``) unless timestamps are switched off.
"""
from __future__ import annotations

from typing import Any, Protocol

from gm.sm3 import sm3
from seal.errors import SignerCertificateInvalid
from seal.license.errors import SealingUnavailable
from seal.license.types import Box

__all__ = ["Sealer", "RegistrySealer", "SIGNATURE_XML"]

# A freshly rendered license has no signature yet, so seal_ofd writes the first one here.
SIGNATURE_XML = "/Doc_0/Signs/Sign_0/Signature.xml"


class Sealer(Protocol):
    def authorise(self, *, seal_id: str, agency: str | None, actor: str) -> Any:
        """Check the use; return a grant with an ``agency`` attribute (raise to refuse)."""

    def seal(self, ofd: bytes, grant: Any, *, box: Box) -> bytes:
        """Return the OFD with the seal applied at ``box`` on page 1."""


class RegistrySealer:
    """A Sealer over seal/service.py (registry, grants, SES_Signature) and seal/ofd."""

    def __init__(self, home: Any, keystore: Any, *, timestamp: bool = True, pin: str | None = None) -> None:
        self.home = home
        self.keystore = keystore
        self.pin = pin
        self._timestamp = None
        if timestamp:
            from seal.tsa import tsa_callable

            self._timestamp = tsa_callable(home, keystore, actor="license-issuer")

    def authorise(self, *, seal_id: str, agency: str | None, actor: str) -> Any:
        from seal import service as seal_service

        owner, serial = seal_service.default_signer(self.home, seal_id)
        if serial is None:
            message = (f"seal {seal_id} binds no signer certificate of this region, "
                       "so this service holds no key to seal with it")
            # audited as every refused seal use is (seal.use_refused), then said in the license's terms
            seal_service.refuse_use(self.home, seal_id, SignerCertificateInvalid(message), agency=agency or owner,
                                    actor=actor)
            raise SealingUnavailable(message)
        return seal_service.authorise_use(self.home, self.keystore, seal_id, agency=agency or owner,
                                          signer_cert_serial=serial, actor=actor, pin=self.pin)

    def seal(self, ofd: bytes, grant: Any, *, box: Box) -> bytes:
        from seal import service as seal_service
        from seal.ofd.signing import seal_ofd

        def signed_value(signature_xml: bytes) -> bytes:
            return seal_service.make_signature(self.home, self.keystore, grant, sm3(signature_xml), SIGNATURE_XML,
                                               timestamp=self._timestamp)

        return seal_ofd(ofd, page_index=0, boundary_mm=(box.x, box.y, box.size, box.size), seal_der=grant.seal_der,
                        make_signed_value=signed_value)
