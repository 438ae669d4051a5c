"""Readers on the real samples in ../shared/data and on generated fixtures."""

import json
import os

import numpy as np
import pytest

from tests.conftest import shared_path, write_jpeg
from tfdet import geometry
from tfdet.datasets import get_reader
from tfdet.records import codec, writer


def independent_ic15(path):
    """A parser written separately from tfdet's, for the round trip."""
    rows = []
    with open(path, "rb") as f:
        text = f.read().decode("utf-8")
    text = text.lstrip("\ufeff")
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        parts = line.split(",")
        coords = [float(v) for v in parts[:8]]
        rows.append((coords, ",".join(parts[8:])))
    return rows


def convert_and_read(reader, tmp_path, name="ds", shards=2):
    out = str(tmp_path / name)
    summary = writer.convert(reader, out, num_shards=shards, progress=False)
    samples = list(codec.read_samples(os.path.join(out, "*.tfrecord")))
    return summary, samples


def canonical(coords, width, height):
    q = np.asarray(coords, float).reshape(4, 2)
    q[:, 0] = np.clip(q[:, 0], 0, width)
    q[:, 1] = np.clip(q[:, 1], 0, height)
    return geometry.order_quad(q)


def check_text_round_trip(samples, gt_dir, parse, image_stem_to_gt):
    assert samples
    for sample in samples:
        stem = os.path.splitext(sample.filename)[0]
        rows = parse(os.path.join(gt_dir, image_stem_to_gt(stem)))
        assert len(rows) == sample.num_objects, sample.filename
        for i, (coords, text) in enumerate(rows):
            np.testing.assert_allclose(sample.quads[i], canonical(coords, sample.width, sample.height), atol=1e-2)
            assert sample.texts[i] == text.strip()
            assert sample.difficult[i] == (text.strip() == "###")
            assert sample.labels[i] == 1 and sample.class_names[i] == "text"


@pytest.mark.parametrize("folder", ["train", "train_crlf", "test"])
def test_icdar2015_real_round_trip(tmp_path, folder):
    root = shared_path("icdar2015", folder)
    reader = get_reader("icdar2015", image_dir=os.path.join(root, "images"), annotations=os.path.join(root, "gt"))
    summary, samples = convert_and_read(reader, tmp_path)
    assert summary["images"] == len(os.listdir(os.path.join(root, "images")))
    assert not [p for p in summary["problems"] if p["kind"] in ("skipped_file", "skipped_line", "dropped_quad")]
    check_text_round_trip(samples, os.path.join(root, "gt"), independent_ic15, lambda s: f"gt_{s}.txt")
    if folder == "train":
        first = next(s for s in samples if s.filename == "img_1.jpg")
        assert first.texts[0] == "Genaxis Theatre"  # BOM stripped


def test_icdar2015_commas_in_transcription():
    from tfdet.datasets.icdar2015 import parse_icdar2015_line

    obj = parse_icdar2015_line("1,2,3,2,3,4,1,4,$5,50")
    assert obj.text == "$5,50"
    assert parse_icdar2015_line("1,2,3,2,3,4,1,4,B1,").text == "B1,"


def test_icdar2015_official_test_gt_zip_parses():
    zpath = shared_path("icdar2015", "test", "gt.zip")
    from tfdet.datasets.base import AnnotationSource, text_lines
    from tfdet.datasets.icdar2015 import parse_icdar2015_line

    source = AnnotationSource(zpath)
    names = source.names()
    assert len(names) == 500
    lines = care = 0
    for name in names:
        for _, line in text_lines(source.read(name)):
            obj = parse_icdar2015_line(line)
            lines += 1
            care += not obj.difficult
    assert lines == 5230 and lines - care == 3153


def test_icdar2013_rrc_real_round_trip(tmp_path):
    gt_dir = shared_path("icdar2013", "test_gt_rrc")
    images = tmp_path / "images"
    for name in os.listdir(gt_dir):  # IC13 images are not public: make ones big enough for the boxes
        coords = [[int(v) for v in line.split(",")[:4]] for line in open(os.path.join(gt_dir, name)).read().splitlines() if line]
        width = max(c[2] for c in coords) + 5
        height = max(c[3] for c in coords) + 5
        write_jpeg(str(images / (name[3:-4] + ".jpg")), width, height)
    reader = get_reader("icdar2013", image_dir=str(images), annotations=gt_dir)
    summary, samples = convert_and_read(reader, tmp_path)
    assert summary["images"] == 10

    def parse(path):
        rows = []
        for line in open(path, encoding="utf-8").read().splitlines():
            if line.strip():
                x0, y0, x1, y1, text = line.split(",", 4)
                rows.append(([float(x0), float(y0), float(x1), float(y0), float(x1), float(y1), float(x0), float(y1)], text))
        return rows

    check_text_round_trip(samples, gt_dir, parse, lambda s: f"gt_{s}.txt")


def test_icdar2013_gt_zip_counts():
    zpath = shared_path("icdar2013", "gt.zip")
    from tfdet.datasets.base import AnnotationSource, text_lines
    from tfdet.datasets.icdar2013 import parse_icdar2013_line

    source = AnnotationSource(zpath)
    objs = [parse_icdar2013_line(line) for n in source.names() for _, line in text_lines(source.read(n))]
    assert len(source.names()) == 233 and len(objs) == 1637
    assert sum(o.difficult for o in objs) == 542


def test_icdar2013_raw_formats(tmp_path):
    from tfdet.datasets.icdar2013 import parse_icdar2013_line

    train = parse_icdar2013_line('158 128 411 181 "Footpath"')
    test = parse_icdar2013_line('38, 43, 920, 215, "Tiredness"')
    quoted = parse_icdar2013_line('1, 2, 30, 40, "say \\"hi\\", ok"')
    assert train.text == "Footpath" and test.text == "Tiredness" and quoted.text == 'say "hi", ok'
    np.testing.assert_allclose(train.quad, [[158, 128], [411, 128], [411, 181], [158, 181]])
    # whole files in both raw layouts
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "gt_100.txt").write_bytes(b'158 128 411 181 "Footpath"\n443 128 501 169 "To"\n')
    (tmp_path / "gt" / "gt_img_1.txt").write_bytes(b'38, 43, 920, 215, "Tiredness"\r\n275, 264, 665, 450, "kills"\r\n')
    write_jpeg(str(tmp_path / "images" / "100.jpg"), 1000, 600)
    write_jpeg(str(tmp_path / "images" / "img_1.JPG"), 1000, 600)
    reader = get_reader("icdar2013", image_dir=str(tmp_path / "images"), annotations=str(tmp_path / "gt"))
    summary, samples = convert_and_read(reader, tmp_path, "out")
    assert summary["images"] == 2 and summary["objects"] == 4
    assert sorted(t for s in samples for t in s.texts) == ["Footpath", "Tiredness", "To", "kills"]


def test_mlt_fixture(tmp_path):
    from PIL import Image

    gt = tmp_path / "gt"
    gt.mkdir()
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (300, 200), (10, 20, 30)).save(images / "img_1.GIF")
    write_jpeg(str(images / "img_2.png"), 300, 200)
    write_jpeg(str(images / "tr_img_00003.JPG"), 300, 200)
    (gt / "gt_img_1.txt").write_bytes("10,10,100,10,100,40,10,40,Arabic,مرحبا\n".encode())
    (gt / "gt_img_2.txt").write_bytes("\ufeff10,10,100,10,100,40,10,40,Latin,Hello, world\r\n20,50,60,50,60,70,20,70,None,###\r\n".encode())
    (gt / "tr_img_00003.txt").write_bytes(b"10,10,100,10,100,40,10,40,Korean,abc\n")
    reader = get_reader("mlt", image_dir=str(images), annotations=str(gt))
    summary, samples = convert_and_read(reader, tmp_path, "out", shards=1)
    assert summary["images"] == 3
    by_name = {s.filename: s for s in samples}
    assert by_name["img_1.GIF"].image_format == "png" and by_name["img_1.GIF"].scripts == ["Arabic"]
    assert by_name["img_1.GIF"].texts == ["مرحبا"]
    assert by_name["img_2.png"].texts == ["Hello, world", "###"] and by_name["img_2.png"].difficult == [False, True]
    assert by_name["img_2.png"].scripts == ["Latin", "None"]
    assert by_name["tr_img_00003.JPG"].scripts == ["Korean"]


def test_synthtext_h5_real_round_trip(tmp_path):
    import h5py

    path = shared_path("synthtext", "SynthText.h5")
    reader = get_reader("synthtext", annotations=path)
    summary, samples = convert_and_read(reader, tmp_path)
    assert summary["images"] == 5
    with h5py.File(path, "r") as f:
        for sample in samples:
            ds = f["data"][os.path.splitext(sample.filename)[0]]
            bb = np.asarray(ds.attrs["wordBB"], float)
            words = [w for t in ds.attrs["txt"] for w in t.decode().split()]
            assert sample.texts == words
            assert (sample.height, sample.width) == ds.shape[:2]
            for i in range(bb.shape[2]):
                np.testing.assert_allclose(sample.quads[i], canonical(bb[:, :, i].T, sample.width, sample.height), atol=1e-2)


def test_synthtext_gt_mat_fixture(tmp_path):
    import scipy.io

    images = tmp_path / "imgs" / "8"
    write_jpeg(str(images / "ballet_106_0.jpg"), 400, 300)
    write_jpeg(str(images / "single_1_0.jpg"), 400, 300, seed=1)
    imnames = np.empty((1, 2), dtype=object)
    imnames[0, 0] = np.array(["8/ballet_106_0.jpg"])
    imnames[0, 1] = np.array(["8/single_1_0.jpg"])
    word_bb = np.empty((1, 2), dtype=object)
    two = np.zeros((2, 4, 2))
    two[:, :, 0] = [[10, 100, 100, 10], [10, 10, 40, 40]]
    two[:, :, 1] = [[120, 200, 200, 120], [50, 50, 80, 80]]
    word_bb[0, 0] = two
    word_bb[0, 1] = np.array([[5, 50, 50, 5], [5, 5, 20, 20]], float)  # squeezed 2x4 single word
    txt = np.empty((1, 2), dtype=object)
    txt[0, 0] = np.array(["Lines:\n  over", ], dtype=object)
    txt[0, 1] = np.array(["alone"], dtype=object)
    scipy.io.savemat(str(tmp_path / "gt.mat"), {"imnames": imnames, "wordBB": word_bb, "txt": txt, "charBB": word_bb})
    reader = get_reader("synthtext", annotations=str(tmp_path / "gt.mat"), image_dir=str(tmp_path / "imgs"))
    summary, samples = convert_and_read(reader, tmp_path, "out", shards=1)
    assert summary["images"] == 2
    by_name = {s.filename: s for s in samples}
    assert by_name["ballet_106_0.jpg"].texts == ["Lines:", "over"]
    assert by_name["single_1_0.jpg"].texts == ["alone"]
    np.testing.assert_allclose(by_name["single_1_0.jpg"].quads[0], [[5, 5], [50, 5], [50, 20], [5, 20]], atol=1e-2)


def test_coco_real_round_trip(tmp_path):
    root = shared_path("coco")
    ann = os.path.join(root, "annotations", "instances_train2017.json")
    reader = get_reader("coco", image_dir=os.path.join(root, "images", "train2017"), annotations=ann)
    summary, samples = convert_and_read(reader, tmp_path)
    data = json.load(open(ann))
    assert summary["images"] == 32 and summary["objects"] == 288
    labels = {c["id"]: i + 1 for i, c in enumerate(sorted(data["categories"], key=lambda c: c["id"]))}
    meta = json.load(open(tmp_path / "ds" / "dataset.json"))
    assert len(meta["label_map"]) == 80 and max(meta["label_map"].values()) == 80
    by_id = {s.source_id: s for s in samples}
    assert by_id["226111"].num_objects == 0 and by_id["58636"].num_objects == 0
    for a in data["annotations"]:
        s = by_id[str(a["image_id"])]
        x, y, w, h = a["bbox"]
        expect = canonical([x, y, x + w, y, x + w, y + h, x, y + h], s.width, s.height)
        match = [i for i in range(s.num_objects) if np.allclose(s.quads[i], expect, atol=1e-2) and s.labels[i] == labels[a["category_id"]]]
        assert match, a["id"]
        assert s.difficult[match[0]] == bool(a["iscrowd"]) and s.is_crowd[match[0]] == bool(a["iscrowd"])
    assert sum(sum(s.is_crowd) for s in samples) == 4


def test_tfod_records_without_quads(tmp_path):
    import tensorflow as tf

    path = write_jpeg(str(tmp_path / "a.jpg"), 100, 50)
    feature = {
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[open(path, "rb").read()])),
        "image/format": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"jpeg"])),
        "image/height": tf.train.Feature(int64_list=tf.train.Int64List(value=[50])),
        "image/width": tf.train.Feature(int64_list=tf.train.Int64List(value=[100])),
        "image/object/bbox/xmin": tf.train.Feature(float_list=tf.train.FloatList(value=[0.1, 0.6])),
        "image/object/bbox/xmax": tf.train.Feature(float_list=tf.train.FloatList(value=[0.5, 0.9])),
        "image/object/bbox/ymin": tf.train.Feature(float_list=tf.train.FloatList(value=[0.2, 0.2])),
        "image/object/bbox/ymax": tf.train.Feature(float_list=tf.train.FloatList(value=[0.6, 0.8])),
        "image/object/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[3, 3])),
        "image/object/is_crowd": tf.train.Feature(int64_list=tf.train.Int64List(value=[0, 1])),
    }
    ex = tf.train.Example(features=tf.train.Features(feature=feature))
    with tf.io.TFRecordWriter(str(tmp_path / "od.tfrecord")) as w:
        w.write(ex.SerializeToString())
        w.write(ex.SerializeToString())
    reader = get_reader("tfod", annotations=str(tmp_path / "od.tfrecord"))
    summary, samples = convert_and_read(reader, tmp_path, "out", shards=1)
    assert summary["images"] == 2
    np.testing.assert_allclose(samples[0].quads[0], [[10, 10], [50, 10], [50, 30], [10, 30]], atol=1e-3)
    assert samples[0].labels == [3, 3]
    # a crowd region is don't care (ignored by the matcher), as the coco reader makes it
    assert samples[0].is_crowd == [False, True] and samples[0].difficult == [False, True]


def test_synthetic_deterministic_and_icdar_output(tmp_path):
    from tfdet.datasets.synthetic import write_icdar2015

    a = get_reader("synthetic", num_images=3, seed=7)
    b = get_reader("synthetic", num_images=3, seed=7)
    c = get_reader("synthetic", num_images=3, seed=8)
    sa, sb, sc = a.load(2)[0], b.load(2)[0], c.load(2)[0]
    assert sa.image == sb.image and np.array_equal(sa.quads, sb.quads)
    assert sa.image != sc.image
    assert write_icdar2015(str(tmp_path / "ic"), 3, seed=7) == 3
    reader = get_reader("icdar2015", image_dir=str(tmp_path / "ic" / "images"), annotations=str(tmp_path / "ic" / "gt"))
    sample = reader.load(reader.items()[2])[0]
    assert sample.texts == sa.texts
    np.testing.assert_allclose(sample.quads, sa.quads, atol=0.51 * 2)
