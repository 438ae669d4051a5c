"""tools/predict.py: the model's own settings, and bad images refused one by one while the others go on."""

import json
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

from tests.conftest import REPO, write_jpeg
from tfdet.benchmark import constant_head_outputs, make_untrained_run, rewrite_run_weights

QUIET = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
SCORES = (0.3, 0.6, 0.9)  # what the controlled model gives anchors of ratio 1, 2 and 4 everywhere


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    from tfdet.postprocess import PostprocessConfig
    from tfdet.serving.export import export_saved_model

    root = tmp_path_factory.mktemp("predict")
    logits = [float(np.log(p / (1 - p))) for p in SCORES]
    run = rewrite_run_weights(make_untrained_run(str(root / "run"), size=64), lambda model: constant_head_outputs(model, logits))
    return export_saved_model(run, str(root / "export"), post=PostprocessConfig(score_threshold=0.25, max_detections=60))


def png_of_size(width: int, height: int) -> bytes:
    """A valid, fully decodable 1-bit grey PNG of width x height (all black), written without the pixels in memory."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\0" * (1 + (width + 7) // 8)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def _predict(model, images, out, *flags):
    return subprocess.run([sys.executable, os.path.join(REPO, "tools", "predict.py"), f"--model={model}", f"--images={images}",
                           f"--output_dir={out}", *flags], capture_output=True, text=True, timeout=600, env=QUIET)


def test_the_exported_threshold_is_the_default(export, tmp_path):
    image = write_jpeg(str(tmp_path / "in" / "photo.jpg"), 96, 64)
    done = _predict(export, image, tmp_path / "out")
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = open(tmp_path / "out" / "detections.jsonl").read().splitlines()
    scores = json.loads(line)["scores"]
    assert scores and min(scores) == pytest.approx(0.3, abs=1e-3)  # the export's 0.25, not the flag's default 0.5
    assert os.path.exists(tmp_path / "out" / "photo_pred.png")
    higher = _predict(export, image, tmp_path / "out2", "--score_threshold=0.5")
    assert higher.returncode == 0
    assert min(json.loads(open(tmp_path / "out2" / "detections.jsonl").read())["scores"]) == pytest.approx(0.6, abs=1e-3)


def test_bad_images_are_refused_and_the_others_go_on(export, tmp_path):
    folder = tmp_path / "in"
    write_jpeg(str(folder / "a_good.jpg"), 120, 80, seed=1)
    (folder / "b_not_an_image.jpg").write_text("these are words, not pixels\n")
    (folder / "c_empty.png").write_bytes(b"")
    (folder / "d_huge.png").write_bytes(png_of_size(20000, 20000))
    write_jpeg(str(folder / "e_good.jpg"), 80, 120, seed=2)
    done = _predict(export, folder, tmp_path / "out", "--batch_size=8")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "b_not_an_image.jpg: cannot decode image" in done.stderr
    assert "c_empty.png: empty file; skipped" in done.stderr
    assert "d_huge.png: 20000x20000 pixels is over the 100 megapixel limit; skipped" in done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["images"] == 2 and report["skipped"] == 3
    written = sorted(n for n in os.listdir(tmp_path / "out") if n.endswith(".png"))
    assert written == ["a_good_pred.png", "e_good_pred.png"]
    nothing = _predict(export, folder / "c_empty.png", tmp_path / "out3")
    assert nothing.returncode == 1 and "Traceback" not in nothing.stderr
