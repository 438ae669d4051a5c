import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO
from tfdet.anchor_opt import optimize
from tfdet.anchors.config import AnchorConfig


def test_kmeans_recovers_known_shapes():
    rng = np.random.default_rng(0)
    shapes = np.array([[10, 10], [60, 15], [40, 120]], float)
    boxes = np.concatenate([s * rng.uniform(0.95, 1.05, (3000, 2)) for s in shapes])
    centers = optimize.kmeans_iou(boxes, 3, seed=1)
    np.testing.assert_allclose(centers[np.argsort(centers[:, 0] * centers[:, 1])], shapes[np.argsort(shapes.prod(1))], rtol=0.05)
    again = optimize.kmeans_iou(boxes, 3, seed=1)
    np.testing.assert_array_equal(centers, again)


def test_best_possible_recall_by_hand():
    config = AnchorConfig(min_level=3, max_level=3, base_sizes=(64,), aspect_ratios=(1,), scales_per_octave=1)
    boxes = np.array([[64, 64], [16, 16], [64, 32]], float)
    cov = optimize.coverage(boxes, config)
    # 64x64: offset <= 4 px -> IoU >= 3600 / 4592 = 0.78; 16x16: IoU <= 0.0625; 64x32: IoU <= 0.5, below with any offset
    assert cov.best_possible_recall == pytest.approx(1 / 3)
    # sides: 16x16 -> 16 (bucket 16-32), 64x32 -> 45 (32-64), 64x64 -> 64 (64-128)
    assert cov.unmatched_by_size["16-32"] == {"boxes": 1, "without_positive": 1}
    assert cov.unmatched_by_size["32-64"] == {"boxes": 1, "without_positive": 1}
    assert cov.unmatched_by_size["64-128"] == {"boxes": 1, "without_positive": 0}


def test_optimized_anchors_improve_and_keep_range():
    rng = np.random.default_rng(3)
    sides = np.exp(rng.uniform(np.log(12), np.log(200), 20000))
    ratios = np.exp(rng.normal(np.log(3), 0.4, 20000))
    boxes = np.stack([sides * np.sqrt(ratios), sides / np.sqrt(ratios)], 1)
    default = AnchorConfig(min_level=3, max_level=6, base_sizes=(32, 64, 128, 256), aspect_ratios=(1, 1 / 2, 2), scales_per_octave=1)
    tuned, _ = optimize.optimize_kmeans(boxes, (3, 6), 9, 3, seed=0)
    a, b = optimize.coverage(boxes, default), optimize.coverage(boxes, tuned)
    assert b.best_possible_recall > a.best_possible_recall + 0.1
    assert b.anchor_range[1] / b.anchor_range[0] >= 7.9  # the pyramid's full range is kept
    again, _ = optimize.optimize_kmeans(boxes, (3, 6), 9, 3, seed=0)
    assert again == tuned


def test_tool_writes_a_flagfile_that_parses_back(tmp_path):
    from tfdet.records import writer
    from tfdet.datasets import get_reader

    writer.convert(get_reader("synthetic", num_images=10, seed=4), str(tmp_path / "rec"), num_shards=1, progress=False)
    out = tmp_path / "anchors" / "syn.cfg"
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "optimize_anchors.py"), f"--records={tmp_path / 'rec' / '*.tfrecord'}",
                           f"--output={out}", "--sizes=256", "--anchor_min_level=3", "--anchor_max_level=6", "--num_ratios=3"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "best possible recall" in proc.stdout
    assert os.path.exists(tmp_path / "anchors" / "syn_shapes.png") and os.path.exists(tmp_path / "anchors" / "syn_coverage.png")
    from tfdet import flags as tfdet_flags

    parsed = tfdet_flags.parse_anchor_args([f"--flagfile={out}"])
    import json

    reported = json.loads(proc.stdout.strip().splitlines()[-1])["anchor_config"]
    assert parsed == AnchorConfig.from_dict(reported)


def test_network_boxes_at_every_size_without_crop():
    from tfdet.anchor_opt import stats
    from tfdet.input.augment import AugmentConfig

    rows = np.array([[50, 20, 1000, 800], [10, 30, 400, 500], [64, 64, 640, 480]], float)
    boxes = stats.network_boxes(rows, (256, 512), seed=0, augment=AugmentConfig(crop_probability=0.0), min_samples=60)
    assert len(boxes) == 60
    for (w, h, iw, ih) in rows:  # each box at both sizes, longer image side -> the size, nothing else
        seen = {tuple(np.round(b, 4)) for b in boxes if abs(b[0] / b[1] - w / h) < 1e-9}
        assert seen == {(round(w * s / max(iw, ih), 4), round(h * s / max(iw, ih), 4)) for s in (256, 512)}


@pytest.mark.parametrize("crop", [{"crop_min_scale": 0.2}, {"crop_zoom": (0.5, 2.0)}], ids=["area", "zoom"])
def test_network_boxes_follow_the_pipeline_crop(crop):
    """The zoom the anchor fit assumes is the zoom the pipeline's own crop (augment.sample_crop) gives,
    with windows as area shares or (--crop_zoom) as zooms of the source."""
    import tensorflow as tf

    from tfdet.anchor_opt import stats
    from tfdet.input import augment

    cfg = augment.AugmentConfig(crop_probability=0.7, **crop)
    width, height, size = 1200.0, 800.0, 400
    quad = tf.constant([[[500, 300], [560, 300], [560, 324], [500, 324]]], tf.float32)  # a 60 x 24 word

    @tf.function
    def windows(seeds):
        return tf.map_fn(lambda seed: augment.sample_crop(int(height), int(width), quad, tf.constant([1]), tf.constant([False]),
                                                          seed, cfg, size)[0], seeds, fn_output_signature=tf.int32)

    window = windows(tf.stack([tf.range(400, dtype=tf.int64), tf.fill([400], tf.constant(5, tf.int64))], 1)).numpy()
    pipeline = 60.0 * size / np.maximum(window[:, 2], window[:, 3])
    boxes = stats.network_boxes(np.array([[60.0, 24.0, width, height]]), (size,), seed=1, augment=cfg, min_samples=20000)
    np.testing.assert_allclose(boxes[:, 0] / boxes[:, 1], 60 / 24)  # zoomed, never distorted
    fitted = boxes[:, 0]
    whole = 60.0 * size / width  # 20 px without a crop
    smallest_window = size / cfg.crop_zoom[1] if cfg.crop_zoom else width * np.sqrt(cfg.crop_min_scale / 2)
    assert fitted.min() >= whole - 1e-9 and fitted.max() <= 60.0 * size / np.floor(smallest_window) + 1e-6
    # the share seen whole (no crop), and the zoom quantiles of the cropped ones, as the pipeline draws them
    assert abs(np.mean(np.isclose(fitted, whole)) - np.mean(np.isclose(pipeline, whole))) < 0.08
    for q in (25, 50, 75, 90):
        assert abs(np.percentile(fitted, q) - np.percentile(pipeline, q)) < 0.1 * np.percentile(pipeline, q)
    no_crop = stats.network_boxes(np.array([[60.0, 24.0, width, height]]), (size,), augment=None, min_samples=100)
    np.testing.assert_allclose(no_crop, [[whole, 24.0 * size / width]] * 100)
