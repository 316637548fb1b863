"""seal.service.make_seal keeps a JPEG, SVG or OFD picture byte for byte with its type and size
in mm, and refuses picture bytes that are not what their declared type says (and a size that
is not 1-1000 mm) with SealBuildError before anything is registered: the service, the CLI
(exit status 1) and the HTTP API (400 problem+json), on SQLite and PostgreSQL.

Referees: Pillow writes the JPEG, seal.ofd.build_ofd the OFD, seal.structures.parse_seal
reads the seal back."""
from __future__ import annotations

import base64
import io
import json
import random
import zipfile

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from ca.certificate import to_pem
from cli.main import main
from seal import service, structures
from seal.errors import SealBuildError
from seal.ofd import Page, Text, build_ofd
from store.db import transaction
from store.models import AuditRecord
from store.models.seal import SealRecord
from store.testing import *  # noqa: F401,F403
from tests import test_api_seals_licenses as api_tests
from tests import test_seal_service as seal_tests
from tests.helpers.pictures import cross_image
from tests.test_api_seals_licenses import PROBLEM, _auth
from tests.test_seal_service import AGENCY, PASSPHRASE, _signer

# the fixtures of those modules, used here under their own names: region -> (home, key store)
# of an initialised region; api -> (Flask test client, tokens, an organization certificate)
region = seal_tests.region
api = api_tests.api


JPEG = cross_image("JPEG")
PNG = cross_image("PNG")
SVG = ('<?xml version="1.0" encoding="UTF-8"?>\n'
       '<svg xmlns="http://www.w3.org/2000/svg" width="40mm" height="40mm" viewBox="0 0 40 40">'
       '<circle cx="20" cy="20" r="18" fill="none" stroke="#e60012" stroke-width="1.2"/>'
       '<text x="20" y="22" font-size="4" text-anchor="middle" fill="#e60012">某某局</text></svg>').encode()
OFD = build_ofd([Page([Text(10, 18, "某某局", size=6)], width=45, height=35)])


def _zip(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(name, data)
    return out.getvalue()


def _state(home) -> tuple[int, int]:
    """(seals registered, seal.make audit records)."""
    with transaction(home.engine, readonly=True) as s:
        seals = s.scalar(select(func.count()).select_from(SealRecord))
        made = s.scalar(select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "seal.make"))
    return seals, made


@pytest.mark.parametrize("declared, data, kind, size", [
    ("jpg", JPEG, "JPG", (38, 30)),
    ("jpeg", JPEG, "JPG", (42, 42)),
    ("svg", SVG, "SVG", (40, 40)),
    ("ofd", OFD, "OFD", (45, 35)),
], ids=["jpg", "jpeg", "svg", "ofd"])
def test_make_seal_keeps_a_real_picture_of_each_type(region, declared, data, kind, size):
    home, ks = region
    _, cert = _signer(home, ks, "picture-signer")
    es_id = service.make_seal(home, ks, seal_type="organization", name="某某局", agency=AGENCY,
                              holder_certs=[cert.dump()], picture=data, picture_type=declared,
                              width_mm=size[0], height_mm=size[1])
    info = service.get_seal(home, es_id)
    seal = structures.parse_seal(info.der)
    assert seal.picture.type == kind and info.picture_type == kind
    assert seal.picture.data == data
    assert (seal.picture.width_mm, seal.picture.height_mm) == size
    assert structures.verify_seal_signature(seal).ok


RANDOM = random.Random(38540).randbytes(512)
assert not RANDOM.startswith((b"\xff\xd8\xff", b"\x89PNG", b"PK"))

REFUSALS = [
    # (id, picture, declared type, width, height, message)
    ("png-as-jpg", PNG, "jpg", None, None,
     r"^picture type JPG: the data does not start with the JPEG SOI marker FF D8 FF \(the data looks like PNG\)$"),
    ("random-as-jpg", RANDOM, "jpg", None, None,
     r"^picture type JPG: the data does not start with the JPEG SOI marker FF D8 FF$"),
    ("soi-then-random-as-jpg", b"\xff\xd8\xff" + RANDOM, "jpg", None, None,
     r"^picture type JPG: Pillow does not recognise it as a JPEG image$"),
    ("truncated-jpg", JPEG[:len(JPEG) // 2], "jpg", None, None,
     r"^picture type JPG: Pillow cannot decode the JPEG image \(.*truncated"),
    ("jpg-as-png", JPEG, "png", None, None,
     r"^picture type PNG: the data does not start with the PNG signature \(the data looks like JPG\)$"),
    ("html-as-svg", b"<html/>", "svg", None, None,
     r"^picture type SVG: the root element is 'html', not <svg> in the SVG namespace"),
    ("svg-without-namespace", b"<svg/>", "svg", None, None,
     r"^picture type SVG: the root element is 'svg', not <svg> in the SVG namespace"),
    ("broken-xml-as-svg", SVG[:-7], "svg", None, None, r"^picture type SVG: the data is not well-formed XML"),
    ("zip-as-ofd", _zip("readme.txt", b"not an OFD"), "ofd", None, None,
     r"^picture type OFD: the OFD reader refuses it: OFD\.xml is missing from the package"),
    ("png-as-ofd", PNG, "ofd", None, None,
     r"^picture type OFD: the OFD reader refuses it: not an OFD package \(bad zip\).*\(the data looks like PNG\)$"),
    ("zero-width", JPEG, "jpg", 0, 40, r"^picture width must be a whole number of millimetres, 1-1000 \(got 0\)$"),
    ("negative-height", SVG, "svg", 40, -5,
     r"^picture height must be a whole number of millimetres, 1-1000 \(got -5\)$"),
    ("too-wide-drawn", None, "png", 1001, 42,
     r"^picture width must be a whole number of millimetres, 1-1000 \(got 1001\)$"),
]


@pytest.mark.parametrize("picture, declared, width, height, message", [r[1:] for r in REFUSALS],
                         ids=[r[0] for r in REFUSALS])
def test_a_picture_that_is_not_its_type_is_refused_and_nothing_registered(region, picture, declared, width,
                                                                          height, message):
    home, ks = region
    _, cert = _signer(home, ks, "picture-signer")
    before = _state(home)
    with pytest.raises(SealBuildError, match=message):
        service.make_seal(home, ks, seal_type="organization", name="某某局", agency=AGENCY,
                          holder_certs=[cert.dump()], picture=picture, picture_type=declared,
                          width_mm=width, height_mm=height)
    assert _state(home) == before == (0, 0)
    # refused before a seal number was taken: the next seal is number 1 of the year
    es_id = service.make_seal(home, ks, seal_type="organization", name="某某局", agency=AGENCY,
                              holder_certs=[cert.dump()], picture=PNG, width_mm=40, height_mm=40)
    assert int(es_id[10:17]) == 1


def test_cli_refuses_a_picture_that_is_not_its_suffix(region, tmp_path, monkeypatch):
    home, ks = region
    _, cert = _signer(home, ks, "picture-signer")
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE)
    (tmp_path / "holder.pem").write_bytes(to_pem(cert))
    (tmp_path / "seal.jpg").write_bytes(PNG)  # a PNG named .jpg
    out = CliRunner().invoke(main, ["seal", "make", "--home", str(home.path), "--type", "organization",
                                    "--name", "某某局", "--holder-cert", str(tmp_path / "holder.pem"),
                                    "--picture", str(tmp_path / "seal.jpg"), "--out", str(tmp_path / "s.esl")])
    assert out.exit_code == 1, out.output
    assert "Error: picture type JPG: the data does not start with the JPEG SOI marker FF D8 FF" in out.output
    assert not (tmp_path / "s.esl").exists()
    assert _state(home) == (0, 0)


def test_api_refuses_a_picture_that_is_not_its_type(api, eseal_home):
    client, tokens, cert = api
    before = _state(eseal_home)
    made = client.post("/api/v1/seals", headers=_auth(tokens["admin"]),
                       json={"type": "organization", "name": "某某局", "agency": "A1",
                             "holder_certs": [to_pem(cert).decode()], "picture": base64.b64encode(PNG).decode(),
                             "picture_type": "jpg", "width_mm": 40, "height_mm": 40})
    assert made.status_code == 400, made.get_data(as_text=True)[:500]
    assert made.mimetype == "application/problem+json"
    problem = json.loads(made.get_data())
    assert problem["type"] == PROBLEM + "invalid-seal-request"
    assert problem["detail"].startswith("picture type JPG: the data does not start with the JPEG SOI marker")
    assert _state(eseal_home) == before
    good = client.post("/api/v1/seals", headers=_auth(tokens["admin"]),
                       json={"type": "organization", "name": "某某局", "agency": "A1",
                             "holder_certs": [to_pem(cert).decode()], "picture": base64.b64encode(JPEG).decode(),
                             "picture_type": "jpg", "width_mm": 38, "height_mm": 36})
    assert good.status_code == 201, good.get_data(as_text=True)[:500]
    picture = structures.parse_seal(service.get_seal(eseal_home, good.json["es_id"]).der).picture
    assert (picture.type, picture.data, picture.width_mm, picture.height_mm) == ("JPG", JPEG, 38, 36)
