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
