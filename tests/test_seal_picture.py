"""seal.picture: the drawn official seal has its parts where a seal has them."""
from __future__ import annotations

import io
import math

import pytest
from PIL import Image

from seal import picture
from seal.errors import NoCJKFont, SealBuildError

DPI = 300


def _load(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image.convert("RGBA")


def _is_red(px) -> bool:
    r, g, b, a = px
    return a > 160 and r > 150 and g < 90 and b < 90


def _red_in_band(image: Image.Image, r_min: float, r_max: float, *, upper: bool) -> int:
    """Red pixels whose distance from the centre is in [r_min, r_max], in the upper or lower third."""
    w, h = image.size
    cx, cy = w / 2, h / 2
    pixels = image.load()
    count = 0
    for y in range(h):
        dy = y + 0.5 - cy
        if upper and dy > -h / 6 or not upper and dy < h / 6:
            continue
        for x in range(w):
            d = math.hypot(x + 0.5 - cx, dy)
            if r_min <= d <= r_max and _is_red(pixels[x, y]):
                count += 1
    return count


@pytest.fixture(scope="module")
def seal_png() -> bytes:
    return picture.draw_official_seal("某某市人民政府", diameter_mm=42, dpi=DPI)


def test_size_in_millimetres_at_the_dpi(seal_png):
    image = _load(seal_png)
    assert image.size == (496, 496)  # 42 mm at 300 dpi
    assert round(Image.open(io.BytesIO(seal_png)).info["dpi"][0]) == DPI


def test_centre_star_ring_and_transparent_corners(seal_png):
    image = _load(seal_png)
    w, _ = image.size
    c = w // 2
    mm = w / 42
    assert _is_red(image.getpixel((c, c)))  # star centre
    assert _is_red(image.getpixel((c, round(c - 5 * mm))))  # upper star point (7 mm radius)
    assert image.getpixel((round(c + 5 * mm), round(c - 5 * mm)))[3] < 40  # between the star's arms
    ring = c - 0.5 * mm - 0.6 * mm  # middle of the 1.2 mm ring
    for angle in range(0, 360, 15):
        x = c + ring * math.cos(math.radians(angle))
        y = c + ring * math.sin(math.radians(angle))
        assert _is_red(image.getpixel((round(x), round(y)))), angle
    for corner in ((0, 0), (w - 1, 0), (0, w - 1), (w - 1, w - 1)):
        assert image.getpixel(corner)[3] == 0
    # just outside the ring is transparent too
    assert image.getpixel((c, 1))[3] == 0 or image.getpixel((c, 0))[3] == 0


def test_name_on_the_upper_rim_and_code_on_the_lower(seal_png):
    plain = _load(seal_png)
    w, _ = plain.size
    mm = w / 42
    band = (9.5 * mm, 19.0 * mm)  # inside the ring, outside the star
    assert _red_in_band(plain, *band, upper=True) > 500  # name glyphs
    assert _red_in_band(plain, *band, upper=False) == 0  # nothing on the lower rim without a code
    coded = _load(picture.draw_official_seal("某某市人民政府", code="4401000012345", dpi=DPI))
    assert _red_in_band(coded, 15.5 * mm, 19.0 * mm, upper=False) > 100


def test_title_under_the_star():
    image = _load(picture.draw_official_seal("某某市人民政府", title="合同专用章", dpi=DPI))
    w, _ = image.size
    mm = w / 42
    row = round(w / 2 + 11 * mm)
    reds = sum(_is_red(image.getpixel((x, row))) for x in range(w))
    assert reds > 10
    plain = _load(picture.draw_official_seal("某某市人民政府", dpi=DPI))
    assert sum(_is_red(plain.getpixel((x, row))) for x in range(round(w / 2 - 8 * mm), round(w / 2 + 8 * mm))) == 0


def test_bad_values():
    with pytest.raises(SealBuildError, match="agency name"):
        picture.draw_official_seal("  ")
    with pytest.raises(SealBuildError, match="diameter"):
        picture.draw_official_seal("某单位", diameter_mm=5)
    with pytest.raises(SealBuildError, match="seal code"):
        picture.draw_official_seal("某单位", code="编码")


def test_no_cjk_font_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "nofonts").mkdir()
    conf = tmp_path / "fonts.conf"
    conf.write_text(f"<?xml version='1.0'?><fontconfig><dir>{tmp_path / 'nofonts'}</dir>"
                    f"<cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>", encoding="utf-8")
    monkeypatch.setenv("FONTCONFIG_FILE", str(conf))
    with pytest.raises(NoCJKFont, match=r"no font covering Chinese .*fonts-wqy-microhei"):
        picture.draw_official_seal("某某市人民政府")


def test_personal_seal_text():
    assert picture.personal_seal_text("张三") == "张三之印"
    assert picture.personal_seal_text("王小明") == "王小明印"
    assert picture.personal_seal_text("欧阳小明") == "欧阳小明"


def test_square_personal_seal():
    image = _load(picture.draw_personal_seal("张三", size_mm=20, dpi=DPI))
    w, h = image.size
    assert (w, h) == (236, 236)  # 20 mm at 300 dpi
    frame = round(w * 0.035)  # middle of the 7 % frame
    for x, y in ((w // 2, frame), (w // 2, h - 1 - frame), (frame, h // 2), (w - 1 - frame, h // 2)):
        assert _is_red(image.getpixel((x, y))), (x, y)
    pixels = image.load()
    inner0, inner1 = round(w * 0.1), round(w * 0.9)
    mid = w // 2
    quadrants = {(qx, qy): 0 for qx in (0, 1) for qy in (0, 1)}
    for y in range(inner0, inner1):
        for x in range(inner0, inner1):
            if _is_red(pixels[x, y]):
                quadrants[(x >= mid, y >= mid)] += 1
    assert all(count > 150 for count in quadrants.values()), quadrants  # four characters, one per cell
    with pytest.raises(SealBuildError, match="at most 9"):
        picture.draw_personal_seal("一二三四五六七八九十")


def test_drawn_seals_are_one_ink_with_soft_edges_in_a_small_file() -> None:
    """Every sealing hashes and copies the picture: the drawn seal is one colour at a few
    coverage levels (a 4-bit palette PNG), not a 100 KB RGBA image."""
    for png in (picture.draw_official_seal("深圳市市场监督管理局", code="4403000012345", dpi=DPI),
                picture.draw_personal_seal("张三丰", dpi=DPI)):
        assert len(png) < 40_000
        image = _load(png)
        raw = image.tobytes()  # RGBA bytes (Image.getdata is deprecated from Pillow 13)
        pixels = [tuple(raw[i:i + 4]) for i in range(0, len(raw), 4)]
        inks = {px[:3] for px in pixels if px[3]}
        alphas = {px[3] for px in pixels}
        assert inks == {picture.SEAL_RED[:3]}
        assert {0, 255} <= alphas and len(alphas) > 4      # anti-aliased edges survive
