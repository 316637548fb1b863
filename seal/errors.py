"""Typed errors of the seal package (mapped to HTTP problem+json in one place, in api/).

Malformed input and misuse raise; a bad signature on a well-formed seal does not (the
check functions return a result with ok False and the reason). Seal-use refusals are one
class each, so an API or a batch can say exactly why a sealing was refused.
"""
from __future__ import annotations


class SealError(Exception):
    """Base of every seal error."""


class SealFormatError(SealError, ValueError):
    """Bytes that are not a GB/T 38540 / GM/T 0031 seal or seal signature (says where)."""


class SealBuildError(SealError, ValueError):
    """A seal or signature cannot be built from the values given (says which value)."""


class NoCJKFont(SealError):
    """No font with Chinese glyphs is installed, so the seal picture cannot be drawn."""


class SealNotFound(SealError, LookupError):
    """No seal with that esID is registered in this region."""


class InvalidSealTransition(SealError):
    """A status change that the seal's current status does not allow (e.g. resume a revoked seal)."""


class SealMakerUnavailable(SealError):
    """The region has no valid seal maker (制章人) certificate whose key the key store holds."""


# --- seal-use refusals (authorise_use); each one is also written to the audit log ---


class SealUseRefused(SealError, PermissionError):
    """Base of the refusals of `seal.service.authorise_use`."""

    code = "seal-use-refused"


class NotAuthorised(SealUseRefused):
    """The calling agency holds no authorisation for this seal."""

    code = "not-authorised"


class SealRevoked(SealUseRefused):
    code = "seal-revoked"


class SealSuspended(SealUseRefused):
    code = "seal-suspended"


class SealExpired(SealUseRefused):
    """Now is outside the seal's validity (validStart .. validEnd)."""

    code = "seal-expired"


class SignerNotBound(SealUseRefused):
    """The signer certificate presented is not one the seal binds."""

    code = "signer-not-bound"


class SignerCertificateInvalid(SealUseRefused):
    """The bound signer certificate is revoked, on hold, expired or unknown to this region."""

    code = "signer-certificate-invalid"


class WrongPin(SealUseRefused):
    """The personal seal holder's PIN was wrong, missing or is locked."""

    code = "wrong-pin"


# (error class, HTTP status, problem slug, title) for api.problems.register: one place maps
# seal errors to HTTP; subclasses without their own row inherit their base's.
PROBLEMS: tuple[tuple[type[SealError], int, str, str], ...] = (
    (SealError, 400, "seal-error", "Seal request refused"),
    (SealFormatError, 400, "malformed-seal", "Not a GB/T 38540 / GM/T 0031 seal or seal signature"),
    (SealBuildError, 400, "invalid-seal-request", "A value for the seal is invalid"),
    (NoCJKFont, 503, "no-cjk-font", "No Chinese font installed to draw the seal picture"),
    (SealNotFound, 404, "unknown-seal", "No such seal"),
    (InvalidSealTransition, 409, "invalid-seal-transition", "Seal status change does not apply"),
    (SealMakerUnavailable, 503, "seal-maker-unavailable", "The region has no valid seal maker certificate"),
    (SealUseRefused, 403, "seal-use-refused", "Seal use refused"),
    (NotAuthorised, 403, "seal-not-authorised", "The agency is not authorised to use this seal"),
    (SealRevoked, 409, "seal-revoked", "Seal is revoked"),
    (SealSuspended, 409, "seal-suspended", "Seal is suspended"),
    (SealExpired, 409, "seal-expired", "Seal is outside its validity"),
    (SignerNotBound, 403, "signer-not-bound", "Signer certificate is not bound to the seal"),
    (SignerCertificateInvalid, 409, "signer-certificate-invalid", "Signer certificate is not valid"),
    (WrongPin, 403, "wrong-pin", "Holder PIN is wrong, missing or locked"),
)
