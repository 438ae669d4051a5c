"""Cutting text lines into words (line_split) and `--split_lines` for MSRA-TD500."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO, shared_path
from tests.datasets.test_msra_td500 import load_named, real_reader
from tfdet.datasets import fonts as font_lib
from tfdet.datasets import line_split
from tfdet.evaluation.quad_map import quad_iou_matrix


def render_line(words, angle_degrees=0.0, dark_on_light=True, size=40, gap=None, seed=0):
    """Gray image with `words` on one line, turned by `angle_degrees` about the image centre.

    Returns (gray uint8, line quad, [word quads]) in image pixels, quads in reading order.
    """
    import cv2
    from PIL import Image, ImageDraw

    font = font_lib.load_font(font_lib.bundled_fonts()[0] if font_lib.bundled_fonts() else "", size)
    ink, paper = (30, 220) if dark_on_light else (230, 40)
    canvas = Image.new("L", (900, 300), paper)
    draw = ImageDraw.Draw(canvas)
    gap = size * 0.5 if gap is None else gap
    x, y = 60.0, 120.0
    boxes = []
    for word in words:
        left, top, right, bottom = font.getbbox(word)
        draw.text((x - left, y), word, font=font, fill=ink)
        boxes.append((x, y + top, x + right - left, y + bottom))
        x += right - left + gap
    gray = np.asarray(canvas, dtype=np.uint8)
    rng = np.random.default_rng(seed)
    gray = np.clip(gray + rng.normal(0, 4, gray.shape), 0, 255).astype(np.uint8)
    top = min(b[1] for b in boxes) - size * 0.15
    bottom = max(b[3] for b in boxes) + size * 0.15
    line = np.array([[boxes[0][0] - 6, top], [boxes[-1][2] + 6, top], [boxes[-1][2] + 6, bottom], [boxes[0][0] - 6, bottom]])
    word_quads = [np.array([[x0, top], [x1, top], [x1, bottom], [x0, bottom]]) for x0, _y0, x1, _y1 in boxes]
    matrix = cv2.getRotationMatrix2D((450, 150), -angle_degrees, 1.0)  # positive: clockwise on screen
    gray = cv2.warpAffine(gray, matrix, (900, 300), borderMode=cv2.BORDER_REPLICATE)

    def turn(quad):
        return np.column_stack([quad, np.ones(4)]) @ matrix.T

    return gray, turn(line), [turn(q) for q in word_quads]


@pytest.mark.parametrize("angle", [0.0, 12.0, -20.0])
@pytest.mark.parametrize("dark_on_light", [True, False])
def test_words_found_where_they_are(angle, dark_on_light):
    gray, line, truth = render_line(["Water", "Meter", "Room"], angle, dark_on_light)
    words = line_split.split_line(gray, line)
    assert words is not None and len(words) == 3
    iou = quad_iou_matrix(np.array(words), np.array(truth))
    assert np.all(np.diag(iou) > 0.75), iou  # each word over its own, in reading order
    for word in words:  # inside the line, corners in reading order (the first edge runs along the text)
        assert np.all(np.abs(word[:, 0] - 450) < 460) and np.all((word[:, 1] > -10) & (word[:, 1] < 310))
        direction = np.degrees(np.arctan2(*(word[1] - word[0])[::-1]))
        assert abs(direction - angle) < 2.0


def test_one_word_is_trimmed_to_its_ink():
    gray, line, truth = render_line(["Parking"])
    line[1, 0] += 80  # the line box is loose on the right
    line[2, 0] += 80
    (word,) = line_split.split_line(gray, line)
    assert quad_iou_matrix(word[None], truth[0][None])[0, 0] > 0.8


def test_rows_of_characters_set_apart_are_refused():
    # square characters, most of them set apart by a word space: Chinese set apart, not five words
    gray, line, _ = render_line(["\u25a0", "\u25a0", "\u25a0\u25a0", "\u25a0", "\u25a0"], gap=30)
    assert line_split.split_line(gray, line) is None
    gray, line, _ = render_line(["\u25a0"] * 5, gap=22)  # evenly spaced: one string of characters, one "word"
    assert len(line_split.split_line(gray, line)) == 1


def test_long_line_without_gaps_is_refused():
    gray, line, _ = render_line(["Thisisalonglinewithoutspaces"], size=34)
    assert line_split.split_line(gray, line) is None


@pytest.mark.parametrize("case", ["flat", "noise", "degenerate", "nan", "outside", "absurdly_long"])
def test_unusable_lines_are_refused_without_error(case):
    rng = np.random.default_rng(1)
    gray = np.full((200, 400), 128, np.uint8)
    line = np.array([[20.0, 50], [380, 50], [380, 110], [20, 110]])
    if case == "noise":
        gray = rng.integers(0, 256, gray.shape, dtype=np.uint8)
    elif case == "degenerate":
        line = np.array([[20.0, 50], [380, 50], [380, 51], [20, 51]])
    elif case == "nan":
        line[0, 0] = np.nan
    elif case == "outside":
        line = line + 5000
    elif case == "absurdly_long":  # a malformed width: refused before a 10^7-pixel-wide image is made
        line[1:3, 0] = 1e7
    assert line_split.split_line(gray, line) is None


def test_word_spans_rules():
    config = line_split.SplitConfig()
    ink = np.zeros((32, 300), bool)
    for x0, x1 in ((10, 20), (23, 33), (36, 46), (70, 80), (83, 93)):  # letters 3 px apart, a 24 px word gap
        ink[8:24, x0:x1] = True
    assert line_split.word_spans(ink, config) == [(10, 46), (70, 93)]
    ink[:] = False
    assert line_split.word_spans(ink, config) is None


# -- MSRA-TD500 with --split_lines -------------------------------------------------------------

def test_real_english_line_is_cut_into_its_words():
    # IMG_0155: a Chinese line "水表间" and the line "Water Meter Room" under it
    lines, _ = load_named(real_reader(), "IMG_0155")
    sample, problems = load_named(real_reader(split_lines=True), "IMG_0155")
    english = lines.quads[1]
    words = [q for q, d in zip(sample.quads, sample.difficult) if not d and quad_iou_matrix(q[None], english[None])[0, 0] > 0]
    assert len(words) == 3
    from shapely.geometry import Polygon

    outline = Polygon(english).buffer(2.0)
    assert all(outline.contains(Polygon(w)) for w in words)
    assert sum(Polygon(w).area for w in words) < Polygon(english).area  # trimmed to ink, gaps left out
    assert not [p for p in problems if p.fatal]


def test_real_unsplit_lines_become_dont_care_and_are_reported():
    reader = real_reader(split_lines=True, split_part="val")
    lines_reader = real_reader(split_part="val")
    unsplit = care_lines = care_words = 0
    for item, line_item in zip(reader.items(), lines_reader.items()):
        sample, problems = reader.load(item)
        lines, _ = lines_reader.load(line_item)
        reported = [p for p in problems if p.kind == "unsplit_line"]
        assert all(p.line is not None and not p.fatal for p in reported)
        unsplit += len(reported)
        care_lines += sum(not d for d in lines.difficult)
        care_words += sum(not d for d in sample.difficult)
        assert sum(sample.difficult) == sum(lines.difficult) + len(reported)
    assert 0 < unsplit < care_lines
    assert care_words >= care_lines - unsplit  # every split line gives at least one word


def test_split_lines_recorded_and_refused_elsewhere(tmp_path):
    root = shared_path("msra_td500", "train")
    out = tmp_path / "words"
    cmd = [sys.executable, os.path.join(REPO, "tools", "make_tfrecord.py"), "--dataset=msra_td500", "--split_lines",
           f"--image_dir={root}/images", f"--annotations={root}/gt", "--split_part=val", "--val_fraction=0.05",
           f"--output_dir={out}", "--num_shards=1", "--noprogress"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with open(out / "dataset.json", encoding="utf-8") as f:
        info = json.load(f)
    assert info["granularity"] == "words split from lines"
    refused = subprocess.run([sys.executable, os.path.join(REPO, "tools", "make_tfrecord.py"), "--dataset=icdar2015",
                              "--split_lines", "--image_dir=x", "--annotations=y", f"--output_dir={tmp_path / 'no'}"],
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "--split_lines applies to --dataset=msra_td500" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "no").exists()
