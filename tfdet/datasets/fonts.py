"""TrueType / OpenType fonts for the text generators.

Two sources, both free-licensed:

- `bundled_fonts()`: the DejaVu and STIX families that ship inside matplotlib (a tfdet
  dependency), so they exist wherever tfdet is installed. The procedural generator uses
  only these, so its images are the same on every machine.
- `all_fonts()`: the bundled fonts plus every font found under the system font folders
  (`/usr/share/fonts`, `/usr/local/share/fonts`, `~/.fonts`, `~/.local/share/fonts`) that
  has the glyphs the generators draw (Latin letters, digits, `$.:`). On Debian/Ubuntu
  `apt-get install fonts-liberation2 fonts-freefont-ttf fonts-urw-base35 fonts-noto-core`
  adds Liberation, GNU FreeFont, the URW base 35 (Nimbus, C059, P052, URW Bookman, URW
  Gothic, Z003) and Noto Sans/Serif families. Without them the bundled fonts are used.

`pick_font(rng, fonts)` draws a family first, then a face of it, so families with many
faces (Noto) do not crowd out the others.
"""

from __future__ import annotations

import functools
import glob
import os
import re

import numpy as np

REQUIRED_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789$.:"
SYSTEM_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts", "~/.local/share/fonts")
FONT_EXTENSIONS = (".ttf", ".otf")
# fonts that map Latin code points to symbols, dingbats, maths glyphs or key caps (Linux Biolinum Keyboard)
NOT_TEXT_FONTS = re.compile(r"symbol|dingbat|d050000l|math|emoji|cm(ex|sy|mi)10|linbiolinum_k", re.IGNORECASE)
STYLE_SUFFIX = re.compile(r"(Bold|Oblique|Italic|Bol|Ita|Regular|Roman)+$")


@functools.lru_cache(maxsize=None)
def bundled_fonts() -> tuple[str, ...]:
    """DejaVu / STIX text faces shipped with matplotlib (empty when matplotlib is missing)."""
    try:
        import matplotlib

        folder = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
    except Exception:
        return ()
    names = sorted(glob.glob(os.path.join(folder, "DejaVu*.ttf")) + glob.glob(os.path.join(folder, "STIX*.ttf")))
    return tuple(n for n in names if "Display" not in n and "Sym" not in n and "NonUni" not in n)


def has_glyphs(path: str, characters: str = REQUIRED_CHARACTERS) -> bool:
    """True when the font maps every character (False for unreadable files)."""
    try:
        from fontTools.ttLib import TTFont

        with TTFont(path, lazy=True, fontNumber=0) as font:
            cmap = font.getBestCmap() or {}
    except Exception:
        return False
    return all(ord(c) in cmap for c in characters)


@functools.lru_cache(maxsize=None)
def system_fonts(folders: tuple[str, ...] = SYSTEM_FONT_DIRS) -> tuple[str, ...]:
    """Fonts under the system folders that draw every character the generators use."""
    found = []
    for folder in folders:
        folder = os.path.expanduser(folder)
        for root, _dirs, files in os.walk(folder):
            found.extend(os.path.join(root, f) for f in files if f.lower().endswith(FONT_EXTENSIONS))
    return tuple(p for p in sorted(set(found)) if not NOT_TEXT_FONTS.search(os.path.basename(p)) and has_glyphs(p))


@functools.lru_cache(maxsize=None)
def all_fonts() -> tuple[str, ...]:
    """Bundled fonts plus usable system fonts, without duplicate file names."""
    seen, fonts = set(), []
    for path in bundled_fonts() + system_fonts():
        name = os.path.basename(path).lower()
        if name not in seen:
            seen.add(name)
            fonts.append(path)
    return tuple(fonts)


@functools.lru_cache(maxsize=None)
def family(path: str) -> str:
    """The font's family as its name table gives it (typographic family, else family: the faces of
    'LinLibertine_R.otf' and 'LinLibertine_RB.otf' are one family), else from the file name:
    'NotoSerif-BoldItalic.ttf' -> 'NotoSerif'; 'FreeMonoBold.ttf' -> 'FreeMono'; 'STIXGeneralBol.ttf' -> 'STIXGeneral'."""
    try:
        from fontTools.ttLib import TTFont

        with TTFont(path, lazy=True, fontNumber=0) as font:
            names = font["name"]
            record = names.getName(16, 3, 1, 0x409) or names.getName(1, 3, 1, 0x409) or names.getName(1, 1, 0, 0)
            if record is not None and record.toUnicode().strip():
                return record.toUnicode().strip()
    except Exception:
        pass
    stem = os.path.splitext(os.path.basename(path))[0].split("-")[0]
    return STYLE_SUFFIX.sub("", stem) or stem


def families(fonts: tuple[str, ...]) -> list[str]:
    """The sorted family names of `fonts`."""
    return sorted({family(p) for p in fonts})


def describe(fonts: tuple[str, ...]) -> str:
    """One line for a dataset report: how many families the scene generator draws from, and which."""
    names = families(fonts)
    line = f"{len(names)} font families: {', '.join(names)}"
    if len(names) <= len(families(bundled_fonts())):
        line += " (only the bundled ones: `make fonts` installs free families; docs/real-photographs.md, Fonts)"
    return line


def pick_font(rng: np.random.Generator, fonts: tuple[str, ...]) -> str:
    """A family uniformly, then one of its faces; '' (PIL's built-in font) when there is none."""
    if not fonts:
        return ""
    names = families(fonts)
    chosen = names[int(rng.integers(len(names)))]
    faces = [p for p in fonts if family(p) == chosen]
    return faces[int(rng.integers(len(faces)))]


@functools.lru_cache(maxsize=512)
def load_font(path: str, size: int):
    """A PIL font of `size` pixels; PIL's built-in font for path ''."""
    from PIL import ImageFont

    if path:
        return ImageFont.truetype(path, size=size)
    return ImageFont.load_default(size=size)
