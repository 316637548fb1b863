"""The license face's CJK font: seal.fonts' lookup, its refusal in the license vocabulary
(seal.license.errors.NoCJKFont, HTTP 503 "no-cjk-font ... to render the license")."""
from __future__ import annotations

from seal import errors as seal_errors
from seal.fonts import CJKFont
from seal.fonts import find_cjk_font as _find_cjk_font
from seal.license.errors import NoCJKFont

__all__ = ["CJKFont", "find_cjk_font"]


def find_cjk_font() -> CJKFont:
    try:
        return _find_cjk_font()
    except seal_errors.NoCJKFont as exc:
        raise NoCJKFont(str(exc)) from None
