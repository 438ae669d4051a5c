"""COCO `instances_*.json`: boxes become quads, category ids become contiguous labels.

Category ids (1..90 with gaps) map to labels 1..K in id order; the label map is
saved in dataset.json. `iscrowd` objects are kept as difficult (don't care).
Images without annotations are kept.

`class_agnostic=True` makes every category label 1 "object" (one detector for any object); the
category's own label is kept per object as `image/object/class/original_label`, and its label map
is saved in dataset.json as `original_label_map` (the recogniser names crops with it).
"""

from __future__ import annotations

import json
import os

from tfdet import geometry, keys
from tfdet.datasets.base import ObjectAnnotation, Problem, build_samples_objects, read_file_bytes


class CocoReader:
    dataset_name = "coco"

    def __init__(self, image_dir: str, annotations: str, split: str = "train", class_agnostic: bool = False, **_):
        if not os.path.isfile(annotations):
            raise FileNotFoundError(f"COCO annotations not found: {annotations}")
        with open(annotations, "rb") as f:
            try:
                data = json.loads(f.read().decode("utf-8-sig"))
            except ValueError as exc:
                raise ValueError(f"{annotations}: not valid JSON: {exc}") from None
        self.image_dir = image_dir
        self.split = split
        self.annotations_path = annotations
        categories = sorted(data.get("categories", []), key=lambda c: c["id"])
        self.category_to_label = {c["id"]: i + 1 for i, c in enumerate(categories)}
        self.category_names = {c["id"]: c["name"] for c in categories}
        self.label_map = {c["name"]: i + 1 for i, c in enumerate(categories)}
        self.category_ids = {i + 1: c["id"] for i, c in enumerate(categories)}
        self.class_agnostic = bool(class_agnostic)
        if self.class_agnostic:
            self.original_label_map = self.label_map
            self.label_map = {keys.OBJECT_CLASS_NAME: 1}
            self.dataset_json_extra = {"original_label_map": self.original_label_map}
        by_image: dict = {}
        for ann in data.get("annotations", []):
            by_image.setdefault(ann.get("image_id"), []).append(ann)
        self._items = [(img, by_image.get(img["id"], [])) for img in sorted(data.get("images", []), key=lambda im: im["id"])]

    def items(self):
        return self._items

    def __getstate__(self):
        # worker processes only call load(item): each item carries its own annotations
        state = dict(self.__dict__)
        state["_items"] = []
        return state

    def load(self, item):
        image, anns = item
        problems: list[Problem] = []
        path = os.path.join(self.image_dir, image["file_name"])
        objects = []
        for ann in anns:
            where = f"{self.annotations_path}#annotation {ann.get('id')}"
            cat = ann.get("category_id")
            bbox = ann.get("bbox")
            if cat not in self.category_to_label or not bbox or len(bbox) != 4:
                problems.append(Problem("skipped_line", where, f"bad category {cat!r} or bbox {bbox!r}"))
                continue
            x, y, w, h = (float(v) for v in bbox)
            crowd = bool(ann.get("iscrowd", 0))
            label = self.category_to_label[cat]
            objects.append(ObjectAnnotation(
                quad=geometry.box_to_quad(x, y, x + w, y + h),
                label=1 if self.class_agnostic else label,
                class_name=keys.OBJECT_CLASS_NAME if self.class_agnostic else self.category_names[cat],
                original_label=label if self.class_agnostic else 0,
                difficult=crowd,
                is_crowd=crowd,
                area=float(ann.get("area", w * h)),
            ))
        try:
            data = read_file_bytes(path)
        except OSError as exc:
            problems.append(Problem("skipped_file", path, f"cannot read image: {exc}"))
            return None, problems
        sample = build_samples_objects(path, data, image["file_name"], str(image["id"]), objects, problems)
        return sample, problems
