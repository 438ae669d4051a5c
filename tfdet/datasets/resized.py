"""Resize every image of a reader at conversion time (`--resize_images=WIDTHxHEIGHT`).

For copies of a dataset that were stored at another size or aspect ratio than the photographs
the model will see: e.g. the 960x640 copy of the 1280x720 ICDAR 2015 training photographs, whose
words are squeezed horizontally by 16%. Quads are scaled with the pixels (they stay on the same
words), areas recomputed; the image is re-encoded (JPEG at quality 95, PNG stays PNG). Images that
already have the size keep their bytes. EXIF orientation is ignored, as everywhere in tfdet.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfdet import geometry
from tfdet.datasets.base import Problem, encode_rgb


def parse_size(text: str) -> tuple[int, int]:
    """'1280x720' -> (1280, 720)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--resize_images must be WIDTHxHEIGHT (e.g. 1280x720), got {text!r}") from None
    if not (8 <= width <= 16384 and 8 <= height <= 16384):
        raise ValueError(f"--resize_images sides must be within 8-16384 pixels, got {text!r}")
    return width, height


def resize_sample(sample, width: int, height: int):
    """A copy of `sample` whose image is width x height pixels, its quads scaled to match."""
    import cv2

    if (sample.width, sample.height) == (width, height):
        return sample
    pixels = cv2.imdecode(np.frombuffer(sample.image, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if pixels is None:
        raise ValueError("cannot decode the image to resize it")
    shrink = width * height < sample.width * sample.height
    resized = cv2.resize(pixels, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    image_format = "png" if sample.image_format == "png" else "jpeg"
    scale = np.array([width / sample.width, height / sample.height])
    quads = sample.quads * scale
    return dataclasses.replace(sample, image=encode_rgb(resized[..., ::-1], image_format), image_format=image_format,
                               width=width, height=height, quads=quads,
                               areas=[abs(geometry.signed_area(q)) for q in quads])


class ResizedReader:
    """Wraps a reader: the same items and problems, every image resized to (width, height)."""

    def __init__(self, reader, width: int, height: int):
        self.reader, self.width, self.height = reader, int(width), int(height)
        self.dataset_name = getattr(reader, "dataset_name", "")
        self.label_map = getattr(reader, "label_map", None)
        self.dataset_json_extra = {**(getattr(reader, "dataset_json_extra", None) or {}),
                                   "resized_images": f"{self.width}x{self.height}"}

    def items(self):
        return self.reader.items()

    def load(self, item):
        sample, problems = self.reader.load(item)
        if sample is None:
            return None, problems
        try:
            return resize_sample(sample, self.width, self.height), problems
        except ValueError as exc:
            return None, problems + [Problem("skipped_file", sample.filename, str(exc))]
