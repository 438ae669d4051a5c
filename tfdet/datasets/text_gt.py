"""Readers for the per-image text ground-truth files of the ICDAR family.

ICDAR 2015 (`x1,y1,...,x4,y4,text`), MLT 2017/2019 (`x1,...,y4,script,text`)
and ICDAR 2013 (`xmin ymin xmax ymax "text"` and its comma variants) share the
same shape: a folder (or zip) of `gt_<stem>.txt` files beside a folder of
images `<stem>.<ext>`. Only the line parser differs.
"""

from __future__ import annotations

import os
import re

import numpy as np

from tfdet import geometry, keys
from tfdet.datasets.base import (
    AnnotationSource,
    ObjectAnnotation,
    Problem,
    build_samples_objects,
    index_images,
    natural_key,
    read_file_bytes,
    text_lines,
)
from tfdet.datasets.splits import SplitSelector


class LineError(ValueError):
    """A malformed annotation line."""


def parse_number(field: str, what: str) -> float:
    try:
        value = float(field.strip())
    except ValueError:
        raise LineError(f"{what} is not a number: {field.strip()!r}") from None
    if not np.isfinite(value):
        raise LineError(f"{what} is not finite: {field.strip()!r}")
    return value


def parse_quad_fields(fields: list[str]) -> np.ndarray:
    values = [parse_number(f, f"coordinate {i + 1}") for i, f in enumerate(fields)]
    return np.asarray(values, dtype=np.float64).reshape(4, 2)


class TextGtReader:
    """Base for folder-of-gt-files readers. Subclasses define `parse_line`."""

    dataset_name = ""

    def __init__(self, image_dir: str, annotations: str, split: str = "train", split_part: str = "all",
                 val_fraction: float = 0.1, val_list: str = "", **_):
        self.image_dir = image_dir
        self.source = AnnotationSource(annotations)
        self.split = split
        self.selector = SplitSelector(split_part, val_fraction, val_list)
        self.dataset_json_extra = self.selector.describe()

    @staticmethod
    def image_stem(gt_name: str) -> str:
        """gt_img_12.txt -> img_12; tr_img_00001.txt (MLT 2019) -> tr_img_00001."""
        stem = os.path.splitext(os.path.basename(gt_name))[0]
        return stem[3:] if stem.lower().startswith("gt_") else stem

    def items(self) -> list[tuple[str, str | None]]:
        """(gt name, image path or None) for every gt file of the split part, in natural order."""
        images = index_images(self.image_dir)
        names = sorted((n for n in self.source.names() if self.selector.keeps(self.image_stem(n))), key=natural_key)
        return [(name, images.get(self.image_stem(name).lower())) for name in names]

    def parse_line(self, line: str) -> ObjectAnnotation:
        raise NotImplementedError

    def parse_file(self, raw: bytes, display: str, problems: list[Problem]) -> list[ObjectAnnotation]:
        objects = []
        for number, line in text_lines(raw):
            try:
                obj = self.parse_line(line)
            except LineError as exc:
                problems.append(Problem("skipped_line", display, f"{exc}: {line.strip()[:80]!r}", number))
                continue
            obj.line = number
            objects.append(obj)
        return objects

    def load(self, item) -> tuple:
        gt_name, image_path = item
        display = self.source.display(gt_name)
        problems: list[Problem] = []
        if image_path is None:
            problems.append(Problem("skipped_file", display, f"no image {self.image_stem(gt_name)}.* in {self.image_dir}"))
            return None, problems
        try:
            raw = self.source.read(gt_name)
        except OSError as exc:
            problems.append(Problem("skipped_file", display, f"cannot read annotation file: {exc}"))
            return None, problems
        objects = self.parse_file(raw, display, problems)
        try:
            image_bytes = read_file_bytes(image_path)
        except OSError as exc:
            problems.append(Problem("skipped_file", image_path, f"cannot read image: {exc}"))
            return None, problems
        filename = os.path.basename(image_path)
        sample = build_samples_objects(image_path, image_bytes, filename, f"{self.dataset_name}/{self.split}/{filename}", objects, problems, display)
        return sample, problems


def parse_icdar2015_line(line: str) -> ObjectAnnotation:
    """`x1,y1,x2,y2,x3,y3,x4,y4,transcription`; the transcription may contain commas."""
    fields = line.split(",", 8)
    if len(fields) < 8:
        raise LineError(f"expected 8 coordinates and a transcription, got {len(fields)} fields")
    text = fields[8].strip() if len(fields) == 9 else ""
    quad = parse_quad_fields(fields[:8])
    return ObjectAnnotation(quad=quad, text=text, difficult=text == keys.DONT_CARE_TEXT)


class Icdar2015Reader(TextGtReader):
    dataset_name = "icdar2015"

    def parse_line(self, line: str) -> ObjectAnnotation:
        return parse_icdar2015_line(line)


_IC13_NUMBER = r"(-?\d+(?:\.\d+)?)"
_IC13_SEP = r"(?:\s*,\s*|\s+)"
_IC13_LINE = re.compile(
    r"^\s*" + _IC13_SEP.join([_IC13_NUMBER] * 4) + r"(?:" + _IC13_SEP + r"(.*?))?\s*$"
)


def unquote(text: str) -> str:
    m = re.match(r'^\s*"(.*)"\s*$', text)
    if m:
        return m.group(1).replace('\\\\', '\\').replace('\\"', '"')
    return text.strip()


def parse_icdar2013_line(line: str) -> ObjectAnnotation:
    """Raw train `xmin ymin xmax ymax "text"`, raw test `xmin, ymin, xmax, ymax, "text"`
    and RRC `xmin,ymin,xmax,ymax,text`."""
    m = _IC13_LINE.match(line)
    if not m:
        fields = re.split(_IC13_SEP, line.strip())
        for i, f in enumerate(fields[:4]):
            parse_number(f, f"coordinate {i + 1}")
        raise LineError("expected xmin ymin xmax ymax and a transcription")
    xmin, ymin, xmax, ymax = (float(m.group(i)) for i in range(1, 5))
    if xmax < xmin or ymax < ymin:
        raise LineError(f"box has xmax < xmin or ymax < ymin: {xmin:g},{ymin:g},{xmax:g},{ymax:g}")
    text = unquote(m.group(5) or "")
    return ObjectAnnotation(quad=geometry.box_to_quad(xmin, ymin, xmax, ymax), text=text, difficult=text == keys.DONT_CARE_TEXT)


class Icdar2013Reader(TextGtReader):
    dataset_name = "icdar2013"

    def parse_line(self, line: str) -> ObjectAnnotation:
        return parse_icdar2013_line(line)


def parse_mlt_line(line: str) -> ObjectAnnotation:
    """`x1,y1,...,x4,y4,script,transcription` (MLT 2017 and 2019)."""
    fields = line.split(",", 9)
    if len(fields) < 10:
        raise LineError(f"expected 8 coordinates, a script and a transcription, got {len(fields)} fields")
    quad = parse_quad_fields(fields[:8])
    script = fields[8].strip()
    text = fields[9].strip()
    return ObjectAnnotation(quad=quad, text=text, script=script, difficult=text == keys.DONT_CARE_TEXT)


class MltReader(TextGtReader):
    dataset_name = "mlt"

    def parse_line(self, line: str) -> ObjectAnnotation:
        return parse_mlt_line(line)
