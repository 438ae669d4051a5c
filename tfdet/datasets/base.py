"""Types and helpers shared by every reader.

A reader lists cheap, picklable *items* (`items()`), and turns one item into a
`Sample` plus a list of `Problem`s (`load(item)`). Listing and loading are
split so that the writer can load items in worker processes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import re
import zipfile
from typing import Iterable

import numpy as np

from tfdet import geometry, keys

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")


@dataclasses.dataclass
class Problem:
    """Something wrong with the input: where, what, and what was done about it.

    kind: `skipped_file` (image or annotation file unusable: the image is left
    out), `skipped_line` (a malformed annotation line), `dropped_quad`
    (degenerate quad), `repaired_quad`, `clipped_quad`, `exif_orientation`, `fonts` (the font
    families a generator drew from), `pasted_words` (the real words a generator pastes),
    `unsplit_line` (a text line that `--split_lines` could not cut into words, kept as don't
    care). All but the first three are informational and do not fail `--strict`.
    """

    kind: str
    path: str
    reason: str
    line: int | None = None

    FATAL_KINDS = ("skipped_file", "skipped_line", "dropped_quad")

    @property
    def fatal(self) -> bool:
        return self.kind in self.FATAL_KINDS

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.reason} ({self.kind})"

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Sample:
    """One image and its objects. Quads are (N, 4, 2) pixels, canonical order."""

    image: bytes
    image_format: str  # "jpeg" | "png"
    filename: str
    source_id: str
    height: int
    width: int
    quads: np.ndarray
    labels: list[int]
    class_names: list[str]
    difficult: list[bool]
    texts: list[str]
    is_crowd: list[bool] = dataclasses.field(default_factory=list)
    scripts: list[str] = dataclasses.field(default_factory=list)
    areas: list[float] = dataclasses.field(default_factory=list)
    original_labels: list[int] = dataclasses.field(default_factory=list)  # class-agnostic records only

    def __post_init__(self):
        n = len(self.labels)
        self.quads = np.asarray(self.quads, dtype=np.float64).reshape(n, 4, 2)
        if not self.is_crowd:
            self.is_crowd = [False] * n
        if not self.scripts:
            self.scripts = [""] * n
        if not self.areas:
            self.areas = [abs(geometry.signed_area(q)) for q in self.quads]
        for name in ("class_names", "difficult", "texts", "is_crowd", "scripts", "areas"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{self.filename}: {name} has {len(getattr(self, name))} entries for {n} objects")
        if self.original_labels and len(self.original_labels) != n:
            raise ValueError(f"{self.filename}: original_labels has {len(self.original_labels)} entries for {n} objects")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.image).hexdigest()

    @property
    def num_objects(self) -> int:
        return len(self.labels)


@dataclasses.dataclass
class ObjectAnnotation:
    """One object as parsed from a source file, before validation."""

    quad: np.ndarray
    text: str = ""
    difficult: bool = False
    label: int = 1
    class_name: str = keys.TEXT_CLASS_NAME
    is_crowd: bool = False
    script: str = ""
    area: float | None = None
    line: int | None = None
    original_label: int = 0  # class-agnostic readers: the label the object had before (0: none)


class ImageError(Exception):
    """The image bytes are missing, truncated or not an image."""


def image_header_size(data: bytes) -> tuple[int, int] | None:
    """(height, width) read from the image header without decoding the pixels (PIL's size check is
    skipped: this is how callers find a huge image before decoding it), or None when no decoder
    recognises the bytes."""
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
        return height, width
    except Exception:  # not an image: inspect_image says why
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def inspect_image(data: bytes) -> tuple[str, int, int, bytes]:
    """Fully decode image bytes; return (format, height, width, bytes to store).

    JPEG and PNG bytes are kept as they are; other formats (GIF, BMP) are
    re-encoded as PNG, the first frame only. Raises ImageError on anything a
    decoder rejects, including truncated files.
    """
    from PIL import Image

    if not data:
        raise ImageError("empty image file")
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = (im.format or "").lower()
            width, height = im.size
            if fmt == "jpeg":
                # decode at 1/8 scale in the DCT domain: the whole entropy-coded stream is still
                # read (a truncated or corrupt file still fails), at a fraction of the cost
                im.draft("RGB", (max(1, width // 8), max(1, height // 8)))
            im.load()
            if fmt in ("jpeg", "png"):
                return fmt, height, width, data
            out = io.BytesIO()
            im.convert("RGB").save(out, format="PNG")
            return "png", height, width, out.getvalue()
    except ImageError:
        raise
    except Exception as exc:  # PIL raises many types for bad data
        raise ImageError(f"cannot decode image: {exc}") from exc


def encode_rgb(pixels: np.ndarray, image_format: str = "jpeg", quality: int = 95) -> bytes:
    """Encode an RGB uint8 array (raw-pixel sources only)."""
    import cv2

    bgr = np.ascontiguousarray(pixels[..., ::-1])
    if image_format == "png":
        ok, buf = cv2.imencode(".png", bgr)
    else:
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ImageError("cannot encode pixels")
    return buf.tobytes()


def decode_stored_pixels(data: bytes, grayscale: bool = False) -> np.ndarray | None:
    """Image bytes -> the pixels as stored: RGB uint8 [h, w, 3] (or [h, w] with `grayscale`); None when
    they do not decode. EXIF orientation is not applied: annotations refer to the stored pixels, as
    `tf.io.decode_image` (the input pipeline, serving) reads them. The one decoder of tfdet's numpy code."""
    import cv2

    mode = (cv2.IMREAD_GRAYSCALE if grayscale else cv2.IMREAD_COLOR) | cv2.IMREAD_IGNORE_ORIENTATION
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), mode)
    if pixels is None or grayscale:
        return pixels
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)


def decode_text(raw: bytes) -> str:
    """UTF-8 with or without BOM; undecodable bytes are replaced, never fatal."""
    text = raw.decode("utf-8", errors="replace")
    return text[1:] if text.startswith("\ufeff") else text


def text_lines(raw: bytes) -> list[tuple[int, str]]:
    """(1-based line number, line) for non-empty lines; CRLF, LF and CR all work."""
    return [(i + 1, line) for i, line in enumerate(decode_text(raw).splitlines()) if line.strip()]


def build_samples_objects(
    path: str,
    image_bytes: bytes,
    filename: str,
    source_id: str,
    objects: Iterable[ObjectAnnotation],
    problems: list[Problem],
    annotation_path: str | None = None,
) -> Sample | None:
    """Decode and check the image, validate every quad, and assemble a Sample.

    `path` names the image in messages about the image, `annotation_path` (default
    `path`) the file whose lines the objects came from. Returns None (with a
    `skipped_file` problem) when the image is unusable.
    """
    annotation_path = annotation_path or path
    try:
        fmt, height, width, stored = inspect_image(image_bytes)
    except ImageError as exc:
        problems.append(Problem("skipped_file", path, str(exc)))
        return None
    fields: dict[str, list] = {k: [] for k in ("quads", "labels", "class_names", "difficult", "texts", "is_crowd", "scripts", "areas", "original_labels")}
    for obj in objects:
        check = geometry.validate_quad(obj.quad, width, height)
        where = obj.line
        if check.quad is None:
            problems.append(Problem("dropped_quad", annotation_path, check.reason, where))
            continue
        if check.repaired:
            problems.append(Problem("repaired_quad", annotation_path, "self-intersecting quad reordered", where))
        if check.clipped:
            problems.append(Problem("clipped_quad", annotation_path, "quad clipped to the image", where))
        fields["quads"].append(check.quad)
        fields["labels"].append(obj.label)
        fields["class_names"].append(obj.class_name)
        fields["difficult"].append(bool(obj.difficult))
        fields["texts"].append(obj.text)
        fields["is_crowd"].append(bool(obj.is_crowd))
        fields["scripts"].append(obj.script)
        fields["areas"].append(float(obj.area) if obj.area is not None else abs(geometry.signed_area(check.quad)))
        fields["original_labels"].append(int(obj.original_label))
    n = len(fields["labels"])
    return Sample(
        image=stored,
        image_format=fmt,
        filename=filename,
        source_id=source_id,
        height=height,
        width=width,
        quads=np.asarray(fields["quads"], dtype=np.float64).reshape(n, 4, 2),
        labels=fields["labels"],
        class_names=fields["class_names"],
        difficult=fields["difficult"],
        texts=fields["texts"],
        is_crowd=fields["is_crowd"],
        scripts=fields["scripts"],
        areas=fields["areas"],
        original_labels=fields["original_labels"] if any(fields["original_labels"]) else [],
    )


class AnnotationSource:
    """A folder of annotation files, or a .zip of them (as RRC ships ground truth)."""

    def __init__(self, path: str):
        if not os.path.exists(path):
            raise FileNotFoundError(f"annotations not found: {path}")
        self.path = path
        self.is_zip = zipfile.is_zipfile(path) if os.path.isfile(path) else False

    def names(self) -> list[str]:
        if self.is_zip:
            with zipfile.ZipFile(self.path) as zf:
                return sorted(n for n in zf.namelist() if n.lower().endswith(".txt"))
        return sorted(n for n in os.listdir(self.path) if n.lower().endswith(".txt"))

    def read(self, name: str) -> bytes:
        if self.is_zip:
            with zipfile.ZipFile(self.path) as zf:
                return zf.read(name)
        with open(os.path.join(self.path, name), "rb") as f:
            return f.read()

    def display(self, name: str) -> str:
        return f"{self.path}!{name}" if self.is_zip else os.path.join(self.path, name)


def index_images(image_dir: str) -> dict[str, str]:
    """Map lower-case file stem -> path for every image in a folder (any extension case)."""
    if not os.path.isdir(image_dir):
        raise FileNotFoundError(f"image folder not found: {image_dir}")
    index = {}
    for name in sorted(os.listdir(image_dir)):
        stem, ext = os.path.splitext(name)
        if ext.lower() in IMAGE_EXTENSIONS:
            index.setdefault(stem.lower(), os.path.join(image_dir, name))
    return index


def natural_key(text: str):
    """Sort 'img_2' before 'img_10'."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)]


def read_file_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()
