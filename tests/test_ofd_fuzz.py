"""Fuzzing the OFD reader: damaged packages and damaged XML parts raise an OFDError with a
message (or are read and reported), never anything else — no KeyError, IndexError or
ValueError from deep inside zipfile, zlib or lxml. Bounded in `make test`; ESEAL_FUZZ_EXAMPLES
raises the count for long runs."""
from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seal.ofd.errors import OFDError
from seal.ofd.signing import inspect_package, seal_ofd
from tests.conftest import _shared_vectors
from tests.fuzz.mutate import examples, mutated
from tests.helpers.zip_records import rezip

_ROOT = _shared_vectors()
if _ROOT is None:
    pytest.skip("../shared/vectors not available", allow_module_level=True)
SEALED = (_ROOT / "ofd" / "SESV4SignDoc.ofd").read_bytes()
with zipfile.ZipFile(io.BytesIO(SEALED)) as _z:
    PARTS = {i.filename: _z.read(i) for i in _z.infolist() if not i.is_dir()}
STORED = frozenset(PARTS)        # every part written stored (uncompressed): mutations stay readable
XML_PARTS = sorted(n for n in PARTS if n.endswith(".xml"))


def _typed(data: bytes) -> None:
    try:
        facts = inspect_package(data)
    except OFDError as exc:
        assert str(exc), f"{type(exc).__name__} without a message"
        return
    for fact in facts.signatures:
        assert isinstance(fact.references, tuple)


@examples(200)
@given(mutated(rezip(PARTS, stored=STORED)))
def test_damaged_zip(data: bytes) -> None:
    _typed(data)


@examples(300)
@given(st.sampled_from(XML_PARTS).flatmap(lambda name: st.tuples(st.just(name), mutated(PARTS[name]))))
def test_damaged_xml_part(case: tuple[str, bytes]) -> None:
    name, data = case
    _typed(rezip({**PARTS, name: data}, stored=STORED))


@examples(100)
@given(st.sampled_from(XML_PARTS).flatmap(lambda name: st.tuples(st.just(name), mutated(PARTS[name]))))
def test_sealing_a_damaged_package(case: tuple[str, bytes]) -> None:
    name, data = case
    try:
        seal_ofd(rezip({**PARTS, name: data}, stored=STORED), page_index=0, boundary_mm=(0, 0, 10, 10), seal_der=b"s",
                 make_signed_value=lambda xml: b"v")
    except OFDError as exc:
        assert str(exc)
