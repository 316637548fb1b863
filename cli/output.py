"""Writing output files so that a crash never leaves half of one under the final name.

The bytes go to a temporary file in the same folder, are flushed to disk, and the file is
renamed over the target in one step (``os.replace`` is atomic on POSIX). A process killed
midway leaves at most a ``.<name>.tmp-*`` file, never a truncated certificate, CRL or
sealed document where a user or a web server would pick it up.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: Path | str, data: bytes, *, mode: int = 0o644) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
