"""Real words cut from records (tfdet/datasets/word_bank.py) and pasted by the scene generator."""

import dataclasses
import json
import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import REPO
from tfdet import geometry
from tfdet.datasets import get_reader, scene_text
from tfdet.datasets.word_bank import WordBank, cut_patch
from tfdet.records import codec, writer


@pytest.fixture(scope="module")
def word_records(tmp_path_factory):
    """Records of 4 procedural synthetic images (their words are the bank) plus one record whose
    image bytes are not an image."""
    folder = tmp_path_factory.mktemp("word_records")
    writer.convert(get_reader("synthetic", num_images=4, seed=5), str(folder), num_shards=1, progress=False)
    sample = next(codec.read_samples(str(folder / "*.tfrecord")))
    with tf.io.TFRecordWriter(str(folder / "broken.tfrecord")) as out:
        out.write(codec.sample_to_example(dataclasses.replace(sample, image=b"not an image", filename="broken.jpg"))
                  .SerializeToString())
    return str(folder / "*.tfrecord")


def care_words(pattern, min_height):
    words = []
    for sample in codec.read_samples(pattern):
        for quad, text, dont_care in zip(sample.quads, sample.texts, sample.difficult):
            edges = np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1)
            if not dont_care and min(edges[1], edges[3]) >= min_height:
                words.append((sample, quad, text))
    return words


def correlation(a, b):
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-9))


def test_bank_cuts_every_care_word_upright_and_counts_bad_images(word_records):
    bank = WordBank(word_records, min_height=10)
    decodable = [w for w in care_words(word_records, 10) if w[0].filename != "broken.jpg"]
    assert len(bank) == len(decodable) > 10
    assert [p.kind for p in bank.problems] == ["skipped_file"]
    assert "broken.jpg" in str(bank.problems[0])
    for patch, (sample, quad, text) in zip(bank.patches, decodable):
        assert patch.text == text
        x0, y0 = patch.quad[0]
        x1, y1 = patch.quad[2]
        length, height = geometry.quad_length_height(quad)
        assert (x1 - x0, y1 - y0) == (max(1, round(length * round(height) / height)), round(height))  # its own resolution
        assert x0 == y0 == round(0.3 * (y1 - y0)) and patch.rgb.shape[:2] == (y1 + y0, x1 + x0)
        # the patch shows the word: its pixels re-cut from the source photograph match
        image = cv2.cvtColor(cv2.imdecode(np.frombuffer(sample.image, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        again, _ = cut_patch(image, quad, 0.3)
        np.testing.assert_array_equal(again, patch.rgb)
        word = patch.rgb[int(y0):int(y1), int(x0):int(x1)]
        assert word.std() > 5  # ink, not an empty box
        # the strokes apart from the background: inside the word only, some of it and not all of it
        if patch.ink is not None:
            assert patch.ink.shape == patch.rgb.shape[:2]
            strokes = patch.ink > 0.5
            assert not strokes[:int(y0)].any() and not strokes[int(y1):].any() and not strokes[:, :int(x0)].any()
            assert 0.06 <= strokes[int(y0):int(y1), int(x0):int(x1)].mean() <= 0.7
    assert bank.inked == [i for i, p in enumerate(bank.patches) if p.ink is not None]
    assert len(bank.inked) >= 0.5 * len(bank)  # procedural words on textures do not all separate (real: 784 of 794)
    assert "real words from 4 images" in bank.describe()


def test_tall_words_are_stored_at_the_largest_painted_height(word_records):
    full, capped = WordBank(word_records), WordBank(word_records, max_height=20)
    assert len(full) == len(capped) and any(p.source_height > 20 for p in full.patches)
    for big, small in zip(full.patches, capped.patches):
        assert small.source_height == big.source_height
        height = small.quad[2, 1] - small.quad[0, 1]
        if big.source_height > 20:
            assert height == 20 and small.rgb.shape[0] == 20 + 2 * round(0.3 * 20)
            assert abs((small.quad[1, 0] - small.quad[0, 0]) / height
                       - (big.quad[1, 0] - big.quad[0, 0]) / (big.quad[2, 1] - big.quad[0, 1])) < 0.1  # same aspect
        else:
            np.testing.assert_array_equal(small.rgb, big.rgb)


def test_bank_refuses_what_it_cannot_use(word_records, tmp_path):
    with pytest.raises(FileNotFoundError, match="--paste_words: no record files match"):
        WordBank(str(tmp_path / "none-*"))
    (tmp_path / "junk.tfrecord").write_bytes(b"not a record file at all")
    with pytest.raises(ValueError, match="--paste_words: .*junk.tfrecord is not a TFRecord file"):
        WordBank(str(tmp_path / "junk.tfrecord"))
    with pytest.raises(FileNotFoundError, match=re.escape("no care word at least 500 px high")):
        WordBank(word_records, min_height=500)
    assert cut_patch(np.zeros((50, 50, 3), np.uint8), [[0, 0], [1, 0], [1, 1], [0, 1]], 0.3) is None
    assert cut_patch(np.zeros((50, 50, 3), np.uint8), [[0, 0], [np.nan, 0], [9, 9], [0, 9]], 0.3) is None
    assert cut_patch(np.zeros((50, 50, 3), np.uint8), [[0, 0], [900, 0], [900, 10], [0, 10]], 0.3) is None  # 90 heights


@pytest.mark.parametrize("style", ["patch", "strokes"])
def test_pasted_words_are_real_on_the_image_cover_their_pixels_and_repeat_per_seed(word_records, background_dir, style):
    bank = WordBank(word_records)
    backgrounds = scene_text.BackgroundSet(background_dir, scene_text.SceneTextConfig())
    config = scene_text.SceneTextConfig(paste_share=1.0, occlusion_probability=0.0, max_blocks=6, paste_style=style)
    by_text = {}
    for patch in bank.patches:
        by_text.setdefault(patch.text, []).append(patch)
    pasted = matched = 0
    for index in range(6):
        image, objects, _q, word_ids, _path = scene_text.render_scene(9, index, backgrounds, config, bank)
        again = scene_text.render_scene(9, index, backgrounds, config, bank)
        np.testing.assert_array_equal(image, again[0])
        height, width = image.shape[:2]
        for number, (quad, text, dont_care) in enumerate(objects, start=1):
            assert np.all(quad >= 0) and np.all(quad[:, 0] <= width) and np.all(quad[:, 1] <= height)
            pixels = word_ids == number
            if not pixels.any():
                continue  # background-text don't-care regions
            inside = np.zeros((height, width), np.uint8)
            cv2.fillPoly(inside, [np.round(quad).astype(np.int32)], 1)
            assert not np.any(pixels & ~cv2.dilate(inside, np.ones((3, 3), np.uint8)).astype(bool))
            if dont_care:
                continue
            pasted += 1
            assert text in by_text  # every care word is one of the bank's real words
            # ... and shows that word's pixels: the scene re-cut at the quad correlates with the patch
            scene_word, _ = cut_patch(image, quad, 0.0)
            best = 0.0
            for patch in by_text[text]:
                x0, y0 = patch.quad[0].astype(int)
                x1, y1 = patch.quad[2].astype(int)
                # compared at the scene's (smaller) size, both slightly blurred: the scene was resampled, lit, blurred
                # (strokes: the scene must show the word's ink shape, on whatever background)
                if style == "strokes" and patch.ink is None:
                    continue
                reference = patch.ink * 255 if style == "strokes" else cv2.cvtColor(patch.rgb, cv2.COLOR_RGB2GRAY)
                source = cv2.resize(reference[y0:y1, x0:x1].astype(np.float32), scene_word.shape[1::-1],
                                    interpolation=cv2.INTER_AREA)
                seen = cv2.cvtColor(scene_word, cv2.COLOR_RGB2GRAY).astype(np.float32)
                best = max(best, abs(correlation(cv2.GaussianBlur(seen, (0, 0), 1.0), cv2.GaussianBlur(source, (0, 0), 1.0))))
            matched += best > 0.5
    assert pasted >= 8 and matched >= 0.8 * pasted


def test_pasted_words_never_change_a_generator_without_them(word_records, background_dir):
    backgrounds = scene_text.BackgroundSet(background_dir, scene_text.SceneTextConfig())
    plain = scene_text.render_scene(4, 2, backgrounds, scene_text.SceneTextConfig())
    again = scene_text.render_scene(4, 2, backgrounds, scene_text.SceneTextConfig(), None)
    np.testing.assert_array_equal(plain[0], again[0])
    with_words = scene_text.render_scene(4, 2, backgrounds, scene_text.SceneTextConfig(paste_share=1.0), WordBank(word_records))
    assert not np.array_equal(plain[0], with_words[0])


def test_reader_records_the_bank_and_refuses_it_without_backgrounds(word_records, background_dir, tmp_path):
    before = sorted(os.listdir(REPO))
    reader = get_reader("synthetic", num_images=3, seed=2, backgrounds=background_dir, paste_words=word_records)
    writer.convert(reader, str(tmp_path / "rec"), num_shards=1, progress=False)
    with open(tmp_path / "rec" / "dataset.json") as f:
        report = json.load(f)
    assert report["generator"]["paste_words"] == word_records
    assert report["generator"]["pasted_word_bank"].startswith(f"{len(reader.words)} real words from 4 images")
    notes = [p for p in report["splits"]["train"]["problems"] if p["kind"] == "pasted_words"]
    assert len(notes) == 1 and "real words" in notes[0]["reason"]
    # the bank's undecodable record is reported once, with image 0, beside the unusable backgrounds
    assert report["splits"]["train"]["problem_counts"]["skipped_file"] == 4
    assert sorted(os.listdir(REPO)) == before
    with pytest.raises(ValueError, match=re.escape("--paste_words applies to the scene generator (--backgrounds)")):
        get_reader("synthetic", num_images=1, paste_words=word_records)
    with pytest.raises(ValueError, match=re.escape("--paste_style applies to pasted words (--paste_words)")):
        get_reader("synthetic", num_images=1, backgrounds=background_dir, paste_style="patch")
    assert reader.scene_config.paste_style == "strokes"
    patch = get_reader("synthetic", num_images=1, backgrounds=background_dir, paste_words=word_records, paste_style="patch")
    assert patch.scene_config.paste_style == "patch" and patch.dataset_json_extra["generator"]["paste_style"] == "patch"
    with pytest.raises(ValueError, match="paste_style must be one of strokes, patch"):
        scene_text.SceneTextConfig(paste_style="glue")


def test_command_line_reports_a_bad_word_glob(background_dir, tmp_path):
    cmd = [sys.executable, os.path.join(REPO, "tools", "make_tfrecord.py"), "--dataset=synthetic", "--num_images=2",
           f"--backgrounds={background_dir}", f"--paste_words={tmp_path / 'nothing-*'}", "--paste_style=patch", f"--output_dir={tmp_path / 'out'}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "error: --paste_words: no record files match" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


def _exif_rotated_jpeg(pixels: np.ndarray, orientation: int = 6) -> bytes:
    """JPEG bytes of `pixels` (RGB) tagged with an EXIF Orientation (6: show turned 90 degrees clockwise)."""
    import io

    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=95, exif=exif.tobytes())
    return out.getvalue()


def test_quads_cut_the_stored_pixels_of_an_exif_rotated_photograph(tmp_path):
    """A phone photograph tagged Orientation=6: its quads refer to the stored pixels (as tf.io.decode_image
    reads them), so the word's patch must come from those, not from the EXIF-rotated picture."""
    from tfdet import visualize
    from tfdet.datasets.base import ObjectAnnotation, build_samples_objects

    rng = np.random.default_rng(0)
    stored = np.full((120, 240, 3), 235, np.uint8)  # landscape as stored; shown portrait
    stored[40:80, 30:190] = rng.integers(0, 90, (40, 160, 3))  # the "word": dark texture on a light page
    data = _exif_rotated_jpeg(stored)
    quad = np.array([[30, 40], [190, 40], [190, 80], [30, 80]], np.float64)
    sample = build_samples_objects("phone.jpg", data, "phone.jpg", "phone", [ObjectAnnotation(quad=quad, text="word")], [])
    assert (sample.height, sample.width) == (120, 240)  # the records' own size is the stored one
    with tf.io.TFRecordWriter(str(tmp_path / "phone.tfrecord")) as out:
        out.write(codec.sample_to_example(sample).SerializeToString())
    bank = WordBank(str(tmp_path / "phone.tfrecord"))
    assert len(bank) == 1 and not bank.problems
    patch = bank.patches[0]
    x0, y0 = patch.quad[0].astype(int)
    x1, y1 = patch.quad[2].astype(int)
    word = patch.rgb[y0:y1, x0:x1].astype(np.float64)
    assert word.mean() < 80  # the dark word, not the light page the rotated picture has at those coordinates
    decoded = visualize.decode_image(data)
    assert decoded.shape == (120, 240, 3)
    assert np.abs(decoded.astype(int) - stored).mean() < 4  # JPEG noise only
