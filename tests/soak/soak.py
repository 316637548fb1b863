"""Soak: a real `eseal serve --workers 2` on SQLite under a steady mixed load for a long time.

    python -m tests.soak.soak [--seconds 600] [--out docs/soak] [--interval 5]
                              [--seal-rate 2] [--verify-rate 4] [--ocsp-rate 10]

A second process (this one) drives, at a fixed rate each, the three things a region does all
day: sealing an OFD (POST /api/v1/seals/<id>/sign, timestamped, audit + transparency-log
rows), verifying a freshly sealed OFD (POST /api/v1/verify, must be PASSED), and OCSP for the
region's certificates (POST /ocsp, half with a nonce so they are signed live). Every
INTERVAL seconds it samples the resident memory of the gunicorn master and all its workers
(/proc, so no extra package) and, per operation, the count, p50 and p99 latency and errors
of that window. It writes OUT.csv and OUT.png (matplotlib) and prints a verdict:

* errors: any non-200 answer, a transport error, or a verification that is not PASSED;
* memory: the slope of a least-squares line through total RSS after the warm-up (the first
  ``--warmup`` fraction of the run) must stay under ``--max-slope`` MB per minute, and the
  growth from the end of the warm-up to the end under ``--max-growth`` MB.

Exit status 0 when both hold, 1 otherwise. ``make soak`` runs the 10-minute version; the test
suite runs a short one (tests/soak/test_soak.py).
"""
from __future__ import annotations

import argparse
import base64
import csv
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from api.testing import free_port, server_pids, serving

PASSPHRASE = "soak passphrase 5150"
OPERATIONS = ("seal", "verify", "ocsp")


# ---------------------------------------------------------------- the region under test

@dataclass
class Region:
    home: Path
    token: str
    es_id: str
    ocsp_requests: list[bytes]


def make_region(folder: Path, base_url: str, certificates: int = 20) -> Region:
    """A SQLite region (CRL and OCSP addresses at ``base_url``: the verifier fetches them) with the demo agency's seal, an admin token and device certificates."""
    from asn1crypto import core
    from asn1crypto import ocsp as aocsp
    from asn1crypto import pem

    from ca import ocsp, service
    from ca.csr import build_csr
    from ca.testing import LocalSigner
    from keystore.soft import SoftKeyStore
    from seal.demo import create_demo_agency
    from store.db import make_sessionmaker
    from store.home import Home
    from store.tokens import create_token

    saved = os.environ.pop("ESEAL_DATABASE_URL", None)  # SQLite, whatever the caller's shell says
    try:
        home = Home.create(folder / "home")
        sessions = make_sessionmaker(home.engine)
        ks = SoftKeyStore.initialise(sessions, actor="soak", passphrase=PASSPHRASE).store
        service.init_region(home, ks, region_code="440000", region_name="广东省", base_url=base_url)
        agency = create_demo_agency(home, ks, actor="soak")
        csr = build_csr(LocalSigner(), "C=CN,O=soak,CN=device").dump()
        serials = [int(service.issue_certificate(home, ks, profile="device", csr_pem=csr,
                                                 subject=f"C=CN,O=soak,CN=device-{i}")[0], 16)
                   for i in range(certificates)]
        token, _ = create_token(sessions, role="admin", label="soak", actor="soak")
        issuer = next(pem.unarmor(service.ca_chain(home), multiple=True))[2]
        ks.lock()
        home.close()
    finally:
        if saved is not None:
            os.environ["ESEAL_DATABASE_URL"] = saved
    requests = []
    for i, serial in enumerate(serials):
        cid = ocsp.cert_id_for(issuer, serial).raw
        requests.append(aocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": cid}]}}).dump())
        requests.append(aocsp.OCSPRequest({"tbs_request": {
            "request_list": [{"req_cert": cid}],
            "request_extensions": [{"extn_id": "nonce", "critical": False,
                                    "extn_value": core.OctetString(i.to_bytes(16, "big"))}]}}).dump())
    return Region(home.path, token, agency.es_id, requests)


def wait_for_workers(server: subprocess.Popen, workers: int) -> None:
    """Until the master has its workers (memory is summed over them)."""
    deadline = time.monotonic() + 120
    while len(server_pids(server.pid)) <= workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"eseal serve did not start {workers} workers within 120 s")
        time.sleep(0.2)


# ---------------------------------------------------------------- memory of the server

def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


# ---------------------------------------------------------------- the load

@dataclass
class Window:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in OPERATIONS})
    errors: dict[str, int] = field(default_factory=lambda: {op: 0 for op in OPERATIONS})


class Recorder:
    """Latencies and errors since the last sample, and the first few error messages."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window = Window()
        self.messages: list[str] = []

    def ok(self, op: str, seconds: float) -> None:
        with self._lock:
            self._window.latencies[op].append(seconds)

    def error(self, op: str, message: str) -> None:
        with self._lock:
            self._window.errors[op] += 1
            if len(self.messages) < 20:
                self.messages.append(f"{op}: {message}")

    def take(self) -> Window:
        with self._lock:
            window, self._window = self._window, Window()
        return window


def _connect(port: int) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # headers and body are two writes
    return conn


def _paced(rate: float, stop: float, step) -> None:  # noqa: ANN001
    """Call step() every 1/rate seconds until stop; a slow call delays, never bursts, the next."""
    interval = 1.0 / rate
    due = time.monotonic()
    while due < stop:
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        step()
        due = max(due + interval, time.monotonic() - interval)


class Load:
    def __init__(self, region: Region, port: int, recorder: Recorder, documents: list[bytes]) -> None:
        self.region, self.port, self.recorder = region, port, recorder
        self.documents_b64 = [base64.b64encode(d).decode("ascii") for d in documents]
        self.sealed: deque[bytes] = deque(maxlen=50)  # recent sealed PDFs, for the verifiers
        self._ocsp_next = 0
        self._seal_next = 0
        self._lock = threading.Lock()

    def _call(self, op: str, conn_box: list, method: str, path: str, body: bytes, headers: dict[str, str]):  # noqa: ANN202
        t0 = time.perf_counter()
        try:
            if conn_box[0] is None:
                conn_box[0] = _connect(self.port)
            conn_box[0].request(method, path, body=body, headers=headers)
            response = conn_box[0].getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            if conn_box[0] is not None:
                conn_box[0].close()
            conn_box[0] = None
            self.recorder.error(op, f"{type(exc).__name__}: {exc}")
            return None
        elapsed = time.perf_counter() - t0
        if response.status != 200:
            self.recorder.error(op, f"HTTP {response.status}: {data[:300]!r}")
            return None
        return elapsed, response, data

    def seal_step(self, conn_box: list) -> None:
        with self._lock:
            document = self.documents_b64[self._seal_next % len(self.documents_b64)]
            self._seal_next += 1
        body = json.dumps({"document": document, "x": 120, "y": 200}).encode()
        result = self._call("seal", conn_box, "POST", f"/api/v1/seals/{self.region.es_id}/sign", body,
                            {"Content-Type": "application/json", "Authorization": f"Bearer {self.region.token}"})
        if result is None:
            return
        elapsed, _, data = result
        try:
            sealed = base64.b64decode(json.loads(data)["document"])
        except (ValueError, KeyError) as exc:
            self.recorder.error("seal", f"bad answer: {exc}")
            return
        if sealed.startswith(b"%PDF"):
            self.sealed.append(sealed)
        self.recorder.ok("seal", elapsed)

    def verify_step(self, conn_box: list) -> None:
        try:
            document = self.sealed[-1]  # the newest: a cache keyed by document must not be what keeps up
        except IndexError:
            return
        result = self._call("verify", conn_box, "POST", "/api/v1/verify", document,
                            {"Content-Type": "application/pdf"})
        if result is None:
            return
        elapsed, response, data = result
        if response.headers.get("X-Eseal-Indication") != "PASSED":
            self.recorder.error("verify", f"not PASSED: {_failed_checks(data)}")
            return
        self.recorder.ok("verify", elapsed)

    def ocsp_step(self, conn_box: list) -> None:
        with self._lock:
            body = self.region.ocsp_requests[self._ocsp_next % len(self.region.ocsp_requests)]
            self._ocsp_next += 1
        result = self._call("ocsp", conn_box, "POST", "/ocsp", body, {"Content-Type": "application/ocsp-request"})
        if result is None:
            return
        elapsed, _, data = result
        if data[:1] != b"\x30" or b"\x0a\x01\x00" not in data[:12]:  # OCSPResponseStatus successful
            self.recorder.error("ocsp", f"not a successful OCSP response: {data[:40].hex()}")
            return
        self.recorder.ok("ocsp", elapsed)


def _failed_checks(report: bytes) -> str:
    """What a report that did not pass says: each signature's indication and its checks that
    did not pass (the head of the JSON shows none of that)."""
    try:
        signatures = json.loads(report)["signatures"]
        return "; ".join(
            f"{sig.get('id')}: {sig.get('indication')}/{sig.get('sub_indication')} " + ", ".join(
                f"{c.get('code')} {c.get('result')}: {c.get('message')}" for c in sig.get("checks", [])
                if c.get("result") in ("FAILED", "INDETERMINATE"))
            for sig in signatures)[:2000]
    except (ValueError, KeyError, TypeError, AttributeError):
        return repr(report[:300])


def _pdf() -> bytes:
    import io

    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    c.drawString(72, 760, "Certificate of business registration (soak)")
    c.showPage()
    c.save()
    return buf.getvalue()


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _slope_per_minute(ts: list[float], ys: list[float]) -> float:
    n = len(ts)
    if n < 2:
        return 0.0
    mt, my = sum(ts) / n, sum(ys) / n
    den = sum((t - mt) ** 2 for t in ts)
    return 60 * sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / den if den else 0.0


@dataclass
class Result:
    rows: list[dict[str, float]]
    errors: int
    messages: list[str]
    requests: dict[str, int]
    slope_mb_per_min: float
    growth_mb: float
    warm_rss_mb: float
    end_rss_mb: float
    fit_from_s: float

    def ok(self, max_slope: float, max_growth: float) -> bool:
        return self.errors == 0 and self.slope_mb_per_min < max_slope and self.growth_mb < max_growth


def run(seconds: float, interval: float, rates: dict[str, float], workers: int, warmup: float,
        folder: Path) -> Result:
    from seal.ofd.document import Page, Text, build_ofd

    port = free_port()
    region = make_region(folder, f"http://127.0.0.1:{port}")
    recorder = Recorder()
    load = Load(region, port, recorder, [build_ofd([Page([Text(20, 20, "营业执照 正本 soak", size=6)])]), _pdf()])
    rows: list[dict[str, float]] = []
    stack = ExitStack()
    try:
        server = stack.enter_context(serving(region.home, port, passphrase=PASSPHRASE, workers=workers,
                                             log=folder / "serve.log"))
        wait_for_workers(server, workers)
        load.seal_step([None])
        load.seal_step([None])  # one sealed PDF before the verifiers start
        recorder.take()
        start = time.monotonic()
        stop = start + seconds
        steps = {"seal": load.seal_step, "verify": load.verify_step, "ocsp": load.ocsp_step}
        threads = []
        for op in OPERATIONS:  # two clients per operation, each at half the rate: one slow answer is not a stall
            for _ in range(2):
                box: list = [None]
                threads.append(threading.Thread(target=_paced, args=(rates[op] / 2, stop, lambda s=steps[op], b=box: s(b)),
                                                daemon=True))
        for t in threads:
            t.start()
        next_sample = start + interval
        while True:
            time.sleep(max(0.0, next_sample - time.monotonic()))
            now = time.monotonic()
            window = recorder.take()
            pids = server_pids(server.pid)
            row: dict[str, float] = {"t_s": round(now - start, 1), "rss_mb": round(sum(rss_mb(p) for p in pids), 1),
                                     "processes": len(pids)}
            for op in OPERATIONS:
                lat = window.latencies[op]
                row[f"{op}_n"] = len(lat)
                row[f"{op}_p50_ms"] = round(1000 * _percentile(lat, 0.50), 1)
                row[f"{op}_p99_ms"] = round(1000 * _percentile(lat, 0.99), 1)
                row[f"{op}_errors"] = window.errors[op]
            rows.append(row)
            print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
            if now >= stop:
                break
            next_sample += interval
        for t in threads:
            t.join(timeout=120)
        tail = recorder.take()  # answers that arrived after the last sample still count
        late_errors = sum(tail.errors.values())
    finally:
        stack.close()
    steady = [r for r in rows if r["t_s"] >= warmup * seconds] or rows
    slope = _slope_per_minute([r["t_s"] for r in steady], [r["rss_mb"] for r in steady])
    return Result(rows=rows, errors=sum(int(r[f"{op}_errors"]) for r in rows for op in OPERATIONS) + late_errors,
                  messages=recorder.messages,
                  requests={op: sum(int(r[f"{op}_n"]) for r in rows) for op in OPERATIONS},
                  slope_mb_per_min=slope, growth_mb=steady[-1]["rss_mb"] - steady[0]["rss_mb"],
                  warm_rss_mb=steady[0]["rss_mb"], end_rss_mb=steady[-1]["rss_mb"], fit_from_s=warmup * seconds)


def write_csv(rows: list[dict[str, float]], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def plot(result: Result, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [r["t_s"] / 60 for r in result.rows]
    fig, (mem, lat, rate) = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    mem.plot(t, [r["rss_mb"] for r in result.rows], color="tab:red", label="RSS")
    steady = [r for r in result.rows if r["t_s"] >= result.fit_from_s]
    if len(steady) >= 2:
        t0, t1 = steady[0]["t_s"], steady[-1]["t_s"]
        mean_t = sum(r["t_s"] for r in steady) / len(steady)
        mean_y = sum(r["rss_mb"] for r in steady) / len(steady)
        slope_s = result.slope_mb_per_min / 60
        mem.plot([t0 / 60, t1 / 60], [mean_y + slope_s * (t0 - mean_t), mean_y + slope_s * (t1 - mean_t)],
                 color="black", linestyle=":", label=f"fit after warm-up: {result.slope_mb_per_min:+.2f} MB/min")
    mem.legend(fontsize=7, loc="lower right")
    mem.set_ylabel("server RSS, MB\n(master + workers)")
    mem.set_ylim(bottom=0)
    mem.set_title(title)
    for op, colour in zip(OPERATIONS, ("tab:blue", "tab:green", "tab:orange")):
        lat.plot(t, [r[f"{op}_p50_ms"] for r in result.rows], color=colour, label=f"{op} p50")
        lat.plot(t, [r[f"{op}_p99_ms"] for r in result.rows], color=colour, linestyle="--", label=f"{op} p99")
        rate.plot(t, [r[f"{op}_n"] for r in result.rows], color=colour, label=op)
        errs = [(x, r[f"{op}_errors"]) for x, r in zip(t, result.rows) if r[f"{op}_errors"]]
        if errs:
            rate.scatter([x for x, _ in errs], [e for _, e in errs], color=colour, marker="x")
    lat.set_ylabel("latency per window, ms")
    lat.set_yscale("log")
    lat.legend(fontsize=7, ncol=3)
    rate.set_ylabel("answers per window\n(x = errors)")
    rate.set_xlabel("minutes")
    rate.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--interval", type=float, default=5)
    parser.add_argument("--seal-rate", type=float, default=2)
    parser.add_argument("--verify-rate", type=float, default=4)
    parser.add_argument("--ocsp-rate", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=0.2, help="fraction of the run left out of the memory fit")
    parser.add_argument("--max-slope", type=float, default=1.0, help="MB per minute, total RSS after warm-up")
    parser.add_argument("--max-growth", type=float, default=40.0, help="MB, end of warm-up to end")
    parser.add_argument("--out", type=Path, default=Path("soak"), help="writes OUT.csv and OUT.png")
    args = parser.parse_args(argv)
    rates = {"seal": args.seal_rate, "verify": args.verify_rate, "ocsp": args.ocsp_rate}
    with tempfile.TemporaryDirectory(prefix="eseal-soak-") as tmp:
        result = run(args.seconds, args.interval, rates, args.workers, args.warmup, Path(tmp))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(result.rows, args.out.with_suffix(".csv"))
    title = (f"eseal serve --workers {args.workers} (SQLite), {args.seconds / 60:.3g} min: seal {args.seal_rate}/s, "
             f"verify {args.verify_rate}/s, OCSP {args.ocsp_rate}/s")
    plot(result, args.out.with_suffix(".png"), title)
    ok = result.ok(args.max_slope, args.max_growth)
    print(json.dumps({"ok": ok, "errors": result.errors, "requests": result.requests,
                      "rss_after_warmup_mb": result.warm_rss_mb, "rss_end_mb": result.end_rss_mb,
                      "rss_slope_mb_per_min": round(result.slope_mb_per_min, 3),
                      "rss_growth_mb": round(result.growth_mb, 1), "max_slope": args.max_slope,
                      "max_growth": args.max_growth, "first_errors": result.messages}, ensure_ascii=False, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
