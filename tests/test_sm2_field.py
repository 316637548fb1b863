"""Differential tests of the native SM2 core against a slow pure-Python reference.

The core's field arithmetic for p is specialised (shift-based Montgomery reduction, assembly
on x86-64, an addition chain for inversion); a wrong carry there would show up only for some
inputs. Here every native result (k*G, k*P, public keys, signatures with a chosen nonce,
verification with and without a key's comb table, point decoding) is recomputed with Python
integers and affine formulas, for random values and for points whose coordinates sit at the
edges of the field (x or y near 0, near p, 2^256 - 1 mod p, ...).
"""
from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from gm import _sm2
from gm.curve import B, GX, GY, N, P

A = P - 3
G = (GX, GY)
RNG_SEED = 0x5EA1


# --------------------------------------------------------------- reference


def _add(p1, p2):
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    x1, y1 = p1
    x2, y2 = p2
    if x1 == x2:
        if (y1 + y2) % P == 0:
            return None
        lam = (3 * x1 * x1 + A) * pow(2 * y1, -1, P) % P
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (lam * lam - x1 - x2) % P
    return x3, (lam * (x1 - x3) - y1) % P


def _mul(k, point):
    acc = None
    for bit in bin(k)[2:]:
        acc = _add(acc, acc)
        if bit == "1":
            acc = _add(acc, point)
    return acc


def _on_curve(x, y):
    return (y * y - (x * x * x + A * x + B)) % P == 0


def _enc(point):
    return b"\x04" + point[0].to_bytes(32, "big") + point[1].to_bytes(32, "big")


def _enc_compressed(point):
    return bytes([2 | (point[1] & 1)]) + point[0].to_bytes(32, "big")


def _dec(data):
    assert len(data) == 65 and data[0] == 4
    return int.from_bytes(data[1:33], "big"), int.from_bytes(data[33:], "big")


def _b32(v):
    return v.to_bytes(32, "big")


def _ref_verify(point, e, r, s):
    if not (1 <= r < N and 1 <= s < N):
        return False
    t = (r + s) % N
    if t == 0:
        return False
    q = _add(_mul(s, G), _mul(t, point))
    return q is not None and (e + q[0]) % N == r


def _valid_signature_for(point, rng):
    """(e, r, s) that verify under `point` without knowing its private key: pick u, v,
    R = u*G + v*Q, then s = u, t = v, r = t - s and e = r - x(R) (all mod n)."""
    while True:
        u, v = rng.randrange(1, N), rng.randrange(1, N)
        r = (v - u) % N
        q = _add(_mul(u, G), _mul(v, point))
        if r and q is not None:
            return (r - q[0]) % N, r, u


# ------------------------------------------------------------- edge points


def _edge_points():
    xs = list(range(0, 24)) + [P - i for i in range(1, 30)]
    xs += [(2**256 - 1) % P, 2**255 % P, 2**224, 2**192, 2**128 - 1, 2**64 - 1, 2**64, 2**32 - 1, P // 2, P // 2 + 1]
    xs += [GX, P - GX]
    points = []
    for x in xs:
        rhs = (x * x * x + A * x + B) % P
        y = pow(rhs, (P + 1) // 4, P)
        if y * y % P != rhs:
            continue
        for yy in {y, (P - y) % P}:
            points.append((x, yy))
    return points


EDGE_POINTS = _edge_points()


def test_edge_points_exist():
    # both ends of the field are represented (x near 0 and x near p, y near p follows from -y)
    assert any(x < 24 for x, _ in EDGE_POINTS)
    assert any(x > P - 30 for x, _ in EDGE_POINTS)
    assert any(y > P // 2 for x, y in EDGE_POINTS if x > P - 30)
    assert len(EDGE_POINTS) >= 20


@pytest.mark.parametrize("point", EDGE_POINTS, ids=lambda pt: f"x={pt[0]:x}"[:24])
def test_edge_point_arithmetic_matches_reference(point):
    rng = random.Random(RNG_SEED ^ point[0] ^ point[1])
    assert _on_curve(*point)
    assert _sm2.point_decode(_enc(point)) == _enc(point)
    assert _sm2.point_decode(_enc_compressed(point)) == _enc(point)
    for k in (1, 2, 3, 16, 17, N - 1, N - 2, rng.randrange(1, N), rng.randrange(1, 2**64)):
        assert _sm2.scalar_mult(_b32(k), _enc(point)) == _enc(_mul(k, point)), k
    # verification, through the wNAF path and through the key's comb table
    table = _sm2.key_table(_enc(point))
    for _ in range(1):
        e, r, s = _valid_signature_for(point, rng)
        sig = _sm2.signature_from_rs(_b32(r), _b32(s))
        assert _sm2.verify_digest(_enc(point), _b32(e), sig) is True
        assert _sm2.verify_digest(_enc(point), _b32(e), sig, table) is True
        bad_e = (e + 1) % N
        assert _sm2.verify_digest(_enc(point), _b32(bad_e), sig) is False
        assert _sm2.verify_digest(_enc(point), _b32(bad_e), sig, table) is False


# ----------------------------------------------------------- random values


def test_base_and_variable_base_multiplication_match_reference():
    rng = random.Random(RNG_SEED)
    scalars = [1, 2, 3, N - 1, N - 2, N - 3, 2**255, (2**256 - 2**224) % N, P % N, 2**256 % N]
    scalars += [rng.randrange(1, 2**bits) for bits in (8, 32, 64, 128, 192)]
    scalars += [rng.randrange(1, N) for _ in range(40)]
    for k in scalars:
        kg = _mul(k, G)
        assert _sm2.base_mult(_b32(k)) == _enc(kg), k
        q = _mul(rng.randrange(1, N), G)
        assert _sm2.scalar_mult(_b32(k), _enc(q)) == _enc(_mul(k, q)), k


def test_signing_with_chosen_nonce_matches_reference():
    from gm import _sm2_kat  # test-only build with the nonce hook

    rng = random.Random(RNG_SEED + 1)
    for i in range(40):
        d = rng.randrange(1, N - 1) if i > 2 else (1, N - 2, 2)[i]
        pub, blob = _sm2_kat.private_precompute(_b32(d))
        q = _mul(d, G)
        assert pub == _enc(q)
        e = rng.randrange(0, 2**256) if i % 3 else rng.randrange(0, 2**64)
        k = rng.randrange(1, N) if i % 5 else rng.choice((1, 2, N - 1))
        r = (e + _mul(k, G)[0]) % N
        s = pow(1 + d, -1, N) * (k - r * d) % N
        if r == 0 or (r + k) % N == 0 or s == 0:
            continue
        sig = _sm2_kat.sign_digest_with_nonce(_b32(d), blob, _b32(e), _b32(k))
        assert _sm2.signature_to_rs(sig) == (_b32(r), _b32(s))
        # the product module's random-nonce signatures verify under the reference too
        sig2 = _sm2.sign_digest(_b32(d), blob, _b32(e))
        r2, s2 = (int.from_bytes(v, "big") for v in _sm2.signature_to_rs(sig2))
        assert _ref_verify(q, e % N, r2, s2)


def test_verification_matches_reference():
    rng = random.Random(RNG_SEED + 2)
    for _ in range(8):
        d = rng.randrange(1, N - 1)
        pub, blob = _sm2.private_precompute(_b32(d))
        q = _dec(pub)
        table = _sm2.key_table(pub)
        for _ in range(3):
            e = rng.randrange(0, 2**256)
            sig = _sm2.sign_digest(_b32(d), blob, _b32(e))
            r, s = (int.from_bytes(v, "big") for v in _sm2.signature_to_rs(sig))
            assert _ref_verify(q, e % N, r, s)
            assert _sm2.verify_digest(pub, _b32(e), sig) is True
            assert _sm2.verify_digest(pub, _b32(e), sig, table) is True
            # random and tweaked signatures: the core agrees with the reference (almost always False)
            for r3, s3 in ((r, s ^ 1), ((r + 1) % N or 1, s), (rng.randrange(1, N), rng.randrange(1, N))):
                sig3 = _sm2.signature_from_rs(_b32(r3), _b32(s3))
                expected = _ref_verify(q, e % N, r3, s3)
                assert _sm2.verify_digest(pub, _b32(e), sig3) is expected
                assert _sm2.verify_digest(pub, _b32(e), sig3, table) is expected


# ------------------------------------------------------ both x86-64 variants


def test_backend_follows_the_environment():
    assert _sm2.FIELD_BACKEND in ("x86_64-adx", "x86_64", "c")
    if os.environ.get("SM2_FIELD_NO_ADX") == "1":
        assert _sm2.FIELD_BACKEND in ("x86_64", "c")


def test_mulq_variant_matches_reference_too():
    """Where the CPU has BMI2/ADX the core multiplies with mulx/adcx/adox; the plain mulq
    variant (other x86-64 CPUs) runs this file again in a child process."""
    if _sm2.FIELD_BACKEND != "x86_64-adx":
        pytest.skip(f"this machine runs only the {_sm2.FIELD_BACKEND} variant")
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(Path(__file__).resolve()),
         "-k", "not mulq_variant"],
        cwd=root, env=dict(os.environ, SM2_FIELD_NO_ADX="1"), capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout
