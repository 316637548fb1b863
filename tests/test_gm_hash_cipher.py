"""SM3, HMAC-SM3, PBKDF2-HMAC-SM3, the SM2 KDF and SM4 against published vectors and referees.

Vectors: ../shared/vectors/STANDARD-VECTORS.md (GB/T 32905, GB/T 32907, GB/T 32918, RFC 8998,
GM/T 0042). Referees: the OpenSSL 3 CLI (`openssl kdf`, `openssl enc`) and gmssl.
"""
from __future__ import annotations

import importlib
import subprocess
import time

import pytest

from gm import curve, kdf, sm3, sm4
from gm.errors import CipherError, GMError

H = bytes.fromhex

# --- SM3 -------------------------------------------------------------------------------------

SM3_VECTORS = [
    (b"abc", "66C7F0F462EEEDD9D1F2D46BDC10E4E24167C4875CF2F7A2297DA02B8F4BA8E0"),  # GB/T 32905 A.1
    (b"abcd" * 16, "DEBE9FF92275B8A138604889C18E5A4D6FDB70E5387E5765293DCBA39C0C5732"),  # A.2, 512 bits
    (b"", "1AB21D8355CFA17F8E61194831E81A8F22BEC8C728FEFB747ED035EB5082AA2B"),
]


@pytest.mark.parametrize(("message", "digest"), SM3_VECTORS)
def test_sm3_known_answers(message, digest):
    assert sm3.sm3(message) == H(digest)
    assert sm3.new(message).hexdigest() == digest.lower()


def test_sm3_incremental_matches_one_shot_and_copy_is_independent():
    hasher = sm3.new()
    for chunk in (b"ab", b"c", b"d" * 61):
        hasher.update(chunk)
    assert hasher.digest() == sm3.sm3(b"abc" + b"d" * 61)
    assert hasher.digest() == hasher.digest()  # digest() does not end the hash

    primed = sm3.new(b"prefix:")
    fork = primed.copy()
    fork.update(b"one")
    primed.update(b"two")
    assert fork.digest() == sm3.sm3(b"prefix:one")
    assert primed.digest() == sm3.sm3(b"prefix:two")
    assert hasher.digest_size == 32 and hasher.block_size == 64


def test_sm3_through_cryptography_when_hashlib_has_none(monkeypatch):
    """The fallback state (cryptography's SM3, for a Python whose OpenSSL lacks SM3) gives the
    same digests, one-shot and incremental, as the published vectors and as hashlib's."""
    import os

    monkeypatch.setattr(sm3, "_EMPTY", sm3._CryptographySM3())
    for message, digest in SM3_VECTORS:
        assert sm3.sm3(message) == H(digest)
        assert sm3.new(message).hexdigest() == digest.lower()
    primed = sm3.new(b"prefix:")
    fork = primed.copy()
    fork.update(b"one")
    assert fork.digest() == fork.digest() == sm3.sm3(b"prefix:one")
    assert primed.digest() == sm3.sm3(b"prefix:")
    for size in (1, 55, 56, 63, 64, 65, 4096, 70_000):
        data = os.urandom(size)
        through_cryptography = sm3.sm3(data)
        monkeypatch.setattr(sm3, "_EMPTY", sm3._empty_state())
        assert sm3.sm3(bytearray(data)) == sm3.sm3(memoryview(data)) == through_cryptography
        monkeypatch.setattr(sm3, "_EMPTY", sm3._CryptographySM3())


def test_sm3_z_a_of_the_gbt32918_2_test_curve():
    # GB/T 32918.2 Annex A: Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA) on the 256-bit test curve.
    user_id = b"ALICE123@YAHOO.COM"
    parts = [
        (len(user_id) * 8).to_bytes(2, "big"),
        user_id,
        H("787968B4FA32C3FD2417842E73BBFEFF2F3C848B6831D7E0EC65228B3937E498"),
        H("63E4C6D3B23B0C849CF84241484BFE48F61D59A5B16BA06E6E12D1DA27C5249A"),
        H("421DEBD61B62EAB6746434EBC3CC315E32220B3BADD50BDC4C4E6C147FEDD43D"),
        H("0680512BCBB42C07D47349D2153B70C4E5D7FDFCBFA36EA1A85841B9E46E09A2"),
        H("0AE4C7798AA0F119471BEE11825BE46202BB79E2A5844495E97C04FF4DF2548A"),
        H("7C0240F88F1CD4E16352A73C17B7F16F07353E53A176D684A9FE0C6BB798E857"),
    ]
    z_a = sm3.sm3(b"".join(parts))
    assert z_a == H("F4A38489E32B45B6F876E3AC2168CA392362DC8F23459C1D1146FC3DBFB7BC9A")
    # e = SM3(Z_A || M) through a copied Z_A state, the way SM2 signing uses it.
    state = sm3.new(z_a)
    per_message = state.copy()
    per_message.update(b"message digest")
    assert per_message.digest() == H("B524F552CD82B8B028476E005C377FB19A87E6FC682D48BB5D42E3D9B9EFFE76")


def test_sm3_z_a_of_the_recommended_curve_uses_gm_curve_constants():
    # GM/T 0003.5 Annex A on sm2p256v1 with the default ID: checks the constants in gm/curve.py too.
    user_id = b"1234567812345678"
    z_a = sm3.sm3(
        (len(user_id) * 8).to_bytes(2, "big") + user_id
        + curve.A_BYTES + curve.B_BYTES + curve.GX_BYTES + curve.GY_BYTES
        + H("09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020")
        + H("CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13")
    )
    assert z_a == H("B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3")


def test_sm3_rejects_text():
    with pytest.raises(TypeError, match="data must be bytes-like, not str"):
        sm3.sm3("abc")
    with pytest.raises(TypeError, match="not str"):
        sm3.new().update("abc")


# --- HMAC-SM3 --------------------------------------------------------------------------------

HMAC_VECTORS = [
    (bytes(range(1, 33)), b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq" * 2,
     "ca05e144ed05d1857840d1f318a4a8669e559fc8391f414485bfdf7bb408963a"),
    (bytes(range(1, 38)), b"\xcd" * 50, "220bf579ded555393f0159f66c99877822a3ecf610d1552154b41d44b94db3ae"),
    (b"\x0b" * 32, b"Hi There", "c0ba18c68b90c88bc07de794bfc7d2c8d19ec31ed8773bc2b390c9604e0be11e"),
    (b"Jefe", b"what do ya want for nothing?",
     "2e87f1d16862e6d964b50a5200bf2b10b764faa9680a296a2405f24bec39f882"),
]


@pytest.mark.parametrize(("key", "message", "tag"), HMAC_VECTORS)
def test_hmac_sm3_known_answers(key, message, tag):
    assert sm3.hmac_sm3(key, message) == H(tag)


def test_hmac_sm3_rejects_text_key():
    with pytest.raises(TypeError, match="key must be bytes-like"):
        sm3.hmac_sm3("Jefe", b"x")


# --- PBKDF2-HMAC-SM3 -------------------------------------------------------------------------

@pytest.mark.interop
@pytest.mark.parametrize(("password", "salt", "iterations", "length"), [
    (b"password", b"salt", 1, 32),
    (b"pass phrase", b"0123456789abcdef", 1000, 32),
    (b"long output", b"salt", 3, 80),  # spans three PRF blocks: checks block counter chaining
])
def test_pbkdf2_hmac_sm3_matches_openssl_kdf(openssl_bin, password, salt, iterations, length):
    out = subprocess.run(
        [openssl_bin, "kdf", "-keylen", str(length), "-kdfopt", "digest:SM3",
         "-kdfopt", f"hexpass:{password.hex()}", "-kdfopt", f"hexsalt:{salt.hex()}",
         "-kdfopt", f"iter:{iterations}", "-binary", "PBKDF2"],
        capture_output=True, check=True,
    ).stdout
    assert len(out) == length
    assert sm3.pbkdf2_hmac_sm3(password, salt, iterations, length) == out


def test_pbkdf2_hmac_sm3_first_block_is_hmac_of_salt_and_counter():
    # RFC 8018: with one iteration, T_1 = PRF(P, S || INT(1)); independent of the KDF code path.
    assert sm3.pbkdf2_hmac_sm3(b"pw", b"salt", 1) == sm3.hmac_sm3(b"pw", b"salt\x00\x00\x00\x01")


def test_pbkdf2_hmac_sm3_argument_checks():
    with pytest.raises(GMError, match="iterations must be at least 1, got 0"):
        sm3.pbkdf2_hmac_sm3(b"pw", b"salt", 0)
    with pytest.raises(GMError, match="output length must be between 1 and"):
        sm3.pbkdf2_hmac_sm3(b"pw", b"salt", 1, 0)
    with pytest.raises(TypeError, match="iterations must be an int, not bool"):
        sm3.pbkdf2_hmac_sm3(b"pw", b"salt", True)
    with pytest.raises(TypeError, match="password must be bytes-like, not str"):
        sm3.pbkdf2_hmac_sm3("pw", b"salt", 1)


# --- SM2 KDF ---------------------------------------------------------------------------------

@pytest.mark.interop
@pytest.mark.parametrize("klen", [1, 19, 32, 33, 64, 100])
def test_sm2_kdf_matches_gmssl(gmssl_sm2, klen):
    z = H("64D20D27D0632957F8028C1E024F6B02EDF23102A566C932AE8BD613A8E865FE"
          "58D225ECA784AE300A81A2D48281A828E1CEDF11C4219099840265375077BF78")
    expected = gmssl_sm2.sm3.sm3_kdf(z.hex().encode(), klen)
    assert kdf.sm2_kdf(z, klen).hex() == expected


def test_sm2_kdf_is_x963_with_counter_from_one():
    z = b"\x01" * 64
    assert kdf.sm2_kdf(z, 40) == (sm3.sm3(z + b"\x00\x00\x00\x01") + sm3.sm3(z + b"\x00\x00\x00\x02"))[:40]
    assert kdf.sm2_kdf(z, 0) == b""


def test_sm2_kdf_argument_checks():
    with pytest.raises(GMError, match="klen must be between 0 and"):
        kdf.sm2_kdf(b"z", -1)
    with pytest.raises(TypeError, match="z must be bytes-like"):
        kdf.sm2_kdf("z", 16)


# --- SM4 -------------------------------------------------------------------------------------

KEY = H("0123456789ABCDEFFEDCBA9876543210")
CTR_PLAIN = H("".join(c * 16 for c in "ABCDEFEA"))  # AA*8 BB*8 CC*8 DD*8 EE*8 FF*8 EE*8 AA*8
GCM_IV = H("00001234567800000000abcd")
GCM_AAD = H("feedfacedeadbeeffeedfacedeadbeefabaddad2")
GCM_CT = H("17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735"
           "d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d")
GCM_TAG = H("83de3541e4c2b58177e065a9bf7b62ec")


def test_sm4_a1_one_block():
    assert sm4.sm4_ecb_encrypt(KEY, KEY, padding=False) == H("681EDF34D206965E86B3E94F536E4246")
    assert sm4.sm4_ecb_decrypt(KEY, H("681EDF34D206965E86B3E94F536E4246"), padding=False) == KEY


def test_sm4_a2_one_million_encryptions():
    # GB/T 32907 A.2. One ECB context reused: about 0.6 s on this machine.
    block = sm4.SM4Block(KEY)
    encrypt = block.encrypt
    data = KEY
    started = time.perf_counter()
    for _ in range(1_000_000):
        data = encrypt(data)
    elapsed = time.perf_counter() - started
    assert data == H("595298C7C6FD271F0402F804C33D3F66")
    assert elapsed < 30  # sanity only; speed is measured in benchmarks/
    assert block.decrypt(H("681EDF34D206965E86B3E94F536E4246")) == KEY


def test_sm4_cbc_vector_and_padding_round_trip():
    expected = H("2677F46B09C122CC975533105BD4A22AF6125F7275CE552C3A2BBCF533DE8A3B")
    assert sm4.sm4_cbc_encrypt(KEY, KEY, KEY * 2, padding=False) == expected
    assert sm4.sm4_cbc_decrypt(KEY, KEY, expected, padding=False) == KEY * 2
    for size in (0, 1, 15, 16, 17, 100):
        message = bytes(range(size))
        ciphertext = sm4.sm4_cbc_encrypt(KEY, KEY, message)
        assert len(ciphertext) == (size // 16 + 1) * 16  # PKCS#7 always adds 1..16 bytes
        assert sm4.sm4_cbc_decrypt(KEY, KEY, ciphertext) == message
    # With padding the first two blocks equal the unpadded encryption (same chain).
    assert sm4.sm4_cbc_encrypt(KEY, KEY, KEY * 2)[:32] == expected


def test_sm4_ecb_padding_round_trip():
    ciphertext = sm4.sm4_ecb_encrypt(KEY, b"seventeen bytes!!")
    assert len(ciphertext) == 32
    assert sm4.sm4_ecb_decrypt(KEY, ciphertext) == b"seventeen bytes!!"


def test_sm4_ctr_vector():
    expected = H("C2B4759E78AC3CF43D0852F4E8D5F9FD7256E8A5FCB65A350EE00630912E4449"
                 "2A0B17E1B85B060D0FBA612D8A95831638B361FD5FFACD942F081485A83CA35D")
    assert sm4.sm4_ctr_encrypt(KEY, KEY, CTR_PLAIN) == expected
    assert sm4.sm4_ctr_decrypt(KEY, KEY, expected) == CTR_PLAIN
    assert sm4.sm4_ctr_encrypt(KEY, KEY, CTR_PLAIN[:13]) == expected[:13]  # a stream: no padding


def test_sm4_gcm_rfc8998_vector():
    ciphertext, tag = sm4.sm4_gcm_encrypt(KEY, GCM_IV, CTR_PLAIN, GCM_AAD)
    assert ciphertext == GCM_CT
    assert tag == GCM_TAG
    assert sm4.sm4_gcm_decrypt(KEY, GCM_IV, GCM_CT, GCM_TAG, GCM_AAD) == CTR_PLAIN


@pytest.mark.parametrize("tamper", ["tag", "ciphertext", "aad", "iv"])
def test_sm4_gcm_rejects_any_change(tamper):
    args = {"iv": GCM_IV, "ciphertext": GCM_CT, "tag": GCM_TAG, "aad": GCM_AAD}
    value = bytearray(args[tamper])
    value[0] ^= 1
    args[tamper] = bytes(value)
    with pytest.raises(CipherError, match="SM4-GCM authentication failed"):
        sm4.sm4_gcm_decrypt(KEY, args["iv"], args["ciphertext"], args["tag"], args["aad"])


@pytest.mark.interop
def test_sm4_cbc_matches_openssl_enc(openssl_bin):
    message = b"cross-checked by openssl enc -sm4-cbc" * 3
    iv = bytes(range(16))
    out = subprocess.run(
        [openssl_bin, "enc", "-sm4-cbc", "-K", KEY.hex(), "-iv", iv.hex()],
        input=message, capture_output=True, check=True,
    ).stdout
    assert sm4.sm4_cbc_encrypt(KEY, iv, message) == out


@pytest.mark.interop
def test_sm4_cbc_matches_gmssl(gmssl_sm2):
    gmssl_sm4 = importlib.import_module("gmssl.sm4")
    crypt = gmssl_sm4.CryptSM4()
    crypt.set_key(KEY, gmssl_sm4.SM4_ENCRYPT)
    iv = b"\x42" * 16
    message = b"gmssl is an independent pure-Python SM4"
    assert sm4.sm4_cbc_encrypt(KEY, iv, message) == crypt.crypt_cbc(iv, message)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: sm4.sm4_cbc_encrypt(b"short", KEY, b"x"), "SM4 key must be 16 bytes, got 5"),
    (lambda: sm4.sm4_ecb_encrypt(KEY * 2, b"x"), "SM4 key must be 16 bytes, got 32"),
    (lambda: sm4.sm4_cbc_encrypt(KEY, b"\x00" * 12, b"x"), "SM4-CBC IV must be 16 bytes, got 12"),
    (lambda: sm4.sm4_ctr_encrypt(KEY, b"\x00" * 8, b"x"), "SM4-CTR IV must be 16 bytes, got 8"),
    (lambda: sm4.sm4_cbc_encrypt(KEY, KEY, b"x" * 17, padding=False),
     "SM4-CBC plaintext must be a multiple of 16 bytes, got 17; pass padding=True"),
    (lambda: sm4.sm4_cbc_decrypt(KEY, KEY, b"x" * 20), "SM4-CBC ciphertext must be a multiple of 16 bytes, got 20"),
    (lambda: sm4.sm4_cbc_decrypt(KEY, KEY, b""), "padded ciphertext cannot be empty"),
    (lambda: sm4.sm4_gcm_encrypt(KEY, b"\x00" * 16, b"x"), "SM4-GCM nonce must be 12 bytes, got 16"),
    (lambda: sm4.sm4_gcm_decrypt(KEY, GCM_IV, GCM_CT, GCM_TAG[:12], GCM_AAD), "SM4-GCM tag must be 16 bytes, got 12"),
    (lambda: sm4.SM4Block(KEY).encrypt(b"x" * 15), "multiple of 16 bytes, got 15"),
])
def test_sm4_bad_lengths_raise_cipher_error(call, message):
    with pytest.raises(CipherError, match=message.replace("(", r"\(").replace("+", r"\+")):
        call()


def test_sm4_cbc_bad_padding_raises_cipher_error():
    ciphertext = sm4.sm4_cbc_encrypt(KEY, KEY, b"attack at dawn")
    wrong_key = bytes(16)
    with pytest.raises(CipherError, match="SM4-CBC: invalid PKCS#7 padding"):
        # A wrong key yields valid padding with probability ~1/256; this key is checked not to.
        sm4.sm4_cbc_decrypt(wrong_key, KEY, ciphertext)
    tampered = ciphertext[:-1] + bytes([ciphertext[-1] ^ 0x80])
    with pytest.raises(CipherError, match="invalid PKCS#7 padding"):
        sm4.sm4_cbc_decrypt(KEY, KEY, tampered)


def test_sm4_rejects_text_input():
    with pytest.raises(TypeError, match="plaintext must be bytes-like, not str"):
        sm4.sm4_cbc_encrypt(KEY, KEY, "text")
