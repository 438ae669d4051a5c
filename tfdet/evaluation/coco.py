"""COCO box mAP and the 12 standard numbers through pycocotools."""

from __future__ import annotations

import contextlib
import io

import numpy as np

STAT_NAMES = ("mAP", "mAP_50", "mAP_75", "mAP_small", "mAP_medium", "mAP_large",
              "AR_1", "AR_10", "AR_100", "AR_small", "AR_medium", "AR_large")


def evaluate(gt_images: list[dict], detections: list[dict], category_ids: list[int] | None = None, verbose: bool = False) -> dict:
    """gt_images: [{id, height, width, annotations: [{bbox xywh, category_id, iscrowd, area}]}];
    detections: [{image_id, category_id, bbox xywh, score}]. Returns the 12 numbers by name."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, annotations = [], []
    cats = set(category_ids or [])
    ann_id = 1
    for img in gt_images:
        images.append({"id": img["id"], "height": img["height"], "width": img["width"]})
        for a in img["annotations"]:
            annotations.append({"id": ann_id, "image_id": img["id"], "bbox": list(a["bbox"]), "category_id": a["category_id"],
                                "iscrowd": int(a.get("iscrowd", 0)), "area": float(a.get("area", a["bbox"][2] * a["bbox"][3]))})
            cats.add(a["category_id"])
            ann_id += 1
    gt = COCO()
    gt.dataset = {"images": images, "annotations": annotations, "categories": [{"id": c} for c in sorted(cats)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    if not detections:
        return {name: 0.0 for name in STAT_NAMES}
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        dt = gt.loadRes([dict(d) for d in detections])
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    if verbose:
        print(buffer.getvalue())
    return {name: float(v) for name, v in zip(STAT_NAMES, np.asarray(ev.stats))}
