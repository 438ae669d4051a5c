"""The evaluation runner's ICDAR files: decoded quads ordered before writing, what is re-ordered or
dropped counted, and ICDAR ground-truth folders scored as the official script reads them (issue 16 item 4)."""

import os
import zipfile

import numpy as np
import pytest

from tests.conftest import shared_path, write_jpeg
from tfdet import geometry
from tfdet.datasets.base import Sample
from tfdet.evaluation import icdar2013, icdar2015
from tfdet.evaluation.files import is_clockwise
from tfdet.evaluation.runner import integer_quads, load_samples, official_ground_truth, score_icdar

BOX_A = [[10, 10], [110, 10], [110, 40], [10, 40]]
BOX_B = [[10, 60], [110, 60], [110, 90], [10, 90]]
BOX_C = [[150, 10], [190, 10], [190, 30], [150, 30]]


def _sample(quads, difficult=None):
    n = len(quads)
    return Sample(image=b"", image_format="jpeg", filename="img_1.jpg", source_id="1", height=100, width=200,
                  quads=np.asarray(quads, float), labels=[1] * n, class_names=["text"] * n,
                  difficult=difficult or [False] * n, texts=["word"] * n, areas=[1.0] * n)


def _result(quads, scores):
    quads = np.asarray(quads, float).reshape(-1, 4, 2)
    boxes = np.stack([quads[..., 1].min(1), quads[..., 0].min(1), quads[..., 1].max(1), quads[..., 0].max(1)], 1)
    return {"quads": quads, "boxes": boxes, "scores": np.asarray(scores, float), "classes": np.ones(len(quads), int)}


def _lines(path):
    return [line for line in open(path, encoding="utf-8").read().splitlines() if line]


def test_integer_quads_orders_after_rounding():
    # counter-clockwise, crossed (bow-tie), a simple clockwise quad that rounding crosses, a non-finite one
    simple = [[1.2, 2.7], [0.8, 3.8], [1.5, 0.4], [2.5, 3.7]]  # rounded: (1,3) (1,4) (2,0) (2,4), edges 1 and 3 cross
    assert not geometry.is_self_intersecting(np.array(simple)) and geometry.is_self_intersecting(np.round(simple))
    rows, reordered = integer_quads([BOX_A[::-1], [BOX_A[0], BOX_A[1], BOX_A[3], BOX_A[2]], simple,
                                     [[0, 0], [np.nan, 0], [1, 1], [0, 1]]])
    assert reordered == 3 and rows[3] is None
    assert rows[0] == [10, 10, 110, 10, 110, 40, 10, 40] and rows[1] == rows[0]
    assert all(is_clockwise(r) for r in rows[:3]) and not geometry.is_self_intersecting(np.reshape(rows[2], (4, 2)))


def test_counter_clockwise_and_crossed_detections_are_written_and_counted(tmp_path):
    sample = _sample([BOX_A, BOX_B, BOX_C])
    crossed = [BOX_B[0], BOX_B[1], BOX_B[3], BOX_B[2]]
    result = _result([BOX_A[::-1], crossed, BOX_C, [[0, 0], [np.nan, 0], [1, 1], [0, 1]]], [0.9, 0.8, 0.7, 0.6])
    logged = []
    summary = score_icdar([sample], [result], "icdar2015", str(tmp_path), 0.5, log=logged.append)
    # all three written and matched (the counter-clockwise one used to be dropped from scoring and submit.zip)
    assert summary["recall"] == 1.0 and summary["precision"] == 1.0
    assert summary["quads"]["reordered_detections"] == 2 and summary["quads"]["dropped_non_finite_detections"] == 1
    assert summary["quads"]["detections"] == 3 and summary["quads"]["ground_truth_from_samples"] == 1
    assert any("2 re-ordered" in m and "1 dropped" in m for m in logged)
    with zipfile.ZipFile(tmp_path / "submit.zip") as zf:
        lines = zf.read("res_img_1.txt").decode().splitlines()
    assert lines[0] == "10,10,110,10,110,40,10,40,0.9000" and len(lines) == 3
    rescored = icdar2015.evaluate_paths(str(tmp_path / "gt"), str(tmp_path / "submit.zip"))
    assert rescored["hmean"] == summary["hmean"] == 1.0


def test_counter_clockwise_ground_truth_from_samples_is_ordered_not_dropped(tmp_path):
    # records made by other tools need not follow the order contract; a non-finite quad is dropped and counted
    sample = _sample([BOX_A[::-1], BOX_B, [[0, 0], [np.inf, 0], [1, 1], [0, 1]]])
    logged = []
    summary = score_icdar([sample], [_result([BOX_A], [0.9])], "icdar2015", str(tmp_path), 0.5, log=logged.append)
    assert summary["quads"]["reordered_ground_truth"] == 1 and summary["quads"]["dropped_non_finite_ground_truth"] == 1
    assert any("1 quads re-ordered, 1 dropped" in m for m in logged)
    assert summary["recall"] == 0.5 and summary["precision"] == 1.0  # the gt used to vanish: recall 1.0
    assert _lines(tmp_path / "gt" / "gt_img_1.txt") == ["10,10,110,10,110,40,10,40,word", "10,60,110,60,110,90,10,90,word"]
    assert icdar2015.evaluate_paths(str(tmp_path / "gt"), str(tmp_path / "submit.zip"))["recall"] == 0.5


def _icdar_folder(root, gt_line):
    write_jpeg(os.path.join(root, "images", "img_1.jpg"), 200, 100)
    os.makedirs(os.path.join(root, "gt"))
    with open(os.path.join(root, "gt", "gt_img_1.txt"), "w", newline="") as f:
        f.write(gt_line + "\r\n")
    return os.path.join(root, "images"), os.path.join(root, "gt")


def test_icdar2015_folder_ground_truth_scored_as_the_official_script_reads_it(tmp_path):
    # a gt quad reaching past the image's right edge (x 150..250 on a 200 px image): the reader clips it
    # to 150..200, the official script keeps 150..250; a detection of the visible part has IoU 50/100 = 0.5
    images, gt = _icdar_folder(str(tmp_path / "data"), "150,10,250,10,250,40,150,40,word")
    samples = load_samples(dataset="icdar2015", image_dir=images, annotations=gt, log=lambda m: None)
    assert samples[0].quads[0, :, 0].max() == 200
    result = _result([[[150, 10], [200, 10], [200, 40], [150, 40]]], [0.9])
    from_reader = score_icdar(samples, [result], "icdar2015", str(tmp_path / "a"), 0.5)
    assert from_reader["recall"] == 1.0
    gt_files = official_ground_truth("icdar2015", "icdar2015", images, gt)
    official = score_icdar(samples, [result], "icdar2015", str(tmp_path / "b"), 0.5, gt_files=gt_files)
    assert official["recall"] == 0.0 and official["quads"]["ground_truth_from_files"] == 1
    with open(os.path.join(gt, "gt_img_1.txt"), "rb") as f, open(tmp_path / "b" / "gt" / "gt_img_1.txt", "rb") as g:
        assert f.read() == g.read()  # copied byte for byte
    assert official_ground_truth("icdar2013", "icdar2015", images, gt) is None
    assert official_ground_truth("icdar2015", None, None, None) is None


def test_icdar2015_folder_counter_clockwise_ground_truth_is_an_error(tmp_path):
    images, gt = _icdar_folder(str(tmp_path / "data"), "10,40,110,40,110,10,10,10,word")
    # refused when the files are read, before any detection runs (the reader would have re-ordered it)
    with pytest.raises(icdar2015.EvaluationFormatError, match=r"gt_img_1.txt:1.*not clockwise"):
        official_ground_truth("icdar2015", "icdar2015", images, gt)
    assert load_samples(dataset="icdar2015", image_dir=images, annotations=gt, log=lambda m: None)[0].quads.shape == (1, 4, 2)


@pytest.mark.parametrize("line,from_files", [("10,10,60,30,word", 1), ('10 10 60 30 "word"', 0)])
def test_icdar2013_folder_ground_truth(tmp_path, line, from_files):
    images, gt = _icdar_folder(str(tmp_path / "data"), line)
    samples = load_samples(dataset="icdar2013", image_dir=images, annotations=gt, log=lambda m: None)
    logged = []
    summary = score_icdar(samples, [_result([[[10, 10], [60, 10], [60, 30], [10, 30]]], [0.9])], "icdar2013",
                          str(tmp_path / "out"), 0.5, gt_files=official_ground_truth("icdar2013", "icdar2013", images, gt),
                          log=logged.append)
    assert summary["hmean"] == 1.0 and summary["quads"]["ground_truth_from_files"] == from_files
    assert bool(logged) != bool(from_files)  # the raw training form is not the official format: said so
    assert icdar2013.evaluate_paths(str(tmp_path / "out" / "gt"), str(tmp_path / "out" / "submit.zip"))["hmean"] == 1.0


def test_real_icdar2015_folder_ground_truth_is_used_as_is(tmp_path):
    root = shared_path("icdar2015", "test")
    images, gt = os.path.join(root, "images"), os.path.join(root, "gt")
    samples = load_samples(dataset="icdar2015", image_dir=images, annotations=gt, log=lambda m: None)
    gt_files = official_ground_truth("icdar2015", "icdar2015", images, gt)
    assert sorted(gt_files) == sorted(s.filename for s in samples)
    results = []
    for s in samples:  # the official gt quads themselves as detections
        key = os.path.splitext(s.filename)[0][len("img_"):]
        points, _ = icdar2015.read_gt_file(gt_files[s.filename], key)
        results.append(_result(np.reshape(points, (-1, 4, 2)), np.ones(len(points))))
    summary = score_icdar(samples, results, "icdar2015", str(tmp_path), 0.5, gt_files=gt_files)
    assert summary["recall"] == 1.0 and summary["quads"]["ground_truth_from_files"] == len(samples)
    rescored = icdar2015.evaluate_paths(gt, str(tmp_path / "submit.zip"))
    assert rescored["hmean"] == summary["hmean"]


def test_evaluate_tool_scores_icdar_folder_ground_truth_from_files(tmp_path):
    import json
    import subprocess
    import sys

    from tests.conftest import REPO
    from tfdet.benchmark import make_untrained_run

    run = make_untrained_run(str(tmp_path / "run"), size=128)
    images, gt = _icdar_folder(str(tmp_path / "data"), "150,10,250,10,250,40,150,40,word")
    out = str(tmp_path / "eval")
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "evaluate.py"), f"--model={run}", "--protocol=icdar2015",
                           "--dataset=icdar2015", f"--image_dir={images}", f"--annotations={gt}", f"--output_dir={out}",
                           "--size=128", "--pictures=0", "--noprogress"],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert summary["quads"]["ground_truth_from_files"] == 1 and summary["quads"]["ground_truth_from_samples"] == 0
    with open(os.path.join(gt, "gt_img_1.txt"), "rb") as f, open(os.path.join(out, "gt", "gt_img_1.txt"), "rb") as g:
        assert f.read() == g.read()
    rescored = icdar2015.evaluate_paths(os.path.join(out, "gt"), os.path.join(out, "submit.zip"))
    assert rescored["hmean"] == summary["hmean"]
