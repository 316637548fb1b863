"""E-license templates, identifiers, field validation and the rendered face (no database).

Referees: the ISO 7064 MOD 37,36 example of the GRid standard; ca.identifiers' GB 32100 /
GB 11643 validators; two independent OFD readers (ofdkit, easyofd) for the face; segno's
own encoding of the expected URL for the QR code (no QR decoder is installed: pyzbar,
zbar and OpenCV are absent), compared module by module with the PNG inside the OFD.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import pytest
import segno
from lxml import etree
from PIL import Image

from seal.license import fonts, render
from seal.license.errors import InvalidLicenseId, LicenseTypeError, LicenseValidationError, NoCJKFont, UnknownLicenseType
from seal.license.identifiers import make_license_id, mod37_36_check, mod37_36_valid, parse_license_id
from seal.license.types import builtin_types, get_type, load_type_file, load_types, parse_type
from seal.license.validation import validate_fields, validity_end

CREDIT_CODE = "91350100M000100Y43"  # a real-shaped USCC whose check character is right
BUSINESS = {
    "credit_code": CREDIT_CODE, "name": "深圳某某科技有限公司", "entity_type": "有限责任公司",
    "legal_representative": "张三", "registered_capital": "100.50", "establishment_date": "2020-02-03",
    "address": "深圳市南山区科技园南区某某路1号", "scope": "软件开发；信息技术咨询服务；数据处理和存储支持服务。",
}
LICENSE_ID = make_license_id("440300", "YYZZ", 2026, 42)
NS = {"ofd": "http://www.ofdspec.org/2016"}


# --------------------------------------------------------------------------- templates


def test_builtin_types_are_business_licence_and_food_permit() -> None:
    types = builtin_types()
    assert {"YYZZ", "SPJY"} <= set(types)
    yyzz = types["YYZZ"]
    assert yyzz.name_zh == "营业执照"
    assert yyzz.field("credit_code").validator == "uscc"
    assert yyzz.face.width == 297 and yyzz.face.seal is not None and yyzz.face.qr is not None
    assert types["SPJY"].validity.kind == "years" and types["SPJY"].validity.years == 5


def _minimal(**over):
    raw = {
        "code": "TEST", "name_zh": "测试证", "name_en": "Test", "holder_name_field": "name",
        "fields": [{"name": "name", "label_zh": "名称", "label_en": "Name", "type": "text"}],
        "face": {"width": 100, "height": 80, "fields": [{"field": "name", "x": 10, "y": 10}]},
        "validity": {"kind": "none"},
    }
    raw.update(over)
    return raw


@pytest.mark.parametrize(("change", "match"), [
    ({"colour": "red"}, r"unknown key\(s\) colour"),
    ({"code": "yy"}, r"code 'yy' must be 4 characters"),
    ({"fields": [{"name": "name", "label_zh": "名称", "label_en": "Name", "type": "blob"}]}, r"type 'blob'"),
    ({"fields": [{"name": "name", "label_zh": "名称", "label_en": "N", "type": "enum"}]}, r"enum needs"),
    ({"fields": [{"name": "name", "label_zh": "名称", "label_en": "N", "type": "code", "validator": "iban"}]},
     r"validator 'iban'"),
    ({"face": {"width": 100, "height": 80, "fields": [{"field": "nme", "x": 1, "y": 1}]}},
     r"places field 'nme', which the type does not declare"),
    ({"face": {"width": 100, "height": 80, "qr": {"x": 90, "y": 10, "size": 30}}}, r"qr: the box leaves the page"),
    ({"validity": {"kind": "years"}}, r"years must be an integer"),
    ({"validity": {"kind": "field", "field": "name"}}, r"'name' is not a date field"),
    ({"holder_name_field": "holder"}, r"holder_name_field 'holder' is not a field"),
    ({"fields": [{"name": "agency", "label_zh": "机关", "label_en": "A", "type": "text"}]},
     r"'agency' is a value the service supplies"),
])
def test_bad_templates_are_refused_with_the_reason(change, match) -> None:
    with pytest.raises(LicenseTypeError, match=match):
        parse_type(_minimal(**change), source="t.toml")


def test_types_from_a_home_folder_in_toml_and_json(tmp_path) -> None:
    folder = tmp_path / "license-types"
    folder.mkdir()
    (folder / "test.json").write_text(json.dumps(_minimal(), ensure_ascii=False), encoding="utf-8")
    toml = (render.__file__.rsplit("/", 1)[0] + "/templates/food_business_permit.toml")
    text = open(toml, encoding="utf-8").read().replace('code = "SPJY"', 'code = "SPJ2"').replace("years = 5", "years = 3")
    (folder / "spj2.toml").write_text(text, encoding="utf-8")
    types = load_types(tmp_path)
    assert types["TEST"].source.endswith("test.json") and types["TEST"].field_names == ("name",)
    assert types["SPJ2"].validity.years == 3 and "YYZZ" in types
    assert get_type("spj2", tmp_path).code == "SPJ2"
    with pytest.raises(UnknownLicenseType, match=r"unknown license type 'NOPE'; known types: .*YYZZ"):
        get_type("NOPE", tmp_path)
    (folder / "broken.toml").write_text("code = ", encoding="utf-8")
    with pytest.raises(LicenseTypeError, match=r"broken.toml is not valid TOML"):
        load_types(tmp_path)
    with pytest.raises(LicenseTypeError, match=r"ends in .toml or .json"):
        load_type_file(tmp_path / "x.yaml")


# --------------------------------------------------------------------------- identifiers


def test_mod37_36_matches_the_grid_example() -> None:
    # GRid (Global Release Identifier) A1-2425G-ABC1234002-M: ISO 7064 MOD 37,36 check 'M'.
    assert mod37_36_check("A12425GABC1234002") == "M"
    assert mod37_36_valid("A12425GABC1234002M")
    assert not mod37_36_valid("A12425GABC1234002N")


def test_license_id_shape_and_round_trip() -> None:
    lid = make_license_id("440300", "YYZZ", 2026, 42)
    assert len(lid) == 22 and lid.startswith("440300YYZZ20260000042")
    parsed = parse_license_id(lid.lower())
    assert (parsed.region_code, parsed.type_code, parsed.year, parsed.sequence) == ("440300", "YYZZ", 2026, 42)
    assert str(parsed) == lid


def test_every_single_substitution_and_adjacent_transposition_is_caught() -> None:
    lid = make_license_id("110000", "SPJY", 2027, 1234567)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for i in range(len(lid)):
        for c in alphabet:
            if c != lid[i]:
                assert not mod37_36_valid(lid[:i] + c + lid[i + 1:]), (i, c)
    for i in range(len(lid) - 1):
        if lid[i] != lid[i + 1]:
            assert not mod37_36_valid(lid[:i] + lid[i + 1] + lid[i] + lid[i + 2:]), i


def test_wrong_check_character_is_refused() -> None:
    lid = make_license_id("440300", "YYZZ", 2026, 42)
    wrong = lid[:-1] + ("0" if lid[-1] != "0" else "1")
    with pytest.raises(InvalidLicenseId, match=rf"wrong check character '{wrong[-1]}' \(expected '{lid[-1]}'\)"):
        parse_license_id(wrong)


@pytest.mark.parametrize(("value", "match"), [
    ("440300YYZZ2026000004", r"must have 22 characters"),
    ("44030AYYZZ20260000042N", r"is malformed"),
    ("440300YY!Z20260000042N", r"is malformed"),
])
def test_malformed_ids_are_refused(value, match) -> None:
    with pytest.raises(InvalidLicenseId, match=match):
        parse_license_id(value)


# --------------------------------------------------------------------------- validation


def test_valid_business_licence_data_is_normalised() -> None:
    values = validate_fields(get_type("YYZZ"), {**BUSINESS, "credit_code": CREDIT_CODE.lower(),
                                                "establishment_date": "2020/2/3", "registered_capital": "100.50"})
    assert values["credit_code"] == CREDIT_CODE
    assert values["establishment_date"] == "2020-02-03"
    assert values["registered_capital"] == "100.5"
    assert "business_term_to" not in values


@pytest.mark.parametrize(("field", "value", "match"), [
    ("credit_code", "91350100M000100Y44", r"credit_code: unified social credit code: wrong check character '4'"),
    ("credit_code", "91350100M000100YI3", r"credit_code: .*not allowed"),
    ("name", "某" * 101, r"name: at most 100 characters, got 101"),
    ("entity_type", "股份公司", r"entity_type: '股份公司' is not one of"),
    ("registered_capital", "一百", r"registered_capital: '一百' is not a number"),
    ("registered_capital", "-1", r"registered_capital: -1 is below the minimum 0"),
    ("establishment_date", "2021-02-29", r"establishment_date: '2021-02-29' is not a valid calendar date"),
    ("establishment_date", "yesterday", r"establishment_date: 'yesterday' is not a date"),
    ("legal_representative", "", r"legal_representative: required"),
    ("legal_representative", ["张三"], r"legal_representative: expected text, got list"),
    ("colour", "red", r"colour: not a field of YYZZ"),
])
def test_each_field_error_names_the_field(field, value, match) -> None:
    with pytest.raises(LicenseValidationError, match=match) as info:
        validate_fields(get_type("YYZZ"), {**BUSINESS, field: value})
    assert info.value.fields == [field]


def test_all_field_errors_are_reported_at_once() -> None:
    data = dict(BUSINESS)
    del data["name"]
    data["credit_code"] = "91350100M000100Y40"
    data["establishment_date"] = "2020-13-01"
    with pytest.raises(LicenseValidationError) as info:
        validate_fields(get_type("YYZZ"), data)
    assert sorted(info.value.fields) == ["credit_code", "establishment_date", "name"]


def test_food_permit_takes_a_credit_code_or_a_citizen_id() -> None:
    t = get_type("SPJY")
    base = {"operator_name": "某某餐馆", "legal_representative": "李四", "address": "广州市",
            "main_business": "餐饮服务经营者", "scope": "热食类食品制售"}
    assert validate_fields(t, {**base, "credit_code": "11010519491231002x"})["credit_code"] == "11010519491231002X"
    assert validate_fields(t, {**base, "credit_code": CREDIT_CODE})["credit_code"] == CREDIT_CODE
    with pytest.raises(LicenseValidationError, match=r"credit_code: citizen ID number: wrong check character"):
        validate_fields(t, {**base, "credit_code": "110105194912310021"})


def test_validity_rules() -> None:
    spjy, yyzz = get_type("SPJY"), get_type("YYZZ")
    assert validity_end(spjy, {}, dt.date(2026, 11, 23)) == dt.date(2031, 11, 22)
    assert validity_end(spjy, {}, dt.date(2024, 2, 29)) == dt.date(2029, 2, 27)  # 28 Feb minus one day
    assert validity_end(yyzz, {"business_term_to": "2040-06-30"}, dt.date(2026, 1, 1)) == dt.date(2040, 6, 30)
    assert validity_end(yyzz, {}, dt.date(2026, 1, 1)) is None  # 长期


# --------------------------------------------------------------------------- the face


@pytest.fixture(scope="module")
def face_ofd() -> bytes:
    t = get_type("YYZZ")
    values = validate_fields(t, BUSINESS)
    url = render.verification_url("https://pki.sz.example.gov.cn/", LICENSE_ID)
    record = {"license_id": LICENSE_ID, "fields": values, "holder_name": values["name"],
              "holder_id": values["credit_code"]}
    return render.render_license(t, license_id=LICENSE_ID, values=values, agency="深圳市市场监督管理局",
                                 issued_on=dt.date(2026, 11, 23), valid_to=None, verify_url=url, record=record).ofd


def test_face_text_read_by_ofdkit(face_ofd, tmp_path) -> None:
    import ofdkit

    path = tmp_path / "face.ofd"
    path.write_bytes(face_ofd)
    with ofdkit.open(str(path)) as doc:
        text = doc.text()
        info = doc.info
    for needle in ("营 业 执 照", f"统一社会信用代码：{CREDIT_CODE}", "名称：深圳某某科技有限公司",
                   "法定代表人：张三", "成立日期：2020年2月3日", "营业期限至：长期", "注册资本（万元）：100.5",
                   "发证机关：深圳市市场监督管理局", "发证日期：2026年11月23日", f"证照编号：{LICENSE_ID}"):
        assert needle in text, needle
    assert info.doc_id == LICENSE_ID
    assert info.custom_data["LicenseID"] == LICENSE_ID
    assert info.custom_data["VerifyURL"] == f"https://pki.sz.example.gov.cn/verify/license/{LICENSE_ID}"
    assert info.custom_data["HolderID"] == CREDIT_CODE


def test_face_text_read_by_easyofd(face_ofd) -> None:
    from easyofd.ofd import OFD

    doc = OFD()
    doc.read(face_ofd, fmt="binary")
    page = doc.data[0]["page_info"][0]
    texts = [t["text"] for t in page["text_list"]]
    assert "名称：深圳某某科技有限公司" in texts
    assert f"统一社会信用代码：{CREDIT_CODE}" in texts
    fonts_used = doc.data[0]["fonts"]
    assert [f["FamilyNameORI"] for f in fonts_used.values()] == [fonts.find_cjk_font().family]
    assert len(page["img_list"]) == 2  # background and QR code
    # the family is one that fontconfig itself, asked here, lists as covering Chinese
    import shutil
    import subprocess

    listed = subprocess.run([shutil.which("fc-list"), ":lang=zh", "family"], capture_output=True, text=True,
                            check=True).stdout
    families = {name.strip() for line in listed.splitlines() for name in line.split(",")}
    assert [f["FamilyNameORI"] for f in fonts_used.values()][0] in families


def test_metadata_attachment_holds_the_record(face_ofd) -> None:
    with zipfile.ZipFile(io.BytesIO(face_ofd)) as z:
        assert z.testzip() is None
        listing = z.read("Doc_0/Attachs/Attachments.xml").decode()
        record = json.loads(z.read("Doc_0/Attachs/license.json"))
    assert 'Name="license.json"' in listing
    assert record["license_id"] == LICENSE_ID and record["fields"]["credit_code"] == CREDIT_CODE


def test_qr_code_modules_match_the_verification_url(face_ofd) -> None:
    """No QR decoder is installed, so: re-encode the expected URL with segno and compare the
    module matrix with the one sampled from the PNG embedded in the OFD (module centres)."""
    # segno's own encoder with the face's parameters (error level M, data mask 2)
    expected = segno.make(f"https://pki.sz.example.gov.cn/verify/license/{LICENSE_ID}", error="m", micro=False,
                          mask=2, boost_error=False)
    with zipfile.ZipFile(io.BytesIO(face_ofd)) as z:
        content = etree.fromstring(z.read("Doc_0/Pages/Page_0/Content.xml"))
        resources = etree.fromstring(z.read("Doc_0/DocumentRes.xml"))
        # follow the OFD: the ImageObject where the template puts the QR code -> MultiMedia -> file
        [obj] = content.xpath("//ofd:ImageObject[@Boundary='247 16 30 30']", namespaces=NS)
        [media] = resources.xpath(f"//ofd:MultiMedia[@ID='{obj.get('ResourceID')}']/ofd:MediaFile", namespaces=NS)
        image = Image.open(io.BytesIO(z.read(f"Doc_0/Res/{media.text}"))).convert("L")
    size = len(expected.matrix)
    modules = size + 2 * render.QR_BORDER
    assert image.size[0] == image.size[1] and image.size[0] % modules == 0
    px = image.size[0] // modules
    sampled = [[image.getpixel(((c + render.QR_BORDER) * px + px // 2, (r + render.QR_BORDER) * px + px // 2)) < 128
                for c in range(size)] for r in range(size)]
    assert sampled == [[bool(v) for v in row] for row in expected.matrix]
    other = segno.make(f"https://pki.sz.example.gov.cn/verify/license/{LICENSE_ID[:-1]}X", error="m", micro=False,
                       mask=2, boost_error=False)
    assert sampled != [[bool(v) for v in row] for row in other.matrix]


def test_background_image_from_the_template_folder(tmp_path) -> None:
    folder = tmp_path / "license-types"
    folder.mkdir()
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (250, 240, 200)).save(buf, "PNG")
    (folder / "bg.png").write_bytes(buf.getvalue())
    raw = _minimal()
    raw["face"]["background_image"] = "bg.png"
    (folder / "t.json").write_text(json.dumps(raw), encoding="utf-8")
    t = get_type("TEST", tmp_path)
    ofd = render.render_license(t, license_id=LICENSE_ID, values={"name": "某"}, agency="局",
                                issued_on=dt.date(2026, 1, 1), valid_to=None, verify_url="https://x/", record={}).ofd
    with zipfile.ZipFile(io.BytesIO(ofd)) as z:
        content = etree.fromstring(z.read("Doc_0/Pages/Page_0/Content.xml"))
        [obj] = content.xpath("//ofd:ImageObject", namespaces=NS)  # no QR box in this template
        assert obj.get("Boundary") == "0 0 100 80"
        resources = etree.fromstring(z.read("Doc_0/DocumentRes.xml"))
        [media] = resources.xpath(f"//ofd:MultiMedia[@ID='{obj.get('ResourceID')}']/ofd:MediaFile", namespaces=NS)
        assert z.read(f"Doc_0/Res/{media.text}") == buf.getvalue()
    raw["face"]["background_image"] = "missing.png"
    (folder / "t.json").write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(LicenseTypeError, match=r"background_image: .*missing.png does not exist"):
        get_type("TEST", tmp_path)


def test_no_cjk_font_is_a_clear_error(tmp_path, monkeypatch) -> None:
    conf = tmp_path / "fonts.conf"
    conf.write_text(f"<?xml version='1.0'?><fontconfig><dir>{tmp_path / 'nofonts'}</dir>"
                    f"<cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>", encoding="utf-8")
    monkeypatch.setenv("FONTCONFIG_FILE", str(conf))
    with pytest.raises(NoCJKFont, match=r"fontconfig knows no font covering Chinese .*fonts-wqy-microhei"):
        fonts.find_cjk_font()


def test_every_license_error_has_an_http_problem() -> None:
    from seal.license import errors

    classes = {obj for obj in vars(errors).values()
               if isinstance(obj, type) and issubclass(obj, errors.LicenseError)}
    mapped = [entry[0] for entry in errors.PROBLEMS]
    assert set(mapped) == classes and len(mapped) == len(classes)
    assert len({entry[2] for entry in errors.PROBLEMS}) == len(errors.PROBLEMS)  # slugs unique
