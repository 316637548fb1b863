"""Shamir secret sharing over GF(2^8), and the custodian share file format.

Each byte of the secret is the constant term of its own random polynomial of degree
threshold-1 over GF(2^8) (the AES field, x^8 + x^4 + x^3 + x + 1); share i holds the
polynomials evaluated at x = i (1..255). Any `threshold` distinct shares rebuild the
secret by Lagrange interpolation at x = 0; fewer reveal nothing about it.

A share file (JSON, one per custodian) carries the store id, the share index, the
threshold, the number of custodians, the share bytes, and an integrity tag
SM3(domain || fields || share), so that a corrupted share, a share of another store, or
a share given twice is named instead of silently rebuilding a wrong key.
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from gm.records import frozen_record
from keystore._primitives import sm3
from keystore.errors import CorruptShare, ForeignShare, InsufficientShares, ShareError

SHARE_FORMAT = "eseal-kek-share/1"

# --- GF(2^8) arithmetic -------------------------------------------------------------------

_EXP = [0] * 510
_LOG = [0] * 256


def _init_tables() -> None:
    x = 1
    for i in range(255):
        _EXP[i] = x
        _LOG[x] = i
        # multiply by the generator 3 = x + 1
        x ^= (x << 1) ^ (0x11B if x & 0x80 else 0)
        x &= 0xFF
    for i in range(255, 510):
        _EXP[i] = _EXP[i - 255]


_init_tables()


def _mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def _div(a: int, b: int) -> int:
    if b == 0:
        raise ZeroDivisionError("division by zero in GF(2^8)")
    if a == 0:
        return 0
    return _EXP[(_LOG[a] - _LOG[b]) % 255]


def split(secret: bytes, threshold: int, count: int) -> list[tuple[int, bytes]]:
    """Split `secret` into `count` shares (index, bytes); any `threshold` of them rebuild it."""
    if not 2 <= threshold <= count <= 255:
        raise ValueError(
            f"need 2 <= threshold <= custodians <= 255 (got threshold {threshold}, custodians {count})"
        )
    if not secret:
        raise ValueError("cannot share an empty secret")
    # coefficients[j] = random polynomial for byte j: secret byte, then threshold-1 random
    coeffs = [[b] + list(secrets.token_bytes(threshold - 1)) for b in secret]
    shares = []
    for x in range(1, count + 1):
        out = bytearray()
        for poly in coeffs:
            # Horner's rule
            y = 0
            for c in reversed(poly):
                y = _mul(y, x) ^ c
            out.append(y)
        shares.append((x, bytes(out)))
    return shares


def combine(shares: list[tuple[int, bytes]]) -> bytes:
    """Rebuild the secret from distinct shares (index, bytes) by interpolation at x = 0.

    Gives a wrong value (not an error) for too few or wrong shares: callers check the
    result against a check value.
    """
    if not shares:
        raise ValueError("no shares")
    xs = [x for x, _ in shares]
    if len(set(xs)) != len(xs):
        raise ValueError("share indexes must be distinct")
    if any(not 1 <= x <= 255 for x in xs):
        raise ValueError("share index out of range 1..255")
    length = len(shares[0][1])
    if any(len(s) != length for _, s in shares):
        raise ValueError("shares have different lengths")
    # Lagrange basis at 0: l_i = prod_{j != i} x_j / (x_j - x_i); in GF(2^8) minus is xor
    basis = []
    for i, xi in enumerate(xs):
        num, den = 1, 1
        for j, xj in enumerate(xs):
            if i != j:
                num = _mul(num, xj)
                den = _mul(den, xj ^ xi)
        basis.append(_div(num, den))
    out = bytearray(length)
    for (_, s), li in zip(shares, basis, strict=True):
        for k in range(length):
            out[k] ^= _mul(s[k], li)
    return bytes(out)


# --- share files --------------------------------------------------------------------------


def _tag(store_id: str, index: int, threshold: int, custodians: int, value: bytes) -> bytes:
    fields = f"{SHARE_FORMAT}\x00{store_id}\x00{index}\x00{threshold}\x00{custodians}\x00".encode()
    return sm3(fields + value)


def share_digest(store_id: str, index: int, value: bytes) -> str:
    """Commitment to one issued share, kept in the database to recognise the real shares.

    Hash of a uniformly random 16-byte share under a domain label: reveals nothing usable.
    """
    return sm3(f"eseal-kek-share-commitment/1\x00{store_id}\x00{index}\x00".encode() + value).hex()


@frozen_record
class Share:
    store_id: str
    index: int
    threshold: int
    custodians: int
    value: bytes
    source: str = ""  # where it was read from, for error messages

    @property
    def name(self) -> str:
        return self.source or f"share #{self.index}"

    @classmethod
    def create(cls, store_id: str, index: int, threshold: int, custodians: int, value: bytes) -> Share:
        return cls(store_id, index, threshold, custodians, value)

    def to_json(self) -> str:
        doc = {
            "format": SHARE_FORMAT,
            "store_id": self.store_id,
            "index": self.index,
            "threshold": self.threshold,
            "custodians": self.custodians,
            "share": self.value.hex(),
            "tag": _tag(self.store_id, self.index, self.threshold, self.custodians, self.value).hex(),
            "note": (
                f"eseal key-store custodian share {self.index} of {self.custodians}; "
                f"any {self.threshold} shares unlock the store. Keep it offline and private."
            ),
        }
        return json.dumps(doc, indent=2) + "\n"

    @classmethod
    def parse(cls, text: str | bytes, source: str = "") -> Share:
        label = source or "share"
        try:
            doc = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorruptShare(f"{label}: not a readable share file ({exc})", source) from exc
        except RecursionError:
            raise CorruptShare(f"{label}: not a readable share file (JSON nested too deeply)", source) from None
        if not isinstance(doc, dict) or doc.get("format") != SHARE_FORMAT:
            raise CorruptShare(f"{label}: not an eseal key-store share file (format {SHARE_FORMAT} expected)", source)
        try:
            store_id = str(doc["store_id"])
            index = int(doc["index"])
            threshold = int(doc["threshold"])
            custodians = int(doc["custodians"])
            value = bytes.fromhex(doc["share"])
            tag = bytes.fromhex(doc["tag"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptShare(f"{label}: share file is missing or has a malformed field ({exc})", source) from exc
        if not (1 <= index <= custodians <= 255 and 2 <= threshold <= custodians) or len(value) == 0:
            raise CorruptShare(f"{label}: share fields are inconsistent (index {index}, threshold {threshold}, custodians {custodians})", source)
        if not secrets.compare_digest(tag, _tag(store_id, index, threshold, custodians, value)):
            raise CorruptShare(f"{label}: share {index} is corrupted (integrity tag does not match its content)", source)
        return cls(store_id, index, threshold, custodians, value, source)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Share:
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise ShareError(f"{p}: cannot read share file ({exc.strerror or exc})", str(p)) from exc
        return cls.parse(data, str(p))

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the share file readable by its owner only (0600); refuse to overwrite."""
        p = Path(path)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(self.to_json())
        return p


def combine_shares(shares: list[Share], *, store_id: str, threshold: int) -> bytes:
    """Check shares against the store and rebuild the secret, naming any unusable share."""
    seen: dict[int, Share] = {}
    for s in shares:
        if s.store_id != store_id:
            raise ForeignShare(f"{s.name}: share belongs to key store {s.store_id}, not to this store ({store_id})", s.source)
        if s.threshold != threshold:
            raise ForeignShare(f"{s.name}: share says threshold {s.threshold}, this store needs {threshold}", s.source)
        if s.index in seen:
            raise InsufficientShares(
                f"{s.name}: share {s.index} was given twice (also {seen[s.index].name}); "
                f"{threshold} different shares are needed",
                s.source,
            )
        seen[s.index] = s
    if len(seen) < threshold:
        raise InsufficientShares(
            f"{len(seen)} share(s) given, {threshold} different custodian shares are needed to unlock this store"
        )
    chosen = sorted(seen.values(), key=lambda s: s.index)
    return combine([(s.index, s.value) for s in chosen])
