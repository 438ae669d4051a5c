"""ICDAR 2015 Challenge 4 (IoU protocol), scored exactly as the official RRC script.

Rules reproduced: coordinates truncated to integers (`int()`), polygons of the
4 points as given, a detection whose area lies more than 50% inside a
don't-care (`###`) region is itself don't care, IoU > 0.5 matches taken
greedily in ground-truth-major, file order, one-to-one; per-image and global
precision / recall / Hmean with the script's empty-set conventions.
Counter-clockwise quads are rejected as the script rejects them. Result lines
may carry a trailing score, used for the score-threshold sweep.

Self-intersecting (bow-tie) and degenerate quads are scored as the official
script's Polygon2 / GPC library scores them: a quad's area is the absolute
shoelace area of its 4 points in the given order (for a bow-tie, the
difference of its two lobes), its intersection with another quad is the
geometric intersection of their even-odd regions (for a bow-tie, both lobes),
and IoU is intersection / (area + area - intersection), 0 when that union is
0. So a bow-tie can be more than 100% inside a don't-care region, and a
bow-tie ground truth whose lobes cancel matches nothing. What still differs:
GPC itself is off on rare near-degenerate intersections (1 of 20,000 random
integer quad pairs against Polygon3); here the exact geometric value is kept.

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


def official_areas(quads: np.ndarray) -> np.ndarray:
    """[N, 4, 2] -> [N]: |shoelace| of the points as given, as Polygon2's area() (a bow-tie's lobes cancel)."""
    x, y = quads[..., 0], quads[..., 1]
    return np.abs(0.5 * np.sum(x * np.roll(y, -1, axis=-1) - np.roll(x, -1, axis=-1) * y, axis=-1))


def even_odd_regions(quads: np.ndarray):
    """Shapely geometries of the even-odd regions of [N, 4, 2] quads, for intersections as GPC takes them.

    Invalid rings (bow-ties, spikes, repeated or collinear points) go through
    shapely's make_valid (linework method), which keeps exactly the area
    enclosed an odd number of times: both lobes of a bow-tie, nothing of a
    collapsed edge.
    """
    import shapely

    if len(quads) == 0:
        return np.empty(0, dtype=object)
    polys = shapely.polygons(quads)
    bad = ~shapely.is_valid(polys)
    if np.any(bad):
        polys[bad] = shapely.make_valid(polys[bad], method="linework")
    return polys


def _as_quads(points_list) -> np.ndarray:
    return np.asarray(points_list, dtype=np.float64).reshape(-1, 4, 2)


class ImageScorer:
    """Geometry of one image (areas, intersections) computed once; matching can be rerun on score subsets."""

    def __init__(self, data: ImageData, gt_area, det_area, inter):
        self.data = data
        self.gt_area, self.det_area, self.inter = gt_area, det_area, inter  # [G], [D], [G, D]
        # the script's IoU: a zero union (ZeroDivisionError) gives 0; with bow-ties the union can be
        # negative (lobes cancel in the areas, not in the intersection): that IoU is negative, never a match
        union = self.gt_area[:, None] + self.det_area[None, :] - self.inter
        self.iou = np.where(union != 0, self.inter / np.where(union != 0, union, 1), 0.0)
        dc = np.asarray(data.gt_dont_care, bool)
        self.gt_dont_care = dc
        # detection don't care: more than half of its area inside a don't-care gt
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


def build_scorers(images: dict) -> dict:
    """ImageScorers for all images, with every polygon operation batched into one shapely call."""
    import shapely

    keys = list(images)
    gt_q = [_as_quads(images[k].gt_points) for k in keys]
    det_q = [_as_quads(images[k].det_points) for k in keys]
    all_gt = np.concatenate(gt_q) if gt_q else np.zeros((0, 4, 2))
    all_det = np.concatenate(det_q) if det_q else np.zeros((0, 4, 2))
    gt_polys, det_polys = even_odd_regions(all_gt), even_odd_regions(all_det)
    gt_area, det_area = official_areas(all_gt), official_areas(all_det)
    gt_start = np.concatenate([[0], np.cumsum([len(q) for q in gt_q])]).astype(int)
    det_start = np.concatenate([[0], np.cumsum([len(q) for q in det_q])]).astype(int)
    pair_g, pair_d, owner = [], [], []
    for i, (g, d) in enumerate(zip(gt_q, det_q)):
        if len(g) == 0 or len(d) == 0:
            continue
        gmin, gmax, dmin, dmax = g.min(1), g.max(1), d.min(1), d.max(1)
        overlap = ((np.minimum(gmax[:, None, 0], dmax[None, :, 0]) > np.maximum(gmin[:, None, 0], dmin[None, :, 0])) &
                   (np.minimum(gmax[:, None, 1], dmax[None, :, 1]) > np.maximum(gmin[:, None, 1], dmin[None, :, 1])))
        rows, cols = np.nonzero(overlap)
        pair_g.append(rows + gt_start[i])
        pair_d.append(cols + det_start[i])
        owner.append(np.full(len(rows), i))
    if pair_g:
        pg, pd_, po = np.concatenate(pair_g), np.concatenate(pair_d), np.concatenate(owner)
        areas = shapely.area(shapely.intersection(gt_polys[pg], det_polys[pd_])) if len(pg) else np.zeros(0)
    else:
        pg = pd_ = po = np.zeros(0, int)
        areas = np.zeros(0)
    scorers = {}
    for i, key in enumerate(keys):
        inter = np.zeros((len(gt_q[i]), len(det_q[i])))
        sel = po == i
        inter[pg[sel] - gt_start[i], pd_[sel] - det_start[i]] = areas[sel]
        scorers[key] = ImageScorer(images[key], np.asarray(gt_area[gt_start[i]:gt_start[i + 1]], np.float64),
                                   np.asarray(det_area[det_start[i]:det_start[i + 1]], np.float64), inter)
    return scorers


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
    scorers = build_scorers(images)
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


def _read_quads(raw: bytes, name: str, with_text: bool) -> tuple[list, list]:
    """Lines of one file -> (points: lists of 8 ints, transcriptions or scores); counter-clockwise is an error."""
    points, extras = [], []
    for number, line in file_lines(raw):
        coords, score, text = parse_line(line, 8, with_text, f"{name}:{number}")
        if not is_clockwise(coords):
            raise EvaluationFormatError(f"{name}:{number}: points are not clockwise (the official script rejects this)")
        points.append([int(v) for v in coords])
        extras.append(text if with_text else score)
    return points, extras


def read_gt_file(raw: bytes, key: str) -> tuple[list, list]:
    """gt_img_<key>.txt as the official script reads it -> (points: lists of 8 ints, don't care flags)."""
    points, texts = _read_quads(raw, f"gt_img_{key}.txt", True)
    return points, [text == "###" for text in texts]


def read_result_file(raw: bytes, key: str) -> tuple[list, list]:
    """res_img_<key>.txt -> (points: lists of 8 ints, scores: float or None)."""
    return _read_quads(raw, f"res_img_{key}.txt", False)


def _read_set(gt_raw: dict, det_raw: dict) -> dict[str, ImageData]:
    return {key: ImageData(*read_gt_file(raw, key), *read_result_file(det_raw.get(key, b""), key)) for key, raw in gt_raw.items()}


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
