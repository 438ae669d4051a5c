"""MSRA-TD500: line-level rotated rectangles, one `IMG_N.gt` beside each `IMG_N.JPG`.

Each ground-truth row is `index difficult x y w h theta` (space separated, CRLF):
(x, y, w, h) is the axis-aligned rectangle before rotation, (x, y) its top-left
corner, and the rectangle is turned by `theta` radians about its centre, positive
clockwise on screen (y down): a vertex p goes to c + R(theta) (p - c) with
R = [[cos, -sin], [sin, cos]]. `difficult=1` lines become don't care (`###`).
Empty files are images without text. Objects are text *lines*, not words.

EXIF orientation: the rectangles refer to the stored pixels. Nothing in tfdet
applies EXIF rotation (PIL's size and `tf.io.decode_image` both ignore it), so an
image with an Orientation tag is kept as stored and its boxes stay aligned; the
reader reports the tag as an informational `exif_orientation` problem.

Granularity: with `split_lines=True` (`--split_lines`) each line is cut into word quads at
the gaps the photograph shows (`tfdet.datasets.line_split`), so the records are word level
like ICDAR 2015 and the generators; a line that does not split with confidence (no clean
ink, Chinese characters set apart, a long line without gaps) becomes don't care and is
reported as an informational `unsplit_line` problem. Without it the objects stay lines.

Train / validation split of the 300 training photographs (`tfdet.datasets.splits`):
`split_part="val"` keeps the images whose SHA-1 of the lower-case file stem, read as a
number in [0, 1), is below `val_fraction` (or those named in `val_list`); `"train"` keeps
the others; `"all"` keeps every image.
"""

from __future__ import annotations

import dataclasses
import io
import os

import numpy as np

from tfdet import keys
from tfdet.datasets import line_split
from tfdet.datasets.base import (ObjectAnnotation, Problem, build_samples_objects, decode_stored_pixels, index_images, natural_key,
                                 read_file_bytes, text_lines)
from tfdet.datasets.splits import SplitSelector

EXIF_ORIENTATION_TAG = 274


def rotated_rect_quad(x: float, y: float, w: float, h: float, theta: float) -> np.ndarray:
    """The 4 corners of rectangle (x, y, w, h) turned by theta radians (clockwise on screen) about its centre."""
    center = np.array([x + w / 2.0, y + h / 2.0])
    corners = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float64) - center
    cos, sin = np.cos(theta), np.sin(theta)
    rotation = np.array([[cos, -sin], [sin, cos]])
    return corners @ rotation.T + center


class LineError(ValueError):
    """A malformed ground-truth row."""


def parse_line(line: str) -> ObjectAnnotation:
    fields = line.split()
    if len(fields) != 7:
        raise LineError(f"expected 7 fields 'index difficult x y w h theta', got {len(fields)}")
    try:
        _index, difficult = int(fields[0]), int(fields[1])
        x, y, w, h, theta = (float(v) for v in fields[2:])
    except ValueError:
        raise LineError("a field is not a number") from None
    if difficult not in (0, 1):
        raise LineError(f"difficult must be 0 or 1, got {difficult}")
    if not all(np.isfinite(v) for v in (x, y, w, h, theta)):
        raise LineError("a field is not finite")
    if w <= 0 or h <= 0:
        raise LineError(f"width and height must be positive, got {w:g} x {h:g}")
    return ObjectAnnotation(quad=rotated_rect_quad(x, y, w, h, theta), text=keys.DONT_CARE_TEXT if difficult else "",
                            difficult=bool(difficult))


def exif_orientation(image_bytes: bytes) -> int | None:
    """The EXIF Orientation value (2-8) when the image has one that rotates or flips it, else None."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(image_bytes)) as im:
            value = im.getexif().get(EXIF_ORIENTATION_TAG)
    except Exception:
        return None
    return int(value) if value not in (None, 0, 1) else None


def words_of_lines(image_bytes: bytes, lines: list[ObjectAnnotation], gt_path: str, problems: list[Problem]):
    """Each care line -> its word quads; a line that does not split -> don't care (`unsplit_line` problem)."""
    gray = decode_stored_pixels(image_bytes, grayscale=True)
    if gray is None:  # build_samples_objects reports the undecodable image
        return lines
    objects = []
    for line in lines:
        words = None if line.difficult else line_split.split_line(gray, line.quad)
        if words is None:
            if not line.difficult:
                problems.append(Problem("unsplit_line", gt_path, "line not split into words: don't care", line.line))
            objects.append(dataclasses.replace(line, text=keys.DONT_CARE_TEXT, difficult=True))
            continue
        objects.extend(dataclasses.replace(line, quad=quad) for quad in words)
    return objects


class MsraTd500Reader:
    """`--image_dir` holds `IMG_N.JPG`, `--annotations` the `IMG_N.gt` files (default: the same folder)."""

    dataset_name = "msra_td500"

    def __init__(self, image_dir: str, annotations: str | None = None, split: str = "train", split_part: str = "all",
                 val_fraction: float = 0.2, split_lines: bool = False, val_list: str = "", **_):
        self.selector = SplitSelector(split_part, val_fraction, val_list)
        self.image_dir = image_dir
        self.gt_dir = annotations or image_dir
        if not os.path.isdir(self.gt_dir):
            raise FileNotFoundError(f"annotation folder not found: {self.gt_dir}")
        self.split = split
        self.split_lines = bool(split_lines)
        self.dataset_json_extra = {"granularity": "words split from lines" if self.split_lines else "lines",
                                   **self.selector.describe()}

    def items(self) -> list[tuple[str, str | None]]:
        """(gt path, image path or None) for every `.gt` file of the chosen split part, in natural order."""
        images = index_images(self.image_dir)
        names = sorted((n for n in os.listdir(self.gt_dir) if n.lower().endswith(".gt")), key=natural_key)
        names = [n for n in names if self.selector.keeps(n)]
        return [(os.path.join(self.gt_dir, n), images.get(os.path.splitext(n)[0].lower())) for n in names]

    def load(self, item):
        gt_path, image_path = item
        problems: list[Problem] = []
        if image_path is None:
            problems.append(Problem("skipped_file", gt_path, "no image with this name in --image_dir"))
            return None, problems
        try:
            raw = read_file_bytes(gt_path)
            image_bytes = read_file_bytes(image_path)
        except OSError as exc:
            problems.append(Problem("skipped_file", gt_path, f"cannot read: {exc}"))
            return None, problems
        objects = []
        for number, line in text_lines(raw):
            try:
                obj = parse_line(line)
            except LineError as exc:
                problems.append(Problem("skipped_line", gt_path, f"{exc}: {line.strip()[:80]!r}", number))
                continue
            obj.line = number
            objects.append(obj)
        if self.split_lines:
            objects = words_of_lines(image_bytes, objects, gt_path, problems)
        orientation = exif_orientation(image_bytes)
        if orientation is not None:
            problems.append(Problem("exif_orientation", image_path,
                                    f"EXIF orientation {orientation} ignored: the boxes refer to the stored pixels"))
        name = os.path.basename(image_path)
        sample = build_samples_objects(image_path, image_bytes, name, f"msra_td500/{self.split}/{name}", objects, problems,
                                       annotation_path=gt_path)
        return sample, problems
