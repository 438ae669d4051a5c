"""The debug-annotations view of tools/show_records.py: covering anchors green, uncovered boxes red."""

import os
import subprocess
import sys

import numpy as np

from tests.conftest import REPO
from tfdet.cli.show_records import anchor_coverage


def test_anchor_coverage_golden():
    anchors = np.array([[0, 0, 10, 10], [0, 0, 20, 20], [0, 0, 12, 10]], np.float32)
    boxes = np.array([[0, 0, 10, 10], [50, 50, 52, 90]], np.float32)
    covered, covering = anchor_coverage(boxes, anchors, 0.5)
    # box 0: IoU 1 with anchor 0, 0.25 with anchor 1, 100/120 with anchor 2; box 1 (2 x 40 px, far away): none
    assert covered.tolist() == [True, False]
    assert covering[0].tolist() == [0, 2] and covering[1].tolist() == []
    assert anchor_coverage(np.zeros((0, 4)), anchors, 0.5)[0].shape == (0,)


def test_tool_draws_coverage(tmp_path):
    import cv2

    from tfdet.datasets import get_reader, shelves
    from tfdet.records import writer

    catalog = shelves.make_catalog(6)
    path = shelves.write_coco(str(tmp_path / "coco"), 2, seed=2, catalog=catalog, height=128, width=128)
    reader = get_reader("coco", image_dir=str(tmp_path / "coco" / "images"), annotations=path, class_agnostic=True)
    writer.convert(reader, str(tmp_path / "rec"), num_shards=1, progress=False)
    out = tmp_path / "pictures"
    # anchors of one size and shape only: the tall products cannot all be covered
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "show_records.py"), "--anchor_coverage",
                           f"--records={tmp_path / 'rec' / '*.tfrecord'}", f"--output_dir={out}", "--sizes=128",
                           "--anchor_min_level=3", "--anchor_max_level=3", "--anchor_base_sizes=16", "--anchor_aspect_ratios=1",
                           "--anchor_scales_per_octave=1"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "boxes have no anchor at IoU >= 0.5" in proc.stdout and not proc.stdout.startswith("0 of")
    pictures = sorted(out.glob("anchors_*.png"))
    assert len(pictures) == 2
    picture = cv2.imread(str(pictures[0]))[..., ::-1]
    assert picture.shape[:2] == (128, 128)
    red = (picture[..., 0] > 200) & (picture[..., 1] < 100) & (picture[..., 2] < 100)
    assert red.sum() > 20  # uncovered boxes are drawn red
