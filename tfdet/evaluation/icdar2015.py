"""ICDAR 2015 Challenge 4 (IoU protocol), scored exactly as the official RRC script.

Rules reproduced: coordinates truncated to integers (`int()`), polygons of the
4 points as given, a detection whose area lies more than 50% inside a
don't-care (`###`) region is itself don't care, IoU > 0.5 matches taken
greedily in ground-truth-major, file order, one-to-one; per-image and global
precision / recall / Hmean with the script's empty-set conventions.
Counter-clockwise quads are rejected as the script rejects them. Result lines
may carry a trailing score, used for the score-threshold sweep.

Deviation (documented): self-intersecting polygons, which the official GT never
contains, are made valid with shapely's make_valid before areas are taken.

    python -m tfdet.evaluation.icdar2015 --gt_dir=DIR_OR_ZIP --result_dir=DIR_OR_ZIP
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import numpy as np

from tfdet.evaluation.files import EvaluationFormatError, file_lines, is_clockwise, load_pair, parse_line

IOU_CONSTRAINT = 0.5
AREA_PRECISION_CONSTRAINT = 0.5
GT_PATTERN = r"gt_img_([0-9]+)\.txt$"
RES_PATTERN = r"res_img_([0-9]+)\.txt$"


@dataclasses.dataclass
class ImageData:
    gt_points: list  # list of 8 ints
    gt_dont_care: list  # bools
    det_points: list
    det_scores: list  # float or None


def _polygons(points_list):
    import shapely

    if not points_list:
        return np.empty(0, dtype=object)
    arr = np.asarray(points_list, dtype=np.float64).reshape(-1, 4, 2)
    polys = shapely.polygons(arr)
    bad = ~shapely.is_valid(polys)
    if np.any(bad):
        polys[bad] = shapely.make_valid(polys[bad])
    return polys


def _intersections(a, b):
    import shapely

    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    return shapely.area(shapely.intersection(a[:, None], b[None, :]))


class ImageScorer:
    """Geometry of one image computed once; matching can be rerun on score subsets."""

    def __init__(self, data: ImageData):
        self.data = data
        gt = _polygons(data.gt_points)
        det = _polygons(data.det_points)
        import shapely

        self.gt_area = np.asarray(shapely.area(gt), np.float64) if len(gt) else np.zeros(0)
        self.det_area = shapely.area(det) if len(det) else np.zeros(0)
        self.inter = _intersections(gt, det)  # [G, D]
        union = self.gt_area[:, None] + self.det_area[None, :] - self.inter
        self.iou = np.where(union > 0, self.inter / np.where(union > 0, union, 1), 0.0)
        dc = np.asarray(data.gt_dont_care, bool)
        self.gt_dont_care = dc
        # detection don't care: > 50% of its area inside any don't-care gt (first one found)
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(self.det_area[None, :] > 0, self.inter / np.where(self.det_area > 0, self.det_area, 1)[None, :], 0.0)
        self.det_dont_care = np.any(precision[dc] > AREA_PRECISION_CONSTRAINT, axis=0) if dc.any() else np.zeros(len(self.det_area), bool)

    def score(self, det_mask=None):
        """-> (matched, num_gt_care, num_det_care) over the detections in det_mask (default all)."""
        num_det = len(self.det_area)
        det_mask = np.ones(num_det, bool) if det_mask is None else det_mask
        gt_care = ~self.gt_dont_care
        det_idx = np.nonzero(det_mask)[0]
        det_care = det_mask & ~self.det_dont_care
        matched = 0
        if len(self.gt_area) and len(det_idx):
            gt_taken = np.zeros(len(self.gt_area), bool)
            det_taken = np.zeros(num_det, bool)
            candidates = self.iou > IOU_CONSTRAINT
            for g in np.nonzero(gt_care & candidates[:, det_idx].any(axis=1))[0]:
                for d in det_idx:
                    if not gt_taken[g] and not det_taken[d] and det_care[d] and candidates[g, d]:
                        gt_taken[g] = det_taken[d] = True
                        matched += 1
        return matched, int(gt_care.sum()), int(det_care.sum())


def per_image_metrics(matched, num_gt, num_det):
    if num_gt == 0:
        recall = 1.0
        precision = 0.0 if num_det > 0 else 1.0
    else:
        recall = matched / num_gt
        precision = 0.0 if num_det == 0 else matched / num_det
    hmean = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return precision, recall, hmean


def method_metrics(matched, num_gt, num_det) -> dict:
    matched, num_gt, num_det = int(matched), int(num_gt), int(num_det)
    recall = 0.0 if num_gt == 0 else matched / num_gt
    precision = 0.0 if num_det == 0 else matched / num_det
    hmean = 0.0 if recall + precision == 0 else 2 * recall * precision / (recall + precision)
    return {"precision": precision, "recall": recall, "hmean": hmean}


def evaluate(images: dict[str, ImageData], score_thresholds=None) -> dict:
    """Score a whole set. Returns precision/recall/hmean, per-image numbers and, when
    `score_thresholds` is given, a sweep with the best Hmean."""
    scorers = {k: ImageScorer(v) for k, v in images.items()}
    totals = np.zeros(3, np.int64)
    per_image = {}
    for key, scorer in scorers.items():
        m, g, d = scorer.score()
        totals += (m, g, d)
        p, r, h = (float(v) for v in per_image_metrics(m, g, d))
        per_image[key] = {"precision": p, "recall": r, "hmean": h, "matched": m, "gt_care": g, "det_care": d}
    result = method_metrics(*totals)
    result.update({"matched": int(totals[0]), "gt_care": int(totals[1]), "det_care": int(totals[2]), "per_image": per_image})
    if score_thresholds is not None:
        sweep = []
        for t in score_thresholds:
            tot = np.zeros(3, np.int64)
            for key, scorer in scorers.items():
                scores = np.asarray([s if s is not None else 1.0 for s in images[key].det_scores], np.float64)
                tot += scorer.score(scores >= t) if len(scores) else scorer.score()
            sweep.append({"score_threshold": float(t), **method_metrics(*tot)})
        result["sweep"] = sweep
        result["best"] = max(sweep, key=lambda s: (s["hmean"], -s["score_threshold"]))
    return result


def _read_set(gt_raw: dict, det_raw: dict) -> dict[str, ImageData]:
    images = {}
    for key, raw in gt_raw.items():
        gt_points, dont_care = [], []
        for number, line in file_lines(raw):
            coords, _, text = parse_line(line, 8, True, f"gt_img_{key}.txt:{number}")
            if not is_clockwise(coords):
                raise EvaluationFormatError(f"gt_img_{key}.txt:{number}: points are not clockwise")
            gt_points.append([int(v) for v in coords])
            dont_care.append(text == "###")
        det_points, scores = [], []
        for number, line in file_lines(det_raw.get(key, b"")):
            coords, score, _ = parse_line(line, 8, False, f"res_img_{key}.txt:{number}")
            if not is_clockwise(coords):
                raise EvaluationFormatError(f"res_img_{key}.txt:{number}: points are not clockwise (the official script rejects this)")
            det_points.append([int(v) for v in coords])
            scores.append(score)
        images[key] = ImageData(gt_points, dont_care, det_points, scores)
    return images


def evaluate_paths(gt_path: str, result_path: str, score_thresholds=None) -> dict:
    gt_raw, det_raw = load_pair(gt_path, result_path, GT_PATTERN, RES_PATTERN)
    return evaluate(_read_set(gt_raw, det_raw), score_thresholds)


def main(argv=None, protocol_evaluate=evaluate_paths, name="icdar2015") -> int:
    parser = argparse.ArgumentParser(prog=f"python -m tfdet.evaluation.{name}", description=__doc__.splitlines()[0])
    parser.add_argument("--gt_dir", required=True, help="folder or zip of gt_img_N.txt")
    parser.add_argument("--result_dir", required=True, help="folder or zip of res_img_N.txt")
    parser.add_argument("--per_image", action="store_true", help="print per-image numbers too")
    args = parser.parse_args(argv)
    try:
        result = protocol_evaluate(args.gt_dir, args.result_dir)
    except (EvaluationFormatError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = {k: result[k] for k in ("precision", "recall", "hmean")}
    if args.per_image:
        out["per_image"] = result["per_image"]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
