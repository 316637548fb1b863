"""Give a serving process's garbage and freed heap back to the operating system.

Measured in process (seal an OFD and a PDF, verify both, ten OCSP answers; 300 rounds): live
Python objects grew by about 1.5 MB (tracemalloc), resident memory by 18 MB; with glibc's
``malloc_trim(0)`` every ten rounds resident memory ended where it was after the warm-up.
The growth was freed memory glibc kept in its arenas (lxml, OpenSSL and asn1crypto allocate
and free many small blocks per document), not objects still alive. So each worker trims at
most every ``ESEAL_MALLOC_TRIM_SECONDS`` (default 10, 0 switches off), checked after a
request: a trim walks the heap (about a millisecond here), so not after every request.

The soak's remaining sawtooth (a climb of ~45 MB, then a drop at once, every ~6.5 minutes)
was garbage in reference cycles waiting for Python's rare full collection: every request
leaves one (werkzeug's environ holds the Request, which holds the environ and the cached
body), and pyHanko's writers and readers hold the whole PDF in theirs. A full collection
over a warm worker's ~170,000 objects took ~100 ms, which is why Python runs it seldom; after
``freeze_loaded_objects()`` (the application's objects moved out of the collector's view
once the worker has loaded it) it takes 2-4 ms. So each trim first collects.

Elsewhere than glibc (musl, macOS) there is no malloc_trim: there the trimmer only collects.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading
import time
from collections.abc import Callable

from store.settings import seconds_setting

ENV = "ESEAL_MALLOC_TRIM_SECONDS"
DEFAULT_SECONDS = 10.0


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def trim_interval(environ: dict[str, str] | None = None) -> float:
    seconds = seconds_setting(ENV, environ)
    return DEFAULT_SECONDS if seconds is None else seconds


def freeze_loaded_objects() -> int:
    """Once a worker has loaded the application: its objects live as long as the process, so
    keep them out of every later collection (cheap full collections). Answers how many."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


class HeapTrimmer:
    """``after_request()`` collects cyclic garbage and trims when ``interval`` seconds have passed
    since the last time."""

    def __init__(self, interval: float, trim: Callable[[int], int] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 collect: Callable[[], int] = gc.collect) -> None:
        self.interval = interval
        self._trim = trim if trim is not None else _malloc_trim()
        self._collect = collect
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()  # gthread workers: one trim at a time
        self.trims = 0

    @property
    def active(self) -> bool:
        return self.interval > 0

    def after_request(self) -> None:
        if not self.active or self._clock() - self._last < self.interval:
            return
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._last = self._clock()
            self._collect()
            if self._trim is not None:
                self._trim(0)
            self.trims += 1
        finally:
            self._lock.release()
