"""Line-level text boxes -> word-level boxes, from the pixels.

Line-level datasets (MSRA-TD500) and word-level ones (ICDAR 2015, the generators) disagree
on what one object is. `split_line` cuts one line quad into its words where the photograph
shows the gaps between them, so a word-level detector can learn from line-level photographs:

1. The line is rectified: the quad is warped to a rectangle `RECTIFIED_HEIGHT` pixels high
   (its long side runs left to right).
2. Ink is separated from the background by Otsu's threshold on the gray rectified line;
   the polarity (dark on light or light on dark) is the one whose ink touches the top and
   bottom borders least. Speckles are removed.
3. The column profile of ink gives gaps (runs of empty columns) between inked runs. A gap is
   a word gap when it is at least `min_gap` line heights wide and clearly wider than the
   gaps between letters (`gap_ratio` times their median). A line without word gaps is one
   word when at most `max_word_length` line heights long.
4. Each word is the inked run between word gaps, trimmed to its ink left and right and
   mapped back through the inverse warp, so word quads follow the line's perspective.

The split is refused (`None`) when the line does not look like a row of separable words:
too little or too much ink, ink that fills the line's borders (no clean separation), no
word gap in a long line, "words" narrower than `min_word_width` line heights, or three or
more pieces, three quarters of them at most `max_character_width` line heights wide (a row
of square characters set apart, as Chinese often is, cut at every character). Callers
decide what an unsplit line becomes; `tfdet.datasets.msra_td500` makes it don't care.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfdet import geometry

RECTIFIED_HEIGHT = 32
MAX_ASPECT = 100  # longer lines (in line heights) are refused: no real line is, and the rectified image stays small


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    min_gap: float = 0.22  # word gap, in line heights
    gap_ratio: float = 2.0  # a word gap is at least this many times the median letter gap
    min_word_width: float = 0.45  # in line heights: narrower pieces mean the split is not into words
    max_word_length: float = 7.0  # in line heights: a line without word gaps is one word only when shorter
    max_character_width: float = 1.6  # in line heights: three or more pieces, most this narrow, are characters
    min_ink: float = 0.06  # share of the line's pixels that are ink
    max_ink: float = 0.65
    max_border_ink: float = 0.35  # share of the top / bottom border rows that are ink


def rectify(gray: np.ndarray, quad: np.ndarray, height: int = RECTIFIED_HEIGHT):
    """(rectified gray line, 3x3 matrix rectified -> image) or None for a degenerate or absurdly long quad.

    `quad` is in the canonical order (top-left, top-right, bottom-right, bottom-left of the text).
    """
    rectified = geometry.rectify_quad(gray, quad, height=height, min_side=4, max_aspect=MAX_ASPECT)
    if rectified is None:
        return None
    line, _rect, to_image = rectified
    return line, to_image


def ink_mask(line: np.ndarray, config: SplitConfig) -> np.ndarray | None:
    """Boolean ink mask of a rectified gray line, or None when ink and background do not separate."""
    import cv2

    if float(line.max()) - float(line.min()) < 24:
        return None
    _t, binary = cv2.threshold(line, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # dark text or light text: the polarity whose ink keeps off the top and bottom borders
    border, ink = min(((0.5 * (ink[:2].mean() + ink[-2:].mean()), ink) for ink in (binary == 0, binary == 1)),
                      key=lambda candidate: candidate[0])
    if border > config.max_border_ink:
        return None
    ink = cv2.morphologyEx(ink.astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)).astype(bool)
    share = float(ink.mean())
    if not config.min_ink <= share <= config.max_ink:
        return None
    return ink


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of every run of True."""
    padded = np.concatenate([[False], flags.astype(bool), [False]])
    changes = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(changes[0::2].tolist(), changes[1::2].tolist()))


def word_spans(ink: np.ndarray, config: SplitConfig) -> list[tuple[int, int]] | None:
    """[start, end) columns of each word of a rectified ink mask, or None when it does not split into words."""
    height = ink.shape[0]
    inked = runs(ink.sum(axis=0) > 0)
    if len(inked) < 2:
        return None
    gaps = np.array([inked[i + 1][0] - inked[i][1] for i in range(len(inked) - 1)], dtype=np.float64)
    letter_gap = float(np.median(gaps))
    is_word_gap = (gaps >= config.min_gap * height) & (gaps >= config.gap_ratio * max(letter_gap, 1.0))
    if not is_word_gap.any():  # one word (or a string of characters without spaces) when not too long
        return [(inked[0][0], inked[-1][1])] if inked[-1][1] - inked[0][0] <= config.max_word_length * height else None
    spans, start = [], inked[0][0]
    for i, word_gap in enumerate(is_word_gap):
        if word_gap:
            spans.append((start, inked[i][1]))
            start = inked[i + 1][0]
    spans.append((start, inked[-1][1]))
    widths = np.array([end - begin for begin, end in spans], dtype=np.float64)
    if widths.min() < config.min_word_width * height:
        return None
    if len(spans) >= 3 and np.mean(widths <= config.max_character_width * height) >= 0.75:
        return None
    return spans


def split_line(gray: np.ndarray, quad: np.ndarray, config: SplitConfig = SplitConfig()) -> list[np.ndarray] | None:
    """Word quads (canonical order, image pixels) of the text line `quad` in `gray`, or None.

    None when the line cannot be split with confidence (see the module docstring); a line
    that holds one word gives one quad, trimmed to its ink.
    """
    import cv2

    rectified = rectify(gray, quad)
    if rectified is None:
        return None
    line, to_image = rectified
    ink = ink_mask(line, config)
    if ink is None:
        return None
    spans = word_spans(ink, config)
    if spans is None:
        return None
    height = line.shape[0]
    words = []
    for begin, end in spans:
        corners = np.array([[[begin, 0]], [[end, 0]], [[end, height]], [[begin, height]]], dtype=np.float32)
        words.append(cv2.perspectiveTransform(corners, to_image).reshape(4, 2).astype(np.float64))
    return words
