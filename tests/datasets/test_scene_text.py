"""Words on real scenes (tfdet/datasets/scene_text.py) and the fonts it uses."""

import json
import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tests.conftest import REPO, shared_path
from tests.datasets.conftest import gradient_scene
from tfdet.datasets import fonts, get_reader, scene_text
from tfdet.datasets.base import Problem
from tfdet.records import codec, writer


def test_background_set_skips_and_counts_unusable_files(background_dir):
    backgrounds = scene_text.BackgroundSet(background_dir, scene_text.SceneTextConfig())
    assert sorted(os.path.basename(p) for p in backgrounds.paths) == ["gray.png", "rgb.jpg", "rgba.png"]
    reasons = {os.path.basename(p.path): p.reason for p in backgrounds.problems}
    assert sorted(reasons) == ["broken.jpg", "notes.txt", "tiny.png"]
    assert "too small (30x20)" in reasons["tiny.png"] and "cannot decode" in reasons["broken.jpg"]
    assert all(p.kind == "skipped_file" for p in backgrounds.problems)
    glob_set = scene_text.BackgroundSet(os.path.join(background_dir, "*.png"), scene_text.SceneTextConfig())
    assert len(glob_set) == 2 and len(glob_set.problems) == 1


def test_no_usable_background_is_a_clear_error(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"junk")
    with pytest.raises(FileNotFoundError, match="none of the 1 files"):
        scene_text.BackgroundSet(str(tmp_path), scene_text.SceneTextConfig())
    with pytest.raises(FileNotFoundError, match="no files"):
        scene_text.BackgroundSet(str(tmp_path / "nothing*.jpg"), scene_text.SceneTextConfig())


def test_grayscale_and_rgba_become_rgb_and_large_images_shrink():
    gray = cv2.imencode(".png", np.full((900, 1200), 77, np.uint8))[1].tobytes()
    pixels = scene_text.decode_background(gray, 64, 640)
    assert pixels.shape == (480, 640, 3) and pixels.dtype == np.uint8 and int(pixels[0, 0, 0]) == 77
    rgba = np.zeros((100, 100, 4), np.uint8)  # fully transparent: composited on mid grey
    pixels = scene_text.decode_background(cv2.imencode(".png", rgba)[1].tobytes(), 64, 640)
    assert pixels.shape == (100, 100, 3) and int(pixels[50, 50, 1]) == 128


def render(backgrounds, seed, index, **config):
    return scene_text.render_scene(seed, index, backgrounds, scene_text.SceneTextConfig(**config))


def test_deterministic_per_seed(background_dir):
    backgrounds = scene_text.BackgroundSet(background_dir, scene_text.SceneTextConfig())
    first, again, other = render(backgrounds, 3, 1), render(backgrounds, 3, 1), render(backgrounds, 4, 1)
    np.testing.assert_array_equal(first[0], again[0])
    assert [(q.tolist(), t, d) for q, t, d in first[1]] == [(q.tolist(), t, d) for q, t, d in again[1]]
    assert first[0].shape != other[0].shape or not np.array_equal(first[0], other[0])


def test_word_quads_on_the_image_and_cover_their_pixels(background_dir):
    backgrounds = scene_text.BackgroundSet(background_dir, scene_text.SceneTextConfig())
    config = scene_text.SceneTextConfig(curve_probability=0.5, occlusion_probability=0.5, max_blocks=4)
    words = 0
    for index in range(6):
        image, objects, _quality, word_ids, _path = scene_text.render_scene(7, index, backgrounds, config)
        height, width = image.shape[:2]
        for number, (quad, text, dont_care) in enumerate(objects, start=1):
            assert np.all(quad >= 0) and np.all(quad[:, 0] <= width) and np.all(quad[:, 1] <= height)
            pixels = word_ids == number
            if not pixels.any():
                continue  # background-text don't-care regions carry no painted pixels
            words += 1
            inside = np.zeros((height, width), np.uint8)
            cv2.fillPoly(inside, [np.round(quad).astype(np.int32)], 1)
            inside = cv2.dilate(inside, np.ones((3, 3), np.uint8)).astype(bool)  # 1 px for rounding
            assert not np.any(pixels & ~inside), (index, number, text)
            edges = np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1)
            assert dont_care == (min(edges[1], edges[3]) < config.dont_care_height)
            assert (text == "###") == dont_care
    assert words >= 10


def test_background_text_is_found_and_plain_scenes_have_none():
    plain = gradient_scene()
    assert scene_text.background_text_quads(plain) == []
    sign = np.full((240, 400, 3), 230, np.uint8)
    cv2.putText(sign, "OPEN DAILY", (40, 110), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (10, 10, 10), 3)
    quads = scene_text.background_text_quads(sign)
    assert quads
    x0, y0 = np.min([q.min(axis=0) for q in quads], axis=0)
    x1, y1 = np.max([q.max(axis=0) for q in quads], axis=0)
    assert x0 < 60 and x1 > 250 and 60 < y0 < 110 and 90 < y1 < 130


def test_reader_with_backgrounds_writes_nowhere_but_output(background_dir, tmp_path):
    before = sorted(os.listdir(REPO))
    reader = get_reader("synthetic", num_images=3, seed=2, backgrounds=background_dir)
    summary = writer.convert(reader, str(tmp_path / "rec"), num_shards=1, progress=False)
    assert summary["images"] == 3
    with open(tmp_path / "rec" / "dataset.json") as f:
        report = json.load(f)
    assert report["splits"]["train"]["problem_counts"]["skipped_file"] == 3  # reported once, with image 0
    # the font families drawn from are on record (informational), once
    notes = [p for p in report["splits"]["train"]["problems"] if p["kind"] == "fonts"]
    assert len(notes) == 1 and f"{len(fonts.families(fonts.all_fonts()))} font families: " in notes[0]["reason"]
    assert not Problem("fonts", "", "").fatal
    samples = list(codec.read_samples(str(tmp_path / "rec" / "*.tfrecord")))
    assert len(samples) == 3 and sum(s.num_objects for s in samples) > 0
    assert sorted(os.listdir(REPO)) == before


def test_word_sizes_and_blocks_set_from_the_command_line_and_recorded(background_dir, tmp_path):
    reader = get_reader("synthetic", num_images=4, seed=2, backgrounds=background_dir, text_heights="14,40", text_blocks="2,3")
    config = reader.scene_config
    assert (config.min_text_height, config.max_text_height, config.min_blocks, config.max_blocks) == (14.0, 40.0, 2, 3)
    writer.convert(reader, str(tmp_path / "rec"), num_shards=1, progress=False)
    with open(tmp_path / "rec" / "dataset.json") as f:
        generator = json.load(f)["generator"]
    assert generator["kind"] == "scene" and generator["seed"] == 2
    assert (generator["min_text_height"], generator["max_text_height"], generator["max_blocks"]) == (14.0, 40.0, 3)
    for sample in codec.read_samples(str(tmp_path / "rec" / "*.tfrecord")):
        for quad, dont_care in zip(sample.quads, sample.difficult):
            edges = np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1)
            if not dont_care:  # painted words shrink to fit a region, never grow past the largest height
                assert min(edges[1], edges[3]) <= 40 * 1.5
    procedural = get_reader("synthetic", num_images=1, text_heights=(20, 30))
    assert (procedural.config.min_text_height, procedural.config.max_text_height) == (20.0, 30.0)
    assert procedural.dataset_json_extra["generator"]["kind"] == "procedural"


@pytest.mark.parametrize("kwargs, message", [
    ({"text_heights": "12"}, "--text_heights must be MIN,MAX"),
    ({"text_heights": "a,b"}, "--text_heights must be MIN,MAX"),
    ({"text_heights": "40,20"}, "need 4 <= MIN <= MAX"),
    ({"text_heights": "2,20"}, "need 4 <= MIN <= MAX"),
    ({"text_blocks": "1.5,3", "backgrounds": "x"}, "--text_blocks must be MIN,MAX (integers)"),
    ({"text_blocks": "1,3"}, "applies to the scene generator"),
])
def test_bad_generator_ranges_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        get_reader("synthetic", num_images=1, **kwargs)


def test_generator_flags_refused_for_other_datasets(tmp_path):
    cmd = [sys.executable, os.path.join(REPO, "tools", "make_tfrecord.py"), "--dataset=icdar2015", "--image_dir=x",
           "--annotations=y", f"--output_dir={tmp_path / 'out'}", "--text_heights=14,40"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "--text_heights apply to --dataset=synthetic" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


def test_real_coco_backgrounds(tmp_path):
    folder = shared_path("backgrounds", "coco128", "val2017")
    backgrounds = scene_text.BackgroundSet(os.path.join(folder, "00000000013*.jpg"), scene_text.SceneTextConfig())
    assert len(backgrounds) >= 1
    image, objects, _q, word_ids, path = render(backgrounds, 1, 0)
    assert image.ndim == 3 and max(image.shape[:2]) == 640 and path.startswith(folder)


def test_fonts_found_and_fallback():
    bundled = fonts.bundled_fonts()
    assert bundled and set(bundled) <= set(fonts.all_fonts())
    assert fonts.system_fonts(("/nonexistent/fonts",)) == ()
    assert fonts.pick_font(np.random.default_rng(0), ()) == ""
    assert fonts.load_font("", 20) is not None  # PIL's built-in font
    # unreadable files: the family comes from the file name
    assert fonts.family("/x/NotoSerif-BoldItalic.ttf") == "NotoSerif" and fonts.family("FreeMonoBold.ttf") == "FreeMono"
    # readable ones: from the name table, so every face of a family counts once when a family is drawn
    by_name = {os.path.basename(p): p for p in bundled}
    assert fonts.family(by_name["DejaVuSans.ttf"]) == fonts.family(by_name["DejaVuSans-BoldOblique.ttf"]) == "DejaVu Sans"
    assert fonts.family(by_name["DejaVuSerif.ttf"]) == "DejaVu Serif"
    assert not fonts.has_glyphs(os.path.join(REPO, "setup.py"))
    assert all(fonts.has_glyphs(p) for p in fonts.all_fonts())


@pytest.mark.parametrize("scene", [False, True], ids=["procedural", "scene"])
def test_each_split_of_a_seed_is_its_own_data_and_dataset_json_says_how(scene, background_dir, tmp_path):
    """`--split=val` with the training seed must not write the training images again; dataset.json records the
    seed, the split and the seeding rule of each generator."""
    extra = {"backgrounds": background_dir} if scene else {}
    images, generators = {}, {}
    for split in ("train", "val"):
        reader = get_reader("synthetic", num_images=2, seed=5, split=split, **extra)
        writer.convert(reader, str(tmp_path / split), split=split, num_shards=1, progress=False)
        images[split] = [s.image for s in codec.read_samples(str(tmp_path / split / "*.tfrecord"))]
        with open(tmp_path / split / "dataset.json") as f:
            generators[split] = json.load(f)["generator"]
    shared = set(images["train"]) & set(images["val"])
    assert not shared, f"{len(shared)} of the val images are training images"
    for split, generator in generators.items():
        assert (generator["seed"], generator.get("split")) == (5, split)
        assert generator["seeding"] == "numpy.random.default_rng([seed, crc32(split), index])"
    # the same seed and split give the same images again, alone and in any order
    again = get_reader("synthetic", num_images=9, seed=5, split="val", **extra).load(1)[0].image
    assert again == images["val"][1]
