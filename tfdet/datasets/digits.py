"""Rotated digits on paper: a multi-class oriented-object generator, deterministic per seed.

Each page is drawn from `synthetic.image_rng(seed, split, index)`, so any page can be
regenerated alone, in any process, in any order. Digits come from two
sources: scikit-learn's bundled 8x8 handwritten digits (`load_digits`, 1797 images,
no download) upsampled and sharpened, and digits rendered with the TrueType fonts
that ship with matplotlib (DejaVu / STIX, several weights and slants). Each digit is
scaled (log-uniform height), stretched a little, rotated (uniform in +-`max_angle`), and placed so
that its quad overlaps no other digit's quad by more than `max_overlap_iou`; later
digits are drawn over earlier ones, and opaque blots (paper patches, stickers, ink
blobs) cover parts of some digits.

Ground truth per digit: the quad of its rotated ink extent (the ink's box in the
digit's own frame, mapped by the same transform as the pixels; pixel-corner
coordinates, canonical order by `geometry.order_quad`), the label, and `difficult`
when less than `difficult_visibility` of its ink is still visible. Labels follow
the SVHN convention: digits 1-9 are labels 1-9 and digit 0 is label 10
(`LABEL_MAP`, written to dataset.json as the label map).

Held-out handwriting: the `train` split draws handwritten glyphs from 4/5 of
`load_digits` and every other split (`val`, `test`, ...) from the remaining 1/5,
so evaluation pages never show a handwritten sample seen in training.

Rotations stay within +-45 degrees by default (`max_angle`, `--digit_max_angle`): a 9 is a 6 turned
by 180 degrees, so with any `max_angle` above 90 the two classes share shapes and no detector can
tell them apart.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from tfdet import geometry
from tfdet.datasets import fonts as font_lib
from tfdet.datasets.base import ObjectAnnotation, build_samples_objects, encode_rgb
from tfdet.datasets.synthetic import SyntheticReader, _value_noise, image_rng

CLASS_NAMES = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "0")  # label i is CLASS_NAMES[i - 1]
LABEL_MAP = {name: i + 1 for i, name in enumerate(CLASS_NAMES)}
INK_LEVEL = 0.1  # a glyph pixel with alpha above this is ink (the quad covers it)
VISIBLE_ALPHA = 0.5  # a page pixel with a digit's alpha above this shows that digit
HELD_OUT_EVERY = 5  # load_digits images i with i % 5 == 0 are kept out of the train split
DEFAULT_MAX_ANGLE = 45.0  # degrees: under 90, a 6 and a 9 (the same shape turned by 180) never meet


def check_max_angle(degrees: float):
    """The rotation range must lie in [0, 180] degrees (ValueError naming the flag otherwise)."""
    if not 0.0 <= float(degrees) <= 180.0:
        raise ValueError(f"--digit_max_angle must be within [0, 180] degrees, got {degrees:g}")


def digit_label(digit: int) -> int:
    """Label of a digit 0-9 (digit 0 -> 10)."""
    return LABEL_MAP[str(int(digit))]


@dataclasses.dataclass
class DigitsConfig:
    """What the generator draws. Sizes in pixels, angles in degrees."""

    min_width: int = 320
    max_width: int = 480
    min_height: int = 320
    max_height: int = 480
    min_digits: int = 4
    max_digits: int = 14
    min_digit_height: float = 16.0
    max_digit_height: float = 80.0
    max_angle: float = DEFAULT_MAX_ANGLE  # rotation uniform in [-max_angle, max_angle]
    max_stretch: float = 0.2  # width scaled by 1 +- this
    font_share: float = 0.35  # share of digits rendered from fonts (the rest handwritten)
    max_overlap_iou: float = 0.3
    occluder_probability: float = 0.5  # pages with 1-3 occluding blots
    difficult_visibility: float = 0.6
    jpeg_quality_range: tuple = (80, 95)

    def __post_init__(self):
        check_max_angle(self.max_angle)


@functools.lru_cache(maxsize=2)
def handwritten_pool(held_out: bool) -> tuple[np.ndarray, np.ndarray]:
    """(images float32 [N, 8, 8] in [0, 1], digits int [N]) of scikit-learn's load_digits, one side of the split."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # scikit-learn is a dependency of tfdet; say what is missing if it was left out
        raise ImportError("--dataset=digits needs scikit-learn (pip install scikit-learn)") from exc
    data = load_digits()
    index = np.arange(len(data.target))
    keep = (index % HELD_OUT_EVERY == 0) if held_out else (index % HELD_OUT_EVERY != 0)
    return (data.images[keep] / 16.0).astype(np.float32), data.target[keep].astype(np.int64)


def crop_to_ink(alpha: np.ndarray) -> np.ndarray:
    """The smallest window of `alpha` holding every pixel above INK_LEVEL."""
    rows = np.flatnonzero(alpha.max(axis=1) > INK_LEVEL)
    cols = np.flatnonzero(alpha.max(axis=0) > INK_LEVEL)
    return np.ascontiguousarray(alpha[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])


def handwritten_glyph(image8: np.ndarray, size: int = 48) -> np.ndarray:
    """8x8 grey levels -> a smooth size x size ink alpha, cropped to the ink."""
    import cv2

    up = cv2.resize(image8.astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    up = cv2.GaussianBlur(up, (0, 0), size / 32.0)
    alpha = np.clip((up - 0.3) / 0.2, 0.0, 1.0)  # sharpen the blurry upsampled strokes
    return crop_to_ink(alpha)


@functools.lru_cache(maxsize=512)
def font_glyph(font_path: str, digit: int, size: int = 64) -> np.ndarray:
    """A digit rendered with a TrueType font (PIL's built-in font when the path is empty), cropped to the ink."""
    from PIL import Image, ImageDraw

    font = font_lib.load_font(font_path, size)
    canvas = Image.new("L", (size * 2, size * 2), 0)
    ImageDraw.Draw(canvas).text((size // 2, size // 4), str(digit), font=font, fill=255)
    return crop_to_ink(np.asarray(canvas, np.float32) / 255.0)


def glyph_transform(glyph_shape, center, height: float, stretch: float, angle_degrees: float) -> np.ndarray:
    """2x3 affine (pixel-corner coordinates) taking the glyph's box, centred, to the page at `center`."""
    gh, gw = glyph_shape
    theta = np.deg2rad(angle_degrees)
    scale = np.diag([height / gh * stretch, height / gh])
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    linear = rotation @ scale
    offset = np.asarray(center, np.float64) - linear @ np.array([gw / 2.0, gh / 2.0])
    return np.hstack([linear, offset[:, None]])


def glyph_quad(glyph_shape, transform: np.ndarray) -> np.ndarray:
    """The glyph box's corners (pixel-corner coordinates) mapped to the page: the digit's tight quad."""
    gh, gw = glyph_shape
    corners = np.array([[0, 0], [gw, 0], [gw, gh], [0, gh]], np.float64)
    return corners @ transform[:, :2].T + transform[:, 2]


def warp_glyph(glyph: np.ndarray, transform: np.ndarray, width: int, height: int) -> np.ndarray:
    """The glyph's alpha on the page (float32 [height, width])."""
    import cv2

    # OpenCV works in pixel-centre coordinates: x_centre = x_corner - 0.5 on both sides
    matrix = transform.copy()
    matrix[:, 2] += transform[:, :2] @ np.array([0.5, 0.5]) - 0.5
    return cv2.warpAffine(glyph, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def paper(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, bool]:
    """A page background (uint8 RGB) and whether it is dark (light ink then)."""
    import cv2

    dark = rng.random() < 0.15
    base = rng.uniform(20, 70, 3) if dark else rng.uniform(190, 255, 3)
    texture = _value_noise(rng, height, width, int(rng.integers(8, 64))) - 0.5
    image = base[None, None, :] + texture[..., None] * rng.uniform(5, 40)
    kind = rng.random()
    if kind < 0.3:  # ruled or squared paper
        line_color = rng.uniform(0, 255, 3) * 0.5 + base * 0.5
        period = int(rng.integers(14, 40))
        image = image.astype(np.float32)
        for y in range(int(rng.integers(0, period)), height, period):
            cv2.line(image, (0, y), (width, y), tuple(float(v) for v in line_color), 1)
        if kind < 0.12:
            for x in range(int(rng.integers(0, period)), width, period):
                cv2.line(image, (x, 0), (x, height), tuple(float(v) for v in line_color), 1)
    return np.clip(image, 0, 255).astype(np.uint8), dark


def _ink_color(rng: np.random.Generator, dark_paper: bool) -> np.ndarray:
    if dark_paper:
        return rng.uniform(180, 255, 3)
    if rng.random() < 0.6:  # black / blue / red pens, or any dark colour
        return np.array([[20, 20, 25], [20, 40, 150], [160, 20, 20]][int(rng.integers(3))], np.float64) + rng.uniform(-15, 15, 3)
    return rng.uniform(0, 110, 3)


def _occluder_mask(rng: np.random.Generator, quad: np.ndarray, height: int, width: int) -> np.ndarray:
    """A blot (rectangle, ellipse or polygon) over part of a digit's quad: uint8 mask."""
    import cv2

    mask = np.zeros((height, width), np.uint8)
    side = float(np.sqrt(abs(geometry.signed_area(quad))))
    corner = quad[int(rng.integers(4))]
    center = corner + (quad.mean(axis=0) - corner) * rng.uniform(0.0, 0.8)
    radius = side * rng.uniform(0.25, 0.6)
    kind = int(rng.integers(3))
    if kind == 0:
        angle = rng.uniform(0, np.pi)
        half = radius * np.array([rng.uniform(0.6, 1.4), rng.uniform(0.6, 1.4)])
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        pts = (np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half) @ rot.T + center
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    elif kind == 1:
        axes = (max(1, int(radius * rng.uniform(0.6, 1.4))), max(1, int(radius * rng.uniform(0.6, 1.4))))
        cv2.ellipse(mask, (int(center[0]), int(center[1])), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    else:
        angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(5, 9))))
        radii = radius * rng.uniform(0.5, 1.3, len(angles))
        pts = center + np.stack([np.cos(angles) * radii, np.sin(angles) * radii], axis=1)
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    return mask


def visibilities(alphas, occluded: np.ndarray) -> list[float]:
    """Share of each digit's ink (alpha > VISIBLE_ALPHA) left visible, for digits drawn in the order given
    (each hides the ones before it where its ink lies) and then covered by the `occluded` mask."""
    covered = np.asarray(occluded, bool).copy()
    shares = []
    for alpha in reversed(alphas):
        ink = alpha > VISIBLE_ALPHA
        shares.append(float(np.sum(ink & ~covered) / max(1, np.sum(ink))))
        covered |= ink
    return shares[::-1]


@dataclasses.dataclass
class Digit:
    """One drawn digit: canonical quad (pixels), digit 0-9, visible share of its ink, and its alpha when asked."""

    quad: np.ndarray
    digit: int
    visibility: float
    difficult: bool
    source: str  # "handwritten" | "font"
    alpha: np.ndarray | None = None


def _pick_glyph(rng: np.random.Generator, config: DigitsConfig, held_out: bool) -> tuple[np.ndarray, int, str]:
    fonts = font_lib.bundled_fonts()
    if rng.random() < config.font_share:
        digit = int(rng.integers(10))
        path = fonts[int(rng.integers(len(fonts)))] if fonts else ""
        return font_glyph(path, digit), digit, "font"
    images, digits = handwritten_pool(held_out)
    i = int(rng.integers(len(digits)))
    return handwritten_glyph(images[i]), int(digits[i]), "handwritten"


def render_page(seed: int, index: int, config: DigitsConfig | None = None, split: str = "train", with_alpha: bool = False):
    """Draw page `index` of dataset (`seed`, `split`): (RGB uint8 array, [Digit], jpeg quality)."""
    from tfdet.evaluation.quad_map import quad_iou_matrix

    config = config or DigitsConfig()
    rng = image_rng(seed, split, index)
    held_out = split != "train"
    height = int(rng.integers(config.min_height, config.max_height + 1))
    width = int(rng.integers(config.min_width, config.max_width + 1))
    image, dark = paper(rng, height, width)
    canvas = image.astype(np.float32)
    placed: list[tuple[np.ndarray, np.ndarray, int, str]] = []  # quad, alpha, digit, source
    wanted = int(rng.integers(config.min_digits, config.max_digits + 1))
    for _ in range(wanted * 4):
        if len(placed) == wanted:
            break
        glyph, digit, source = _pick_glyph(rng, config, held_out)
        digit_height = float(np.exp(rng.uniform(np.log(config.min_digit_height), np.log(config.max_digit_height))))
        stretch = float(rng.uniform(1 - config.max_stretch, 1 + config.max_stretch))
        angle = float(rng.uniform(-config.max_angle, config.max_angle))
        center = rng.uniform([0, 0], [width, height])
        transform = glyph_transform(glyph.shape, center, digit_height, stretch, angle)
        quad = glyph_quad(glyph.shape, transform)
        if quad.min() < 1 or np.any(quad[:, 0] > width - 1) or np.any(quad[:, 1] > height - 1):
            continue  # digits stay whole on the page
        if placed and quad_iou_matrix(quad[None], np.stack([p[0] for p in placed])).max() > config.max_overlap_iou:
            continue
        alpha = warp_glyph(glyph, transform, width, height)
        if not np.any(alpha > VISIBLE_ALPHA):
            continue
        color = _ink_color(rng, dark)
        strength = alpha[..., None] * float(rng.uniform(0.8, 1.0))
        canvas = canvas * (1 - strength) + color * strength
        placed.append((quad, alpha, digit, source))
    occluded = np.zeros((height, width), bool)
    if placed and rng.random() < config.occluder_probability:
        for _ in range(int(rng.integers(1, 4))):
            target = placed[int(rng.integers(len(placed)))][0]
            mask = _occluder_mask(rng, target, height, width)
            fill = rng.uniform(20, 70, 3) if (rng.random() < 0.3) != dark else rng.uniform(180, 255, 3)
            canvas[mask > 0] = fill
            occluded |= mask > 0
    visible = visibilities([p[1] for p in placed], occluded)
    digits = [Digit(geometry.order_quad(quad), digit, v, v < config.difficult_visibility, source, alpha if with_alpha else None)
              for (quad, alpha, digit, source), v in zip(placed, visible)]
    if rng.random() < 0.3:
        canvas = canvas + rng.normal(0, rng.uniform(1, 6), canvas.shape)
    image = np.clip(canvas, 0, 255).astype(np.uint8)
    if rng.random() < 0.15:
        import cv2

        image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.3, 0.8)))
    quality = int(rng.integers(config.jpeg_quality_range[0], config.jpeg_quality_range[1] + 1))
    return image, digits, quality


class DigitsReader(SyntheticReader):
    """`items()` are page indices; `load(i)` renders page i of dataset (`seed`, `split`)."""

    dataset_name = "digits"
    generator_kind = "digits"
    label_map = LABEL_MAP

    def __init__(self, num_images: int = 100, seed: int = 0, split: str = "train", config: DigitsConfig | None = None,
                 max_angle: float | None = None, **_):
        """`max_angle` (degrees, `--digit_max_angle`) overrides the config's rotation range; dataset.json records it."""
        config = config or DigitsConfig()
        if max_angle is not None:
            config = dataclasses.replace(config, max_angle=float(max_angle))
        super().__init__(num_images, seed, split, config)

    def load(self, index: int):
        image, digits, quality = render_page(self.seed, index, self.config, self.split)
        name = f"digits_{index + 1}.jpg"
        annotations = [ObjectAnnotation(quad=d.quad, text=str(d.digit), difficult=d.difficult, label=digit_label(d.digit),
                                        class_name=str(d.digit)) for d in digits]
        problems: list = []
        sample = build_samples_objects(name, encode_rgb(image, "jpeg", quality), name,
                                       f"digits/{self.seed}/{self.split}/{name}", annotations, problems)
        return sample, problems
