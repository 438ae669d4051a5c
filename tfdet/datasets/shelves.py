"""Synthetic product shelves in COCO format: the recognition demo's data (real grocery sets cannot
be downloaded here).

A *catalog* of product identities is fixed by its seed: each identity has a package shape
(box, bottle, can, jar, pouch), an aspect ratio, base and accent colours, a texture (stripes,
dots, checks, gradient, diagonals), a logo (shape, colour, place) and a brand word in one of
the Hershey fonts. Shelf images show rows of products standing on boards, each one a fresh
*view* (perspective, lighting gradient and colour cast, blur), packed so that neighbours overlap
and price tags hide their bottoms. `write_coco` writes `images/*.jpg` and `annotations.json`
(one category per identity, `id = identity + 1`, so every split of one catalog shares label
numbers); `write_references` writes packshots, one folder per product (a gallery source).
Everything is deterministic per seed.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os

import numpy as np

SHAPES = ("box", "bottle", "can", "jar", "pouch")
PATTERNS = ("plain", "stripes_h", "stripes_v", "dots", "checks", "gradient", "diagonal")
LOGOS = ("circle", "triangle", "star", "square", "diamond", "ring")
FONTS = (0, 1, 2, 3, 4, 6)  # cv2.FONT_HERSHEY_SIMPLEX .. TRIPLEX, SCRIPT_SIMPLEX: a few looks
SYLLABLES = [c + v for c in "BCDFGKLMNPRSTVZ" for v in "AEIOU"]
CANVAS_HEIGHT = 120  # products are drawn at this height, then resized for each view


@dataclasses.dataclass(frozen=True)
class Product:
    """One identity: everything that makes its package look like itself."""

    identity: int
    shape: str
    aspect: float  # height / width
    base: tuple
    accent: tuple
    text_color: tuple
    pattern: str
    pattern_period: int
    logo: str
    logo_color: tuple
    logo_place: float  # vertical position of the logo, share of the height
    brand: str
    font: int

    @property
    def name(self) -> str:
        return f"{self.identity:03d}_{self.brand.lower()}"


def _color(rng) -> tuple:
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0.35, 1.0), rng.uniform(0.3, 1.0))
    return (int(r * 255), int(g * 255), int(b * 255))


def make_product(identity: int, catalog_seed: int = 0) -> Product:
    rng = np.random.default_rng([catalog_seed, identity, 7])
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    aspect = {"box": (1.1, 1.8), "bottle": (2.0, 3.0), "can": (1.5, 2.0), "jar": (1.0, 1.4), "pouch": (1.2, 1.6)}[shape]
    base = _color(rng)
    accent = _color(rng)
    text_color = (255, 255, 255) if sum(base) < 380 else (20, 20, 20)
    return Product(
        identity=identity, shape=shape, aspect=float(rng.uniform(*aspect)), base=base, accent=accent,
        text_color=text_color, pattern=PATTERNS[int(rng.integers(len(PATTERNS)))], pattern_period=int(rng.integers(6, 16)),
        logo=LOGOS[int(rng.integers(len(LOGOS)))], logo_color=_color(rng), logo_place=float(rng.uniform(0.25, 0.75)),
        brand="".join(SYLLABLES[int(i)] for i in rng.integers(len(SYLLABLES), size=int(rng.integers(2, 4)))),
        font=FONTS[int(rng.integers(len(FONTS)))],
    )


def make_catalog(num_products: int, catalog_seed: int = 0) -> list[Product]:
    return [make_product(i, catalog_seed) for i in range(num_products)]


def _shape_mask(shape: str, h: int, w: int) -> np.ndarray:
    import cv2

    mask = np.zeros((h, w), np.uint8)
    if shape == "bottle":
        neck_w, neck_h = max(2, w * 2 // 5), h // 4
        cv2.rectangle(mask, ((w - neck_w) // 2, 0), ((w + neck_w) // 2, neck_h), 255, -1)
        cv2.ellipse(mask, (w // 2, neck_h + h // 10), (w // 2, h // 10), 0, 180, 360, 255, -1)
        cv2.rectangle(mask, (0, neck_h + h // 10), (w - 1, h - 1), 255, -1)
    elif shape == "can":
        r = max(2, h // 14)
        cv2.rectangle(mask, (0, r), (w - 1, h - 1 - r), 255, -1)
        cv2.ellipse(mask, (w // 2, r), (w // 2, r), 0, 0, 360, 255, -1)
        cv2.ellipse(mask, (w // 2, h - 1 - r), (w // 2, r), 0, 0, 360, 255, -1)
    elif shape == "pouch":
        pts = np.array([[w // 8, 0], [w - 1 - w // 8, 0], [w - 1, h - 1], [0, h - 1]], np.int32)
        cv2.fillPoly(mask, [pts], 255)
    else:  # box, jar
        mask[:] = 255
    return mask


def _pattern(product: Product, h: int, w: int) -> np.ndarray:
    import cv2

    img = np.empty((h, w, 3), np.uint8)
    img[:] = product.base
    p, acc = product.pattern_period, product.accent
    if product.pattern == "stripes_h":
        for y in range(0, h, 2 * p):
            img[y:y + p] = acc
    elif product.pattern == "stripes_v":
        for x in range(0, w, 2 * p):
            img[:, x:x + p] = acc
    elif product.pattern == "dots":
        for y in range(p // 2, h, p * 2):
            for x in range(p // 2 + (y // (2 * p)) % 2 * p, w, p * 2):
                cv2.circle(img, (x, y), max(2, p // 2), acc, -1, cv2.LINE_AA)
    elif product.pattern == "checks":
        yy, xx = np.mgrid[0:h, 0:w]
        img[((yy // p) + (xx // p)) % 2 == 1] = acc
    elif product.pattern == "gradient":
        t = np.linspace(0, 1, h)[:, None, None]
        img = (np.asarray(product.base) * (1 - t) + np.asarray(acc) * t).astype(np.uint8).repeat(w, 1)
    elif product.pattern == "diagonal":
        yy, xx = np.mgrid[0:h, 0:w]
        img[((yy + xx) // p) % 2 == 1] = acc
    return np.ascontiguousarray(img)


def _logo(img: np.ndarray, product: Product, cx: int, cy: int, r: int):
    import cv2

    c = product.logo_color
    if product.logo == "circle":
        cv2.circle(img, (cx, cy), r, c, -1, cv2.LINE_AA)
    elif product.logo == "ring":
        cv2.circle(img, (cx, cy), r, c, max(2, r // 3), cv2.LINE_AA)
    elif product.logo == "square":
        cv2.rectangle(img, (cx - r, cy - r), (cx + r, cy + r), c, -1)
    else:
        angles = {"triangle": np.arange(3) * 2 * np.pi / 3, "diamond": np.arange(4) * np.pi / 2,
                  "star": np.arange(10) * np.pi / 5}[product.logo] - np.pi / 2
        radius = np.where(np.arange(len(angles)) % 2 == 1, r * 0.45, r) if product.logo == "star" else np.full(len(angles), r)
        pts = np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], -1).round().astype(np.int32)
        cv2.fillPoly(img, [pts], c, cv2.LINE_AA)


@functools.lru_cache(maxsize=1024)
def render_front(product: Product) -> np.ndarray:
    """RGBA front face of the package at CANVAS_HEIGHT pixels high (cached: treat as read-only)."""
    import cv2

    h = CANVAS_HEIGHT
    w = max(16, int(round(h / product.aspect)))
    img = _pattern(product, h, w)
    if product.shape == "jar":
        img[: h // 6] = tuple(int(v * 0.5) for v in product.accent)  # lid
    band_top, band_h = int(h * 0.08) + (h // 6 if product.shape in ("bottle", "jar") else 0), max(12, h // 7)
    cv2.rectangle(img, (0, band_top), (w - 1, band_top + band_h), tuple(int(v * 0.6) for v in product.base), -1)
    scale = 0.9 if len(product.brand) <= 4 else 0.6
    (tw, th), _ = cv2.getTextSize(product.brand, product.font, scale, 2)
    fit = min(1.0, (w - 4) / max(tw, 1))
    cv2.putText(img, product.brand, ((w - int(tw * fit)) // 2, band_top + (band_h + int(th * fit)) // 2), product.font,
                scale * fit, product.text_color, 1 if fit < 0.6 else 2, cv2.LINE_AA)
    _logo(img, product, w // 2, int(h * product.logo_place) + band_h // 2, max(4, w // 4))
    rgba = np.dstack([img, _shape_mask(product.shape, h, w)])
    return rgba


def render_view(product: Product, height: int, rng, warp: float = 0.08, lighting: bool = True) -> np.ndarray:
    """RGBA view of a product `height` pixels high: perspective, lighting gradient, colour cast, blur."""
    import cv2

    front = render_front(product)
    h0, w0 = front.shape[:2]
    width = max(4, int(round(height * w0 / h0)))
    src = np.float32([[0, 0], [w0, 0], [w0, h0], [0, h0]])
    jitter = rng.uniform(-warp, warp, (4, 2)) * np.float32([width, height])
    dst = np.float32([[0, 0], [width, 0], [width, height], [0, height]]) + jitter
    dst -= dst.min(0)
    out_w, out_h = int(np.ceil(dst[:, 0].max())) + 1, int(np.ceil(dst[:, 1].max())) + 1
    matrix = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    view = cv2.warpPerspective(front, matrix, (out_w, out_h), flags=cv2.INTER_AREA, borderValue=(0, 0, 0, 0))
    rgb = view[..., :3].astype(np.float32)
    if lighting:
        gain = rng.uniform(0.6, 1.25) * np.linspace(rng.uniform(0.75, 1.1), rng.uniform(0.75, 1.1), out_w)[None, :, None]
        rgb = rgb * gain * rng.uniform(0.9, 1.1, 3) + rng.uniform(-15, 15)
        if rng.uniform() < 0.3:
            rgb = cv2.GaussianBlur(rgb, (3, 3), rng.uniform(0.5, 1.2))
    return np.dstack([np.clip(rgb, 0, 255).astype(np.uint8), view[..., 3]])


def _paste(scene: np.ndarray, rgba: np.ndarray, x: int, y: int):
    """Alpha-blend rgba onto scene with its top-left at (x, y); -> visible box (x0, y0, x1, y1) or None."""
    h, w = rgba.shape[:2]
    H, W = scene.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x1 <= x0 or y1 <= y0:
        return None
    part = rgba[y0 - y:y1 - y, x0 - x:x1 - x]
    alpha = part[..., 3:4].astype(np.float32) / 255.0
    region = scene[y0:y1, x0:x1]
    scene[y0:y1, x0:x1] = (part[..., :3] * alpha + region * (1 - alpha)).astype(np.uint8)
    ys, xs = np.nonzero(part[..., 3] > 127)
    if not len(xs):
        return None
    return (x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1)


def _background(rng, height: int, width: int) -> np.ndarray:
    import cv2

    wall = np.empty((height, width, 3), np.float32)
    wall[:] = rng.uniform(90, 230, 3)
    wall += rng.normal(0, 6, (height, width, 1))
    for _ in range(int(rng.integers(3, 9))):  # faint posters and reflections
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        cv2.rectangle(wall, (x, y), (x + int(rng.integers(10, 80)), y + int(rng.integers(10, 60))),
                      tuple(float(v) for v in rng.uniform(60, 240, 3)), -1)
    wall = cv2.GaussianBlur(wall, (0, 0), 3)
    return np.clip(wall, 0, 255).astype(np.uint8)


def render_shelf(products: list[Product], rng, height: int = 256, width: int = 256, rows: tuple = (2, 3)):
    """-> (RGB image, [(product, (x0, y0, x1, y1))]) with boxes of the whole product in pixels
    (products cut by the image border keep their visible part, those less than 40 % visible are not annotated)."""
    import cv2

    scene = _background(rng, height, width)
    num_rows = int(rng.integers(rows[0], rows[1] + 1))
    board_h = max(4, height // 40)
    row_h = (height - board_h) // num_rows
    board_color = tuple(int(v) for v in rng.uniform(60, 180, 3))
    placed = []
    for r in range(num_rows):
        floor = (r + 1) * row_h
        cv2.rectangle(scene, (0, floor), (width - 1, min(height - 1, floor + board_h)), board_color, -1)
        x = int(rng.integers(-8, 10))
        while x < width - 12:
            product = products[int(rng.integers(len(products)))]
            view = render_view(product, int(row_h * rng.uniform(0.55, 0.9)), rng)
            h, w = view.shape[:2]
            box = _paste(scene, view, x, floor - h)
            if box is not None and (box[2] - box[0]) >= max(6, 0.4 * w) and (box[3] - box[1]) >= 6:
                # a neighbour pasted later may overlap this one: occlusion as on a packed shelf
                placed.append((product, tuple(int(v) for v in box)))
            x += w + int(w * rng.uniform(-0.12, 0.3))
        if rng.uniform() < 0.5:  # price tags on the board edge hide the bottoms of products
            for tx in range(int(rng.integers(0, 30)), width, int(rng.integers(50, 90))):
                cv2.rectangle(scene, (tx, floor - board_h), (tx + 22, floor + board_h), (250, 250, 235), -1)
                cv2.putText(scene, f"{int(rng.integers(1, 99))}", (tx + 2, floor + board_h - 1), cv2.FONT_HERSHEY_PLAIN, 0.7,
                            (0, 0, 0), 1)
    return scene, placed


def write_coco(output_dir: str, num_images: int, seed: int, catalog: list[Product], identities=None,
               height: int = 256, width: int = 256, quality: int = 92) -> str:
    """Shelf images of the chosen identities (default: all) -> output_dir/images/*.jpg and
    output_dir/annotations.json (categories: the whole catalog). Returns the json path."""
    import cv2

    pool = [catalog[i] for i in (range(len(catalog)) if identities is None else identities)]
    if not pool:
        raise ValueError("no product identities to place on the shelves")
    os.makedirs(os.path.join(output_dir, "images"), exist_ok=True)
    images, annotations = [], []
    for index in range(num_images):
        rng = np.random.default_rng([seed, index])
        scene, placed = render_shelf(pool, rng, height, width)
        name = f"shelf_{seed}_{index:05d}.jpg"
        cv2.imwrite(os.path.join(output_dir, "images", name), scene[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        image_id = index + 1
        images.append({"id": image_id, "file_name": name, "height": height, "width": width})
        for product, (x0, y0, x1, y1) in placed:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": product.identity + 1,
                                "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0), "iscrowd": 0})
    categories = [{"id": p.identity + 1, "name": p.name, "supercategory": p.shape} for p in catalog]
    path = os.path.join(output_dir, "annotations.json")
    with open(path, "w") as f:
        json.dump({"images": images, "annotations": annotations, "categories": categories}, f)
    return path


def write_references(output_dir: str, catalog: list[Product], identities=None, views: int = 1, seed: int = 0,
                     size: int = 96) -> list[str]:
    """Packshots (one product on a plain background) -> output_dir/<product name>/<k>.jpg, a gallery source."""
    import cv2

    written = []
    for i in (range(len(catalog)) if identities is None else identities):
        product = catalog[i]
        folder = os.path.join(output_dir, product.name)
        os.makedirs(folder, exist_ok=True)
        for k in range(views):
            rng = np.random.default_rng([seed, product.identity, k])
            view = render_view(product, int(size * 0.85), rng, warp=0.04)
            scene = np.full((size, size, 3), 235, np.uint8)
            _paste(scene, view, (size - view.shape[1]) // 2, (size - view.shape[0]) // 2)
            path = os.path.join(folder, f"{k}.jpg")
            cv2.imwrite(path, scene[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
            written.append(path)
    return written
