"""Safe OFD package (zip) reader and a deterministic writer.

Why not ``zipfile.ZipFile.read``: it trusts the archive. Here the central directory is
checked before anything is inflated (entry count, declared sizes, declared compression
ratio, unsafe or duplicate names, encryption, unknown methods), and each entry is then
inflated by streaming with ``zlib`` under a hard output bound, so an entry that lies about
its size or compresses beyond the allowed ratio is refused after at most one chunk past the
limit — a zip bomb never inflates fully. CRC-32 is checked for every entry read.

Small entries are remembered across packages by their exact stored bytes (see _PARTS): most
parts of documents from one producer repeat byte for byte, and a repeat then costs neither
an inflate nor an SM3.
"""
from __future__ import annotations

import io
import struct
import threading
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import NamedTuple

from gm.records import frozen_record
from gm.sm3 import sm3 as _sm3
from seal.ofd.errors import OFDFormatError, OFDLimitError, OFDPathError, OFDXMLError, ZipBombError
from seal.ofd.paths import check_entry_name

# Entry names repeat from package to package (Doc_0/Document.xml, ...): a name's verdict is a
# function of the name alone, so remember the good ones of ordinary length (a bad one raises
# each time; OFDPackage.__init__ calls it for names of up to 256 characters).
_checked_name_cached = lru_cache(maxsize=8192)(check_entry_name)

# Lists of entry names that passed every name check, by the names as stored, with their
# entry names (None for a directory) and the case-folded lookup OFDPackage.find uses.
_LAYOUTS: dict[tuple[str, ...], tuple[tuple[str | None, ...], dict[str, str]]] = {}
_LAYOUT_LIMIT = 256
_LAYOUT_MAX_CHARS = 64 * 1024

_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")
_LOCAL_HEADER_SIZE = _LOCAL_HEADER.size
# What the reader uses of a local header: its signature, then the name and extra field lengths.
_LOCAL_USED = struct.Struct("<I22xHH")
_LOCAL_SIGNATURE = 0x04034B50
_CHUNK = 64 * 1024
_OUT_CHUNK = 1024 * 1024
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)


class _Entry(NamedTuple):
    """What the reader needs of a central-directory record (names as in zipfile.ZipInfo)."""

    filename: str
    flag_bits: int
    compress_type: int
    CRC: int
    compress_size: int
    file_size: int
    header_offset: int


# A central-directory record (the writer's _CENTRAL), unpacking only what the reader uses, the
# rest as pad bytes: signature, flags, method, CRC, sizes, name / extra / comment lengths, offset.
_CD_USED = struct.Struct("<I4xHH4xIIIHHH8xI")
_EOCD_RECORD = struct.Struct("<IHHHHIIH")


def _decode_name(raw: bytes, flags: int) -> str:
    if flags & 0x800:
        return raw.decode("utf-8")
    if raw.isascii():
        return raw.decode("ascii")
    # No UTF-8 flag: Chinese producers mean UTF-8 (flag forgotten) or GBK; CP437 is the last resort.
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("cp437")


def _plain_directory(data: bytes, max_entries: int) -> list[_Entry] | None:
    """Read the central directory of a plain zip (what OFD producers write): end record last,
    no comment, no ZIP64, one disk, directory right before the end record. Anything else
    returns None and zipfile reads the archive instead. About 5x faster than zipfile for the
    few-entry packages of e-licenses."""
    if len(data) < _EOCD_RECORD.size:
        return None
    sig, disk, cd_disk, n_disk, n, cd_size, cd_offset, comment = _EOCD_RECORD.unpack_from(data, len(data) - 22)
    if (sig != 0x06054B50 or disk or cd_disk or n_disk != n or comment or n == 0xFFFF
            or cd_offset + cd_size != len(data) - _EOCD_RECORD.size):
        return None
    if n > max_entries:
        raise OFDLimitError(f"package has {n} entries; the limit is {max_entries}")
    entries = []
    pos, end = cd_offset, cd_offset + cd_size
    unpack, size, new = _CD_USED.unpack_from, _CD_USED.size, tuple.__new__
    for _ in range(n):
        if pos + size > end:
            return None
        sig, flags, method, crc, csize, usize, name_len, extra_len, comment_len, offset = unpack(data, pos)
        if sig != 0x02014B50 or csize == 0xFFFFFFFF or usize == 0xFFFFFFFF or offset == 0xFFFFFFFF:
            return None  # ZIP64 or damage: let zipfile judge
        start = pos + size
        pos = start + name_len + extra_len + comment_len
        if pos > end:
            return None
        raw = data[start:start + name_len]
        try:
            # ASCII (nearly every OFD name) reads the same in every encoding _decode_name tries.
            name = raw.decode("ascii") if raw.isascii() else _decode_name(raw, flags)
        except UnicodeDecodeError:
            raise OFDPathError("an entry name flagged UTF-8 is not valid UTF-8") from None
        entries.append(new(_Entry, (name, flags, method, crc, csize, usize, offset)))
    return entries if pos == end else None


def _entry_name(info: zipfile.ZipInfo) -> str:
    """The entry name, decoded as its producer meant it.

    Without the UTF-8 flag zipfile decodes names as CP437; Chinese producers then mean either
    UTF-8 (flag forgotten) or GBK. Try those before keeping the CP437 reading.
    """
    name = info.filename
    if info.flag_bits & 0x800 or name.isascii():
        return name
    raw = name.encode("cp437")
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return name


@frozen_record
class Limits:
    """Safety limits of the reader; the defaults are generous for documents, fatal for bombs."""

    max_entries: int = 10_000
    max_entry_size: int = 256 * 1024 * 1024
    max_total_size: int = 1024 * 1024 * 1024
    max_ratio: float = 200.0
    # Below this many output bytes an entry cannot hurt, whatever its ratio (tiny XML compresses well).
    ratio_floor: int = 1024 * 1024
    max_xml_size: int = 16 * 1024 * 1024


DEFAULT_LIMITS = Limits()


class _Part:
    """An entry's stored bytes, its content as inflated and checked once, and the content's
    SM3 once asked for."""

    __slots__ = ("raw", "data", "sm3")

    def __init__(self, raw: bytes, data: bytes) -> None:
        self.raw, self.data = raw, data
        self.sm3: bytes | None = None


class _Parts:
    """Entries already read, for the next package holding the same stored bytes: documents
    from one producer repeat most parts byte for byte (Document.xml, resource lists, the
    seal, template images). Found by (CRC-32, size, method, stored size), a hit then needs
    the whole stored bytes equal (compared, never trusted to the CRC), and the same stored
    bytes always inflate to the same content: a hit is exactly what inflating would give.
    Only entries far below every limit are kept (see OFDPackage._inflate), bounded in entries
    and in bytes held; the budget spent, everything is forgotten. Lookups take no lock (a
    dict lookup is atomic); filling does."""

    def __init__(self, entries: int, budget: int) -> None:
        self.entries, self.budget, self.held = entries, budget, 0
        self.map: dict[tuple[int, int, int, int], _Part] = {}
        # entry name -> parts read under it since one was last met again (see admit)
        self.unmet: dict[str, int] = {}
        self._lock = threading.Lock()

    def admit(self, name: str) -> bool:
        """Whether to keep a part just read under ``name``. Some names hold new content in
        every package (a license's own data, its signature): kept, such parts are never met
        again, and they fill the cache until it is flushed. So after _ADMIT_FIRST parts in a
        row under one name were not met again, only every _ADMIT_EVERY-th is kept: a name
        whose parts start to repeat is cached again after at most that many packages."""
        unmet = self.unmet
        n = unmet.get(name, 0)
        if n == 0 and len(unmet) >= self.entries:      # names come from packages: bounded
            unmet.clear()
        unmet[name] = n + 1                # unlocked: a count lost between threads only delays
        return n < _ADMIT_FIRST or n % _ADMIT_EVERY == 0

    def met(self, name: str) -> None:
        """A part read under ``name`` was met again: keep the parts read under it."""
        self.unmet.pop(name, None)

    def keep(self, key: tuple[int, int, int, int], part: _Part) -> None:
        cost = len(part.raw) + (len(part.data) if part.data is not part.raw else 0)
        with self._lock:
            if len(self.map) >= self.entries or self.held + cost > self.budget:
                self.map.clear()
                self.held = 0
            old = self.map.get(key)
            if old is not None:           # another part with the same CRC and sizes: replaced
                self.held -= len(old.raw) + (len(old.data) if old.data is not old.raw else 0)
            self.map[key] = part
            self.held += cost

    def clear(self) -> None:
        with self._lock:
            self.map.clear()
            self.unmet.clear()
            self.held = 0


_ADMIT_FIRST = 2
_ADMIT_EVERY = 16
_PART_MAX = 64 * 1024          # stored and inflated bytes of an entry kept in _PARTS, each
_PARTS = _Parts(4096, 16 * 1024 * 1024)


def clear_part_cache() -> None:
    """Forget the entries and name lists remembered across packages (a cold start, for
    benchmarks and tests)."""
    _PARTS.clear()
    _LAYOUTS.clear()


class OFDPackage:
    """A read-only view of an OFD zip held in memory; entries inflate on demand, once."""

    def __init__(self, data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._data = bytes(data)
        infos = _plain_directory(self._data, limits.max_entries)
        if infos is None:
            try:
                infos = [_Entry(_entry_name(i), i.flag_bits, i.compress_type, i.CRC, i.compress_size, i.file_size,
                                i.header_offset) for i in zipfile.ZipFile(io.BytesIO(self._data)).infolist()]
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, struct.error) as exc:
                raise OFDFormatError(f"not an OFD package (bad zip): {exc}") from None
        if len(infos) > limits.max_entries:
            raise OFDLimitError(f"package has {len(infos)} entries; the limit is {limits.max_entries}")
        self._infos: dict[str, _Entry] = {}
        known = self._infos
        # The names' verdicts (each name safe, no two alike but for case) depend on the names
        # alone: a list of names already judged good skips them, every other check still runs.
        filenames = tuple([info[0] for info in infos])
        layout = _LAYOUTS.get(filenames)
        if layout is None:
            kept: tuple[str | None, ...] | None = None
            folded_names: dict[str, str] = {}
            new_kept: list[str | None] = []
        else:
            kept, folded_names = layout
        self._folded = folded_names
        max_entry_size, ratio_floor, max_total = limits.max_entry_size, limits.ratio_floor, limits.max_total_size
        checked = _checked_name_cached
        spans = []
        total = 0
        for n, info in enumerate(infos):
            filename, flags, method, _, compress_size, file_size, offset = info
            if kept is not None:
                name = kept[n]
                if name is None:
                    continue
            else:
                name = checked(filename) if len(filename) <= 256 else check_entry_name(filename)
                if filename.endswith("/"):
                    new_kept.append(None)
                    continue
                if name in known:
                    raise OFDPathError(f"entry {name!r} appears twice in the package")
                folded = name.casefold()
                if folded in folded_names:
                    raise OFDPathError(f"entries {folded_names[folded]!r} and {name!r} differ only by case")
                new_kept.append(name)
                folded_names[folded] = name
            if flags & 0x1:
                raise OFDFormatError(f"entry {name!r} is encrypted; OFD packages are not")
            if method != zipfile.ZIP_DEFLATED and method != zipfile.ZIP_STORED:
                raise OFDFormatError(f"entry {name!r} uses compression method {method}; "
                                     "only stored and deflate are supported")
            if file_size > max_entry_size:
                raise OFDLimitError(f"entry {name!r} declares {file_size} bytes; "
                                    f"the per-entry limit is {max_entry_size}")
            if file_size > ratio_floor:
                self._check_ratio(name, file_size, compress_size, declared=True)
            total += file_size
            if total > max_total:
                raise OFDLimitError(f"package declares more than {max_total} uncompressed bytes")
            known[name] = info
            spans.append((offset, offset + _LOCAL_HEADER_SIZE + compress_size, name))
        # Whole-package ratio: many small entries, each under the per-entry floor, still add up.
        if total > limits.ratio_floor and total > limits.max_ratio * len(self._data):
            raise ZipBombError(f"package declares {total} uncompressed bytes from {len(self._data)} bytes, "
                               f"a ratio above the limit of {limits.max_ratio:g}")
        # Entries sharing compressed bytes (overlapping spans) are how non-recursive zip bombs
        # multiply one deflate stream; an honest archive never overlaps.
        spans.sort()
        for (_, end, first), (start, _, second) in zip(spans, spans[1:]):
            if end > start:
                raise ZipBombError(f"entries {first!r} and {second!r} overlap in the archive "
                                   "(a zip bomb construction)")
        if kept is None and sum(map(len, filenames)) <= _LAYOUT_MAX_CHARS:
            if len(_LAYOUTS) >= _LAYOUT_LIMIT:
                _LAYOUTS.clear()
            _LAYOUTS[filenames] = (tuple(new_kept), folded_names)     # never changed after: shared
        self._cache: dict[str, bytes] = {}
        self._parts: dict[str, _Part] = {}     # entries read through _PARTS (their SM3 is kept there)
        self._inflated = 0

    @classmethod
    def from_bytes(cls, data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> OFDPackage:
        return cls(data, limits=limits)

    # --- lookup -------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """File entry names in archive order (directory entries left out)."""
        return list(self._infos)

    def __contains__(self, name: object) -> bool:
        return name in self._infos

    def find(self, name: str) -> str | None:
        """The entry name for ``name``; falls back to a case-insensitive match (some producers
        write ``TPLS/`` in Document.xml and store ``Tpls/``). None when absent."""
        if name in self._infos:
            return name
        return self._folded.get(name.casefold())

    def size(self, name: str) -> int:
        return self._infos[name].file_size

    # --- reading ------------------------------------------------------------------------------
    def read(self, name: str) -> bytes:
        """Inflate one entry (exact name, see :meth:`find`) under the limits; cached."""
        data = self._cache.get(name)
        if data is not None:
            return data
        info = self._infos.get(name)
        if info is None:
            raise KeyError(name)
        data = self._inflate(name, info)
        self._cache[name] = data
        return data

    def sm3(self, name: str) -> bytes:
        """SM3 of one entry's content (exact name), as ``gm.sm3.sm3(self.read(name))``; an
        entry remembered across packages is hashed once for all of them."""
        data = self.read(name)
        part = self._parts.get(name)
        if part is None:
            return _sm3(data)
        digest = part.sm3
        if digest is None:
            digest = part.sm3 = _sm3(data)
        return digest

    def read_xml_bytes(self, name: str) -> bytes:
        if self._infos[name].file_size > self.limits.max_xml_size:
            raise OFDXMLError(f"{name}: XML part of {self._infos[name].file_size} bytes exceeds the "
                              f"{self.limits.max_xml_size}-byte limit")
        return self.read(name)

    def _check_ratio(self, name: str, out: int, consumed: int, *, declared: bool) -> None:
        if out <= self.limits.ratio_floor:
            return
        if out > self.limits.max_ratio * max(consumed, 1):
            what = "declares" if declared else "inflates to"
            raise ZipBombError(f"entry {name!r} {what} {out} bytes from {consumed} compressed bytes, "
                               f"a ratio above the limit of {self.limits.max_ratio:g}")

    def _raw_span(self, name: str, info: _Entry) -> tuple[int, int]:
        offset = info.header_offset
        if not 0 <= offset <= len(self._data) - _LOCAL_HEADER_SIZE:
            raise OFDFormatError(f"entry {name!r}: local header beyond the end of the file")
        signature, name_len, extra_len = _LOCAL_USED.unpack_from(self._data, offset)
        if signature != _LOCAL_SIGNATURE:
            raise OFDFormatError(f"entry {name!r}: bad local header signature")
        start = offset + _LOCAL_HEADER_SIZE + name_len + extra_len
        end = start + info.compress_size
        if end > len(self._data):
            raise OFDFormatError(f"entry {name!r}: compressed data runs past the end of the file")
        return start, end

    def _inflate(self, name: str, info: _Entry) -> bytes:
        start, end = self._raw_span(name, info)
        bound = info.file_size
        remaining_total = self.limits.max_total_size - self._inflated
        stored = info.compress_type == zipfile.ZIP_STORED
        if stored and info.compress_size != info.file_size:
            raise OFDFormatError(f"entry {name!r}: stored entry with different sizes")
        # Remembered across packages only far below every limit of this package (no ratio or
        # total could refuse it): for such an entry the checks below depend on the stored
        # bytes, method, CRC and size alone, which are the key, so a hit passed them all.
        key = None
        if end - start <= _PART_MAX and bound <= _PART_MAX and bound <= self.limits.ratio_floor \
                and bound <= remaining_total:
            key = (info.CRC, bound, info.compress_type, end - start)
            part = _PARTS.map.get(key)
            if part is not None and self._data.startswith(part.raw, start):
                self._parts[name] = part
                self._inflated += bound
                _PARTS.met(name)
                return part.data
        out = self._read_span(name, info, start, end, bound, remaining_total, stored)
        if key is not None and _PARTS.admit(name):
            part = _Part(out if stored else self._data[start:end], out)
            _PARTS.keep(key, part)
            self._parts[name] = part
        return out

    def _read_span(self, name: str, info: _Entry, start: int, end: int, bound: int, remaining_total: int,
                   stored: bool) -> bytes:
        if stored:
            out = self._data[start:end]
        elif (end - start <= _CHUNK and bound <= min(_OUT_CHUNK, self.limits.ratio_floor, remaining_total)
              and (out := self._inflate_small(start, end, bound)) is not None):
            pass
        else:
            inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            pieces: list[bytes] = []
            produced = 0
            pos = start
            try:
                while True:
                    if inflater.unconsumed_tail:
                        feed = inflater.unconsumed_tail
                    elif pos < end:
                        feed = self._data[pos:min(pos + _CHUNK, end)]
                        pos += len(feed)
                    else:
                        break
                    # Bounded output per step: at most 1 MiB, never more than one byte past the
                    # declared size, so the ratio check runs before a bomb gets far.
                    piece = inflater.decompress(feed, min(bound - produced + 1, _OUT_CHUNK))
                    produced += len(piece)
                    if produced > bound:
                        raise ZipBombError(f"entry {name!r} inflates beyond its declared size of {bound} bytes")
                    if produced > remaining_total:
                        raise OFDLimitError(f"package inflates to more than {self.limits.max_total_size} bytes")
                    consumed = pos - start - len(inflater.unconsumed_tail)
                    self._check_ratio(name, produced, consumed, declared=False)
                    pieces.append(piece)
                    if inflater.eof:
                        break
                tail = inflater.flush()
            except zlib.error as exc:
                raise OFDFormatError(f"entry {name!r}: corrupt deflate data: {exc}") from None
            if len(tail) > bound - produced:
                raise ZipBombError(f"entry {name!r} inflates beyond its declared size of {bound} bytes")
            pieces.append(tail)
            out = b"".join(pieces)
        if len(out) != bound:
            raise OFDFormatError(f"entry {name!r}: inflated to {len(out)} bytes, the directory says {bound}")
        if zlib.crc32(out) != info.CRC:
            raise OFDFormatError(f"entry {name!r}: CRC-32 mismatch (the entry is corrupt)")
        self._inflated += len(out)
        return out

    def _inflate_small(self, start: int, end: int, bound: int) -> bytes | None:
        """The common case in one call: a small entry (one input chunk, output within every
        limit) that inflates to exactly its declared size and ends there. None for anything
        else, which the streaming loop then judges and names."""
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            out = inflater.decompress(self._data[start:end], bound + 1)
        except zlib.error:
            return None
        if len(out) != bound or not inflater.eof:
            return None
        return out

    def read_all(self) -> dict[str, bytes]:
        return {name: self.read(name) for name in self._infos}

    def compress_type(self, name: str) -> int:
        return self._infos[name].compress_type


_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_DOS_DATE = ((_FIXED_TIME[0] - 1980) << 9) | (_FIXED_TIME[1] << 5) | _FIXED_TIME[2]
_DOS_TIME = 0
_UTF8_FLAG = 0x0800


class _ZipWriter:
    """Minimal, deterministic zip writer (no ZIP64: the reader's limits keep packages far below).

    Unchanged entries of a source package are copied as their raw compressed bytes — sealing
    a large package then costs one read and SM3 of each file, not a recompression.
    """

    def __init__(self) -> None:
        self._chunks: list[bytes | memoryview] = []
        self._central: list[bytes] = []
        self._offset = 0
        self._names: set[str] = set()

    def _entry(self, name: str, method: int, crc: int, raw: bytes | memoryview, size: int) -> None:
        check_entry_name(name)
        if name in self._names:
            raise OFDPathError(f"entry {name!r} written twice")
        self._names.add(name)
        encoded = name.encode("utf-8")
        flags = 0 if encoded.isascii() else _UTF8_FLAG
        if self._offset + len(raw) + 30 + len(encoded) >= 0xFFFFFFFF or len(self._names) >= 0xFFFF:
            raise OFDLimitError("package too large for a zip without ZIP64 extensions")
        header = _LOCAL_HEADER.pack(_LOCAL_SIGNATURE, 20, flags, method, _DOS_TIME, _DOS_DATE, crc, len(raw), size,
                                    len(encoded), 0)
        self._central.append(_CENTRAL.pack(0x02014B50, 0x0314, 20, flags, method, _DOS_TIME, _DOS_DATE, crc,
                                           len(raw), size, len(encoded), 0, 0, 0, 0, 0o644 << 16, self._offset)
                             + encoded)
        self._chunks += [header, encoded, raw]
        self._offset += len(header) + len(encoded) + len(raw)

    def add(self, name: str, data: bytes, *, stored: bool = False) -> None:
        if stored:
            self._entry(name, zipfile.ZIP_STORED, zlib.crc32(data), bytes(data), len(data))
        else:
            packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
            self._entry(name, zipfile.ZIP_DEFLATED, zlib.crc32(data), packer.compress(data) + packer.flush(), len(data))

    def copy(self, source: OFDPackage, name: str) -> None:
        info = source._infos[name]
        start, end = source._raw_span(name, info)
        # A view, not a copy: the bytes are copied once, into the output, by finish().
        self._entry(name, info.compress_type, info.CRC, memoryview(source._data)[start:end], info.file_size)

    def finish(self) -> bytes:
        directory = b"".join(self._central)
        end = _END.pack(0x06054B50, 0, 0, len(self._central), len(self._central), len(directory), self._offset, 0)
        return b"".join([*self._chunks, directory, end])


def write_package(files: Iterable[tuple[str, bytes]] | Mapping[str, bytes], *,
                  stored: Iterable[str] = (), source: OFDPackage | None = None) -> bytes:
    """Write a zip of ``(name, data)`` pairs in the given order, deflated except ``stored`` names.

    Entry times are fixed so the same content gives the same bytes (reproducible packages).
    With ``source``, an entry whose data is the very object ``source.read(name)`` returned (and
    so was inflated and CRC-checked) is copied raw, keeping its compression.
    """
    items = files.items() if isinstance(files, Mapping) else files
    stored_set = set(stored)
    writer = _ZipWriter()
    for name, data in items:
        if source is not None and source._cache.get(name) is data:
            writer.copy(source, name)
        else:
            writer.add(name, data, stored=name in stored_set)
    return writer.finish()
