"""A straightforward transcription of the official ICDAR 2015 loops (shapely Polygon objects,
nested Python loops). Used only as the reference in tests and as the baseline of
bench/evaluate.py; `tfdet.evaluation.icdar2015` is the implementation to use."""

from __future__ import annotations

import numpy as np


def evaluate_icdar2015(gt_files: dict, det_files: dict) -> dict:
    """gt_files: {id: [(8 ints, transcription)]}; det_files: {id: [8 ints]} in file order."""
    from shapely.geometry import Polygon

    def poly(p):
        return Polygon(np.array([int(v) for v in p]).reshape(4, 2))

    matched_sum = num_gt_care = num_det_care = 0
    for key, gt_lines in gt_files.items():
        gt_pols, gt_dc, det_pols, det_dc = [], [], [], []
        for points, text in gt_lines:
            gt_pols.append(poly(points))
            if text == "###":
                gt_dc.append(len(gt_pols) - 1)
        for points in det_files.get(key, []):
            d = poly(points)
            det_pols.append(d)
            for g in gt_dc:
                inter = gt_pols[g].intersection(d).area
                precision = 0 if d.area == 0 else inter / d.area
                if precision > 0.5:
                    det_dc.append(len(det_pols) - 1)
                    break
        det_matched = 0
        if gt_pols and det_pols:
            gt_taken = [0] * len(gt_pols)
            det_taken = [0] * len(det_pols)
            for g in range(len(gt_pols)):
                for d in range(len(det_pols)):
                    if gt_taken[g] == 0 and det_taken[d] == 0 and g not in gt_dc and d not in det_dc:
                        inter = gt_pols[g].intersection(det_pols[d]).area
                        union = gt_pols[g].area + det_pols[d].area - inter
                        if union > 0 and inter / union > 0.5:
                            gt_taken[g] = det_taken[d] = 1
                            det_matched += 1
        matched_sum += det_matched
        num_gt_care += len(gt_pols) - len(gt_dc)
        num_det_care += len(det_pols) - len(det_dc)
    r = 0 if num_gt_care == 0 else matched_sum / num_gt_care
    p = 0 if num_det_care == 0 else matched_sum / num_det_care
    h = 0 if r + p == 0 else 2 * r * p / (r + p)
    return {"precision": p, "recall": r, "hmean": h}


def jittered_detections(gt_files: dict, seed: int = 0) -> dict:
    """Plausible detections for a ground-truth set: jittered matches, misses and false positives
    (simple, clockwise quads only: where the official script is defined)."""
    from shapely.geometry import Polygon

    from tfdet.evaluation.files import is_clockwise

    rng = np.random.default_rng(seed)
    out = {}
    for key, rows in gt_files.items():
        dets = []
        for points, _text in rows:
            if rng.random() < 0.7:
                quad = (np.array(points) + rng.normal(0, rng.choice([1, 4, 12]), 8).round().astype(int)).tolist()
                if is_clockwise(quad) and Polygon(np.array(quad).reshape(4, 2)).is_valid:
                    dets.append(quad)
        for _ in range(rng.integers(0, 3)):
            x, y = rng.integers(0, 1200), rng.integers(0, 650)
            w, h = rng.integers(10, 100), rng.integers(5, 40)
            dets.append([int(x), int(y), int(x + w), int(y), int(x + w), int(y + h), int(x), int(y + h)])
        out[key] = [dets[i] for i in rng.permutation(len(dets))]
    return out


def read_gt_zip(path: str) -> dict:
    import zipfile

    files = {}
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            rows = []
            for line in zf.read(name).decode("utf-8-sig").splitlines():
                if line.strip():
                    parts = line.split(",", 8)
                    rows.append(([int(v) for v in parts[:8]], parts[8]))
            files[name[len("gt_img_"):-4]] = rows
    return files


def write_result_files(folder: str, det_files: dict):
    import os

    os.makedirs(folder, exist_ok=True)
    for key, dets in det_files.items():
        with open(os.path.join(folder, f"res_img_{key}.txt"), "w", newline="") as f:
            f.write("".join(",".join(str(v) for v in d) + "\r\n" for d in dets))
