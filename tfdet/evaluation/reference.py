"""A straightforward transcription of the official ICDAR 2015 loops (shapely Polygon objects,
nested Python loops). Used only as the reference in tests and as the baseline of
bench/evaluate.py; `tfdet.evaluation.icdar2015` is the implementation to use.

Polygon2's rules for self-intersecting quads are written out independently of the
implementation: areas are the |shoelace| sum of the points as given, and a bow-tie's
region for intersections is built from its two lobe triangles (split at the crossing point)
rather than by shapely's make_valid."""

from __future__ import annotations

import numpy as np


class _OfficialPolygon:
    """A quad as Polygon2 sees it: `area` = |shoelace|, `region` = its even-odd region (for intersections)."""

    def __init__(self, points):
        from shapely.geometry import MultiPolygon, Polygon

        q = [(int(points[i]), int(points[i + 1])) for i in range(0, 8, 2)]
        self.area = abs(sum(q[i][0] * q[(i + 1) % 4][1] - q[(i + 1) % 4][0] * q[i][1] for i in range(4))) / 2.0
        polygon = Polygon(np.array(q))
        if polygon.is_valid:
            self.region = polygon
        elif (crossing := _crossing(q[0], q[1], q[2], q[3])) is not None:  # edges 0 and 2 cross: lobes (x, p1, p2), (x, p3, p0)
            self.region = MultiPolygon([Polygon([crossing, q[1], q[2]]), Polygon([crossing, q[3], q[0]])])
        elif (crossing := _crossing(q[1], q[2], q[3], q[0])) is not None:  # edges 1 and 3: (x, p2, p3), (x, p0, p1)
            self.region = MultiPolygon([Polygon([crossing, q[2], q[3]]), Polygon([crossing, q[0], q[1]])])
        else:
            self.region = polygon.buffer(0)  # spikes, repeated or collinear points: collapsed parts enclose nothing


def _crossing(p1, p2, p3, p4):
    """Point where the open segments p1p2 and p3p4 properly cross, or None."""
    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    d1, d2, d3, d4 = cross(p3, p4, p1), cross(p3, p4, p2), cross(p1, p2, p3), cross(p1, p2, p4)
    if d1 * d2 < 0 and d3 * d4 < 0:
        t = d1 / (d1 - d2)
        return (p1[0] + t * (p2[0] - p1[0]), p1[1] + t * (p2[1] - p1[1]))
    return None


def evaluate_icdar2015(gt_files: dict, det_files: dict) -> dict:
    """gt_files: {id: [(8 ints, transcription)]}; det_files: {id: [8 ints]} in file order."""
    poly = _OfficialPolygon

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
                inter = gt_pols[g].region.intersection(d.region).area
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
                        inter = gt_pols[g].region.intersection(det_pols[d].region).area
                        union = gt_pols[g].area + det_pols[d].area - inter
                        if union != 0 and inter / union > 0.5:
                            gt_taken[g] = det_taken[d] = 1
                            det_matched += 1
        matched_sum += det_matched
        num_gt_care += len(gt_pols) - len(gt_dc)
        num_det_care += len(det_pols) - len(det_dc)
    r = 0 if num_gt_care == 0 else matched_sum / num_gt_care
    p = 0 if num_det_care == 0 else matched_sum / num_det_care
    h = 0 if r + p == 0 else 2 * r * p / (r + p)
    return {"precision": p, "recall": r, "hmean": h}


def jittered_detections(gt_files: dict, seed: int = 0, bowties: float = 0.0) -> dict:
    """Plausible detections for a ground-truth set: jittered matches, misses and false positives,
    simple and clockwise. With `bowties` > 0, that fraction of the jittered matches has its last
    two points swapped (a bow-tie, kept when it passes the script's clockwise test) and as many
    images get a zero-area (collinear) detection."""
    from shapely.geometry import Polygon

    from tfdet.evaluation.files import is_clockwise

    rng = np.random.default_rng(seed)
    out = {}
    for key, rows in gt_files.items():
        dets = []
        for points, _text in rows:
            if rng.random() < 0.7:
                quad = (np.array(points) + rng.normal(0, rng.choice([1, 4, 12]), 8).round().astype(int)).tolist()
                if bowties and rng.random() < bowties:
                    quad = quad[:4] + quad[6:8] + quad[4:6]
                    if is_clockwise(quad):
                        dets.append(quad)
                elif is_clockwise(quad) and Polygon(np.array(quad).reshape(4, 2)).is_valid:
                    dets.append(quad)
        for _ in range(rng.integers(0, 3)):
            x, y = rng.integers(0, 1200), rng.integers(0, 650)
            w, h = rng.integers(10, 100), rng.integers(5, 40)
            dets.append([int(x), int(y), int(x + w), int(y), int(x + w), int(y + h), int(x), int(y + h)])
        if bowties and rng.random() < bowties:
            x, y, w = int(rng.integers(0, 1200)), int(rng.integers(0, 650)), int(rng.integers(10, 100))
            dets.append([x, y, x + w // 3, y, x + w, y, x + w // 2, y])
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
