"""Side-by-side SM2 rates in one run: eseal vs `openssl speed sm2` vs the pure-Python gmssl.

    python -m benchmarks.compare [--seconds S] [--markdown]

Absolute numbers on a shared machine are noise; the ratios are what we track. The exit
status is 1 when a target from DESIGN.md is missed (sign >= 5x and verify >= 2.5x OpenSSL,
both >= 100x gmssl), so the script can gate a release.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable

from gm import sm2

TARGETS = {("sign", "openssl"): 5.0, ("verify", "openssl"): 2.5, ("sign", "gmssl"): 100.0, ("verify", "gmssl"): 100.0}
MESSAGE = b"hello, e-seal" * 4


def rate(operation: Callable[[], object], seconds: float) -> float:
    """Operations per second, best of three rounds of `seconds / 3`."""
    best = 0.0
    for _ in range(3):
        count, start = 0, time.perf_counter()
        deadline = start + seconds / 3
        while True:
            for _ in range(50):
                operation()
            count += 50
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, count / (now - start))
    return best


def eseal_rates(seconds: float) -> dict[str, float]:
    key = sm2.PrivateKey.generate()
    signature = key.sign(MESSAGE)
    point = key.public_key.to_bytes()
    return {
        "sign": rate(lambda: key.sign(MESSAGE), seconds),
        "verify": rate(lambda: key.public_key.verify(signature, MESSAGE), seconds),
        # a key object seen for the first time: no Z_A cache, no comb table
        "verify_cold": rate(lambda: sm2.PublicKey.from_bytes(point).verify(signature, MESSAGE), seconds),
    }


def openssl_rates(seconds: float) -> dict[str, float] | None:
    binary = shutil.which("openssl")
    if not binary:
        return None
    out = subprocess.run([binary, "speed", "-seconds", str(max(1, round(seconds))), "sm2"],
                         capture_output=True, text=True).stdout
    match = re.search(r"SM2 \(CurveSM2\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", out)
    if not match:
        return None
    return {"sign": float(match.group(1)), "verify": float(match.group(2))}


def gmssl_rates(seconds: float) -> dict[str, float] | None:
    try:
        from gmssl import sm2 as gmssl_sm2
    except ImportError:
        return None
    key = sm2.PrivateKey.generate()
    peer = gmssl_sm2.CryptSM2(private_key=key.to_bytes().hex(), public_key=key.public_key.to_bytes()[1:].hex())
    signature = peer.sign_with_sm3(MESSAGE)

    def slow_rate(operation: Callable[[], object]) -> float:
        best = 0.0
        for _ in range(3):  # best of three, as for eseal
            count, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds / 3 or count < 3:
                operation()
                count += 1
            best = max(best, count / (time.perf_counter() - start))
        return best

    return {"sign": slow_rate(lambda: peer.sign_with_sm3(MESSAGE)),
            "verify": slow_rate(lambda: peer.verify_with_sm3(signature, MESSAGE))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = parser.parse_args(argv)
    ours = eseal_rates(args.seconds)
    peers = {"openssl": openssl_rates(args.seconds), "gmssl": gmssl_rates(args.seconds)}
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    openssl_version = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip() \
        if shutil.which("openssl") else "absent"
    print(f"SM2 rates, {datetime.date.today()}, {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{openssl_version}")
    print()
    print("| operation | eseal (op/s) | OpenSSL speed (op/s) | eseal / OpenSSL | target | gmssl (op/s) | eseal / gmssl | target |")
    print("|---|---|---|---|---|---|---|---|")
    missed = []
    for op in ("sign", "verify"):
        cells = [op, f"{ours[op]:,.0f}"]
        for peer in ("openssl", "gmssl"):
            theirs = peers[peer]
            target = TARGETS[(op, peer)]
            if theirs is None:
                cells += ["n/a", "n/a", f">= {target:g}x"]
                missed.append(f"{peer} unavailable")
                continue
            ratio = ours[op] / theirs[op]
            cells += [f"{theirs[op]:,.1f}", f"{ratio:.1f}x", f">= {target:g}x {'ok' if ratio >= target else 'MISSED'}"]
            if ratio < target:
                missed.append(f"{op} vs {peer}: {ratio:.2f}x < {target:g}x")
        print("| " + " | ".join(cells) + " |")
    cold = ours["verify_cold"]
    theirs = peers["openssl"]
    print(f"| verify, first use of a key (no table) | {cold:,.0f} | "
          + (f"{theirs['verify']:,.1f} | {cold / theirs['verify']:.1f}x | (info) |" if theirs else "n/a | n/a | (info) |")
          + " | | |")
    if missed:
        print("\nmissed: " + "; ".join(missed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
