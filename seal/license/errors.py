"""Typed errors of the e-license package (mapped to HTTP problem+json by api/).

Every error says what was wrong in words an operator can act on; field errors name the
field (``FieldError.field``) so a form or a batch result can point at it.
"""
from __future__ import annotations

from gm.records import frozen_record


class LicenseError(Exception):
    """Base of every e-license error."""


class LicenseTypeError(LicenseError):
    """A license type template is malformed (unknown key, bad layout, bad rule)."""


class UnknownLicenseType(LicenseError):
    """No license type with that code is known (built-in or in H/license-types)."""


class InvalidLicenseId(LicenseError):
    """A license identifier is malformed or its check character is wrong."""


class LicenseNotFound(LicenseError):
    """A well-formed license identifier that the directory does not hold."""


class AlreadyRevoked(LicenseError):
    """Revocation of a license that is already revoked (revocation is final)."""


class RegionNotReady(LicenseError):
    """The home has no region (root CA) yet: no region code nor verification URL."""


class NoCJKFont(LicenseError):
    """fontconfig knows no font covering Chinese; the license face cannot be rendered."""


class SealingUnavailable(LicenseError):
    """A seal was asked for but no OFD sealer is available (or it failed)."""


class NoSealChosen(SealingUnavailable):
    """No seal was named and the issuing agency has no single seal to use (none, or several)."""


@frozen_record
class FieldError:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class LicenseValidationError(LicenseError):
    """The field data of a license is invalid; ``errors`` lists one FieldError per problem."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("invalid license data: " + "; ".join(str(e) for e in self.errors))

    @property
    def fields(self) -> list[str]:
        return [e.field for e in self.errors]


class ExternalIdConflict(LicenseError):
    """An external id already issued with *different* field data (not a repeat of the same row)."""


# How the API reports each error (api.problems.register(cls, status, slug, title) in a loop):
# data here, so the mapping lives beside the errors it describes.
PROBLEMS: tuple[tuple[type[LicenseError], int, str, str], ...] = (
    (LicenseError, 400, "license-error", "E-license request refused"),
    (LicenseValidationError, 422, "invalid-license-data", "License field data is invalid"),
    (LicenseTypeError, 500, "invalid-license-type", "License type template is malformed"),
    (UnknownLicenseType, 404, "unknown-license-type", "No such license type"),
    (InvalidLicenseId, 400, "invalid-license-id", "License identifier is malformed or mistyped"),
    (LicenseNotFound, 404, "unknown-license", "No such license"),
    (AlreadyRevoked, 409, "license-already-revoked", "License is revoked"),
    (ExternalIdConflict, 409, "external-id-conflict", "External id already issued with other data"),
    (RegionNotReady, 503, "region-not-initialised", "Region not initialised"),
    (NoCJKFont, 503, "no-cjk-font", "No Chinese font installed to render the license"),
    (SealingUnavailable, 503, "sealing-unavailable", "License cannot be sealed"),
    (NoSealChosen, 409, "no-agency-seal", "No single seal of the agency to seal the license with"),
)
