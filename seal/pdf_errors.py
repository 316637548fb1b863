"""Typed errors of PDF sealing and PDF signature inspection (seal/pdf*.py).

They subclass the package's bases in seal/errors.py, so the API maps them like every other
seal error: broken input is a ``SealFormatError`` (HTTP 422), a bad request a
``SealBuildError`` (HTTP 400). A bad *signature* inside a well-formed PDF never raises:
``inspect_pdf_signatures`` reports it as a fact.
"""
from __future__ import annotations

from seal.errors import SealBuildError, SealError, SealFormatError


class PdfSealError(SealError):
    """Base of the PDF sealing errors."""


class MalformedPdf(PdfSealError, SealFormatError):
    """The bytes are not a PDF we can read (or a signature dictionary in it is unreadable);
    the message says what failed."""


class PdfSealArgumentError(PdfSealError, SealBuildError):
    """A sealing argument cannot be applied to this PDF (page out of range, box outside the
    page, picture not an image, unknown SubFilter, field name taken...)."""


class PdfPageOutOfRange(PdfSealArgumentError):
    """No page ``page`` (from 0): the PDF has ``pages``."""

    def __init__(self, page: object, pages: int) -> None:
        super().__init__(f"page {page} does not exist: the PDF has {pages} page(s), numbered from 0")
        self.page, self.pages = page, pages


class PdfSigningError(PdfSealError):
    """The signer callable (keystore, HSM) failed or returned a signature that does not
    verify with the certificate given: usually a key reference that does not match it."""


def _read_errors() -> tuple[type[BaseException], ...]:
    import struct
    import zlib

    from pyhanko.pdf_utils.misc import PdfError

    return (PdfError, ValueError, KeyError, TypeError, IndexError, AttributeError, AssertionError,
            RecursionError, ArithmeticError, zlib.error, struct.error)


# What pyHanko, asn1crypto and zlib raise on damaged input (pyHanko asserts on some broken
# xref sections; Decimal raises InvalidOperation, an ArithmeticError, on a number such as
# ".."): caught at the reading sites and turned into MalformedPdf with the message.
READ_ERRORS = _read_errors()


def describe(exc: BaseException) -> str:
    """A readable reason for a READ_ERRORS exception (some carry no or a cryptic message)."""
    if isinstance(exc, ArithmeticError) and not isinstance(exc, (ZeroDivisionError, OverflowError)):
        return "malformed number"
    return str(exc) or type(exc).__name__
