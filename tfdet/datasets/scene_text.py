"""Words on real scenes: SynthText in spirit, with OpenCV only.

For image `index` of dataset (`seed`, `split`) (rng `synthetic.image_rng`, so every split is its own
data and any image is regenerated alone, in any process):

1. A background photograph is drawn from `BackgroundSet` (a folder or glob of the user's
   photographs, any size or format; grayscale, palette and RGBA images are converted to RGB,
   EXIF orientation applied, the longer side brought to `max_side`). Files that cannot be
   decoded, or are smaller than `min_side`, are skipped with a message and counted.
2. A cheap segmentation finds locally homogeneous regions: the Lab gradient magnitude and
   the local colour standard deviation must both be low; the mask is cleaned and its
   distance transform gives room for text.
3. Text blocks (1-3 lines of 1-4 words: lines and paragraphs) are laid out flat with one
   font, optionally bent on a parabolic baseline, and mapped onto the scene by a homography:
   a rotation following the dominant edge direction around the spot (the region's plane),
   a 3-D tilt in perspective and a scale. A block is kept only where 85 % of its footprint lies
   in one homogeneous region, on the image, away from other blocks; where a paragraph finds no
   such room, a line of one or two words is tried instead (more words per photograph).
4. Each block gets a colour contrasting with the region under it, sometimes an outline or a
   shadow, slight blur of its edges, then the whole scene gets occluders (background patches
   over parts of words), lighting and noise.

With a `word_bank.WordBank` (`--paste_words`), a share of the blocks (`paste_share`) are real words cut
from annotated records instead: the same placement, homography and lighting, never enlarged past
`paste_max_scale`; style `strokes` pastes the word's ink in its own colours (made to contrast with the
region), style `patch` the word with its surroundings, blended in the gradient domain (Poisson) or
through a feathered alpha.

Quads are word level, tight around each word's ink (widened by the bend of a curved
baseline), ordered by `geometry.order_quad`; words whose short side is under
`dont_care_height` pixels are `###`, as in the procedural generator.

Text already in the photographs is not annotated. Likely text is found with a
stroke-chain detector (blobs of a local threshold, of similar height, in a row) and marked as `###`
(don't care), so that training neither rewards nor punishes detections there; words are
never painted over it.
"""

from __future__ import annotations

import dataclasses
import glob
import io
import os

import numpy as np

from tfdet import geometry, keys
from tfdet.datasets import fonts as font_lib
from tfdet.datasets.base import Problem


PASTE_STYLES = ("strokes", "patch")


@dataclasses.dataclass
class SceneTextConfig:
    """What the scene generator draws. Sizes in pixels of the resized background."""

    max_side: int = 640
    min_side: int = 64
    min_blocks: int = 1
    max_blocks: int = 8
    max_lines: int = 3
    max_words_per_line: int = 4
    min_text_height: float = 11.0
    max_text_height: float = 64.0
    dont_care_height: float = 10.0
    max_angle: float = 25.0
    max_tilt: float = 35.0
    curve_probability: float = 0.2
    occlusion_probability: float = 0.15
    mark_background_text: bool = True
    jpeg_quality_range: tuple = (70, 95)
    paste_share: float = 0.5  # with a word bank (--paste_words): share of blocks that are a real word
    paste_max_scale: float = 1.5
    paste_style: str = "strokes"  # strokes: the word's ink only; patch: the word with its surroundings

    def __post_init__(self):
        if self.paste_style not in PASTE_STYLES:
            raise ValueError(f"paste_style must be one of {', '.join(PASTE_STYLES)}, got {self.paste_style!r}")
        if not 0 <= self.paste_share <= 1:
            raise ValueError(f"paste_share must be within [0, 1], got {self.paste_share}")


class BackgroundError(Exception):
    """A background file cannot be used."""


def list_background_files(spec: str) -> list[str]:
    """Files of a folder (recursively) or of a glob, sorted; FileNotFoundError when none."""
    if os.path.isdir(spec):
        paths = [os.path.join(root, f) for root, _dirs, files in os.walk(spec) for f in files]
    else:
        paths = [p for p in glob.glob(spec, recursive=True) if os.path.isfile(p)]
    paths = sorted(p for p in paths if not os.path.basename(p).startswith("."))
    if not paths:
        raise FileNotFoundError(f"--backgrounds: no files in {spec}")
    return paths


def decode_background(data: bytes, min_side: int, max_side: int) -> np.ndarray:
    """Bytes of any PIL-readable image -> RGB uint8, longer side at most max_side; BackgroundError otherwise."""
    import cv2
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                flat = Image.new("RGBA", rgba.size, (128, 128, 128, 255))
                im = Image.alpha_composite(flat, rgba)
            pixels = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except Exception as exc:  # PIL raises many types for bad data
        raise BackgroundError(f"cannot decode image: {exc}") from exc
    height, width = pixels.shape[:2]
    if min(height, width) < min_side:
        raise BackgroundError(f"too small ({width}x{height}); backgrounds need at least {min_side} px on each side")
    scale = max_side / max(height, width)
    if scale < 1:
        pixels = cv2.resize(pixels, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(pixels)


class BackgroundSet:
    """The usable photographs of `spec`. Unusable ones are listed in `problems` (one `skipped_file` each).

    Every file is decoded once here so that the count is known before any image is drawn.
    """

    def __init__(self, spec: str, config: SceneTextConfig):
        self.spec = spec
        self.paths: list[str] = []
        self.problems: list[Problem] = []
        for path in list_background_files(spec):
            try:
                with open(path, "rb") as f:
                    decode_background(f.read(), config.min_side, config.max_side)
            except (OSError, BackgroundError) as exc:
                self.problems.append(Problem("skipped_file", path, f"background skipped: {exc}"))
                continue
            self.paths.append(path)
        if not self.paths:
            raise FileNotFoundError(f"--backgrounds: none of the {len(self.problems)} files in {spec} is a usable image "
                                    f"(first: {self.problems[0]})")

    def __len__(self):
        return len(self.paths)

    def load(self, rng: np.random.Generator, config: SceneTextConfig) -> tuple[str, np.ndarray]:
        path = self.paths[int(rng.integers(len(self.paths)))]
        with open(path, "rb") as f:
            return path, decode_background(f.read(), config.min_side, config.max_side)


# -- analysis of the photograph ------------------------------------------------------------

@dataclasses.dataclass
class SceneAnalysis:
    labels: np.ndarray  # int32 [H, W]: homogeneous region id, 0 = not homogeneous
    room: np.ndarray  # float32 [H, W]: distance to the region's border
    orientation: np.ndarray  # float32 [H, W]: dominant edge angle (radians) around each pixel
    mean_lab: np.ndarray  # float32 [H, W, 3]: local mean colour


def analyse(image: np.ndarray) -> SceneAnalysis:
    import cv2

    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    gx = cv2.Sobel(lab, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(lab, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = np.sqrt((gx ** 2 + gy ** 2).sum(axis=2))
    smooth_grad = cv2.GaussianBlur(magnitude, (0, 0), 2.0)
    mean = cv2.blur(lab, (9, 9))
    variance = np.maximum(cv2.blur(lab * lab, (9, 9)) - mean * mean, 0).sum(axis=2)
    grad_limit = min(40.0, float(np.percentile(smooth_grad, 45)) + 4.0)
    homogeneous = ((smooth_grad < grad_limit) & (variance < 120.0)).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    homogeneous = cv2.morphologyEx(homogeneous, cv2.MORPH_OPEN, kernel)
    _count, labels = cv2.connectedComponents(homogeneous, connectivity=4)
    room = cv2.distanceTransform(homogeneous, cv2.DIST_L2, 5)
    # structure tensor over a wide window: the direction edges run in around each pixel
    gray_x, gray_y = gx[..., 0], gy[..., 0]
    jxx = cv2.GaussianBlur(gray_x * gray_x, (0, 0), 12.0)
    jyy = cv2.GaussianBlur(gray_y * gray_y, (0, 0), 12.0)
    jxy = cv2.GaussianBlur(gray_x * gray_y, (0, 0), 12.0)
    orientation = 0.5 * np.arctan2(2 * jxy, jxx - jyy) + np.pi / 2  # gradient direction + 90 deg = edge direction
    return SceneAnalysis(labels=labels.astype(np.int32), room=room, orientation=orientation.astype(np.float32), mean_lab=mean)


def background_text_quads(image: np.ndarray, max_components: int = 3000) -> list[np.ndarray]:
    """Likely text already in the photograph: rows of >= 3 stroke blobs of similar height, as quads.

    Blobs at most a sixth of the image high; a row at least 1.5 times wider than high.

    Blobs are the connected components of a local (adaptive) threshold, dark-on-light and
    light-on-dark, kept when character-sized and -shaped; blobs of similar height side by side
    in a row are chained, and a chain of three or more is a text candidate.
    """
    import cv2

    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    height, width = gray.shape
    found = []
    for polarity, offset in ((cv2.THRESH_BINARY_INV, 12), (cv2.THRESH_BINARY, -12)):
        binary = cv2.adaptiveThreshold(gray, 1, cv2.ADAPTIVE_THRESH_MEAN_C, polarity, 31, offset)
        _count, _labels, stats, _centroids = cv2.connectedComponentsWithStats(binary, connectivity=8)
        found.append(stats[1:])
    stats = np.concatenate(found).astype(np.float32)[:max_components]
    if len(stats) == 0:
        return []
    boxes, area = stats[:, :4], stats[:, 4]
    fill = area / np.maximum(boxes[:, 2] * boxes[:, 3], 1)
    w, h = boxes[:, 2], boxes[:, 3]
    boxes = boxes[(fill > 0.15) & (fill < 0.95) & (h >= 6) & (h <= height / 6) & (w / h > 0.1) & (w / h < 2.0)]
    if len(boxes) < 3:
        return []
    cx, cy, bh = boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2, boxes[:, 3]
    ratio = np.maximum(bh[:, None], bh[None, :]) / np.minimum(bh[:, None], bh[None, :])
    mean_h = (bh[:, None] + bh[None, :]) / 2
    gap = np.abs(cx[:, None] - cx[None, :]) - (boxes[:, 2][:, None] + boxes[:, 2][None, :]) / 2
    same_row = np.abs(cy[:, None] - cy[None, :]) < 0.35 * mean_h
    distinct = np.abs(cx[:, None] - cx[None, :]) > 0.3 * mean_h  # a blob and the hole inside it are not neighbours
    linked = (ratio < 1.4) & same_row & distinct & (gap < 0.8 * mean_h) & (gap > -0.2 * mean_h)
    parent = np.arange(len(boxes))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(linked, 1))):
        parent[find(i)] = find(j)
    roots = np.array([find(i) for i in range(len(boxes))])
    quads = []
    for root in np.unique(roots):
        members = boxes[roots == root]
        centers = np.unique(np.round((members[:, 0] + members[:, 2] / 2) / max(1.0, float(np.median(members[:, 3])) * 0.3)))
        if len(centers) < 3:
            continue
        x0, y0 = members[:, 0].min(), members[:, 1].min()
        x1, y1 = (members[:, 0] + members[:, 2]).max(), (members[:, 1] + members[:, 3]).max()
        if x1 - x0 < 1.5 * (y1 - y0):  # a row of characters is wider than high
            continue
        quads.append(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64))
    return quads


# -- one block of text -----------------------------------------------------------------------

@dataclasses.dataclass
class Block:
    """A flat text block: RGBA-free ink mask, per-word id mask and word quads, in block pixels."""

    ink: np.ndarray  # float32 [h, w] in [0, 1]
    word_ids: np.ndarray  # uint8 [h, w]: 1 + word index, 0 = no word
    quads: list  # [(4, 2) float64]
    texts: list
    line_height: float  # ink height of a capital line, block pixels
    rgb: np.ndarray | None = None  # uint8 [h, w, 3]: a real word's own pixels (pasted, not painted)
    strokes_only: bool = False  # paste the real word's strokes through `ink` only (no Poisson, no margin)
    max_scale: float = np.inf  # a real word is not enlarged past this (it would only get blurred)


def layout_block(rng: np.random.Generator, config: SceneTextConfig, font_size: int = 40) -> Block | None:
    """Lay out 1-`max_lines` lines of words with one font; maybe bend the baseline."""
    import cv2
    from PIL import Image, ImageDraw

    from tfdet.datasets.synthetic import random_word

    font = font_lib.load_font(font_lib.pick_font(rng, font_lib.all_fonts()), font_size)
    num_lines = int(rng.integers(1, config.max_lines + 1)) if rng.random() < 0.5 else 1
    space = font_size * float(rng.uniform(0.35, 0.6))
    line_step = font_size * float(rng.uniform(1.15, 1.5))
    align = rng.choice(["left", "center"])
    lines = []
    for _ in range(num_lines):
        words = []
        for _ in range(int(rng.integers(1, config.max_words_per_line + 1))):
            text = random_word(rng)
            left, top, right, bottom = font.getbbox(text)
            if right - left > 0 and bottom - top > 0:
                words.append((text, (left, top, right, bottom)))
        if words:
            lines.append(words)
    if not lines:
        return None
    widths = [sum(b[2] - b[0] for _, b in words) + space * (len(words) - 1) for words in lines]
    block_w = max(widths)
    bend = float(rng.uniform(-0.5, 0.5)) * font_size if rng.random() < config.curve_probability else 0.0
    pad = font_size * 0.3 + abs(bend)
    canvas_w = int(np.ceil(block_w + 2 * pad))
    canvas_h = int(np.ceil(line_step * (len(lines) - 1) + font_size * 1.3 + 2 * pad))
    ink = Image.new("L", (canvas_w, canvas_h), 0)
    draw_ink = ImageDraw.Draw(ink)
    quads, texts = [], []
    for row, (words, width) in enumerate(zip(lines, widths)):
        x = pad + (0.0 if align == "left" else (block_w - width) / 2)
        y = pad + row * line_step
        for text, (left, top, right, bottom) in words:
            draw_ink.text((x - left, y), text, font=font, fill=255)
            x0, y0, x1, y1 = x, y + top, x + (right - left), y + bottom
            quads.append(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64))
            texts.append(text)
            x = x1 + space
    ink_array = np.asarray(ink, dtype=np.float32) / 255.0
    id_array = np.zeros(ink_array.shape, np.uint8)
    for number, quad in enumerate(quads, start=1):  # ink inside a word's box belongs to it (boxes do not overlap)
        x0, y0 = np.floor(quad[0]).astype(int)
        x1, y1 = np.ceil(quad[2]).astype(int) + 1
        window = id_array[y0:y1, x0:x1]
        window[ink_array[y0:y1, x0:x1] > 0] = number
    if bend:
        center = canvas_w / 2.0

        def shift(xs):
            return bend * ((np.asarray(xs, dtype=np.float64) - center) / max(center, 1.0)) ** 2

        map_x, map_y = np.meshgrid(np.arange(canvas_w, dtype=np.float32), np.arange(canvas_h, dtype=np.float32))
        map_y = map_y - shift(map_x[0])[None, :].astype(np.float32)
        ink_array = cv2.remap(ink_array, map_x, map_y, cv2.INTER_LINEAR, borderValue=0)
        id_array = cv2.remap(id_array, map_x, map_y, cv2.INTER_NEAREST, borderValue=0)
        bent = []
        for quad in quads:
            x0, x1 = quad[0, 0], quad[1, 0]
            xs = np.linspace(x0, x1, 16)
            chord = shift(x0) + (shift(x1) - shift(x0)) * (xs - x0) / max(x1 - x0, 1e-9)
            spread = float(np.abs(shift(xs) - chord).max()) + 1.0
            dy = np.array([shift(x0), shift(x1), shift(x1), shift(x0)])
            q = quad.copy()
            q[:, 1] += dy + np.array([-spread, -spread, spread, spread])
            bent.append(q)
        quads = bent
    line_height = float(np.median([q[3, 1] - q[0, 1] for q in quads]))
    return Block(ink=ink_array, word_ids=id_array, quads=quads, texts=texts, line_height=line_height)


def block_homography(rng, block: Block, center, angle: float, scale: float, config: SceneTextConfig, focal: float) -> np.ndarray:
    """Block pixels -> image pixels: centre, scale, a tilt in perspective (a plane seen at an angle), rotation."""
    h, w = block.ink.shape
    to_center = np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1]], dtype=np.float64)
    tilt_x, tilt_y = np.deg2rad(rng.uniform(-config.max_tilt, config.max_tilt, 2)) * (rng.random() < 0.6)
    rx = np.array([[1, 0, 0], [0, np.cos(tilt_x), -np.sin(tilt_x)], [0, np.sin(tilt_x), np.cos(tilt_x)]])
    ry = np.array([[np.cos(tilt_y), 0, np.sin(tilt_y)], [0, 1, 0], [-np.sin(tilt_y), 0, np.cos(tilt_y)]])
    rotation3 = ry @ rx
    # plane point (u, v, 0) at distance `focal` from a pinhole camera of focal length `focal`
    plane = np.column_stack([rotation3[:, 0] * scale, rotation3[:, 1] * scale, [0, 0, focal]])
    projection = np.array([[focal, 0, 0], [0, focal, 0], [0, 0, 1]], dtype=np.float64) @ plane
    cos, sin = np.cos(angle), np.sin(angle)
    rotate = np.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]])
    place = np.array([[1, 0, center[0]], [0, 1, center[1]], [0, 0, 1]], dtype=np.float64)
    matrix = place @ rotate @ projection @ to_center
    return matrix / matrix[2, 2]


def warp_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.column_stack([points, np.ones(len(points))]) @ matrix.T
    return pts[:, :2] / pts[:, 2:3]


def _contrasting_lab(rng, lab_mean) -> tuple[int, int, int]:
    """An RGB colour whose lightness differs clearly from the region's (Lab, OpenCV 0-255 scale)."""
    import cv2

    lightness = float(lab_mean[0])
    for _ in range(20):
        rgb = rng.integers(0, 256, 3).astype(np.uint8)
        lab = cv2.cvtColor(rgb[None, None], cv2.COLOR_RGB2LAB)[0, 0].astype(np.float32)
        if abs(float(lab[0]) - lightness) > (45 if rng.random() < 0.25 else 90):
            return tuple(int(v) for v in rgb)
    return (0, 0, 0) if lightness > 127 else (255, 255, 255)


def place_block(rng, image, analysis: SceneAnalysis, occupied, block: Block, config: SceneTextConfig):
    """Find a spot, warp and composite the block; return (matrix, word_id image) or None."""
    import cv2

    height, width = image.shape[:2]
    room = np.where(occupied, 0, analysis.room)
    candidates = np.flatnonzero(room.ravel() >= max(4.0, config.min_text_height * 0.6))
    if len(candidates) == 0:
        return None
    weights = room.ravel()[candidates]
    for _attempt in range(6):
        spot = int(rng.choice(candidates, p=weights / weights.sum()))
        cy, cx = divmod(spot, width)
        region = analysis.labels[cy, cx]
        if rng.random() < 0.6:
            angle = float(analysis.orientation[cy, cx])
            angle = (angle + np.pi / 2) % np.pi - np.pi / 2  # text reads left to right: keep within +-90 deg
            if abs(angle) > np.deg2rad(config.max_angle * 1.6):
                angle = 0.0
        else:
            angle = float(np.deg2rad(np.clip(rng.normal(0, config.max_angle / 2.5), -config.max_angle, config.max_angle)))
        target = float(np.exp(rng.uniform(np.log(config.min_text_height), np.log(config.max_text_height))))
        scale = min(target / max(block.line_height, 1.0), block.max_scale)
        block_h, block_w = block.ink.shape
        for _shrink in range(4):
            matrix = block_homography(rng, block, (cx, cy), angle, scale, config, focal=float(max(height, width)))
            outline = warp_points(matrix, np.array([[0, 0], [block_w, 0], [block_w, block_h], [0, block_h]], dtype=np.float64))
            ok = bool(np.all(outline >= 1) and np.all(outline[:, 0] <= width - 2) and np.all(outline[:, 1] <= height - 2))
            if ok and geometry.signed_area(outline) > 0:
                footprint = np.zeros((height, width), np.uint8)
                cv2.fillPoly(footprint, [np.round(outline).astype(np.int32)], 1)
                inside = footprint.astype(bool)
                share_region = float(np.mean(analysis.labels[inside] == region)) if inside.any() else 0.0
                if share_region > 0.85 and not np.any(occupied[inside]):
                    occupied |= cv2.dilate(footprint, np.ones((5, 5), np.uint8)).astype(bool)
                    return matrix, composite_block(rng, image, analysis, inside, block, matrix)
            scale *= 0.7
            if target * (0.7 ** (_shrink + 1)) < config.min_text_height * 0.8:
                break
    return None


def composite_block(rng, image, analysis: SceneAnalysis, footprint, block: Block, matrix) -> np.ndarray:
    """Warp the block's ink onto `image` (in place) in a contrasting colour; return the warped word ids."""
    import cv2

    height, width = image.shape[:2]
    alpha = cv2.warpPerspective(block.ink, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=0)
    ids = cv2.warpPerspective(block.word_ids, matrix, (width, height), flags=cv2.INTER_NEAREST, borderValue=0)
    local = analysis.mean_lab[footprint].mean(axis=0)
    if block.rgb is not None:
        paste_patch(rng, image, block, matrix, alpha, local)
        return ids
    color = np.array(_contrasting_lab(rng, local), dtype=np.float32)
    style = rng.random()
    if style < 0.15:  # outline in the region's own tone
        ring = np.clip(cv2.dilate(alpha, np.ones((3, 3), np.uint8)) - alpha, 0, 1)
        edge = np.array(_contrasting_lab(rng, cv2.cvtColor(color.astype(np.uint8)[None, None], cv2.COLOR_RGB2LAB)[0, 0]), np.float32)
        image[:] = (image * (1 - ring[..., None]) + edge * ring[..., None]).astype(np.uint8)
    elif style < 0.3:  # soft shadow
        shadow = cv2.GaussianBlur(np.roll(alpha, (2, 2), axis=(0, 1)), (0, 0), 1.5)[..., None] * 0.5
        image[:] = (image * (1 - shadow)).astype(np.uint8)
    if rng.random() < 0.4:
        alpha = cv2.GaussianBlur(alpha, (0, 0), float(rng.uniform(0.3, 0.9)))
    alpha = alpha[..., None] * float(rng.uniform(0.8, 1.0))
    image[:] = (image * (1 - alpha) + color * alpha).astype(np.uint8)
    return ids


def pasted_block(rng, words, config: SceneTextConfig) -> Block | None:
    """A block of one real word drawn from `words` (a `word_bank.WordBank`; None when it has no word
    of the style). Style `patch`: its alpha is 1 over the word and fades to 0 across the patch's
    margin, so the word's own surroundings blend into the scene; style `strokes`: the alpha is the
    word's ink."""
    patch = words.draw(rng, strokes=config.paste_style == "strokes")
    if patch is None:
        return None
    h, w = patch.rgb.shape[:2]
    x0, y0 = patch.quad[0]
    x1, y1 = patch.quad[2]
    if config.paste_style == "strokes":
        ids = (patch.ink > 0.5).astype(np.uint8)
        return Block(ink=patch.ink, word_ids=ids, quads=[patch.quad.copy()], texts=[patch.text], line_height=float(y1 - y0),
                     rgb=patch.rgb, max_scale=config.paste_max_scale, strokes_only=True)
    ramp_x = np.clip(np.minimum(np.arange(w) + 0.5, w - np.arange(w) - 0.5) / max(0.7 * x0, 1.0), 0, 1)
    ramp_y = np.clip(np.minimum(np.arange(h) + 0.5, h - np.arange(h) - 0.5) / max(0.7 * y0, 1.0), 0, 1)
    alpha = (ramp_y[:, None] * ramp_x[None, :]).astype(np.float32)
    ids = np.zeros((h, w), np.uint8)
    ids[int(np.ceil(y0)):int(np.floor(y1)) + 1, int(np.ceil(x0)):int(np.floor(x1)) + 1] = 1  # pixel centres in the word
    return Block(ink=alpha, word_ids=ids, quads=[patch.quad.copy()], texts=[patch.text], line_height=float(y1 - y0),
                 rgb=patch.rgb, max_scale=config.paste_max_scale)


def paste_patch(rng, image, block: Block, matrix, alpha, local_lab) -> None:
    """Warp a real word's patch onto `image` (in place). Style patch: half the time blended in the
    gradient domain (Poisson, cv2.seamlessClone: the word keeps its strokes, its surroundings take the
    scene's tone), otherwise through the feathered alpha; a clone OpenCV refuses falls back to the
    alpha. Style strokes: the strokes only, in their own colours, shifted to a contrasting colour
    (texture kept) when their lightness is within 45 of the region's (`local_lab`, Lab 0-255)."""
    import cv2

    height, width = image.shape[:2]
    warped = cv2.warpPerspective(block.rgb, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inked = alpha > 0.5 if block.strokes_only else None
    if inked is not None and inked.any():
        stroke = warped[inked].astype(np.float32).mean(axis=0)
        lightness = float(cv2.cvtColor(stroke.astype(np.uint8)[None, None], cv2.COLOR_RGB2LAB)[0, 0, 0])
        if abs(lightness - float(local_lab[0])) < 45:
            shift = np.array(_contrasting_lab(rng, local_lab), np.float32) - stroke
            warped = np.clip(warped.astype(np.float32) + shift, 0, 255)
    if not block.strokes_only and rng.random() < 0.5:
        mask = (alpha > 0.05).astype(np.uint8) * 255
        ys, xs = np.nonzero(mask)
        if len(xs):
            center = (int(xs.min() + (xs.max() - xs.min()) // 2), int(ys.min() + (ys.max() - ys.min()) // 2))
            try:
                image[:] = cv2.seamlessClone(warped, image, mask, center, cv2.NORMAL_CLONE)
                return
            except cv2.error:
                pass
    a = alpha[..., None]
    image[:] = (image * (1 - a) + warped * a).astype(np.uint8)


def occlude(rng, image, word_mask: np.ndarray, quad: np.ndarray) -> None:
    """Cover one end of a word (at most ~35% of its length) with a patch copied from elsewhere in the image."""
    import cv2

    height, width = image.shape[:2]
    # quad is in canonical order: 0-3 is the left end, 1-2 the right end
    left_end = rng.random() < 0.5
    start, end, other = (quad[0], quad[3], quad[1]) if left_end else (quad[1], quad[2], quad[0])
    depth = float(rng.uniform(0.15, 0.35))
    direction = (other - start) * depth
    shape = np.array([start - direction * 0.3, start + direction, end + direction, end - direction * 0.3])
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [np.round(shape).astype(np.int32)], 1)
    shift = rng.integers(-height // 3, height // 3 + 1), rng.integers(-width // 3, width // 3 + 1)
    patch = np.roll(image, (int(shift[0]), int(shift[1])), axis=(0, 1))
    covered = mask.astype(bool)
    image[covered] = patch[covered]
    word_mask[covered] = 0


def render_scene(seed: int, index: int, backgrounds: BackgroundSet, config: SceneTextConfig | None = None, words=None,
                 split: str = "train"):
    """Draw image `index` of dataset (`seed`, `split`). With `words` (a `word_bank.WordBank`), a share
    `config.paste_share` of the blocks are real words pasted from it instead of painted ones.

    Returns (RGB uint8 image, [(quad, text, dont_care)], jpeg quality, word_ids int32 [H, W]
    (1 + index into the objects of each painted word's visible pixels, 0 elsewhere), background path).
    """
    import cv2

    from tfdet.datasets.synthetic import _value_noise, image_rng

    config = config or SceneTextConfig()
    rng = image_rng(seed, split, index)
    path, image = backgrounds.load(rng, config)
    image = image.copy()
    height, width = image.shape[:2]
    analysis = analyse(image)
    occupied = np.zeros((height, width), bool)
    objects, word_ids = [], np.zeros((height, width), np.int32)
    if config.mark_background_text:
        for quad in background_text_quads(image):
            quad = np.clip(quad, 0, [width, height])
            objects.append((geometry.order_quad(quad), keys.DONT_CARE_TEXT, True))
            x0, y0 = np.floor(quad.min(axis=0)).astype(int)
            x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
            occupied[max(0, y0 - 2):y1 + 3, max(0, x0 - 2):x1 + 3] = True
    painted = []
    single_line = dataclasses.replace(config, max_lines=1, max_words_per_line=min(2, config.max_words_per_line))
    for _ in range(int(rng.integers(config.min_blocks, config.max_blocks + 1))):
        placed = None
        # a paragraph needs a large homogeneous region; where none is left, a line of one or two words may fit
        if words is not None and rng.random() < config.paste_share:
            makers = (lambda: pasted_block(rng, words, config),)
        else:
            makers = (lambda: layout_block(rng, config), lambda: layout_block(rng, single_line))
        for make in makers:
            block = make()
            placed = None if block is None else place_block(rng, image, analysis, occupied, block, config)
            if placed is not None:
                break
        if placed is None:
            continue
        matrix, ids = placed
        for local, (quad, text) in enumerate(zip(block.quads, block.texts)):
            image_quad = geometry.order_quad(warp_points(matrix, quad))
            dont_care = geometry.text_height(image_quad) < config.dont_care_height
            objects.append((image_quad, keys.DONT_CARE_TEXT if dont_care else text, bool(dont_care)))
            word_ids[ids == local + 1] = len(objects)
            painted.append(len(objects) - 1)
    if painted and rng.random() < config.occlusion_probability:
        victim = painted[int(rng.integers(len(painted)))]
        mask = word_ids == victim + 1
        occlude(rng, image, mask, objects[victim][0])
        word_ids[(word_ids == victim + 1) & ~mask] = 0
    if rng.random() < 0.5:  # lighting
        light = _value_noise(rng, height, width, max(height, width) // 2)
        image = np.clip(image * (0.65 + 0.7 * light[..., None]), 0, 255).astype(np.uint8)
    if rng.random() < 0.4:
        image = np.clip(image + rng.normal(0, rng.uniform(1, 6), image.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.2:
        image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.4, 1.1)))
    quality = int(rng.integers(config.jpeg_quality_range[0], config.jpeg_quality_range[1] + 1))
    return image, objects, quality, word_ids, path
