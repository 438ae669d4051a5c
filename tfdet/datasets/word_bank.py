"""Real words cut from annotated records, to paste onto other photographs (copy-paste).

Rendered fonts never show the detector what words in photographs look like: camera blur,
print texture, worn paint, glare, hand lettering. `WordBank` cuts the care words of annotated
records (any set `tools/make_tfrecord.py` writes: ICDAR 2015, MSRA-TD500 with `--split_lines`,
COCO-Text-like TF-OD records...) into upright patches; the scene generator
(`tfdet.datasets.scene_text`, `--paste_words`) pastes them onto the homogeneous regions of its
background photographs with the same placement, perspective and lighting as painted words.

Each patch is the word's quad warped to an upright rectangle at the word's own resolution (its
height in the photograph), plus `margin` word heights of the word's own surroundings on every
side so that a blend has room; the word's quad in the patch is exact. Words taller than
`max_height` (the largest the generator paints) are stored at that height. Don't-care objects,
words lower than `min_height` pixels and absurdly long quads are left out; an image that cannot
be decoded is skipped and counted (`problems`), never fatal.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfdet import geometry
from tfdet.datasets.base import Problem, decode_stored_pixels

MAX_ASPECT = 40  # words longer than this many heights are lines or annotation errors


@dataclasses.dataclass
class WordPatch:
    rgb: np.ndarray  # uint8 [h, w, 3]: the word and its margin, upright
    quad: np.ndarray  # (4, 2) float64: the word in patch pixels, canonical order
    text: str
    source: str  # "<file name>#<object index>" of the record it came from
    ink: np.ndarray | None = None  # float32 [h, w]: the word's strokes (1) apart from its background, if they separate
    source_height: float = 0.0  # the word's height in its photograph (the patch may be smaller)


def stroke_alpha(patch: np.ndarray, quad: np.ndarray) -> np.ndarray | None:
    """The strokes of the word in `patch` (Otsu ink of `line_split`, either polarity) as a soft alpha,
    or None when ink and background do not separate cleanly."""
    import cv2

    from tfdet.datasets import line_split

    x0, y0 = quad[0].astype(int)
    x1, y1 = quad[2].astype(int)
    gray = cv2.cvtColor(np.ascontiguousarray(patch[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    ink = line_split.ink_mask(gray, line_split.SplitConfig())
    if ink is None:
        return None
    alpha = np.zeros(patch.shape[:2], np.float32)
    alpha[y0:y1, x0:x1] = ink
    return cv2.GaussianBlur(alpha, (0, 0), 0.6)


def cut_patch(image: np.ndarray, quad, margin: float, max_height: float | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """(upright RGB patch at the word's own height, or `max_height` for a taller word; the word quad in
    it) for one canonical-order quad of `image`, or None when the quad is degenerate or longer than
    MAX_ASPECT heights."""
    height = None
    if max_height is not None and geometry.quad_length_height(quad)[1] > max_height:
        height = int(max_height)
    rectified = geometry.rectify_quad(image, quad, height=height, margin=margin, max_aspect=MAX_ASPECT)
    return None if rectified is None else rectified[:2]


def _samples(spec: str):
    """The records' samples, one at a time; a glob without files or a file that is not a record is
    FileNotFoundError / ValueError naming the flag (the converter prints it and exits 1)."""
    from tfdet.records.codec import read_samples

    try:
        yield from read_samples(spec)
    except (FileNotFoundError, ValueError) as exc:
        raise type(exc)(f"--paste_words: {exc}") from None


class WordBank:
    """The care words of the records matched by `spec` (a glob or comma-separated globs), as patches."""

    def __init__(self, spec: str, min_height: float = 10.0, margin: float = 0.3, max_height: float | None = None):
        self.spec = spec
        self.patches: list[WordPatch] = []
        self.problems: list[Problem] = []
        images = 0
        for sample in _samples(spec):
            care = [i for i, dont_care in enumerate(sample.difficult) if not dont_care]
            if not care:
                continue
            rgb = decode_stored_pixels(sample.image)  # the quads refer to the stored pixels, not the EXIF-rotated ones
            if rgb is None:
                self.problems.append(Problem("skipped_file", f"{spec}: {sample.filename}", "word source image cannot be decoded"))
                continue
            images += 1
            for i in care:
                quad = sample.quads[i]
                if geometry.text_height(quad) < min_height:  # the generators' don't-care rule
                    continue
                cut = cut_patch(rgb, quad, margin, max_height)
                if cut is not None:
                    text = sample.texts[i] if i < len(sample.texts) and sample.texts[i] else "?"
                    self.patches.append(WordPatch(cut[0], cut[1], text, f"{sample.filename}#{i}", stroke_alpha(*cut),
                                                  geometry.quad_length_height(quad)[1]))
        if not self.patches:
            raise FileNotFoundError(f"--paste_words: no care word at least {min_height:g} px high in {spec}")
        self.images = images
        self.inked = [i for i, p in enumerate(self.patches) if p.ink is not None]

    def __len__(self):
        return len(self.patches)

    def draw(self, rng: np.random.Generator, strokes: bool = False) -> WordPatch | None:
        """A patch; with `strokes`, one whose strokes separate from its background (None if none does)."""
        if strokes:
            return self.patches[self.inked[int(rng.integers(len(self.inked)))]] if self.inked else None
        return self.patches[int(rng.integers(len(self.patches)))]

    def describe(self) -> str:
        heights = [p.source_height for p in self.patches]
        return (f"{len(self.patches)} real words from {self.images} images of {self.spec} "
                f"(heights {min(heights):.0f}-{max(heights):.0f} px, median {np.median(heights):.0f}; "
                f"{len(self.inked)} with strokes that separate from their background)")
