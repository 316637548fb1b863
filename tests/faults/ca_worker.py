"""A CA worker for the kill -9 tests: issues certificates, revokes every second one and
writes a CRL after each revocation (atomically, like the CLI), until it is killed.

    python -m tests.faults.ca_worker HOME OUT_DIR READY_FILE   (passphrase in ESEAL_PASSPHRASE)
"""
from __future__ import annotations

import os
import sys
from pathlib import Path


def main(home_path: str, out_dir: str, ready_file: str) -> None:
    from ca import service
    from ca.csr import build_csr
    from ca.testing import LocalSigner
    from cli.output import write_atomic
    from keystore.soft import SoftKeyStore
    from store.home import Home

    home = Home.open(home_path)
    store = SoftKeyStore.from_home(home)
    store.unlock_with_passphrase(os.environ["ESEAL_PASSPHRASE"], actor="fault-worker")
    csr = build_csr(LocalSigner(), "C=CN,O=测试,CN=设备").dump()
    Path(ready_file).write_text("ready")
    i = 0
    while True:  # issue two, revoke one, sign and write a CRL: every step is a place to die
        serial, _ = service.issue_certificate(home, store, profile="device", csr_pem=csr,
                                              subject=f"C=CN,O=测试,CN=dev-{os.getpid()}-{i}", actor="fault-worker")
        service.issue_certificate(home, store, profile="device", csr_pem=csr,
                                  subject=f"C=CN,O=测试,CN=dev-{os.getpid()}-{i}b", actor="fault-worker")
        service.revoke(home, serial, "superseded", actor="fault-worker")
        crl = service.generate_crl(home, store, actor="fault-worker")
        write_atomic(Path(out_dir) / f"{os.getpid()}-{i:05d}.crl", crl)
        i += 1


if __name__ == "__main__":
    main(*sys.argv[1:4])
