"""Fuzzing seal/structures over damaged real seals and seal signatures: reading raises only
SealFormatError (with a message), and checking a seal or signature that was read never raises
— it answers ok or not ok. Bounded in `make test`; ESEAL_FUZZ_EXAMPLES for long runs."""
from __future__ import annotations

import pytest
from hypothesis import given

from seal import structures as st
from seal.errors import SealFormatError
from tests.conftest import _shared_vectors
from tests.fuzz.mutate import examples, mutated

VECTORS = _shared_vectors()
if VECTORS is None:  # pragma: no cover - conftest's shared_vectors fixture fails in CI
    pytest.skip("../shared/vectors is not available", allow_module_level=True)
SEAL_V4 = (VECTORS / "seals" / "UserV4.esl").read_bytes()
SEAL_V1 = (VECTORS / "seals" / "UserV1.esl").read_bytes()
SIGNATURE_V4 = (VECTORS / "seals" / "SignedValueV4.dat").read_bytes()


def _read_and_check(parse, data: bytes) -> None:
    try:
        parsed = parse(data)
    except SealFormatError as exc:
        assert str(exc)
        return
    if isinstance(parsed, st.SealSignature):
        result = st.verify_signature_value(parsed)
        assert isinstance(result.ok, bool) and (result.ok or result.reason)
        parsed = parsed.seal
    result = st.verify_seal_signature(parsed)
    assert isinstance(result.ok, bool) and (result.ok or result.reason)
    parsed.binds(data[:100])


@examples()
@given(mutated(SEAL_V4))
def test_damaged_v4_seal(data: bytes) -> None:
    _read_and_check(st.parse_seal, data)


@examples()
@given(mutated(SEAL_V1))
def test_damaged_v1_seal(data: bytes) -> None:
    _read_and_check(st.parse_seal, data)


@examples()
@given(mutated(SIGNATURE_V4))
def test_damaged_signature(data: bytes) -> None:
    _read_and_check(st.parse_signature, data)


def test_a_flipped_bit_never_verifies_as_the_original() -> None:
    """Every single-byte flip of the signed part of the real signature is caught."""
    sig = st.parse_signature(SIGNATURE_V4)
    start = SIGNATURE_V4.index(sig.tbs)
    for offset in range(start + 16900, start + len(sig.tbs), 7):  # the TBS fields after the seal
        data = bytearray(SIGNATURE_V4)
        data[offset] ^= 0x01
        try:
            damaged = st.parse_signature(bytes(data))
        except SealFormatError:
            continue
        assert not st.verify_signature_value(damaged).ok, offset
