"""ICDAR 2013 Challenge 2 (DetEval, Wolf & Jolion), scored exactly as the official RRC script.

Rectangles `xmin,ymin,xmax,ymax` (inclusive pixels: areas use +1), area-recall
0.8 and area-precision 0.4; one-to-one matches (with the centre-distance check),
then one-to-many (a GT split into several detections: recall 0.8, precision
0.8 per detection) and many-to-one (several GT in one detection: recall 1 per
GT, precision 1), their summed area fractions rounded to 4 decimals before the
comparison as the script rounds them. Detections more than 40% inside a
don't-care GT are don't care. Result lines with 8 coordinates are turned into
their bounding box (an extension: the script reads rectangles only), so no
polygon area is ever taken and a bow-tie scores as its box.

    python -m tfdet.evaluation.icdar2013 --gt_dir=DIR_OR_ZIP --result_dir=DIR_OR_ZIP
"""

from __future__ import annotations

import math
import sys

import numpy as np

from tfdet.evaluation.files import EvaluationFormatError, file_lines, load_pair, parse_line
from tfdet.evaluation.icdar2015 import GT_PATTERN, RES_PATTERN
from tfdet.evaluation.icdar2015 import main as _main

AREA_RECALL_CONSTRAINT = 0.8
AREA_PRECISION_CONSTRAINT = 0.4
EV_PARAM_IND_CENTER_DIFF_THR = 1
MTYPE_OO_O = 1.0
MTYPE_OM_O = 0.8
MTYPE_OM_M = 1.0


def _rect_area(r):
    return (r[2] - r[0] + 1) * (r[3] - r[1] + 1)


def _inter(a, b):
    dx = min(a[2], b[2]) - max(a[0], b[0]) + 1
    dy = min(a[3], b[3]) - max(a[1], b[1]) + 1
    return dx * dy if (dx >= 0 and dy >= 0) else 0.0


def _center(r):
    return (r[0] + (r[2] - r[0] + 1) / 2.0, r[1] + (r[3] - r[1] + 1) / 2.0)


def _diag(r):
    w = r[2] - r[0] + 1
    h = r[3] - r[1] + 1
    return math.sqrt(h * h + w * w)


def score_image(gt_rects, gt_dont_care, det_rects):
    """-> (recall_accum, precision_accum, num_gt_care, num_det_care) for one image."""
    gt_dc = [i for i, d in enumerate(gt_dont_care) if d]
    det_dc = []
    for d_i, det in enumerate(det_rects):
        for g in gt_dc:
            area = _rect_area(det)
            precision = 0 if area == 0 else _inter(gt_rects[g], det) / area
            if precision > AREA_PRECISION_CONSTRAINT:
                det_dc.append(d_i)
                break
    recall_accum = precision_accum = 0.0
    ng, nd = len(gt_rects), len(det_rects)
    if nd > 0 and ng > 0:
        recall_mat = np.empty((ng, nd))
        precision_mat = np.empty((ng, nd))
        for g in range(ng):
            for d in range(nd):
                inter = _inter(gt_rects[g], det_rects[d])
                ga, da = _rect_area(gt_rects[g]), _rect_area(det_rects[d])
                recall_mat[g, d] = 0 if ga == 0 else inter / ga
                precision_mat[g, d] = 0 if da == 0 else inter / da
        gt_taken = np.zeros(ng, np.int8)
        det_taken = np.zeros(nd, np.int8)
        good = (recall_mat >= AREA_RECALL_CONSTRAINT) & (precision_mat >= AREA_PRECISION_CONSTRAINT)
        row_count = good.sum(axis=1)
        col_count = good.sum(axis=0)
        for g in range(ng):
            for d in range(nd):
                if gt_taken[g] == 0 and det_taken[d] == 0 and g not in gt_dc and d not in det_dc:
                    if row_count[g] == 1 and col_count[d] == 1 and good[g, d]:
                        cg, cd = _center(gt_rects[g]), _center(det_rects[d])
                        dist = math.hypot(cg[0] - cd[0], cg[1] - cd[1]) / (_diag(gt_rects[g]) + _diag(det_rects[d])) * 2.0
                        if dist < EV_PARAM_IND_CENTER_DIFF_THR:
                            gt_taken[g] = det_taken[d] = 1
                            recall_accum += MTYPE_OO_O
                            precision_accum += MTYPE_OO_O
        for g in range(ng):  # one GT, many detections
            if g in gt_dc:
                continue
            many_sum, dets = 0.0, []
            for d in range(nd):
                if gt_taken[g] == 0 and det_taken[d] == 0 and d not in det_dc and precision_mat[g, d] >= AREA_PRECISION_CONSTRAINT:
                    many_sum += recall_mat[g, d]
                    dets.append(d)
            if round(many_sum, 4) >= AREA_RECALL_CONSTRAINT:  # the script rounds the sum (numpy's round of a float64)
                gt_taken[g] = 1
                recall_accum += MTYPE_OM_O
                precision_accum += MTYPE_OM_O * len(dets)
                for d in dets:
                    det_taken[d] = 1
        for d in range(nd):  # many GT, one detection
            if d in det_dc:
                continue
            many_sum, gts = 0.0, []
            for g in range(ng):
                if gt_taken[g] == 0 and det_taken[d] == 0 and g not in gt_dc and recall_mat[g, d] >= AREA_RECALL_CONSTRAINT:
                    many_sum += precision_mat[g, d]
                    gts.append(g)
            if round(many_sum, 4) >= AREA_PRECISION_CONSTRAINT:
                det_taken[d] = 1
                recall_accum += MTYPE_OM_M * len(gts)
                precision_accum += MTYPE_OM_M
                for g in gts:
                    gt_taken[g] = 1
    return recall_accum, precision_accum, ng - len(gt_dc), nd - len(det_dc)


def evaluate(images: dict) -> dict:
    """images: {id: (gt_rects, gt_dont_care, det_rects)} with rects [xmin, ymin, xmax, ymax]."""
    recall_sum = precision_sum = 0.0
    num_gt = num_det = 0
    per_image = {}
    for key, (gt_rects, dont_care, det_rects) in images.items():
        ra, pa, ng, nd = score_image(gt_rects, dont_care, det_rects)
        recall_sum += ra
        precision_sum += pa
        num_gt += ng
        num_det += nd
        per_image[key] = {"recall_accum": ra, "precision_accum": pa, "gt_care": ng, "det_care": nd}
    recall = 0.0 if num_gt == 0 else recall_sum / num_gt
    precision = 0.0 if num_det == 0 else precision_sum / num_det
    hmean = 0.0 if recall + precision == 0 else 2 * recall * precision / (recall + precision)
    return {"precision": precision, "recall": recall, "hmean": hmean, "gt_care": num_gt, "det_care": num_det, "per_image": per_image}


def _rect(coords):
    if len(coords) == 8:
        xs, ys = coords[0::2], coords[1::2]
        return [min(xs), min(ys), max(xs), max(ys)]
    return list(coords)


def read_gt_file(raw: bytes, key: str) -> tuple[list, list]:
    """gt_img_<key>.txt (`xmin,ymin,xmax,ymax,transcription`) as the official script reads it -> (rects, don't care flags)."""
    rects, dont_care = [], []
    for number, line in file_lines(raw):
        coords, _, text = parse_line(line, 4, True, f"gt_img_{key}.txt:{number}")
        if coords[2] < coords[0] or coords[3] < coords[1]:
            raise EvaluationFormatError(f"gt_img_{key}.txt:{number}: xmax < xmin or ymax < ymin")
        rects.append(coords)
        dont_care.append(text == "###")
    return rects, dont_care


def evaluate_paths(gt_path: str, result_path: str) -> dict:
    gt_raw, det_raw = load_pair(gt_path, result_path, GT_PATTERN, RES_PATTERN)
    images = {}
    for key, raw in gt_raw.items():
        rects, dc = read_gt_file(raw, key)
        dets = []
        for number, line in file_lines(det_raw.get(key, b"")):
            where = f"res_img_{key}.txt:{number}"
            try:
                coords, _, _ = parse_line(line, 8, False, where)
            except EvaluationFormatError:
                coords, _, _ = parse_line(line, 4, False, where)
            rect = _rect(coords)
            if rect[2] < rect[0] or rect[3] < rect[1]:
                raise EvaluationFormatError(f"{where}: xmax < xmin or ymax < ymin")
            dets.append(rect)
        images[key] = (rects, dc, dets)
    return evaluate(images)


if __name__ == "__main__":
    sys.exit(_main(protocol_evaluate=evaluate_paths, name="icdar2013"))
