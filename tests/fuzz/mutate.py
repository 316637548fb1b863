"""Hypothesis strategies that turn a valid input into a malformed one the way real damage
and real attackers do: flipped bytes, truncation, inserted junk, DER lengths rewritten to
lie (too long, too short, indefinite, huge), and whole random byte strings.

``examples()`` sets how hard each target is fuzzed: a bounded number in `make test`, and
ESEAL_FUZZ_EXAMPLES (e.g. 200000 through `make fuzz`) for the long runs.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st


def examples(default: int = 300) -> settings:
    n = int(os.environ.get("ESEAL_FUZZ_EXAMPLES", default))
    return settings(max_examples=n, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _length_positions(data: bytes) -> list[int]:
    """Offsets of bytes that follow a tag byte of a constructed or common primitive type."""
    tags = {0x30, 0x31, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0C, 0x13, 0x16, 0x17, 0x18, 0xA0, 0xA1, 0xA3}
    return [i + 1 for i, b in enumerate(data[:-1]) if b in tags]


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    data = bytearray(seed)
    kind = draw(st.sampled_from(["flip", "truncate", "insert", "length", "random", "splice"]))
    if kind == "flip":
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
    elif kind == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "insert":
        i = draw(st.integers(0, len(data)))
        data[i:i] = draw(st.binary(min_size=1, max_size=16))
    elif kind == "length":
        positions = _length_positions(bytes(data)) or [0]
        i = draw(st.sampled_from(positions))
        data[i] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0x81, 0x84, 0x88, 0xFF, data[i] ^ 1]))
    elif kind == "splice":
        a = draw(st.integers(0, len(data)))
        b = draw(st.integers(a, len(data)))
        data = data[:a] + data[b:] + data[a:b]
    else:
        return draw(st.binary(max_size=2 * len(seed) + 8))
    return bytes(data)
