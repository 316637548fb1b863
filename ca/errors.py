"""Typed errors of the certificate authority core.

Each error is a ``ValueError`` (bad input, never a bug in the caller's flow) with a
message a person can act on. The API layer maps them to problem+json in one place:
``InvalidIdentifier``, ``ProfileViolation``, ``InvalidCSR`` and
``MalformedOCSPRequest`` are client errors (400; OCSP ``malformedRequest``),
``IncompleteBuilder`` and ``BuilderError`` are programming errors of the caller.
"""
from __future__ import annotations


class CAError(ValueError):
    """Base of every error raised by ca/."""


class InvalidIdentifier(CAError):
    """A citizen ID number, unified social credit code or organization code is malformed
    or carries a wrong check character."""


class ProfileViolation(CAError):
    """A request does not satisfy the certificate profile (subject DN, validity, key,
    identity extensions...)."""


class InvalidCSR(CAError):
    """A PKCS#10 request cannot be parsed, is not SM2/SM3, or its proof of possession fails."""


class MalformedOCSPRequest(CAError):
    """An OCSP request cannot be parsed (maps to OCSPResponseStatus malformedRequest)."""


class BuilderError(CAError):
    """A builder setter got a bad value or was called twice."""


class IncompleteBuilder(BuilderError):
    """``sign()`` was called before every required field was set."""


class SignerError(CAError):
    """The injected signer returned something that is not a DER SM2 signature."""


# --- service (ca/service.py): lifecycle and region state ------------------------------


class RegionExists(CAError):
    """``init_region`` was asked to create a region in a database that already has one."""


class RegionNotInitialised(CAError):
    """A CA operation ran before ``eseal init`` created the region's hierarchy."""


class UnknownSerial(CAError):
    """No certificate with this serial number was issued by this region (maps to 404)."""


class AlreadyRevoked(CAError):
    """The certificate is revoked; revocation is final, nothing can change it (409)."""


class InvalidTransition(CAError):
    """A lifecycle step that does not apply to the certificate's status, e.g. resuming a
    certificate that is not suspended (409)."""


class UnknownAuthority(CAError):
    """No CA of this region has the issuer id (key identifier) of a CRL or CA-certificate URL (404)."""


class ServiceCertificateMissing(CAError):
    """A region service (OCSP, TSA, seal maker, audit signer) has no good, unexpired certificate."""


class KeyDeliveryError(CAError):
    """A server-generated or KMC key cannot be delivered as asked (no or two delivery methods,
    a short passphrase, a recipient that is not an SM2 public key, no KMC key)."""


# --- registration workflow (ca/workflow.py) -------------------------------------------


class UnknownApplication(CAError):
    """No certificate application with this id (404)."""


class SeparationOfDuties(CAError):
    """The same person may not take two steps that must be taken by different people, e.g.
    approve an organization certificate application they submitted (403)."""
