"""TF Object Detection API records written by other tools (quads from boxes when absent).

Items are (file, byte offset) pairs found by walking the TFRecord framing, so
large record sets are never held in memory.
"""

from __future__ import annotations

import struct

from tfdet.datasets.base import ObjectAnnotation, Problem, build_samples_objects


def record_offsets(path: str) -> list[int]:
    """Byte offsets of every record in a TFRecord file (framing: len, crc, data, crc)."""
    offsets = []
    with open(path, "rb") as f:
        pos = 0
        while True:
            header = f.read(12)
            if not header:
                break
            if len(header) < 12:
                raise ValueError(f"{path}: truncated record header at byte {pos}")
            (length,) = struct.unpack("<Q", header[:8])
            offsets.append(pos)
            pos += 12 + length + 4
            f.seek(pos)
    return offsets


def read_record(path: str, offset: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        (length,) = struct.unpack("<Q", f.read(8))
        f.read(4)
        data = f.read(length)
        if len(data) != length:
            raise ValueError(f"{path}: truncated record at byte {offset}")
        return data


class TfodReader:
    dataset_name = "tfod"

    def __init__(self, annotations: str, split: str = "train", **_):
        from tfdet.records.codec import iter_record_files

        self.files = iter_record_files(annotations)
        self.split = split

    def items(self):
        items = []
        for path in self.files:
            items.extend((path, off) for off in record_offsets(path))
        return items

    def load(self, item):
        from tfdet.records.codec import example_to_sample

        path, offset = item
        display = f"{path}@{offset}"
        problems: list[Problem] = []
        try:
            parsed = example_to_sample(read_record(path, offset))
        except Exception as exc:  # a corrupt record must not stop the run
            problems.append(Problem("skipped_file", display, f"cannot parse record: {exc}"))
            return None, problems
        objects = [  # crowd regions are don't care, as the coco reader makes them
            ObjectAnnotation(quad=q, text=t, difficult=d or cr, label=l, class_name=c, is_crowd=cr, script=s, area=a)
            for q, t, d, l, c, cr, s, a in zip(parsed.quads, parsed.texts, parsed.difficult, parsed.labels,
                                                parsed.class_names, parsed.is_crowd, parsed.scripts, parsed.areas)
        ]
        sample = build_samples_objects(display, parsed.image, parsed.filename or f"record_{offset}",
                                       parsed.source_id or display, objects, problems)
        return sample, problems
