"""E-license issuance throughput: render (face -> OFD with QR and metadata) and the whole
issue path (validate, sequence, render, seal when a sealer is installed, store + audit).

Run: ``python -m pytest benchmarks/bench_license.py --benchmark-only``. Licenses per
second are printed in extra_info (``per_second``). The end-to-end case runs on SQLite in
a temporary home (the embedded default); with seal/ofd installed it seals with a seal
made for the agency, otherwise it measures the unsealed pipeline and says so.
"""
from __future__ import annotations

import datetime as dt
import itertools

import pytest

from ca import service as ca_service
from keystore.soft import SoftKeyStore
from seal.license import render, service
from seal.license.identifiers import make_license_id
from seal.license.types import get_type
from seal.license.validation import validate_fields
from store.db import make_sessionmaker
from store.home import Home

BUSINESS = {
    "credit_code": "91350100M000100Y43", "name": "深圳某某科技有限公司", "entity_type": "有限责任公司",
    "legal_representative": "张三", "registered_capital": "100", "establishment_date": "2020-02-03",
    "address": "深圳市南山区科技园南区某某路1号",
    "scope": "软件开发；信息技术咨询服务；数据处理和存储支持服务；计算机系统服务；人工智能应用软件开发。",
}


def _rate(benchmark) -> None:
    benchmark.extra_info["per_second"] = round(1 / benchmark.stats.stats.mean, 1)


def test_bench_render_face(benchmark) -> None:
    t = get_type("YYZZ")
    values = validate_fields(t, BUSINESS)
    counter = itertools.count(1)

    def one() -> bytes:
        lid = make_license_id("440300", "YYZZ", 2026, next(counter))
        return render.render_license(t, license_id=lid, values=values, agency="深圳市市场监督管理局",
                                     issued_on=dt.date(2026, 11, 23), valid_to=None,
                                     verify_url=render.verification_url("https://pki.example", lid),
                                     record={"license_id": lid, "fields": values}).ofd

    ofd = benchmark(one)
    benchmark.extra_info["ofd_bytes"] = len(ofd)
    _rate(benchmark)


AGENCY = "深圳市市场监督管理局"


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    from seal import service as seal_service

    home = Home.create(tmp_path_factory.mktemp("bench") / "home")
    ks = SoftKeyStore.initialise(make_sessionmaker(home.engine), actor="admin", passphrase="bench passphrase").store
    ca_service.init_region(home, ks, region_code="440300", region_name="深圳市", base_url="https://pki.example")
    key_ref = ks.generate("bench-signer", "seal", actor="admin")
    _, cert = ca_service.issue_for_key(home, ks, profile="organization", key_ref=key_ref,
                                       subject=f"C=CN,O={AGENCY},CN={AGENCY}", credit_code="11440300MB2C92051K")
    es_id = seal_service.make_seal(home, ks, seal_type="organization", name=AGENCY, agency=AGENCY,
                                   holder_certs=[cert.dump()], actor="ra")
    yield home, ks, es_id
    home.close()


@pytest.mark.parametrize("mode", ["unsealed", "sealed", "sealed+timestamp"])
def test_bench_issue_end_to_end(benchmark, region, mode) -> None:
    """validate -> sequence -> render -> (authorise, seal, timestamp) -> store + audit, on SQLite."""
    from seal.license.sealing import RegistrySealer

    home, ks, es_id = region
    sealer = RegistrySealer(home, ks, timestamp=mode == "sealed+timestamp")
    counter = itertools.count(1)

    def one() -> str:
        lid, _ = service.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency=AGENCY, actor="bench",
                                       external_id=f"{mode}-{next(counter)}", sealer=sealer,
                                       seal_id=None if mode == "unsealed" else es_id)
        return lid

    benchmark.pedantic(one, rounds=30, warmup_rounds=2)
    _rate(benchmark)
