"""api/memory.py: each serving worker hands freed heap back to the OS at most every N seconds."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from api.memory import DEFAULT_SECONDS, ENV, HeapTrimmer, _malloc_trim, trim_interval
from cli.main import main


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
