"""SavedModel export: fresh process without tfdet, saved_model_cli, the C++ loader, bad requests."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import REPO, shared_path, write_jpeg
from tfdet.benchmark import make_untrained_run

QUIET = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from tfdet.postprocess import PostprocessConfig
    from tfdet.serving.export import export_saved_model

    root = tmp_path_factory.mktemp("export")
    run = make_untrained_run(str(root / "run"))
    post = PostprocessConfig(score_threshold=0.0, max_detections=20)
    path = export_saved_model(run, str(root / "export" / "tiny"), post=post)
    image = write_jpeg(str(root / "image.jpg"), 320, 200, seed=3)
    return {"run": run, "path": path, "image": image, "post": post, "root": root}


def test_layout_versions_and_assets(exported):
    from tfdet.serving.export import export_saved_model

    assert exported["path"].endswith(os.path.join("tiny", "1"))
    for name in ("anchor_config.json", "run_config.json", "export.json"):
        assert os.path.exists(os.path.join(exported["path"], "assets.extra", name))
    second = export_saved_model(exported["run"], os.path.dirname(exported["path"]), post=exported["post"])
    assert second.endswith(os.path.join("tiny", "2"))
    assert not [n for n in os.listdir(os.path.dirname(second)) if n.startswith(".tmp")]
    shutil.rmtree(second)


def test_fresh_process_without_tfdet(exported):
    code = f"""
import json, sys
import tensorflow as tf
m = tf.saved_model.load({exported['path']!r})
assert set(m.signatures) >= {{'serving_default', 'serving_image_tensor', 'serving_tf_example'}}
data = open({exported['image']!r}, 'rb').read()
out = m.signatures['serving_default'](images=tf.constant([data, data]))
ex = tf.train.Example(features=tf.train.Features(feature={{'image/encoded': tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))}}))
out2 = m.signatures['serving_tf_example'](examples=tf.constant([ex.SerializeToString()]))
img = tf.io.decode_jpeg(data)[None]
out3 = m.signatures['serving_image_tensor'](images=img)
assert 'tfdet' not in sys.modules
print(json.dumps({{k: list(v.shape) for k, v in out.items()}} | {{'n2': int(out2['num_detections'][0]), 'n3': int(out3['num_detections'][0]), 'n1': int(out['num_detections'][0]),
      'same': bool(abs(out['detection_quads'][0].numpy() - out3['detection_quads'][0].numpy()).max() < 1e-3)}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=QUIET, cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    shapes = json.loads(proc.stdout.strip().splitlines()[-1])
    assert shapes["detection_quads"] == [2, 20, 8] and shapes["detection_boxes"] == [2, 20, 4]
    assert shapes["detection_scores"] == [2, 20] and shapes["detection_classes"] == [2, 20] and shapes["num_detections"] == [2]
    assert shapes["n1"] == shapes["n2"] == shapes["n3"] and shapes["same"]


def test_saved_model_cli_run(exported, tmp_path):
    import cv2

    image = cv2.imread(exported["image"])[..., ::-1][None].astype(np.uint8)
    np.save(tmp_path / "x.npy", image)
    cli = shutil.which("saved_model_cli") or os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    proc = subprocess.run([cli, "run", "--dir", exported["path"], "--tag_set", "serve", "--signature_def", "serving_image_tensor",
                           "--inputs", f"images={tmp_path / 'x.npy'}"], capture_output=True, text=True, timeout=300, env=QUIET)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "num_detections" in proc.stdout and "Could not find variable" not in proc.stderr


def test_cpp_loader(exported, tmp_path):
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed")
    from tfdet.serving import cpp

    binary = cpp.build(str(tmp_path / "check_saved_model"))
    proc = subprocess.run([binary, exported["path"], exported["image"], exported["image"]], capture_output=True, text=True,
                          timeout=300, env=QUIET)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["images"] == 2 and out["quads_shape"] == [2, 20, 8]


def test_saved_model_equals_python_model(exported):
    from tfdet.serving.export import load_detector

    data = open(exported["image"], "rb").read()
    python = load_detector(exported["run"], exported["post"]).detect_encoded([data])
    saved = load_detector(exported["path"]).detect_encoded([data])
    assert python["num_detections"][0] == saved["num_detections"][0] > 0
    np.testing.assert_allclose(python["detection_quads"], saved["detection_quads"], atol=1e-3)
    np.testing.assert_allclose(python["detection_scores"], saved["detection_scores"], atol=1e-3)


def test_coordinates_in_original_pixels(exported):
    from tfdet.serving.export import load_detector

    detector = load_detector(exported["path"])
    out = detector.detect_encoded([open(exported["image"], "rb").read()])
    n = int(out["num_detections"][0])
    quads = out["detection_quads"][0, :n].reshape(n, 4, 2)
    assert quads[..., 0].max() <= 320 and quads[..., 1].max() <= 200 and quads.min() >= 0


def test_bad_requests(exported, tmp_path):
    import cv2

    from tfdet.serving.export import load_detector

    detector = load_detector(exported["path"])
    with pytest.raises(tf.errors.InvalidArgumentError):
        detector.detect_encoded([b"this is not an image"])
    empty = detector.signature(images=tf.zeros([0], tf.string))
    assert empty["detection_quads"].shape == (0, 20, 8)
    huge = np.full((6000, 9000, 3), 127, np.uint8)
    ok, buf = cv2.imencode(".jpg", huge)
    out = detector.detect_encoded([buf.tobytes()])
    n = int(out["num_detections"][0])
    assert out["detection_quads"][0, :n].max(initial=0) <= 9000
    # a PNG whose header claims 200000 x 200000 pixels is refused before decoding
    png = bytearray(cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))[1].tobytes())
    png[16:24] = (200000).to_bytes(4, "big") + (200000).to_bytes(4, "big")
    with pytest.raises(tf.errors.InvalidArgumentError, match="too many pixels"):
        detector.detect_encoded([bytes(png)])
    assert detector.detect_encoded([open(exported["image"], "rb").read()])["num_detections"][0] >= 0  # still serving


def test_predict_and_evaluate_tools(exported, tmp_path):
    root = shared_path("icdar2015", "test")
    pred = subprocess.run([sys.executable, os.path.join(REPO, "tools", "predict.py"), f"--model={exported['path']}",
                           f"--images={os.path.join(root, 'images')}", f"--output_dir={tmp_path / 'pred'}", "--score_threshold=0.0"],
                          capture_output=True, text=True, timeout=300, env=QUIET)
    assert pred.returncode == 0, pred.stderr[-3000:]
    assert len([n for n in os.listdir(tmp_path / "pred") if n.endswith(".png")]) == 5
    ev = subprocess.run([sys.executable, os.path.join(REPO, "tools", "evaluate.py"), f"--model={exported['run']}",
                         "--protocol=icdar2015", "--dataset=icdar2015", f"--image_dir={os.path.join(root, 'images')}",
                         f"--annotations={os.path.join(root, 'gt')}", f"--output_dir={tmp_path / 'eval'}", "--noprogress"],
                        capture_output=True, text=True, timeout=300, env=QUIET)
    assert ev.returncode == 0, ev.stderr[-3000:]
    summary = json.load(open(tmp_path / "eval" / "summary.json"))
    assert {"precision", "recall", "hmean", "sweep", "best"} <= set(summary)
    assert os.path.exists(tmp_path / "eval" / "submit.zip") and os.path.exists(tmp_path / "eval" / "pr_curve.png")
    assert sorted(os.listdir(tmp_path / "eval" / "results")) == [f"res_img_{i}.txt" for i in sorted(["2", "10", "14", "26", "75"])]
