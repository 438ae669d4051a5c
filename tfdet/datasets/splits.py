"""Fixed train / validation splits of a dataset's images, independent of file order and count.

`split_part="val"` keeps an image when it is named in `val_list` (a text file of image names, one per
line, `#` comments; matched by lower-case file stem, so `img_5.jpg`, `IMG_5.JPG` and `gt_img_5.txt`'s
image all match `img_5`), or, without a list, when the SHA-1 of its lower-case stem read as a number
in [0, 1) is below `val_fraction`. `"train"` keeps the others, `"all"` every image.
"""

from __future__ import annotations

import hashlib
import os

SPLIT_PARTS = ("all", "train", "val")


def stem(name: str) -> str:
    return os.path.splitext(os.path.basename(name.strip()))[0].lower()


def hash_fraction(name: str) -> float:
    """A stable number in [0, 1) from a file name (SHA-1 of its lower-case stem)."""
    return int(hashlib.sha1(stem(name).encode("utf-8")).hexdigest()[:15], 16) / float(16 ** 15)


def read_name_list(path: str) -> frozenset:
    """Lower-case stems of the names listed in `path` (one per line, `#` starts a comment)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--val_list file not found: {path}")
    with open(path, encoding="utf-8") as f:
        names = [line.split("#", 1)[0].strip() for line in f]
    stems = frozenset(stem(n) for n in names if n)
    if not stems:
        raise ValueError(f"--val_list {path} names no image")
    return stems


def lowest_hashes(names, count: int) -> list[str]:
    """The `count` names with the lowest hash_fraction: a fixed validation list of exactly `count` images."""
    return sorted(sorted(names, key=hash_fraction)[:count], key=stem)


class SplitSelector:
    """Which images a split part keeps (see the module docstring)."""

    def __init__(self, split_part: str = "all", val_fraction: float = 0.2, val_list: str = ""):
        if split_part not in SPLIT_PARTS:
            raise ValueError(f"--split_part must be one of {', '.join(SPLIT_PARTS)}, got {split_part!r}")
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"--val_fraction must be in (0, 1), got {val_fraction}")
        self.split_part = split_part
        self.val_fraction = float(val_fraction)
        self.val_list = val_list
        self.val_names = read_name_list(val_list) if val_list else None

    def is_val(self, name: str) -> bool:
        if self.val_names is not None:
            return stem(name) in self.val_names
        return hash_fraction(name) < self.val_fraction

    def keeps(self, name: str) -> bool:
        if self.split_part == "all":
            return True
        return self.is_val(name) == (self.split_part == "val")

    def describe(self) -> dict:
        """What dataset.json records about the split."""
        if self.split_part == "all":
            return {"split_part": "all"}
        rule = {"val_list": self.val_list} if self.val_list else {"val_fraction": self.val_fraction, "hash": "sha1(stem)"}
        return {"split_part": self.split_part, **rule}
