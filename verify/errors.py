"""Typed errors of the verification engine.

Validation never raises for a bad signature, certificate or list: it returns a report.
These exceptions are for misuse and for input that cannot be read at all (STYLE.md #7).
"""
from __future__ import annotations

__all__ = ["VerifyError", "InputError", "FetchError", "TrustListError", "TrustListSignatureError",
           "PinMismatch", "PROBLEMS"]


class VerifyError(Exception):
    """Base of every verify/ error."""


class InputError(VerifyError):
    """The input is not something the engine can read (not a certificate, empty file, ...)."""


class FetchError(VerifyError):
    """An http(s) fetch failed: refused scheme, timeout, too large, bad status. ``reason``
    is a short machine-readable word (scheme, timeout, too_large, status, network)."""

    def __init__(self, message: str, reason: str = "network") -> None:
        super().__init__(message)
        self.reason = reason


class TrustListError(VerifyError):
    """A trust list or list of lists is malformed, stale, or does not match its format."""


class TrustListSignatureError(TrustListError):
    """A trust list's signature does not verify, or its signer is not the expected one."""


class PinMismatch(TrustListSignatureError):
    """The list of lists is not signed by the pinned national signer certificate."""


class TrustListConflict(TrustListError):
    """Another publication of the same kind took this list's sequence number at the same moment."""


# exception -> (HTTP status, problem slug, title), for api.problems.register (STYLE.md #7)
PROBLEMS: tuple[tuple[type[VerifyError], int, str, str], ...] = (
    (VerifyError, 400, "verify-error", "Verification request refused"),
    (InputError, 400, "unverifiable-input", "Not a certificate, OFD, PDF, CMS or seal signature"),
    (FetchError, 502, "fetch-failed", "A URL named by the input could not be fetched"),
    (TrustListError, 400, "invalid-trust-list", "The trust list is malformed or stale"),
    (TrustListSignatureError, 400, "trust-list-signature", "The trust list's signature does not verify"),
    (PinMismatch, 403, "trust-list-not-pinned", "The list is not signed by the pinned signer"),
    (TrustListConflict, 409, "trust-list-conflict", "Another list was published at the same moment"),
)
