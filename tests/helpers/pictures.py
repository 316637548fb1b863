"""Small real pictures for seal tests, made with Pillow: a red cross on white, 120 x 120 px."""
from __future__ import annotations

import io

from PIL import Image


def cross_image(fmt: str, **save: object) -> bytes:
    """The picture encoded as ``fmt`` ("PNG", "JPEG", ...), with Pillow's ``save`` options."""
    img = Image.new("RGB", (120, 120), (255, 255, 255))
    for i in range(10, 110):
        img.putpixel((i, i), (200, 0, 0))
        img.putpixel((i, 119 - i), (200, 0, 0))
    out = io.BytesIO()
    img.save(out, format=fmt, **save)
    return out.getvalue()
