"""Find a font that covers Chinese through fontconfig: for the drawn seal and the license face.

``fc-match ':lang=zh'`` is not enough: it always answers something (often DejaVu Sans,
which has no Han glyphs). ``fc-list ':lang=zh'`` lists only fonts whose coverage includes
the Chinese orthography, so an empty answer means there is no usable font. The repository
ships no font file: the deployment's fonts (Debian's fonts-wqy-microhei or fonts-noto-cjk)
are used, and an OFD names the family so a reader can pick the same font. The answer is
kept per fontconfig set-up (FONTCONFIG_FILE / FONTCONFIG_PATH): fc-list is a process.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache

from gm.records import frozen_record
from seal.errors import NoCJKFont

__all__ = ["CJKFont", "FONT_HINT", "find_cjk_font"]

FONT_HINT = ("install a CJK font (Debian: apt-get install fonts-wqy-microhei or fonts-noto-cjk) "
             "and check with `fc-list :lang=zh`")


@frozen_record
class CJKFont:
    family: str  # the first (usually Latin) family name fontconfig gives
    path: str
    index: int = 0  # face index inside a .ttc collection


def find_cjk_font() -> CJKFont:
    """The first regular, proportional font fontconfig lists for lang=zh; NoCJKFont if none."""
    return _find(os.environ.get("FONTCONFIG_FILE", ""), os.environ.get("FONTCONFIG_PATH", ""))


@lru_cache(maxsize=8)
def _find(_config_file: str, _config_path: str) -> CJKFont:  # keyed on the fontconfig set-up
    exe = shutil.which("fc-list")
    if exe is None:
        raise NoCJKFont(f"fontconfig's fc-list is not installed, so no CJK font can be found; {FONT_HINT}")
    out = subprocess.run([exe, ":lang=zh", "family", "file", "index", "style",
                          "-f", "%{file}\t%{index}\t%{family}\t%{style}\n"],
                         capture_output=True, text=True, timeout=60)
    candidates = []
    for line in out.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) != 4 or not parts[0]:
            continue
        path, index, family, style = parts
        name = family.split(",")[0].strip()
        rank = (("Mono" in name) + (not any(s in style for s in ("Regular", "Book", "Normal", "Medium"))), name)
        candidates.append((rank, CJKFont(name, path, int(index or 0))))
    if not candidates:
        raise NoCJKFont(f"fontconfig knows no font covering Chinese (fc-list :lang=zh is empty); {FONT_HINT}")
    candidates.sort(key=lambda c: c[0])
    return candidates[0][1]
