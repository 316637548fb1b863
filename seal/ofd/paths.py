"""Entry names and OFD locations (ST_Loc), normalised to one form.

Inside the package every file is named by its zip entry name, e.g. ``Doc_0/Document.xml``
(no leading slash). OFD locations come in two forms: absolute (``/Doc_0/Signs/...``,
from the package root) and relative (``Pages/Page_0/Content.xml``, from the folder of the
file that mentions it). :func:`resolve` turns both into the entry-name form and refuses
anything that could step outside the package.
"""
from __future__ import annotations

import posixpath
import re

from seal.ofd.errors import OFDPathError

_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# Names producers actually write (Doc_0/Pages/Page_0/Content.xml): accepted without the
# detailed checks below. A segment starts with a letter, digit, '_' or '-', so '.' and '..'
# cannot match.
_PLAIN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*/?")


def check_entry_name(name: str) -> str:
    """Validate a zip entry name; returns it without a trailing slash (directory entries)."""
    if _PLAIN.fullmatch(name) and not _DRIVE.match(name):
        return name[:-1] if name.endswith("/") else name
    if not name:
        raise OFDPathError("empty entry name in the package")
    if "\\" in name:
        raise OFDPathError(f"entry name {name!r} contains a backslash")
    if name.startswith("/") or _DRIVE.match(name):
        raise OFDPathError(f"entry name {name!r} is absolute")
    if _CONTROL.search(name):
        raise OFDPathError(f"entry name {name!r} contains control characters")
    body = name[:-1] if name.endswith("/") else name
    for part in body.split("/"):
        if part in ("", ".", ".."):
            raise OFDPathError(f"entry name {name!r} has an empty, '.' or '..' segment (path traversal)")
    return body


def resolve(loc: str, *, base: str = "") -> str:
    """Resolve an OFD location against the file ``base`` that mentions it.

    ``base`` is an entry name (``Doc_0/Document.xml``); its folder is the origin of a relative
    location. Returns an entry name; ``..`` above the package root is refused.
    """
    loc = loc.strip()
    if not loc:
        raise OFDPathError(f"empty location in {base or 'the package root'}")
    if "\\" in loc:
        raise OFDPathError(f"location {loc!r} in {base or 'OFD.xml'} contains a backslash")
    if _CONTROL.search(loc) or _DRIVE.match(loc) or "://" in loc:
        raise OFDPathError(f"location {loc!r} in {base or 'OFD.xml'} is not a package path")
    if loc.startswith("/"):
        joined = loc.lstrip("/")
    else:
        joined = posixpath.join(posixpath.dirname(base), loc)
    parts: list[str] = []
    for part in joined.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise OFDPathError(f"location {loc!r} in {base or 'OFD.xml'} points outside the package")
            parts.pop()
            continue
        parts.append(part)
    if not parts:
        raise OFDPathError(f"location {loc!r} in {base or 'OFD.xml'} names no file")
    return "/".join(parts)


def absolute(entry: str) -> str:
    """The absolute OFD location of an entry name (``/Doc_0/...``), as References use."""
    return "/" + entry


def folder(entry: str) -> str:
    return posixpath.dirname(entry)
