"""Throughput of SM3 and SM4 over 1 MB (OpenSSL through `cryptography`). Run: make bench."""
from __future__ import annotations

import os

from gm import sm3, sm4

MEGABYTE = os.urandom(1 << 20)
KEY = bytes(range(16))
IV16 = bytes(range(16, 32))
NONCE = bytes(range(12))


def test_sm3_1mb(benchmark):
    digest = benchmark(sm3.sm3, MEGABYTE)
    assert len(digest) == 32


def test_sm4_cbc_encrypt_1mb(benchmark):
    ciphertext = benchmark(sm4.sm4_cbc_encrypt, KEY, IV16, MEGABYTE)
    assert len(ciphertext) == len(MEGABYTE) + 16


def test_sm4_cbc_decrypt_1mb(benchmark):
    ciphertext = sm4.sm4_cbc_encrypt(KEY, IV16, MEGABYTE)
    assert benchmark(sm4.sm4_cbc_decrypt, KEY, IV16, ciphertext) == MEGABYTE


def test_sm4_gcm_encrypt_1mb(benchmark):
    ciphertext, tag = benchmark(sm4.sm4_gcm_encrypt, KEY, NONCE, MEGABYTE, b"aad")
    assert len(ciphertext) == len(MEGABYTE) and len(tag) == 16


def test_sm4_gcm_decrypt_1mb(benchmark):
    ciphertext, tag = sm4.sm4_gcm_encrypt(KEY, NONCE, MEGABYTE, b"aad")
    assert benchmark(sm4.sm4_gcm_decrypt, KEY, NONCE, ciphertext, tag, b"aad") == MEGABYTE
