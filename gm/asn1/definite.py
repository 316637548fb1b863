"""asn1crypto's ``dump()`` returns what was read, also when a length ends in the octet 0x80.

asn1crypto 1.5 decides that a value it read has the indefinite length form (BER, which it
re-encodes as DER on ``dump()``) by looking at the last octet of its header alone. That octet
is also 0x80 for a definite long-form length such as ``82 03 80`` (896) -- one value in 256 of
any size above 127 octets -- and every ``dump()`` of such a value then encodes it again from
its parsed children (wbond/asn1crypto#249, open since 2022). Two faults follow:

* it is slow: a certificate, a CRL or a timestamp token inside a SignedData is parsed whole and
  written again at every ``dump()`` (a CMS sealing whose TSA token had such a length took
  twice as long);
* it changes bytes that were signed: a value read from an encoding that is valid BER but not
  DER -- a BOOLEAN TRUE as 0x01, a SET OF out of order, an INTEGER with a leading zero octet,
  all seen in certificates and signed attributes made by other implementations -- comes out
  in DER, so the signature over the TBS part no longer matches.

``install()`` (run when ``gm.asn1`` is imported) wraps the five ``dump`` methods that make
that test: a value read with a definite length (its end-of-contents trailer is empty, which
it is not after the indefinite form) and not changed since is returned as read. Forced dumps,
values built here or changed, and real indefinite lengths go to asn1crypto as before.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asn1crypto import core

__all__ = ["install"]

_INSTALLED = "_eseal_definite_length"


def _read_with_definite_length(value: Any) -> bool:
    """True where asn1crypto would take a definite length ending in 0x80 for the indefinite form."""
    header = value._header
    return header is not None and header[-1:] == b"\x80" and not value._trailer


def _as_read(original: Callable[..., bytes]) -> Callable[..., bytes]:
    # Only a value that passes the header test may read ``contents`` here: on a changed
    # Sequence every read of it encodes the whole subtree again, so one read more per level
    # for every value multiplied the work by the depth's power (a PDF seal's CMS, built by
    # pyHanko: 50 ms became 2 s).
    def dump(self: Any, force: bool = False) -> bytes:
        if not force and _read_with_definite_length(self):
            contents = self.contents  # a changed Sequence encodes itself again here and drops its header
            if self._header is not None:
                return self._header + contents
        return original(self, force)

    dump.__doc__ = original.__doc__
    dump.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(dump, _INSTALLED, True)
    return dump


def _choice_as_read(original: Callable[..., bytes]) -> Callable[..., bytes]:
    # A Choice has a header only when explicitly tagged; its contents are its chosen value's.
    def dump(self: Any, force: bool = False) -> bytes:
        if not force and _read_with_definite_length(self):
            self._contents = self.chosen.dump()
            return self._header + self._contents
        return original(self, force)

    dump.__doc__ = original.__doc__
    dump.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(dump, _INSTALLED, True)
    return dump


def install() -> None:
    """Wrap asn1crypto's dump methods (once per process)."""
    for cls in (core.Asn1Value, core.Primitive, core.Sequence, core.SequenceOf):
        if not getattr(cls.__dict__["dump"], _INSTALLED, False):
            cls.dump = _as_read(cls.__dict__["dump"])
    if not getattr(core.Choice.__dict__["dump"], _INSTALLED, False):
        core.Choice.dump = _choice_as_read(core.Choice.__dict__["dump"])
