import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from tests.conftest import shared_path
from tfdet.evaluation import icdar2013, icdar2015
from tfdet.evaluation.files import EvaluationFormatError


def _write(folder, name, lines):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "w", encoding="utf-8", newline="") as f:
        f.write("".join(line + "\r\n" for line in lines))


@pytest.mark.parametrize("bowties", [0.0, 0.3])
def test_icdar2015_equals_official_transcription_on_real_gt(tmp_path, bowties):
    from tfdet import geometry
    from tfdet.evaluation import reference

    zpath = shared_path("icdar2015", "test", "gt.zip")
    gt_files = reference.read_gt_zip(zpath)
    det_files = reference.jittered_detections(gt_files, seed=0, bowties=bowties)
    crossing = sum(geometry.is_self_intersecting(np.reshape(d, (4, 2))) for dets in det_files.values() for d in dets)
    assert (crossing > 400) if bowties else (crossing == 0)  # the second set: 529 bow-ties and ~150 zero-area (collinear) lines
    det_dir = tmp_path / "res"
    reference.write_result_files(str(det_dir), det_files)
    ours = icdar2015.evaluate_paths(zpath, str(det_dir))
    ref = reference.evaluate_icdar2015(gt_files, det_files)
    for k in ("precision", "recall", "hmean"):
        assert ours[k] == pytest.approx(ref[k], abs=1e-12), k
    assert 0.3 < ours["hmean"] < 0.95
    out = subprocess.run([sys.executable, "-m", "tfdet.evaluation.icdar2015", f"--gt_dir={zpath}", f"--result_dir={det_dir}"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    line = json.loads(out.stdout.strip().splitlines()[-1])
    assert line["hmean"] == pytest.approx(ref["hmean"], abs=1e-12)


def test_icdar2015_golden_cases(tmp_path):
    gt, res = str(tmp_path / "gt"), str(tmp_path / "res")
    _write(gt, "gt_img_1.txt", ["0,0,100,0,100,20,0,20,hello, world", "200,0,300,0,300,20,200,20,###"])
    _write(res, "res_img_1.txt", ["0,0,100,0,100,20,0,20,0.9", "210,2,290,2,290,18,210,18,0.8", "500,500,520,500,520,510,500,510,0.1"])
    _write(gt, "gt_img_2.txt", [])  # empty gt, one detection
    _write(res, "res_img_2.txt", ["0,0,10,0,10,10,0,10"])
    _write(gt, "gt_img_3.txt", ["0,0,10,0,10,10,0,10,a"])  # no result file: a miss
    r = icdar2015.evaluate_paths(gt, res, score_thresholds=[0.05, 0.5])
    # image 1: 1 match, the don't-care detection ignored, one false positive; image 2: one false positive; image 3: miss
    assert r["matched"] == 1 and r["gt_care"] == 2 and r["det_care"] == 3
    assert r["precision"] == pytest.approx(1 / 3) and r["recall"] == pytest.approx(1 / 2)
    assert r["per_image"]["2"]["precision"] == 0.0 and r["per_image"]["2"]["recall"] == 1.0
    at05 = r["sweep"][1]
    assert at05["precision"] == pytest.approx(1 / 2)  # image 2's detection has no score: kept
    # IoU exactly 0.5 does not match (strict >)
    _write(str(tmp_path / "g2"), "gt_img_1.txt", ["0,0,100,0,100,10,0,10,x"])
    _write(str(tmp_path / "r2"), "res_img_1.txt", ["0,0,50,0,50,10,0,10"])
    _write(str(tmp_path / "r3"), "res_img_1.txt", ["0,0,51,0,51,10,0,10"])
    assert icdar2015.evaluate_paths(str(tmp_path / "g2"), str(tmp_path / "r2"))["matched"] == 0
    assert icdar2015.evaluate_paths(str(tmp_path / "g2"), str(tmp_path / "r3"))["matched"] == 1


def test_icdar2015_rejects_what_the_official_script_rejects(tmp_path):
    gt, res = str(tmp_path / "gt"), str(tmp_path / "res")
    _write(gt, "gt_img_1.txt", ["0,0,100,0,100,20,0,20,a"])
    _write(res, "res_img_1.txt", ["0,0,0,20,100,20,100,0"])  # counter-clockwise
    with pytest.raises(EvaluationFormatError, match="res_img_1.txt:1.*clockwise"):
        icdar2015.evaluate_paths(gt, res)
    _write(res, "res_img_9.txt", ["0,0,10,0,10,10,0,10"])
    os.remove(os.path.join(res, "res_img_1.txt"))
    with pytest.raises(EvaluationFormatError, match="not present"):
        icdar2015.evaluate_paths(gt, res)


def test_deteval_golden_cases():
    one = icdar2013.evaluate({"1": ([[0, 0, 99, 99]], [False], [[0, 0, 99, 99]])})
    assert one["precision"] == 1.0 and one["recall"] == 1.0
    split = icdar2013.evaluate({"1": ([[0, 0, 199, 49]], [False], [[0, 0, 99, 49], [100, 0, 199, 49]])})
    assert split["recall"] == pytest.approx(0.8) and split["precision"] == pytest.approx(0.8)
    # merged: the official script finds the one-to-many rule first (a single detection, weight 0.8)
    merged = icdar2013.evaluate({"1": ([[0, 0, 99, 49], [100, 0, 199, 49]], [False, False], [[0, 0, 199, 49]])})
    assert merged["recall"] == pytest.approx(0.4) and merged["precision"] == pytest.approx(0.8)
    # three GT in one detection with precision 1/3 each: many-to-one (recall 1 per GT, precision 1)
    many = icdar2013.evaluate({"1": ([[0, 0, 49, 49], [50, 0, 99, 49], [100, 0, 149, 49]], [False] * 3, [[0, 0, 149, 49]])})
    assert many["recall"] == pytest.approx(1.0) and many["precision"] == pytest.approx(1.0)
    dc = icdar2013.evaluate({"1": ([[0, 0, 99, 99]], [True], [[10, 10, 50, 50]])})
    assert dc["gt_care"] == 0 and dc["det_care"] == 0 and dc["hmean"] == 0
    empty_det = icdar2013.evaluate({"1": ([[0, 0, 9, 9]], [False], [])})
    assert empty_det["recall"] == 0 and empty_det["precision"] == 0
    empty_gt = icdar2013.evaluate({"1": ([], [], [[0, 0, 9, 9]])})
    assert empty_gt["det_care"] == 1 and empty_gt["precision"] == 0


def test_deteval_on_real_gt_zip(tmp_path):
    zpath = shared_path("icdar2013", "gt.zip")
    res = str(tmp_path / "res")
    with zipfile.ZipFile(zpath) as zf:
        for name in zf.namelist():
            lines = [line.rsplit(",", 1)[0] for line in zf.read(name).decode().splitlines() if line and not line.endswith("###")]
            _write(res, name.replace("gt_", "res_"), lines)
    r = icdar2013.evaluate_paths(zpath, res)
    # GT as detections, scored by the official rules: in gt_img_9 two care boxes lie > 40% inside
    # don't-care regions, so their detections become don't care (7 of 9 care detections count);
    # in gt_img_60 two overlapping boxes match through one-to-many (recall 0.8, precision 1.6 of 2).
    assert r["gt_care"] == 1095 and r["det_care"] == 1093
    assert r["per_image"]["9"] == {"recall_accum": 7.0, "precision_accum": 7.0, "gt_care": 9, "det_care": 7}
    assert r["per_image"]["60"]["recall_accum"] == pytest.approx(0.8) and r["per_image"]["60"]["precision_accum"] == pytest.approx(1.6)
    assert r["recall"] == pytest.approx(1091.8 / 1095) and r["precision"] == pytest.approx(1092.6 / 1093)
    assert r["gt_care"] == 1637 - 542


def test_coco_equals_pycocotools(tmp_path):
    root = shared_path("coco")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from tfdet.datasets import get_reader
    from tfdet.evaluation.runner import score_coco
    from tfdet.records import codec, writer

    ann = os.path.join(root, "annotations", "instances_val2017.json")
    reader = get_reader("coco", image_dir=os.path.join(root, "images", "val2017"), annotations=ann)
    writer.convert(reader, str(tmp_path / "rec"), num_shards=1, progress=False)
    samples = list(codec.read_samples(str(tmp_path / "rec" / "*.tfrecord")))
    data = json.load(open(ann))
    rng = np.random.default_rng(0)
    dets = []
    for a in data["annotations"]:
        if rng.random() < 0.8:
            x, y, w, h = a["bbox"]
            j = rng.normal(0, 0.08, 4) * [w, h, w, h]
            dets.append({"image_id": a["image_id"], "category_id": a["category_id"], "bbox": [x + j[0], y + j[1], w + j[2], h + j[3]],
                         "score": float(rng.random())})
    for img in data["images"]:
        dets.append({"image_id": img["id"], "category_id": 1, "bbox": [10, 10, 50, 50], "score": 0.3})
    gt = COCO(ann)
    ev = COCOeval(gt, gt.loadRes(dets), "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    category_of_label = reader.category_ids
    label_of_category = {v: k for k, v in category_of_label.items()}
    results = []
    for s in samples:
        mine = [d for d in dets if d["image_id"] == int(s.source_id)]
        results.append({
            "boxes": np.array([[d["bbox"][1], d["bbox"][0], d["bbox"][1] + d["bbox"][3], d["bbox"][0] + d["bbox"][2]] for d in mine]).reshape(-1, 4),
            "scores": np.array([d["score"] for d in mine]),
            "classes": np.array([label_of_category[d["category_id"]] for d in mine], int),
            "quads": np.zeros((len(mine), 4, 2)),
        })
    ours = score_coco(samples, results, category_of_label)
    from tfdet.evaluation.coco import STAT_NAMES

    for name, value in zip(STAT_NAMES, ev.stats):
        assert ours[name] == pytest.approx(float(value), abs=2e-4), name


@pytest.mark.parametrize("protocol", ["icdar2015", "icdar2013"])
def test_runner_files_score_like_the_runner(tmp_path, protocol):
    from tfdet.datasets import get_reader
    from tfdet.evaluation.runner import score_icdar

    reader = get_reader("synthetic", num_images=6, seed=9)
    samples = [reader.load(i)[0] for i in reader.items()]
    rng = np.random.default_rng(0)
    results = []
    for s in samples:
        quads = s.quads + rng.normal(0, 1.5, s.quads.shape)
        boxes = np.stack([quads[..., 1].min(1), quads[..., 0].min(1), quads[..., 1].max(1), quads[..., 0].max(1)], 1)
        results.append({"quads": quads, "boxes": boxes, "scores": rng.uniform(0.2, 1.0, len(quads)), "classes": np.ones(len(quads), int)})
    summary = score_icdar(samples, results, protocol, str(tmp_path), 0.33)
    assert 0.33 in [p["score_threshold"] for p in summary["sweep"]]
    module = icdar2015 if protocol == "icdar2015" else icdar2013
    rescored = module.evaluate_paths(str(tmp_path / "gt"), str(tmp_path / "submit.zip"))
    for k in ("precision", "recall", "hmean"):
        assert summary[k] == pytest.approx(rescored[k], abs=1e-9), k
    assert summary["hmean"] > 0.5
