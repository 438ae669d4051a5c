"""COCO-style AP on quads (tfdet/evaluation/quad_map.py): hand-computed cases and pycocotools equality."""

import json
import os

import numpy as np
import pytest

from tfdet import geometry
from tfdet.datasets.base import Sample
from tfdet.evaluation import quad_map
from tfdet.evaluation.quad_map import ImageData


def box(x0, y0, x1, y1):
    return geometry.box_to_quad(x0, y0, x1, y1)


def rotated_rect(cx, cy, w, h, degrees):
    t = np.deg2rad(degrees)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]]) @ rot.T
    return geometry.order_quad(corners + [cx, cy])


def image(gt, gt_labels, dets=(), scores=(), det_labels=(), difficult=None):
    return ImageData(np.asarray(gt, float).reshape(-1, 4, 2), gt_labels, difficult if difficult is not None else [False] * len(gt_labels),
                     np.asarray(dets, float).reshape(-1, 4, 2), scores, det_labels)


def test_quad_iou_golden_values():
    a, b = box(0, 0, 10, 10), box(5, 0, 15, 10)
    diamond = rotated_rect(50, 50, 20, 20, 45)  # its axis-aligned box has twice its area
    aabb = geometry.box_to_quad(*(diamond.min(axis=0)), *(diamond.max(axis=0)))
    bowtie = np.array([[0, 0], [10, 10], [10, 0], [0, 10]], float)  # the square 0-10 with two vertices swapped
    ious = quad_map.quad_iou_matrix([a, diamond, bowtie, np.zeros((4, 2))], [b, aabb, a])
    assert ious[0, 0] == pytest.approx(1 / 3)
    assert ious[1, 1] == pytest.approx(0.5)
    assert ious[2, 2] == pytest.approx(1.0)  # repaired into the square it was meant to be
    assert np.all(ious[3] == 0)  # a degenerate quad overlaps nothing
    assert quad_map.quad_iou_matrix(np.zeros((0, 4, 2)), [a]).shape == (0, 1)


def test_perfect_detections_score_one():
    gt = [rotated_rect(40, 40, 30, 12, 30), rotated_rect(120, 60, 20, 20, -70), box(10, 100, 60, 130)]
    images = [image(gt, [1, 2, 3], gt, [0.9, 0.8, 0.7], [1, 2, 3]), image(gt[:1], [2], gt[:1], [0.6], [2])]
    result = quad_map.evaluate(images, {1: "one", 2: "two", 3: "three"})
    assert result["mAP"] == pytest.approx(1.0) and result["mAP_50"] == pytest.approx(1.0) and result["mAP_75"] == pytest.approx(1.0)
    assert result["AR_100"] == pytest.approx(1.0)
    assert set(result["per_class"]) == {"one", "two", "three"}
    assert result["per_class"]["two"]["num_gt"] == 2 and result["per_class"]["two"]["AP"] == pytest.approx(1.0)


def test_rotated_box_is_matched_only_by_its_rotated_twin():
    gt = rotated_rect(100, 100, 40, 10, 45)
    aabb = geometry.box_to_quad(*(gt.min(axis=0)), *(gt.max(axis=0)))  # same axis-aligned box as the ground truth
    assert quad_map.quad_iou_matrix([gt], [aabb])[0, 0] == pytest.approx(400 / 1250)  # 40 x 10 in a 35.36^2 square
    twin = rotated_rect(101, 100, 40, 10, 45)
    only_box = quad_map.evaluate([image([gt], [1], [aabb], [0.9], [1])])
    only_twin = quad_map.evaluate([image([gt], [1], [twin], [0.9], [1])])
    both = quad_map.evaluate([image([gt], [1], [aabb, twin], [0.9, 0.8], [1, 1])])
    assert only_box["mAP_50"] == 0.0
    assert only_twin["mAP_50"] == pytest.approx(1.0)
    assert both["mAP_50"] == pytest.approx(0.5)  # the box is a false positive ranked first: precision 1/2 at recall 1


def test_duplicates_are_false_positives():
    a, b = box(0, 0, 20, 20), box(50, 0, 70, 20)
    images = [image([a, b], [1, 1], [a, a + 0.5, b], [0.9, 0.8, 0.7], [1, 1, 1])]
    result = quad_map.evaluate(images, voc="voc12")
    # TP, FP, TP: precision 1 up to recall 0.5 (51 of the 101 recall points), then 2/3
    assert result["mAP_50"] == pytest.approx((51 + 50 * 2 / 3) / 101)
    assert result["mAP"] == pytest.approx((51 + 50 * 2 / 3) / 101)  # the duplicate overlaps its twin at IoU > 0.95
    assert result["mAP_50_voc12"] == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert quad_map.evaluate(images, voc="voc07")["mAP_50_voc07"] == pytest.approx((6 + 5 * 2 / 3) / 11)
    # a duplicate ranked below every true positive costs nothing
    late = quad_map.evaluate([image([a, b], [1, 1], [a, b, a], [0.9, 0.8, 0.7], [1, 1, 1])], voc="voc12")
    assert late["mAP"] == pytest.approx(1.0) and late["mAP_50_voc12"] == pytest.approx(1.0)


def test_class_confusion():
    six, one = rotated_rect(50, 50, 20, 30, 180), box(100, 10, 110, 40)
    images = [image([six, one], [6, 1], [six, one], [0.9, 0.8], [9, 1])]  # the 6 read as a 9
    result = quad_map.evaluate(images, {6: "6", 1: "1", 9: "9"}, voc="voc07")
    per_class = result["per_class"]
    assert per_class["6"]["AP"] == 0.0 and per_class["1"]["AP"] == pytest.approx(1.0)
    assert per_class["9"]["AP"] is None and per_class["9"]["num_det"] == 1 and per_class["9"]["num_gt"] == 0
    assert result["mAP"] == pytest.approx(0.5) and result["mAP_50_voc07"] == pytest.approx(0.5)
    assert "9" not in result["pr_curves"]


def test_difficult_ground_truth_is_ignored():
    care, hard = box(0, 0, 20, 20), box(40, 0, 60, 20)
    images = [image([care, hard], [1, 1], [hard, hard + 0.2, care], [0.9, 0.85, 0.8], [1, 1, 1], difficult=[False, True])]
    result = quad_map.evaluate(images, voc="voc12")
    assert result["per_class"]["1"]["num_gt"] == 1
    assert result["mAP"] == pytest.approx(1.0) and result["mAP_50_voc12"] == pytest.approx(1.0)
    missed = quad_map.evaluate([image([care, hard], [1, 1], [care], [0.8], [1], difficult=[False, True])])
    assert missed["mAP"] == pytest.approx(1.0)  # a missed difficult object costs no recall


def test_iou_thresholds_between_half_and_095():
    gt = box(0, 0, 100, 10)
    shifted = box(20, 0, 120, 10)  # IoU 80/120 = 2/3: a match at 0.50-0.65 only (4 of 10 thresholds)
    result = quad_map.evaluate([image([gt], [1], [shifted], [0.9], [1])])
    assert result["mAP_50"] == pytest.approx(1.0) and result["mAP_75"] == 0.0
    assert result["mAP"] == pytest.approx(0.4)


def _random_axis_aligned(seed, num_images=12, num_classes=3):
    rng = np.random.default_rng(seed)
    images, gt_json, det_json = [], [], []
    for image_id in range(1, num_images + 1):
        n = int(rng.integers(0, 8))
        xy = rng.uniform(0, 300, (n, 2))
        wh = rng.uniform(5, 80, (n, 2))
        gt_boxes = np.concatenate([xy, xy + wh], axis=1)
        gt_labels = rng.integers(1, num_classes + 1, n)
        dets, det_labels = [], []
        for b, size, label in zip(gt_boxes, wh, gt_labels):
            for _ in range(int(rng.integers(0, 3))):  # misses, hits and duplicates of varied quality
                dets.append(b + rng.normal(0, 0.06, 4) * np.r_[size, size])
                det_labels.append(label if rng.random() < 0.85 else int(rng.integers(1, num_classes + 1)))
        for _ in range(int(rng.integers(0, 4))):  # false positives
            p = rng.uniform(0, 300, 2)
            dets.append(np.r_[p, p + rng.uniform(5, 60, 2)])
            det_labels.append(int(rng.integers(1, num_classes + 1)))
        dets = np.asarray(dets, float).reshape(-1, 4)
        dets[:, 2:] = np.maximum(dets[:, 2:], dets[:, :2] + 1)
        scores = rng.random(len(dets))
        images.append(image([box(*b) for b in gt_boxes], gt_labels, [box(*b) for b in dets], scores, det_labels))
        gt_json.append({"id": image_id, "height": 400, "width": 400, "annotations": [
            {"bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "category_id": int(c), "iscrowd": 0, "area": float((b[2] - b[0]) * (b[3] - b[1]))}
            for b, c in zip(gt_boxes, gt_labels)]})
        det_json += [{"image_id": image_id, "category_id": int(c), "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "score": float(s)}
                     for b, c, s in zip(dets, det_labels, scores)]
    return images, gt_json, det_json


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_pycocotools_on_axis_aligned_quads(seed):
    from tfdet.evaluation import coco

    images, gt_json, det_json = _random_axis_aligned(seed)
    ours = quad_map.evaluate(images)
    theirs = coco.evaluate(gt_json, det_json, category_ids=[1, 2, 3])
    assert 0.2 < theirs["mAP"] < 0.9  # a case with something to get wrong
    for name in ("mAP", "mAP_50", "mAP_75", "AR_100"):
        assert ours[name] == pytest.approx(theirs[name], abs=1e-12), name


def test_max_detections_per_image_and_class():
    gt = [box(0, 0, 10, 10)]
    fps = [box(100 + 12 * i, 0, 110 + 12 * i, 10) for i in range(3)]
    # the true positive ranks fourth: with max_detections=3 it is dropped
    images = [image(gt, [1], fps + gt, [0.9, 0.8, 0.7, 0.6], [1, 1, 1, 1])]
    assert quad_map.evaluate(images, max_detections=3)["mAP"] == 0.0
    assert quad_map.evaluate(images, max_detections=4)["mAP"] == pytest.approx(0.25)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="detections: 1 quads, 2 scores"):
        ImageData(np.zeros((0, 4, 2)), [], [], np.zeros((1, 4, 2)), [0.5, 0.4], [1])
    with pytest.raises(ValueError, match="unknown VOC method"):
        quad_map.evaluate([], voc="voc99")
    assert quad_map.evaluate([])["mAP"] == -1.0  # no classes at all: undefined, as pycocotools says


def _sample(quads, labels, names, difficult):
    n = len(labels)
    return Sample(image=b"", image_format="jpeg", filename="x.jpg", source_id="x", height=200, width=200, quads=quads,
                  labels=labels, class_names=names, difficult=difficult, texts=names)


def test_score_and_write_files(tmp_path):
    q = [rotated_rect(50, 50, 20, 30, 20), rotated_rect(120, 120, 20, 30, -40)]
    samples = [_sample(q, [10, 3], ["0", "3"], [False, False])]
    results = [{"quads": np.asarray(q), "scores": np.array([0.9, 0.3]), "classes": np.array([10, 5])}]
    summary = quad_map.score_and_write(samples, results, str(tmp_path), voc="voc07")
    assert summary["protocol"] == "coco_quad"
    assert summary["per_class"]["0"]["AP"] == pytest.approx(1.0) and summary["per_class"]["3"]["AP"] == 0.0
    assert summary["mAP"] == pytest.approx(0.5) and summary["mAP_50_voc07"] == pytest.approx(0.5)
    table = open(tmp_path / "per_class_ap.md").read().splitlines()
    assert table[0] == "| class | label | ground truth | detections | AP | AP50 | AP75 | AP50 (voc07) |"
    assert "| 3 | 3 | 1 | 0 | 0.0 | 0.0 | 0.0 | 0.0 |" in table and "| 0 | 10 | 1 | 1 | 100.0 | 100.0 | 100.0 | 100.0 |" in table
    assert "| 5 | 5 | 0 | 1 | n/a | n/a | n/a | n/a |" in table
    assert table[-1].startswith("| **mean** |  | 2 | 2 | 50.0 | 50.0 | 50.0 | 50.0 |")
    assert os.path.getsize(tmp_path / "pr_curves.png") > 1000
    json.dumps(summary)  # summary.json material


class _PerfectDetector:
    """Stands in for a model: returns each image's ground truth (found by its bytes) as detections."""

    def __init__(self, samples):
        self.by_image = {s.image: s for s in samples}

    def detect_encoded(self, images):
        k = 20
        out = {"detection_quads": np.zeros((len(images), k, 8)), "detection_boxes": np.zeros((len(images), k, 4)),
               "detection_scores": np.zeros((len(images), k)), "detection_classes": np.zeros((len(images), k), np.int32),
               "num_detections": np.zeros(len(images), np.int32)}
        for i, data in enumerate(images):
            s = self.by_image[data]
            n = len(s.labels)
            out["detection_quads"][i, :n] = s.quads.reshape(n, 8)
            out["detection_boxes"][i, :n] = geometry.quad_to_box_yxyx(s.quads)
            out["detection_scores"][i, :n] = np.linspace(0.9, 0.5, n)
            out["detection_classes"][i, :n] = s.labels
            out["num_detections"][i] = n
        return out


def test_runner_coco_quad_protocol(tmp_path):
    from tfdet.datasets import get_reader
    from tfdet.evaluation.runner import evaluate_detector

    reader = get_reader("digits", num_images=2, seed=3, split="test")
    samples = [reader.load(i)[0] for i in reader.items()]
    summary = evaluate_detector(_PerfectDetector(samples), samples, "coco_quad", str(tmp_path), progress=False, pictures=1,
                                dota_ap="voc12")
    assert summary["mAP"] == pytest.approx(1.0) and summary["mAP_50_voc12"] == pytest.approx(1.0)
    written = json.load(open(tmp_path / "summary.json"))
    assert written["mAP_50"] == pytest.approx(1.0) and set(written["per_class"]) <= set("0123456789")
    for name in ("per_class_ap.md", "pr_curves.png", "detections.jsonl"):
        assert (tmp_path / name).exists(), name
