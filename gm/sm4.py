"""SM4 block cipher (GB/T 32907-2016) in ECB, CBC, CTR and GCM modes, through OpenSSL.

Every function takes raw bytes and raises CipherError with a message naming the exact
problem (key length, IV length, padding, tag). Nothing here loops over blocks in Python.
"""
from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding as _padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gm.errors import CipherError

KEY_SIZE = 16
BLOCK_SIZE = 16
GCM_NONCE_SIZE = 12  # 96 bits: the size RFC 8998 and NIST SP 800-38D recommend
GCM_TAG_SIZE = 16

_BYTES_LIKE = (bytes, bytearray, memoryview)


def _bytes(value: object, name: str) -> bytes:
    if not isinstance(value, _BYTES_LIKE):
        raise TypeError(f"{name} must be bytes-like, not {type(value).__name__}")
    return bytes(value)


def _key(key: object) -> algorithms.SM4:
    key = _bytes(key, "key")
    if len(key) != KEY_SIZE:
        raise CipherError(f"SM4 key must be {KEY_SIZE} bytes, got {len(key)}")
    return algorithms.SM4(key)


def _iv16(iv: object, mode: str) -> bytes:
    iv = _bytes(iv, "iv")
    if len(iv) != BLOCK_SIZE:
        raise CipherError(f"SM4-{mode} IV must be {BLOCK_SIZE} bytes, got {len(iv)}")
    return iv


def _run(cipher: Cipher, data: bytes, encrypt: bool) -> bytes:
    ctx = cipher.encryptor() if encrypt else cipher.decryptor()
    return ctx.update(data) + ctx.finalize()


def _pad(data: bytes) -> bytes:
    padder = _padding.PKCS7(BLOCK_SIZE * 8).padder()
    return padder.update(data) + padder.finalize()


def _unpad(data: bytes, mode: str) -> bytes:
    unpadder = _padding.PKCS7(BLOCK_SIZE * 8).unpadder()
    try:
        return unpadder.update(data) + unpadder.finalize()
    except ValueError:
        raise CipherError(
            f"SM4-{mode}: invalid PKCS#7 padding after decryption (wrong key or IV, or corrupted data)"
        ) from None


def _check_blocks(data: bytes, mode: str, padded: bool, what: str) -> None:
    if len(data) % BLOCK_SIZE:
        hint = "" if padded else "; pass padding=True or pad the input"
        raise CipherError(f"SM4-{mode} {what} must be a multiple of {BLOCK_SIZE} bytes, got {len(data)}{hint}")
    if padded and what == "ciphertext" and not data:
        raise CipherError(f"SM4-{mode} padded ciphertext cannot be empty (it holds at least one padding block)")


# --- ECB -------------------------------------------------------------------------------------

def sm4_ecb_encrypt(key: bytes, plaintext: bytes, *, padding: bool = True) -> bytes:
    """SM4-ECB. Only for single blocks and known-answer tests: ECB leaks equal blocks."""
    cipher = Cipher(_key(key), modes.ECB())
    plaintext = _bytes(plaintext, "plaintext")
    if padding:
        plaintext = _pad(plaintext)
    else:
        _check_blocks(plaintext, "ECB", False, "plaintext")
    return _run(cipher, plaintext, True)


def sm4_ecb_decrypt(key: bytes, ciphertext: bytes, *, padding: bool = True) -> bytes:
    cipher = Cipher(_key(key), modes.ECB())
    ciphertext = _bytes(ciphertext, "ciphertext")
    _check_blocks(ciphertext, "ECB", padding, "ciphertext")
    plaintext = _run(cipher, ciphertext, False)
    return _unpad(plaintext, "ECB") if padding else plaintext


class SM4Block:
    """Raw SM4 block transform with the key schedule done once.

    For callers that apply SM4 to many independent blocks (known-answer loops, key wrapping):
    it keeps one OpenSSL ECB context per direction instead of rebuilding it per call.
    """

    __slots__ = ("_dec", "_enc")

    def __init__(self, key: bytes) -> None:
        algorithm = _key(key)
        self._enc = Cipher(algorithm, modes.ECB()).encryptor()
        self._dec = Cipher(algorithm, modes.ECB()).decryptor()

    def encrypt(self, data: bytes) -> bytes:
        if len(data) % BLOCK_SIZE:
            raise CipherError(f"SM4 block input must be a multiple of {BLOCK_SIZE} bytes, got {len(data)}")
        return self._enc.update(data)

    def decrypt(self, data: bytes) -> bytes:
        if len(data) % BLOCK_SIZE:
            raise CipherError(f"SM4 block input must be a multiple of {BLOCK_SIZE} bytes, got {len(data)}")
        return self._dec.update(data)


# --- CBC -------------------------------------------------------------------------------------

def sm4_cbc_encrypt(key: bytes, iv: bytes, plaintext: bytes, *, padding: bool = True) -> bytes:
    """SM4-CBC; PKCS#7 padding unless padding=False (then the input must be whole blocks)."""
    cipher = Cipher(_key(key), modes.CBC(_iv16(iv, "CBC")))
    plaintext = _bytes(plaintext, "plaintext")
    if padding:
        plaintext = _pad(plaintext)
    else:
        _check_blocks(plaintext, "CBC", False, "plaintext")
    return _run(cipher, plaintext, True)


def sm4_cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes, *, padding: bool = True) -> bytes:
    cipher = Cipher(_key(key), modes.CBC(_iv16(iv, "CBC")))
    ciphertext = _bytes(ciphertext, "ciphertext")
    _check_blocks(ciphertext, "CBC", padding, "ciphertext")
    plaintext = _run(cipher, ciphertext, False)
    return _unpad(plaintext, "CBC") if padding else plaintext


# --- CTR -------------------------------------------------------------------------------------

def sm4_ctr_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """SM4-CTR with a 128-bit big-endian counter block starting at `iv` (GB/T 17964 / NIST SP 800-38A)."""
    cipher = Cipher(_key(key), modes.CTR(_iv16(iv, "CTR")))
    return _run(cipher, _bytes(data, "data"), True)


# CTR is its own inverse; the second name keeps call sites readable.
sm4_ctr_decrypt = sm4_ctr_encrypt


# --- GCM -------------------------------------------------------------------------------------

def sm4_gcm_encrypt(key: bytes, iv: bytes, plaintext: bytes, aad: bytes = b"") -> tuple[bytes, bytes]:
    """SM4-GCM (RFC 8998). Returns (ciphertext, 16-byte tag). `iv` must be a fresh 12-byte nonce."""
    algorithm = _key(key)
    iv = _bytes(iv, "iv")
    if len(iv) != GCM_NONCE_SIZE:
        raise CipherError(f"SM4-GCM nonce must be {GCM_NONCE_SIZE} bytes, got {len(iv)}")
    encryptor = Cipher(algorithm, modes.GCM(iv)).encryptor()
    encryptor.authenticate_additional_data(_bytes(aad, "aad"))
    ciphertext = encryptor.update(_bytes(plaintext, "plaintext")) + encryptor.finalize()
    return ciphertext, encryptor.tag


def sm4_gcm_decrypt(key: bytes, iv: bytes, ciphertext: bytes, tag: bytes, aad: bytes = b"") -> bytes:
    """Verify the tag and decrypt. A mismatch of key, nonce, AAD, ciphertext or tag raises CipherError."""
    algorithm = _key(key)
    iv = _bytes(iv, "iv")
    # Decryption also accepts the other nonce sizes GCM defines (8..128 bytes here), for peers
    # that do not use 96-bit nonces; encryption insists on 12 bytes.
    if not 8 <= len(iv) <= 128:
        raise CipherError(f"SM4-GCM nonce must be 8 to 128 bytes (12 recommended), got {len(iv)}")
    tag = _bytes(tag, "tag")
    if len(tag) != GCM_TAG_SIZE:
        raise CipherError(f"SM4-GCM tag must be {GCM_TAG_SIZE} bytes, got {len(tag)}")
    decryptor = Cipher(algorithm, modes.GCM(iv, tag)).decryptor()
    decryptor.authenticate_additional_data(_bytes(aad, "aad"))
    plaintext = decryptor.update(_bytes(ciphertext, "ciphertext"))
    try:
        return plaintext + decryptor.finalize()
    except InvalidTag:
        raise CipherError(
            "SM4-GCM authentication failed: the tag does not match the key, nonce, AAD and ciphertext"
        ) from None
