"""Writer: corrupt input, strict mode, atomic shards, determinism, dataset.json."""

import hashlib
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, write_jpeg
from tfdet.datasets import get_reader
from tfdet.records import codec, writer


def make_ic15(tmp_path):
    images, gt = tmp_path / "images", tmp_path / "gt"
    gt.mkdir(parents=True)
    for i in range(1, 7):
        write_jpeg(str(images / f"img_{i}.jpg"), 200, 100, seed=i)
    good = b"10,10,60,10,60,30,10,30,hello\n"
    (gt / "gt_img_1.txt").write_bytes(good)
    data = (images / "img_2.jpg").read_bytes()
    (images / "img_2.jpg").write_bytes(data[: len(data) // 2])  # truncated JPEG
    (gt / "gt_img_2.txt").write_bytes(good)
    (gt / "gt_img_3.txt").write_bytes(good + b"1,2,3,4,5,6,7\n")  # 7 numbers
    (gt / "gt_img_4.txt").write_bytes(good + b"1,2,x,4,5,6,7,8,word\n")  # non-numeric
    (gt / "gt_img_5.txt").write_bytes(b"")  # empty gt file: an image without text
    (gt / "gt_img_6.txt").write_bytes(good + b"5,5,5,5,5,5,5,5,flat\n")  # zero-area quad
    (gt / "gt_img_7.txt").write_bytes(good)  # no image
    return str(images), str(gt)


def test_corrupt_inputs_are_reported_and_run_goes_on(tmp_path):
    images, gt = make_ic15(tmp_path)
    reader = get_reader("icdar2015", image_dir=images, annotations=gt)
    out = str(tmp_path / "out")
    summary = writer.convert(reader, out, num_shards=2, progress=False)
    assert summary["images"] == 5  # img_2 (truncated) and img_7 (missing) skipped
    kinds = {(os.path.basename(p["path"]), p["line"], p["kind"]) for p in summary["problems"]}
    assert ("img_2.jpg", None, "skipped_file") in kinds
    assert ("gt_img_3.txt", 2, "skipped_line") in kinds
    assert ("gt_img_4.txt", 2, "skipped_line") in kinds
    assert ("gt_img_6.txt", 2, "dropped_quad") in kinds
    assert ("gt_img_7.txt", None, "skipped_file") in kinds
    reasons = " ".join(p["reason"] for p in summary["problems"])
    assert "got 7 fields" in reasons and "not a number: 'x'" in reasons and "zero area" in reasons
    meta = json.load(open(os.path.join(out, "dataset.json")))
    assert meta["splits"]["train"]["problem_counts"]["skipped_line"] == 2
    samples = {s.filename: s for s in codec.read_samples(os.path.join(out, "*.tfrecord"))}
    assert samples["img_5.jpg"].num_objects == 0 and samples["img_3.jpg"].num_objects == 1


def test_strict_fails_before_writing(tmp_path):
    images, gt = make_ic15(tmp_path)
    out = tmp_path / "out"
    cmd = [sys.executable, os.path.join(REPO, "tools", "make_tfrecord.py"), "--dataset=icdar2015", f"--image_dir={images}",
           f"--annotations={gt}", f"--output_dir={out}", "--strict", "--num_shards=2", "--noprogress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "gt_img_3.txt:2" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() or not list(out.glob("*.tfrecord"))


def _digest(folder):
    h = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".tfrecord"):
            h.update(open(os.path.join(folder, name), "rb").read())
    return h.hexdigest()


def test_deterministic_across_workers_and_rerun_overwrites(tmp_path):
    reader = get_reader("synthetic", num_images=12, seed=3)
    writer.convert(reader, str(tmp_path / "a"), num_shards=3, num_workers=1, progress=False)
    writer.convert(reader, str(tmp_path / "b"), num_shards=3, num_workers=2, progress=False)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    writer.convert(reader, str(tmp_path / "a"), num_shards=2, progress=False)
    names = sorted(os.listdir(tmp_path / "a"))
    assert names == ["dataset.json", "train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord"]
    meta = json.load(open(tmp_path / "a" / "dataset.json"))
    boxes = meta["splits"]["train"]["boxes"]
    assert boxes["count"] > 0 and boxes["height_px"]["p50"] > 0 and len(boxes["samples_w_h_imgw_imgh"]) == boxes["count"]


def test_interrupted_conversion_leaves_no_finished_shard(tmp_path):
    class Exploding:
        dataset_name = "boom"

        def __init__(self):
            self.inner = get_reader("synthetic", num_images=6, seed=1)

        def items(self):
            return self.inner.items()

        def load(self, item):
            if item == 4:
                raise KeyboardInterrupt
            return self.inner.load(item)

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        writer.convert(Exploding(), str(out), num_shards=2, progress=False)
    assert not [n for n in os.listdir(out) if n.endswith(".tfrecord")]
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]


def test_record_glob_leaves_out_dataset_json_and_names_a_corrupt_file(tmp_path):
    out = tmp_path / "recs"
    writer.convert(get_reader("synthetic", num_images=2, seed=3), str(out), num_shards=1, progress=False)
    assert (out / "dataset.json").exists()
    files = codec.iter_record_files(str(out / "*"))
    assert files and not [f for f in files if f.endswith(".json")]
    assert len(list(codec.read_samples(str(out / "*")))) == 2
    (out / "notes.txt").write_text("not a record")
    with pytest.raises(ValueError, match="notes.txt is not a TFRecord file or is corrupt"):
        list(codec.read_samples(str(out / "*")))
