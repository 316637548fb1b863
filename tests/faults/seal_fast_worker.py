"""A sealing worker for the kill -9 test of the one-commit path: seals an OFD again and
again without a timestamp (the key store signs in the sealing's own transaction, so the
key-use record, the seal.sign record and the log entry commit once), and writes each result
the way `eseal sign` does, until it is killed.

    python -m tests.faults.seal_fast_worker HOME ES_ID OUT_DIR READY_FILE   (passphrase in ESEAL_PASSPHRASE)
"""
from __future__ import annotations

import os
import sys
from pathlib import Path


def document() -> bytes:
    from seal.ofd.document import Page, Text, build_ofd

    return build_ofd([Page([Text(20, 20, "营业执照 副本", size=6)])])


def main(home_path: str, es_id: str, out_dir: str, ready_file: str) -> None:
    from cli.output import write_atomic
    from keystore.soft import SoftKeyStore
    from seal import sealing
    from store.home import Home

    home = Home.open(home_path)
    store = SoftKeyStore.from_home(home)
    store.unlock_with_passphrase(os.environ["ESEAL_PASSPHRASE"], actor="fault-worker")
    data = document()
    Path(ready_file).write_text("ready")
    i = 0
    while True:  # authorise, sign + audit + log in one commit, write: every step is a place to die
        grant = sealing.authorise(home, store, es_id, actor="fault-worker")
        sealed = sealing.seal_document(home, store, grant, data, x_mm=120, y_mm=200, timestamp=False)
        write_atomic(Path(out_dir) / f"{os.getpid()}-{i:05d}.ofd", sealed.data)
        i += 1


if __name__ == "__main__":
    main(*sys.argv[1:5])
