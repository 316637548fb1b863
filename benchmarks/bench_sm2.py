"""pytest-benchmark cases for the SM2 hot paths (run: make bench)."""
from __future__ import annotations

import pytest

from gm import sm2

MESSAGE = b"x" * 4096  # a 4 KB e-license body


@pytest.fixture(scope="module")
def key() -> sm2.PrivateKey:
    return sm2.PrivateKey.generate()


def test_sm2_keygen(benchmark):
    key = benchmark(sm2.PrivateKey.generate)
    assert key.public_key.verify(key.sign(b"m"), b"m")


def test_sm2_sign(benchmark, key):
    signature = benchmark(key.sign, MESSAGE)
    assert key.public_key.verify(signature, MESSAGE)


def test_sm2_verify(benchmark, key):
    signature = key.sign(MESSAGE)
    assert benchmark(key.public_key.verify, signature, MESSAGE) is True


def test_sm2_verify_fresh_key_object(benchmark, key):
    """Verification when the public key is parsed for every call (no Z_A cache)."""
    signature = key.sign(MESSAGE)
    point = key.public_key.to_bytes()
    assert benchmark(lambda: sm2.PublicKey.from_bytes(point).verify(signature, MESSAGE)) is True


def test_sm2_encrypt_decrypt(benchmark, key):
    plaintext = b"k" * 16
    assert benchmark(lambda: key.decrypt(key.public_key.encrypt(plaintext))) == plaintext
