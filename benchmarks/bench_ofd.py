"""OFD sealing and reference checking throughput on a 10 MB package.

Run: ``python -m pytest benchmarks/bench_ofd.py --benchmark-only``. MB/s (package size /
mean time) is printed in extra_info (``mb_per_s``). The package has 20 pages and 40
incompressible 256 KB images (stored, as images usually are) plus text pages; the signed
value is a trivial callable, so the figure is the OFD work alone: reading under the safety
limits, SM3 of every file, Signature.xml, rewriting the zip. Verification reads the sealed
package and checks every reference.
"""
from __future__ import annotations

import os

import pytest

from seal.ofd.document import DocInfo, Image, Page, Text, build_ofd
from seal.ofd.signing import seal_ofd, verify_package

IMAGE_BYTES = 256 * 1024


def _fake_png(seed: int) -> bytes:
    # A PNG signature and incompressible payload: the builder only sniffs the format.
    return b"\x89PNG\r\n\x1a\n" + os.urandom(IMAGE_BYTES - 8 - seed % 7)


@pytest.fixture(scope="module")
def package_10mb() -> bytes:
    pages = []
    for i in range(20):
        items = [Text(20, 20 + 8 * line, f"第{i + 1}页 第{line + 1}行 电子印章 benchmark text", size=5)
                 for line in range(25)]
        items += [Image(20, 230, 40, 40, _fake_png(2 * i)), Image(80, 230, 40, 40, _fake_png(2 * i + 1))]
        pages.append(Page(items))
    data = build_ofd(pages, DocInfo(doc_id="bench"))
    assert 10_000_000 <= len(data) <= 11_500_000
    return data


def _mb_per_s(benchmark, size: int) -> None:
    benchmark.extra_info["package_bytes"] = size
    benchmark.extra_info["mb_per_s"] = round(size / 1e6 / benchmark.stats.stats.mean, 1)


def test_bench_seal_10mb_ofd(benchmark, package_10mb: bytes) -> None:
    sealed = benchmark(seal_ofd, package_10mb, page_index=0, boundary_mm=(150, 250, 40, 40),
                       seal_der=b"\x30\x00", make_signed_value=lambda xml: b"\x30\x00")
    assert len(sealed) > len(package_10mb)
    _mb_per_s(benchmark, len(package_10mb))


def test_bench_verify_references_10mb_ofd(benchmark, package_10mb: bytes) -> None:
    sealed = seal_ofd(package_10mb, page_index=0, boundary_mm=(150, 250, 40, 40),
                      seal_der=b"\x30\x00", make_signed_value=lambda xml: b"\x30\x00")
    facts = benchmark(verify_package, sealed)
    assert facts[0].references_ok and len(facts[0].references) == 40 + 20 + 5
    _mb_per_s(benchmark, len(sealed))


@pytest.fixture(scope="module")
def small_package() -> bytes:
    """About the size of an e-license face (4 KB): a page of labelled fields and a QR image."""
    import io

    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.new("1", (120, 120)).save(buf, "PNG")
    items = [Text(20, 30 + 9 * i, f"字段{i}：深圳某某科技有限公司 {i:04d}", size=4.5) for i in range(14)]
    return build_ofd([Page([*items, Image(160, 20, 30, 30, buf.getvalue())], width=297, height=210)],
                     DocInfo(doc_id="small"))


def test_bench_seal_small_ofd(benchmark, small_package: bytes) -> None:
    seal = os.urandom(4000)
    benchmark(seal_ofd, small_package, page_index=0, boundary_mm=(200, 150, 40, 40),
              seal_der=seal, make_signed_value=lambda xml: b"\x30\x00")
    benchmark.extra_info["package_bytes"] = len(small_package)
    benchmark.extra_info["per_second"] = round(1 / benchmark.stats.stats.mean, 1)


def test_bench_verify_small_ofd(benchmark, small_package: bytes) -> None:
    sealed = seal_ofd(small_package, page_index=0, boundary_mm=(200, 150, 40, 40),
                      seal_der=os.urandom(4000), make_signed_value=lambda xml: b"\x30\x00")
    facts = benchmark(verify_package, sealed)
    assert facts[0].references_ok
    benchmark.extra_info["per_second"] = round(1 / benchmark.stats.stats.mean, 1)
