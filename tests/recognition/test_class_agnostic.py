"""COCO --class_agnostic: every category becomes label 1 "object", the original label stays per object."""

import json
import os
import subprocess
import sys

from tests.conftest import REPO, shared_path
from tfdet import keys
from tfdet.datasets import get_reader
from tfdet.records import codec, writer


def test_real_coco_class_agnostic(tmp_path):
    root = shared_path("coco")
    ann = os.path.join(root, "annotations", "instances_val2017.json")
    reader = get_reader("coco", image_dir=os.path.join(root, "images", "val2017"), annotations=ann, class_agnostic=True)
    out = str(tmp_path / "ds")
    summary = writer.convert(reader, out, num_shards=1, progress=False)
    data = json.load(open(ann))
    assert summary["objects"] == len(data["annotations"]) == 136
    meta = json.load(open(os.path.join(out, "dataset.json")))
    assert meta["label_map"] == {"object": 1}
    assert len(meta["original_label_map"]) == 80
    contiguous = {c["id"]: i + 1 for i, c in enumerate(sorted(data["categories"], key=lambda c: c["id"]))}
    names = {c["id"]: c["name"] for c in data["categories"]}
    samples = {s.source_id: s for s in codec.read_samples(os.path.join(out, "*.tfrecord"))}
    for image in data["images"]:
        sample = samples[str(image["id"])]
        anns = [a for a in data["annotations"] if a["image_id"] == image["id"]]
        assert sample.labels == [1] * len(anns) and set(sample.class_names) <= {"object"}
        # same order as the json: the original label of each object is its category's contiguous label
        assert sample.original_labels == [contiguous[a["category_id"]] for a in anns]
        for label, a in zip(sample.original_labels, anns):
            assert meta["original_label_map"][names[a["category_id"]]] == label


def test_records_without_original_labels_read_back_empty(tmp_path):
    import numpy as np

    from tfdet.datasets.base import Sample

    sample = Sample(image=b"x", image_format="jpeg", filename="a.jpg", source_id="1", height=10, width=10,
                    quads=np.array([[[1, 1], [5, 1], [5, 5], [1, 5]]]), labels=[1], class_names=["object"],
                    difficult=[False], texts=[""])
    example = codec.sample_to_example(sample)
    assert keys.CLASS_ORIGINAL_LABEL not in example.features.feature
    assert codec.example_to_sample(example.SerializeToString()).original_labels == []
    sample.original_labels = [7]
    back = codec.example_to_sample(codec.sample_to_example(sample).SerializeToString())
    assert back.original_labels == [7] and back.labels == [1]


def test_cli_refuses_class_agnostic_elsewhere(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "make_tfrecord.py"), "--dataset=synthetic",
                           "--class_agnostic", f"--output_dir={tmp_path}"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--class_agnostic applies to --dataset=coco" in proc.stderr
