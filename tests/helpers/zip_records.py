"""Zip helpers for tests of OFD packages: the entries of a package, a package rebuilt from
entries (the standard library's zipfile), and byte patches of the central directory (what a
reader trusts before anything is inflated)."""
from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Collection

# field -> (struct format, offset in a central-directory record)
_FIELDS = {"flags": ("<H", 8), "method": ("<H", 10), "crc": ("<I", 16), "compress_size": ("<I", 20),
           "file_size": ("<I", 24)}


def patch_central(data: bytes, name: bytes | str, **fields: int | None) -> bytes:
    """``data`` with the central-directory record of entry ``name`` given the ``fields`` that
    are not None (flags, method, crc, compress_size, file_size)."""
    wanted = name.encode() if isinstance(name, str) else name
    buf = bytearray(data)
    pos = buf.find(b"PK\x01\x02")
    while pos != -1:
        name_len = struct.unpack_from("<H", buf, pos + 28)[0]
        if bytes(buf[pos + 46:pos + 46 + name_len]) == wanted:
            for field, value in fields.items():
                if value is not None:
                    fmt, offset = _FIELDS[field]
                    struct.pack_into(fmt, buf, pos + offset, value)
            return bytes(buf)
        pos = buf.find(b"PK\x01\x02", pos + 4)
    raise AssertionError(f"entry {name!r} not found")


def entries(package: bytes) -> dict[str, bytes]:
    """Each file entry's content, by name, in archive order (directories left out)."""
    with zipfile.ZipFile(io.BytesIO(package)) as z:
        return {i.filename: z.read(i) for i in z.infolist() if not i.is_dir()}


def rezip(files: dict[str, bytes], stored: Collection[str] = frozenset()) -> bytes:
    """A zip of ``files`` in their order, deflated except the names in ``stored``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data, zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED)
    return buf.getvalue()
