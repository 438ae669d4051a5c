"""Synthetic scene text: words rendered onto varied backgrounds, deterministic per seed.

Each image is drawn from `image_rng(seed, split, index)` (`numpy.random.default_rng([seed,
crc32(split), index])`), so every split of a seed is its own data and any image can be
regenerated alone, in any process, in any order. Words are drawn
with TrueType fonts (the DejaVu / STIX families that ship with matplotlib,
falling back to PIL's built-in font), on or off sign plates, with outline or
shadow, rotated, put in perspective, and blended onto backgrounds made of
gradients, textures, clutter shapes and stripes. Words smaller than
`dont_care_height` pixels are labelled `###` (don't care), as ICDAR does with
illegible text. Output: Samples (records) or ICDAR 2015 files.
"""

from __future__ import annotations

import dataclasses
import os
import zlib

import numpy as np

from tfdet import geometry, keys
from tfdet.datasets import fonts as font_lib
from tfdet.datasets.base import ObjectAnnotation, Problem, Sample, build_samples_objects, encode_rgb

WORDS = (
    "the of and to in is for on that by this with you it not or be are from at as your all have new more an was we "
    "will home can us about if page my has search free but our one other do no information time they site he up may "
    "what which their news out use any there see only so his when contact here business who web also now help get "
    "view online first been would how were services some these click its like service than find price date back top "
    "people had list name just over state year day into email two health world next used work last most products "
    "music buy data make them should product system post her city add policy number such please available copyright "
    "support message after best software then jan good video well where info rights public books high school through "
    "each links she review years order very privacy book items company read group sex need many user said does set "
    "under general research university january mail full map reviews program life know games way days management "
    "part could great united hotel real item international center ebay must store travel comments made development "
    "report off member details line terms before hotels did send right type because local those using results office "
    "education national car design take posted internet address community within states area want phone dvd shipping "
    "reserved subject between forum family long based code show even black check special prices website index being "
    "women much sign file link open today technology south case project same pages version section own found sports "
    "house related security both county american photo game members power while care network down computer systems "
    "three total place end following download him without per access think north resources current posts big media "
    "law control water history pictures size art personal since including guide shop directory board location change "
    "white text small rating rate government children during usa return students shopping account times sites level "
    "digital profile previous form events love old john main call hours image department title description non exit "
    "pull push stop open closed sale cafe bar taxi bus hotel bank police exit entrance parking welcome street road"
).split()


SEEDING = "numpy.random.default_rng([seed, crc32(split), index])"  # what image_rng draws from (dataset.json says it)


def split_code(split: str) -> int:
    """A stable number for the split name (part of each image's seed)."""
    return zlib.crc32(split.encode("utf-8"))


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random generator of image `index` of dataset (`seed`, `split`): every generator draws its images
    from it, so `--split=val` with the training seed still gives other images."""
    return np.random.default_rng([seed, split_code(split), index])


@dataclasses.dataclass
class SyntheticConfig:
    """What the generator draws. Sizes in pixels."""

    min_width: int = 480
    max_width: int = 640
    min_height: int = 360
    max_height: int = 480
    min_words: int = 2
    max_words: int = 8
    min_text_height: float = 8.0
    max_text_height: float = 64.0
    dont_care_height: float = 10.0
    max_angle: float = 30.0
    perspective: float = 0.12
    jpeg_quality_range: tuple = (70, 95)


def random_word(rng: np.random.Generator) -> str:
    kind = rng.random()
    if kind < 0.6:
        word = WORDS[rng.integers(len(WORDS))]
    elif kind < 0.75:
        word = str(int(rng.integers(0, 10 ** rng.integers(1, 6))))
    elif kind < 0.85:
        word = f"${rng.integers(1, 999)}.{rng.integers(0, 99):02d}" if rng.random() < 0.5 else f"{rng.integers(1, 24)}:{rng.integers(0, 59):02d}"
    else:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        word = "".join(alphabet[i] for i in rng.integers(0, len(alphabet), rng.integers(2, 8)))
    case = rng.random()
    if case < 0.35:
        word = word.upper()
    elif case < 0.6:
        word = word.capitalize()
    return word


def _value_noise(rng, height, width, cells) -> np.ndarray:
    import cv2

    small = rng.random((max(2, height // cells), max(2, width // cells))).astype(np.float32)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def render_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    import cv2

    c1, c2 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    s = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    mix = (t * rng.random() + s * rng.random()) / 2 + 0.25
    image = c1 * (1 - mix) + c2 * mix
    kind = rng.integers(0, 4)
    if kind == 0:  # texture
        noise = sum(_value_noise(rng, height, width, c) * w for c, w in ((64, 0.5), (16, 0.3), (4, 0.2)))
        tint = rng.integers(0, 256, 3)
        image = image * (1 - 0.6 * noise[..., None]) + tint * 0.6 * noise[..., None]
    image = image.astype(np.uint8).copy()
    n_shapes = int(rng.integers(3, 25)) if kind in (1, 3) else int(rng.integers(0, 6))
    for _ in range(n_shapes):
        color = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = rng.integers(0, 5)
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        if shape == 0:
            cv2.rectangle(image, (x, y), (x + int(rng.integers(10, width // 2)), y + int(rng.integers(10, height // 2))), color, -1)
        elif shape == 1:
            cv2.ellipse(image, (x, y), (int(rng.integers(5, width // 4)), int(rng.integers(5, height // 4))), float(rng.integers(0, 180)), 0, 360, color, -1)
        elif shape == 2:
            cv2.line(image, (x, y), (int(rng.integers(0, width)), int(rng.integers(0, height))), color, int(rng.integers(1, 6)))
        elif shape == 3:
            pts = rng.integers(0, [width, height], (int(rng.integers(3, 6)), 2)).astype(np.int32)
            cv2.fillPoly(image, [pts], color)
        else:
            cv2.circle(image, (x, y), int(rng.integers(2, 40)), color, int(rng.choice([-1, 1, 2, 3])))
    if kind == 2:  # stripes / grid: edges that are not text
        period = int(rng.integers(6, 40))
        color = tuple(int(v) for v in rng.integers(0, 256, 3))
        for v in range(0, width if rng.random() < 0.5 else height, period):
            if rng.random() < 0.5:
                cv2.line(image, (v, 0), (v, height), color, int(rng.integers(1, 4)))
            else:
                cv2.line(image, (0, v), (width, v), color, int(rng.integers(1, 4)))
    if rng.random() < 0.5:
        image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.5, 2.5)))
    return image


def _luminance(rgb) -> float:
    r, g, b = (float(v) for v in rgb)
    return 0.299 * r + 0.587 * g + 0.114 * b


def _contrasting_color(rng, background_rgb) -> np.ndarray:
    lum = _luminance(background_rgb)
    for _ in range(20):
        color = rng.integers(0, 256, 3)
        if abs(_luminance(color) - lum) > (40 if rng.random() < 0.2 else 90):
            return color
    return np.array([0, 0, 0]) if lum > 127 else np.array([255, 255, 255])


def render_word(rng, image, occupied, config: SyntheticConfig):
    """Draw one word onto `image` in place; return (quad, text) or None when it did not fit."""
    import cv2
    from PIL import Image, ImageDraw

    height, width = image.shape[:2]
    text = random_word(rng)
    fonts = font_lib.bundled_fonts()
    font_path = fonts[int(rng.integers(len(fonts)))] if fonts else ""
    target_h = float(np.exp(rng.uniform(np.log(config.min_text_height), np.log(config.max_text_height))))
    font = font_lib.load_font(font_path, 48)
    left, top, right, bottom = font.getbbox(text)
    ink_w, ink_h = right - left, bottom - top
    if ink_w <= 0 or ink_h <= 0:
        return None
    scale = target_h / ink_h
    out_w, out_h = ink_w * scale, target_h
    if out_w > width * 0.9:
        scale *= width * 0.9 / out_w
        out_w, out_h = ink_w * scale, ink_h * scale
    angle = np.deg2rad(rng.normal(0, config.max_angle / 2.5)) if rng.random() < 0.7 else 0.0
    angle = float(np.clip(angle, -np.deg2rad(config.max_angle * 1.5), np.deg2rad(config.max_angle * 1.5)))
    corners = np.array([[-out_w / 2, -out_h / 2], [out_w / 2, -out_h / 2], [out_w / 2, out_h / 2], [-out_w / 2, out_h / 2]])
    corners += rng.uniform(-config.perspective, config.perspective, (4, 2)) * out_h
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = corners @ rotation.T
    span = corners.max(axis=0) - corners.min(axis=0)
    if span[0] >= width - 4 or span[1] >= height - 4:
        return None
    for _attempt in range(12):
        cx = rng.uniform(-corners[:, 0].min() + 2, width - corners[:, 0].max() - 2)
        cy = rng.uniform(-corners[:, 1].min() + 2, height - corners[:, 1].max() - 2)
        quad = corners + [cx, cy]
        mask = np.zeros_like(occupied)
        pad_quad = (quad - quad.mean(axis=0)) * 1.25 + quad.mean(axis=0)
        cv2.fillPoly(mask, [np.round(pad_quad).astype(np.int32)], 1)
        if not np.any(mask & occupied):
            break
    else:
        return None
    occupied |= mask
    pad = 48 * 0.25
    canvas = Image.new("RGBA", (int(ink_w + 2 * pad), int(ink_h + 2 * pad)), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    ys, xs = np.nonzero(mask)
    local = image[ys, xs].mean(axis=0) if len(ys) else np.array([128, 128, 128])
    style = rng.random()
    if style < 0.3:  # sign plate
        plate = _contrasting_color(rng, local)
        draw.rectangle([0, 0, canvas.size[0], canvas.size[1]], fill=tuple(int(v) for v in plate) + (255,))
        color = _contrasting_color(rng, plate)
    else:
        color = _contrasting_color(rng, local)
    stroke = {}
    if style > 0.85:
        stroke = {"stroke_width": 2, "stroke_fill": tuple(int(v) for v in _contrasting_color(rng, color))}
    draw.text((pad - left, pad - top), text, font=font, fill=tuple(int(v) for v in color) + (255,), **stroke)
    src = np.array([[pad, pad], [pad + ink_w, pad], [pad + ink_w, pad + ink_h], [pad, pad + ink_h]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
    rgba = np.asarray(canvas, dtype=np.float32)
    warped = cv2.warpPerspective(rgba, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    alpha = warped[..., 3:4] / 255.0 * float(rng.uniform(0.75, 1.0))
    if style > 0.95:  # drop shadow
        shift = np.float32([[1, 0, 2], [0, 1, 2]])
        shadow = cv2.warpAffine(alpha, shift, (width, height))[..., None] * 0.5
        image[:] = (image * (1 - shadow)).astype(np.uint8)
    image[:] = (image * (1 - alpha) + warped[..., :3] * alpha).astype(np.uint8)
    return quad, text


def render_image(seed: int, index: int, config: SyntheticConfig | None = None, split: str = "train"):
    """Draw image `index` of dataset (`seed`, `split`): (RGB uint8 array, [(quad, text, dont_care)], jpeg quality)."""
    import cv2

    config = config or SyntheticConfig()
    rng = image_rng(seed, split, index)
    height = int(rng.integers(config.min_height, config.max_height + 1))
    width = int(rng.integers(config.min_width, config.max_width + 1))
    image = render_background(rng, height, width)
    occupied = np.zeros((height, width), np.uint8)
    objects = []
    for _ in range(int(rng.integers(config.min_words, config.max_words + 1))):
        drawn = render_word(rng, image, occupied, config)
        if drawn is None:
            continue
        quad, text = drawn
        quad = geometry.order_quad(quad)
        dont_care = geometry.text_height(quad) < config.dont_care_height
        objects.append((quad, keys.DONT_CARE_TEXT if dont_care else text, dont_care))
    if rng.random() < 0.5:  # lighting
        light = _value_noise(rng, height, width, max(height, width) // 2)
        image = np.clip(image * (0.6 + 0.8 * light[..., None]), 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        image = np.clip(image + rng.normal(0, rng.uniform(1, 8), image.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.2:
        image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.4, 1.2)))
    quality = int(rng.integers(config.jpeg_quality_range[0], config.jpeg_quality_range[1] + 1))
    return image, objects, quality


def parse_range(value, name: str, minimum: float, integer: bool = False) -> tuple:
    """"MIN,MAX" (or a pair) -> (min, max) checked; () when empty; ValueError naming `name` otherwise."""
    if not value:  # "", None or an empty pair: keep the config's own range
        return ()
    parts = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    cast = int if integer else float
    try:
        low, high = (cast(v) for v in parts)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be MIN,MAX ({'integers' if integer else 'numbers'}), got {value!r}") from None
    if not minimum <= low <= high:
        raise ValueError(f"{name}: need {minimum:g} <= MIN <= MAX, got {value!r}")
    return low, high


class SyntheticReader:
    """`items()` are image indices; `load(i)` renders image i of dataset `seed`.

    With `backgrounds` (a folder or glob of photographs) words are painted on those scenes
    (`tfdet.datasets.scene_text`); unusable background files are reported with image 0.
    """

    dataset_name = "synthetic"
    generator_kind = "procedural"  # dataset.json's generator kind without --backgrounds

    def __init__(self, num_images: int = 100, seed: int = 0, split: str = "train", config: SyntheticConfig | None = None,
                 backgrounds: str = "", scene_config=None, text_heights="", text_blocks="", paste_words="",
                 paste_style=None, **_):
        """`text_heights` ("MIN,MAX" or a pair, pixels) and `text_blocks` ("MIN,MAX", scene generator only)
        override the configs; ValueError when malformed. `paste_words` (a record glob, scene generator
        only) pastes real words cut from those records beside the painted ones, as `paste_style`
        ("strokes" or "patch", default the config's)."""
        if num_images <= 0:
            raise ValueError("--num_images must be positive")
        self.num_images = int(num_images)
        self.seed = int(seed)
        self.split = split
        heights = parse_range(text_heights, "--text_heights", minimum=4.0)
        blocks = parse_range(text_blocks, "--text_blocks", minimum=1, integer=True)
        scene = "the scene generator (--backgrounds)"
        for name, value, needs, what in (("--text_blocks", blocks, backgrounds, scene),
                                         ("--paste_words", paste_words, backgrounds, scene),
                                         ("--paste_style", paste_style, paste_words, "pasted words (--paste_words)")):
            if value and not needs:
                raise ValueError(f"{name} applies to {what}")
        sizes = dict(min_text_height=heights[0], max_text_height=heights[1]) if heights else {}
        self.config = dataclasses.replace(config or SyntheticConfig(), **sizes)
        self.backgrounds = None
        self.words = None
        generator = self.config
        if backgrounds:
            from tfdet.datasets import scene_text

            if blocks:
                sizes.update(min_blocks=blocks[0], max_blocks=blocks[1])
            if paste_style:
                sizes.update(paste_style=paste_style)
            self.scene_config = dataclasses.replace(scene_config or scene_text.SceneTextConfig(), **sizes)
            self.backgrounds = scene_text.BackgroundSet(backgrounds, self.scene_config)
            generator = self.scene_config
            if paste_words:
                from tfdet.datasets.word_bank import WordBank

                self.words = WordBank(paste_words, min_height=self.scene_config.dont_care_height,
                                      max_height=self.scene_config.max_text_height)
        # recorded in dataset.json: what the images were drawn with
        self.dataset_json_extra = {"generator": {"kind": "scene" if backgrounds else self.generator_kind, **self.seeding(),
                                                 **dataclasses.asdict(generator)}}
        if self.words is not None:
            self.dataset_json_extra["generator"].update(paste_words=paste_words, pasted_word_bank=self.words.describe())

    def seeding(self) -> dict:
        """How the images were seeded (recorded in dataset.json)."""
        return {"seed": self.seed, "split": self.split, "seeding": SEEDING}

    def items(self):
        return list(range(self.num_images))

    def render(self, index: int):
        """(RGB image, [(quad, text, dont_care)], jpeg quality) of image `index`."""
        if self.backgrounds is None:
            return render_image(self.seed, index, self.config, self.split)
        from tfdet.datasets import scene_text

        image, objects, quality, _word_ids, _path = scene_text.render_scene(self.seed, index, self.backgrounds, self.scene_config,
                                                                            self.words, self.split)
        return image, objects, quality

    def load(self, index: int):
        image, objects, quality = self.render(index)
        data = encode_rgb(image, "jpeg", quality)
        name = f"img_{index + 1}.jpg"
        annotations = [ObjectAnnotation(quad=q, text=t, difficult=d) for q, t, d in objects]
        problems: list = []
        if self.backgrounds is not None and index == 0:  # reported once per dataset, with image 0
            problems = list(self.backgrounds.problems) + [Problem("fonts", "scene generator", font_lib.describe(font_lib.all_fonts()))]
            if self.words is not None:
                problems += list(self.words.problems) + [Problem("pasted_words", "scene generator", self.words.describe())]
        sample = build_samples_objects(name, data, name, f"synthetic/{self.seed}/{self.split}/{name}", annotations, problems)
        return sample, problems


def sample_to_icdar2015_lines(sample: Sample) -> str:
    """ICDAR 2015 ground truth text for a sample (integer coordinates, CRLF)."""
    lines = []
    for quad, text, dont_care in zip(sample.quads, sample.texts, sample.difficult):
        coords = ",".join(str(int(round(v))) for v in np.asarray(quad).reshape(-1))
        lines.append(f"{coords},{keys.DONT_CARE_TEXT if dont_care else text}")
    return "".join(line + "\r\n" for line in lines)


def write_icdar2015(output_dir: str, num_images: int, seed: int, config: SyntheticConfig | None = None) -> int:
    """Write `images/img_N.jpg` and `gt/gt_img_N.txt` (ICDAR 2015 layout). Returns the count."""
    reader = SyntheticReader(num_images=num_images, seed=seed, config=config)
    os.makedirs(os.path.join(output_dir, "images"), exist_ok=True)
    os.makedirs(os.path.join(output_dir, "gt"), exist_ok=True)
    for index in reader.items():
        sample, _ = reader.load(index)
        stem = os.path.splitext(sample.filename)[0]
        with open(os.path.join(output_dir, "images", sample.filename), "wb") as f:
            f.write(sample.image)
        with open(os.path.join(output_dir, "gt", f"gt_{stem}.txt"), "w", encoding="utf-8", newline="") as f:
            f.write(sample_to_icdar2015_lines(sample))
    return reader.num_images
