"""api/memory.py: each serving worker hands freed heap back to the OS at most every N seconds."""
from __future__ import annotations

import gc
import weakref

import pytest
from click.testing import CliRunner

from api.memory import DEFAULT_SECONDS, ENV, HeapTrimmer, _malloc_trim, freeze_loaded_objects, trim_interval
from cli.main import main
from cli.serve import _trim_hooks


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_trims_once_per_interval_with_glibc_s_malloc_trim() -> None:
    trim = _malloc_trim()
    if trim is None:
        pytest.skip("no malloc_trim in this C library (not glibc)")
    calls: list[int] = []
    clock = Clock()
    trimmer = HeapTrimmer(10, trim=lambda pad: calls.append(trim(pad)) or 0, clock=clock)
    trimmer.after_request()
    assert trimmer.trims == 0  # not before the interval has passed
    clock.now += 10.5
    trimmer.after_request()
    trimmer.after_request()  # the same instant: one trim only
    assert trimmer.trims == 1 and calls[0] in (0, 1)  # glibc answers 1 when it released memory, else 0
    clock.now += 9
    trimmer.after_request()
    assert trimmer.trims == 1
    clock.now += 1.5
    trimmer.after_request()
    assert trimmer.trims == 2


def test_zero_switches_trimming_off() -> None:
    clock = Clock()
    trimmer = HeapTrimmer(0, trim=lambda pad: 0, clock=clock)
    clock.now += 1000
    trimmer.after_request()
    assert not trimmer.active and trimmer.trims == 0


@pytest.mark.parametrize(("raw", "expected"), [("", DEFAULT_SECONDS), ("0", 0.0), ("2.5", 2.5)])
def test_interval_from_the_environment(raw: str, expected: float) -> None:
    assert trim_interval({ENV: raw}) == expected


@pytest.mark.parametrize("raw", ["soon", "-1", "nan"])
def test_a_bad_interval_is_refused_before_serving(raw: str, tmp_path, monkeypatch) -> None:
    with pytest.raises(ValueError, match=ENV):
        trim_interval({ENV: raw})
    monkeypatch.setenv(ENV, raw)
    monkeypatch.setenv("ESEAL_PASSPHRASE", "unused")
    res = CliRunner().invoke(main, ["serve", "--home", str(tmp_path / "nohome"), "--port", "0"])
    assert res.exit_code == 2 and ENV in res.output


class Node:
    """A reference cycle holding a buffer, like werkzeug's environ and Request, or a pyHanko writer and its PDF."""

    def __init__(self, size: int) -> None:
        self.buffer = bytearray(size)
        self.me = self


@pytest.fixture
def no_automatic_collection():
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_each_trim_first_frees_garbage_held_in_cycles(no_automatic_collection) -> None:
    clock = Clock()
    trimmer = HeapTrimmer(10, trim=lambda pad: 0, clock=clock)
    node = Node(1 << 20)
    alive = weakref.ref(node)
    del node
    trimmer.after_request()
    assert alive() is not None  # not due yet: the cycle is still there
    clock.now += 10.5
    trimmer.after_request()
    assert alive() is None and trimmer.trims == 1


def test_without_malloc_trim_the_trimmer_still_collects(no_automatic_collection) -> None:
    clock = Clock()
    trimmer = HeapTrimmer(10, trim=None, clock=clock)
    trimmer._trim = None  # as on musl or macOS
    node = Node(16)
    alive = weakref.ref(node)
    del node
    clock.now += 11
    trimmer.after_request()
    assert trimmer.active and alive() is None


def test_a_worker_freezes_what_it_loaded_and_its_full_collections_skip_it() -> None:
    hooks = _trim_hooks(10)
    assert set(hooks) == {"post_fork", "post_worker_init", "post_request"}
    loaded = [Node(8) for _ in range(20_000)]  # the application's long-lived objects
    try:
        hooks["post_worker_init"](object())
        frozen = gc.get_freeze_count()
        assert frozen >= 20_000
        tracked = len(gc.get_objects())  # what a full collection now walks
        assert tracked < frozen
        assert not any(obj is loaded[0] for obj in gc.get_objects())
        # again: what was frozen stays frozen (the count itself may drop by the frozen objects
        # freed meanwhile -- reference counting still frees them, on any thread)
        assert freeze_loaded_objects() >= 20_000
        assert not any(obj is loaded[0] for obj in gc.get_objects())
    finally:
        gc.unfreeze()
    assert any(obj is loaded[0] for obj in gc.get_objects())
    assert _trim_hooks(0) == {}
