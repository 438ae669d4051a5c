"""MSRA-TD500 reader: the real training files in ../shared/data and made-up ones."""

import io
import os

import numpy as np
import pytest

from tests.conftest import REPO, shared_path, write_jpeg
from tfdet.datasets import get_reader
from tfdet.datasets.msra_td500 import LineError, parse_line, rotated_rect_quad
from tfdet.datasets.splits import hash_fraction
from tfdet.records import codec, writer

EMPTY_FILES = ("IMG_0650", "IMG_0658", "IMG_0746", "IMG_1579", "IMG_1616", "IMG_1989")


def msra_root():
    return shared_path("msra_td500", "train")


def real_reader(**kwargs):
    root = msra_root()
    return get_reader("msra_td500", image_dir=os.path.join(root, "images"), annotations=os.path.join(root, "gt"), **kwargs)


def load_named(reader, stem):
    (item,) = [it for it in reader.items() if os.path.basename(it[0]) == f"{stem}.gt"]
    return reader.load(item)


def test_rotated_rect_quarter_turn_golden():
    # centre (30, 25); +pi/2 turns clockwise on screen: (dx, dy) -> (-dy, dx)
    quad = rotated_rect_quad(10, 20, 40, 10, np.pi / 2)
    np.testing.assert_allclose(quad, [[35, 5], [35, 45], [25, 45], [25, 5]], atol=1e-9)


def test_real_rotated_line_golden():
    # IMG_0064.gt row 3: "2 0 675 542 625 98 -0.292443" (the "Research" line, rising to the right)
    sample, problems = load_named(real_reader(), "IMG_0064")
    assert not [p for p in problems if p.fatal]
    assert sample.num_objects == 3
    # centre (987.5, 591); cos = 0.957546, sin = -0.288291; corner (-312.5, -49) -> (674.142, 634.172)
    np.testing.assert_allclose(sample.quads[1], [[674.142, 634.172], [1272.606, 453.989], [1300.858, 547.828], [702.394, 728.011]],
                               atol=2e-3)
    assert sample.texts == ["", "", ""] and sample.difficult == [False, False, False]


def test_real_difficult_lines_are_dont_care():
    sample, _ = load_named(real_reader(), "IMG_0030")  # "1 1 728 919 16 44 -0.023252"
    assert sample.difficult == [False, True]
    assert sample.texts[1] == "###"
    np.testing.assert_allclose(sample.quads[1].mean(axis=0), [736, 941], atol=1e-6)  # the centre does not move


def test_real_difficult_count_matches_source():
    root = os.path.join(msra_root(), "gt")
    flags = []
    for name in os.listdir(root):
        with open(os.path.join(root, name), "rb") as f:
            raw = f.read()
        assert raw == b"" or b"\r\n" in raw, name  # CRLF
        flags += [parse_line(line).difficult for line in raw.decode().splitlines() if line.strip()]
    assert sum(flags) == 101  # SOURCE.md: 101 difficult lines in train
    assert len(flags) == 1068


@pytest.mark.parametrize("stem", EMPTY_FILES[:2])
def test_real_empty_files_are_images_without_text(stem):
    sample, problems = load_named(real_reader(), stem)
    assert sample is not None and sample.num_objects == 0 and problems == []


def test_split_is_deterministic_disjoint_and_listed():
    parts = {part: [os.path.basename(g) for g, _ in real_reader(split_part=part).items()] for part in ("all", "train", "val")}
    assert len(parts["all"]) == 300
    assert not set(parts["train"]) & set(parts["val"])
    assert sorted(parts["train"] + parts["val"]) == sorted(parts["all"])
    with open(os.path.join(REPO, "configs", "msra_td500_val.txt")) as f:
        listed = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    assert [os.path.splitext(n)[0] + ".gt" for n in listed] == parts["val"]
    assert len(parts["val"]) == 56
    # the split depends on the name only, not on case or folder
    assert hash_fraction("a/IMG_0030.JPG") == hash_fraction("img_0030.gt")


def make_dataset(tmp_path, rows: dict, exif_orientation=None):
    images, gts = tmp_path / "images", tmp_path / "gt"
    gts.mkdir(parents=True, exist_ok=True)
    for stem, text in rows.items():
        path = str(images / f"{stem}.JPG")
        write_jpeg(path, width=200, height=100)
        if exif_orientation:
            from PIL import Image

            with Image.open(path) as im:
                exif = im.getexif()
                exif[274] = exif_orientation
                buf = io.BytesIO()
                im.save(buf, format="JPEG", exif=exif)
            with open(path, "wb") as f:
                f.write(buf.getvalue())
        (gts / f"{stem}.gt").write_bytes(text.encode())
    return str(images), str(gts)


def test_exif_orientation_boxes_refer_to_stored_pixels(tmp_path):
    # a 200x100 stored image tagged "rotate 90 CW to display": the box is in the stored 200x100 frame
    images, gts = make_dataset(tmp_path, {"IMG_1": "0 0 150 10 40 20 0\r\n"}, exif_orientation=6)
    reader = get_reader("msra_td500", image_dir=images, annotations=gts)
    sample, problems = reader.load(reader.items()[0])
    assert (sample.width, sample.height) == (200, 100)
    np.testing.assert_allclose(sample.quads[0], [[150, 10], [190, 10], [190, 30], [150, 30]])
    (note,) = problems
    assert note.kind == "exif_orientation" and not note.fatal and "6" in note.reason
    with open(os.path.join(images, "IMG_1.JPG"), "rb") as f:
        assert sample.image == f.read()  # stored as it is, never rotated


def test_malformed_lines_and_missing_image(tmp_path):
    images, gts = make_dataset(tmp_path, {"IMG_1": "0 0 1 2 3\r\n1 0 a 2 3 4 0\r\n2 2 1 1 5 5 0\r\n3 0 1 1 0 5 0\r\n4 0 10 10 20 8 0.1\r\n"})
    (tmp_path / "gt" / "IMG_2.gt").write_bytes(b"0 0 1 1 5 5 0\r\n")
    reader = get_reader("msra_td500", image_dir=images, annotations=gts)
    sample, problems = reader.load(reader.items()[0])
    assert sample.num_objects == 1
    lines = {p.line: p.reason for p in problems if p.kind == "skipped_line"}
    assert sorted(lines) == [1, 2, 3, 4]
    assert "7 fields" in lines[1] and "not a number" in lines[2] and "difficult" in lines[3] and "positive" in lines[4]
    assert all(p.path.endswith("IMG_1.gt") for p in problems)
    missing, problems = reader.load(reader.items()[1])
    assert missing is None and problems[0].kind == "skipped_file"
    with pytest.raises(LineError):
        parse_line("0 0 1 1 5 5 nan")


def test_bad_options():
    with pytest.raises(ValueError, match="split_part"):
        get_reader("msra_td500", image_dir=".", split_part="test")
    with pytest.raises(ValueError, match="val_fraction"):
        get_reader("msra_td500", image_dir=".", val_fraction=1.5)


def test_real_records_round_trip(tmp_path):
    root = msra_root()
    reader = real_reader()
    keep = {"IMG_0064.gt", "IMG_0030.gt", "IMG_0650.gt"}
    reader.items = lambda items=reader.items(): [it for it in items if os.path.basename(it[0]) in keep]
    summary = writer.convert(reader, str(tmp_path / "rec"), num_shards=1, progress=False)
    assert summary["images"] == 3 and summary["objects"] == 5 and summary["dont_care"] == 1
    samples = {s.filename: s for s in codec.read_samples(str(tmp_path / "rec" / "*.tfrecord"))}
    assert samples["IMG_0650.JPG"].num_objects == 0
    assert os.path.exists(os.path.join(root, "images", "IMG_0064.JPG"))
    np.testing.assert_allclose(samples["IMG_0064.JPG"].quads[1][0], [674.142, 634.172], atol=0.05)
