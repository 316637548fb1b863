"""A sealing worker for the kill -9 tests: THREADS threads (default 3, as a served worker has
several) each seal an OFD, a PDF and raw data (detached CMS) in turn with a registered seal,
timestamped by the region's TSA, and write each result the way `eseal sign` does
(``cli.output.write_atomic``), until the process is killed. Sealings that finish together share
a commit (store.group_commit); after each sealing the largest group so far is written to
``OUT_DIR/<pid>.groups``, so the test knows the kills also met shared commits.

    python -m tests.faults.seal_worker HOME ES_ID OUT_DIR READY_FILE FIRST [THREADS]   (passphrase in ESEAL_PASSPHRASE)

FIRST picks the kind sealed first (each thread starts one further), so that short-lived
workers still seal every kind.

The documents come from seal_inputs() so the test knows what was sealed.
"""
from __future__ import annotations

import io
import os
import sys
from pathlib import Path


def seal_inputs() -> list[tuple[str, bytes, bool]]:
    """(file suffix, document, detached CMS?) — one of each kind of sealing."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    from seal.ofd.document import Page, Text, build_ofd

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    c.drawString(72, 760, "Certificate of business registration")
    c.showPage()
    c.save()
    return [("ofd", build_ofd([Page([Text(20, 20, "营业执照 正本", size=6)])]), False),
            ("pdf", buf.getvalue(), False),
            ("p7s", "一份需要盖章的数据".encode(), True)]


def main(home_path: str, es_id: str, out_dir: str, ready_file: str, first: str = "0", threads: str = "3") -> None:
    import threading

    from cli.output import write_atomic
    from keystore.soft import SoftKeyStore
    from seal import sealing
    from store import group_commit
    from store.home import Home

    home = Home.open(home_path)
    store = SoftKeyStore.from_home(home)
    store.unlock_with_passphrase(os.environ["ESEAL_PASSPHRASE"], actor="fault-worker")
    inputs = seal_inputs()
    groups = Path(out_dir) / f"{os.getpid()}.groups"

    def seal_in_turn(t: int) -> None:
        i = int(first) + t
        while True:  # authorise, sign, timestamp, audit + log, write: every step is a place to die
            suffix, document, cms = inputs[i % len(inputs)]
            grant = sealing.authorise(home, store, es_id, actor="fault-worker")
            sealed = sealing.seal_document(home, store, grant, document, x_mm=120, y_mm=200, cms=cms)
            write_atomic(Path(out_dir) / f"{os.getpid()}-{t}-{i:05d}.{suffix}", sealed.data)
            write_atomic(groups, str(group_commit.stats(home.engine).largest).encode())
            i += 1

    workers = [threading.Thread(target=seal_in_turn, args=(t,), daemon=True) for t in range(int(threads))]
    for w in workers:
        w.start()
    Path(ready_file).write_text("ready")
    for w in workers:
        w.join()


if __name__ == "__main__":
    main(*sys.argv[1:7])
