"""seal/cms keeps one parsed object per embedded certificate DER. asn1crypto parses lazily and
without a lock, so such an object shared by two threads at once came apart ("No field
numbered 1 is present in this TbsCertificate"): one FAILED verification in a CI soak. The
object is now kept per thread. Six threads verify timestamp tokens at once with a tiny GIL
switch interval. With the shared table, the same loop as a standalone script failed in two of
three 2-second runs (and 1,645 times in 40 s with a thread emptying the table); under pytest
the race is rarer (the table is filled before the threads start), so this is a guard, not a
reliable detector."""
from __future__ import annotations

import sys
import threading
import time

from keystore.soft import SoftKeyStore
from seal import tsa
from store.db import make_sessionmaker
from store.testing import *  # noqa: F401,F403


def test_tokens_verified_by_many_threads_at_once_all_verify(eseal_home) -> None:
    from ca import service

    home = eseal_home
    ks = SoftKeyStore.initialise(make_sessionmaker(home.engine), actor="a", passphrase="threads pw 1234").store
    service.init_region(home, ks, region_code="440000", region_name="广东省", base_url="http://127.0.0.1:9")
    stamp = tsa.tsa_callable(home, ks)
    tokens = [(stamp(bytes([i]) * 32), bytes([i]) * 32) for i in range(12)]
    problems: list[str] = []
    checked = [0]
    stop = time.monotonic() + 2.0

    def verify_all(offset: int) -> None:
        i = 0
        while time.monotonic() < stop:
            token, data = tokens[(i + offset) % len(tokens)]
            i += 1
            try:
                result = tsa.verify_token(token, data)
            except Exception as exc:  # noqa: BLE001 -- any exception is the failure this test is for
                problems.append(repr(exc))
                continue
            if not result.ok:
                problems.append(result.detail)
            checked[0] += 1

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=verify_all, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert problems == [] and checked[0] >= len(tokens)
