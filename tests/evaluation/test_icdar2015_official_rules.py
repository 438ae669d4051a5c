"""ICDAR 2015 scoring of self-intersecting (bow-tie) and degenerate quads, as the official script's
Polygon2 / GPC library scores them (issue 11). Figures are hand-computed; the issue's case was
also checked against Polygon3 (area 131.5, intersection 356.0197)."""

import os

import numpy as np
import pytest

from tfdet.evaluation import icdar2015, reference


def _write(folder, name, lines):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "w", encoding="utf-8", newline="") as f:
        f.write("".join(line + "\r\n" for line in lines))


def _score(tmp_path, gt_lines, res_lines):
    gt, res = str(tmp_path / "gt"), str(tmp_path / "res")
    _write(gt, "gt_img_1.txt", gt_lines)
    _write(res, "res_img_1.txt", res_lines)
    return icdar2015.evaluate_paths(gt, res)


def _scorer(gt_points, dont_care, det_points):
    return icdar2015.build_scorers({"1": icdar2015.ImageData(gt_points, dont_care, det_points, [None] * len(det_points))})["1"]


# a bow-tie over the 100 x 20 box (0,0)-(100,20): edges 1 and 3 cross at (50, 12.5); lobes of 625 (top) and
# 225 (bottom, opposite orientation): |shoelace| = 400, even-odd region = 850, all inside the box
BOX = "0,0,100,0,100,20,0,20"
BOWTIE = "0,0,100,0,20,20,80,20"
# symmetric bow-tie over the same box: lobes of 500 and 500 cancel: |shoelace| = 0, region = 1000
FLAT_BOWTIE = "0,0,100,0,0,20,100,20"


def test_issue_case_bowtie_inside_dont_care_is_dont_care(tmp_path):
    # gt_img_479's don't-care quad and the issue's result line: |shoelace| 131.5, intersection 356.02
    gt = "217,621,315,548,317,560,223,630"
    det = "237,630,319,547,332,557,225,622"
    s = _scorer([[int(v) for v in gt.split(",")]], [True], [[int(v) for v in det.split(",")]])
    assert s.det_area[0] == 131.5
    assert s.inter[0, 0] == pytest.approx(356.0197, abs=1e-3)
    assert s.det_dont_care[0]  # 356.02 / 131.5 = 2.71 > 0.5 (make_valid's 892.6 would give 0.40: a false positive)
    r = _score(tmp_path, [gt + ",###", "10,10,60,10,60,30,10,30,word"], [det, "10,10,60,10,60,30,10,30"])
    assert (r["matched"], r["gt_care"], r["det_care"]) == (1, 1, 1)


def test_bowtie_detection_matches_care_gt_by_official_iou(tmp_path):
    s = _scorer([[0, 0, 100, 0, 100, 20, 0, 20]], [False], [[0, 0, 100, 0, 20, 20, 80, 20]])
    assert (s.gt_area[0], s.det_area[0], s.inter[0, 0]) == (2000, 400, pytest.approx(850))
    assert s.iou[0, 0] == pytest.approx(850 / (2000 + 400 - 850))  # 0.548 > 0.5 (lobe sum would give 0.425)
    r = _score(tmp_path, [BOX + ",word"], [BOWTIE])
    assert (r["matched"], r["gt_care"], r["det_care"]) == (1, 1, 1)
    # the symmetric bow-tie: area 0, intersection 1000, IoU 1000 / (2000 + 0 - 1000) = 1
    r = _score(tmp_path, [BOX + ",word"], [FLAT_BOWTIE])
    assert r["matched"] == 1 and r["precision"] == 1.0


def test_zero_area_detections_are_care_false_positives(tmp_path):
    # a collinear detection and a bow-tie whose lobes cancel, both inside a don't-care region: their area
    # is 0, so the script's "fraction inside" is 0, not > 0.5: they stay care detections and match nothing
    r = _score(tmp_path, ["0,0,200,0,200,40,0,40,###", "300,0,400,0,400,20,300,20,word"],
               ["10,10,40,10,70,10,100,10", "0,0,20,20,20,0,0,20", "300,0,400,0,400,20,300,20"])
    assert (r["matched"], r["gt_care"], r["det_care"]) == (1, 1, 3)
    assert r["precision"] == pytest.approx(1 / 3) and r["recall"] == 1.0
    s = _scorer([[0, 0, 200, 0, 200, 40, 0, 40]], [True], [[10, 10, 40, 10, 70, 10, 100, 10], [0, 0, 20, 20, 20, 0, 0, 20]])
    np.testing.assert_allclose(s.det_area, [0, 0])
    np.testing.assert_allclose(s.inter, [[0, 200]])  # the bow-tie's two lobes of 100 lie inside


def test_bowtie_in_ground_truth(tmp_path):
    # care bow-tie gt (area 400, region 850) and the box as detection: IoU 850 / (400 + 2000 - 850) = 0.548
    r = _score(tmp_path, [BOWTIE + ",word"], [BOX])
    assert (r["matched"], r["gt_care"], r["det_care"]) == (1, 1, 1)
    # a gt whose lobes cancel against the same bow-tie: union 0 + 0 - 1000 < 0, IoU -1: no match
    s = _scorer([[int(v) for v in FLAT_BOWTIE.split(",")]], [False], [[int(v) for v in FLAT_BOWTIE.split(",")]])
    assert s.inter[0, 0] == pytest.approx(1000) and s.iou[0, 0] == pytest.approx(-1.0)
    r = _score(tmp_path, [FLAT_BOWTIE + ",word"], [FLAT_BOWTIE])
    assert (r["matched"], r["gt_care"], r["det_care"]) == (0, 1, 1)
    # a don't-care bow-tie gt: the box lies 850 / 2000 = 0.425 inside it, not > 0.5: a care false positive
    r = _score(tmp_path, [BOWTIE + ",###"], [BOX])
    assert (r["matched"], r["gt_care"], r["det_care"]) == (0, 0, 1)


def test_reference_transcription_agrees_on_bowties():
    gt = {"1": [([0, 0, 100, 0, 100, 20, 0, 20], "word"), ([0, 100, 100, 100, 20, 120, 80, 120], "###")],
          "2": [([0, 0, 100, 0, 0, 20, 100, 20], "word")]}
    det = {"1": [[0, 0, 100, 0, 20, 20, 80, 20], [10, 100, 90, 100, 90, 118, 10, 118]], "2": [[0, 0, 100, 0, 0, 20, 100, 20]]}
    ref = reference.evaluate_icdar2015(gt, det)
    images = {k: icdar2015.ImageData([p for p, _ in gt[k]], [t == "###" for _, t in gt[k]], det[k], [None] * len(det[k])) for k in gt}
    ours = icdar2015.evaluate(images)
    assert (ours["matched"], ours["gt_care"], ours["det_care"]) == (1, 2, 2)
    for k in ("precision", "recall", "hmean"):
        assert ours[k] == pytest.approx(ref[k], abs=1e-12), k


def test_even_odd_intersections_equal_polygon3_when_installed():
    """The official library itself, when installed (pip install Polygon3; not a dependency: GPC's licence)."""
    plg = pytest.importorskip("Polygon")
    import shapely

    rng = np.random.default_rng(3)
    a = rng.integers(0, 40, (400, 4, 2))
    b = rng.integers(0, 40, (400, 4, 2))
    ours = shapely.area(shapely.intersection(icdar2015.even_odd_regions(a.astype(float)), icdar2015.even_odd_regions(b.astype(float))))
    areas = icdar2015.official_areas(a.astype(float))
    for i in range(len(a)):
        pa, pb = plg.Polygon(a[i].astype(np.int32)), plg.Polygon(b[i].astype(np.int32))
        inter = pa & pb
        assert areas[i] == pytest.approx(pa.area(), abs=1e-9)
        assert ours[i] == pytest.approx(0.0 if len(inter) == 0 else inter.area(), abs=1e-6)
