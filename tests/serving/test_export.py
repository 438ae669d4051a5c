"""SavedModel export: fresh process without tfdet, saved_model_cli, the C++ loader, bad requests."""

import dataclasses
import json
import os
import re
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


def test_an_export_reads_back_like_a_run(exported, tmp_path):
    """A SavedModel folder resolves to its variables and assets.extra/run_config.json, so the Python tools
    (evaluate, export again, --resume) load the weights it was exported with; an export without its run's
    record or without variables is refused by name."""
    from tfdet.serving.export import load_trained_model
    from tfdet.training.checkpoints import resolve_checkpoint

    ckpt, folder = resolve_checkpoint(exported["path"])
    assert ckpt == os.path.join(exported["path"], "variables", "variables")
    assert folder == os.path.join(os.path.abspath(exported["path"]), "assets.extra")
    assert resolve_checkpoint(ckpt) == (ckpt, folder)
    from_run, config, _ = load_trained_model(exported["run"])
    from_export, config_export, _ = load_trained_model(exported["path"])
    assert config_export.to_dict() == config.to_dict()
    for a, b in zip(from_run.weights, from_export.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    old = tmp_path / "old"
    shutil.copytree(exported["path"], old)
    os.remove(old / "assets.extra" / "run_config.json")
    with pytest.raises(FileNotFoundError, match="exported before tfdet recorded its run"):
        resolve_checkpoint(str(old))
    shutil.rmtree(old / "variables")
    with pytest.raises(FileNotFoundError, match="has no variables/variables.index"):
        resolve_checkpoint(str(old))


# A model whose outputs are controlled: zero final head kernels, so every location outputs the biases:
# scores 0.3 / 0.6 / 0.9 for the anchor ratios 1 / 2 / 4 (NMS at 0.3 keeps some of each) and box offsets 0 (the detections are anchors).
CONTROLLED_SCORES = (0.3, 0.6, 0.9)
CONTROLLED_SIZE = 64


@pytest.fixture(scope="module")
def controlled(tmp_path_factory):
    from tfdet.benchmark import constant_head_outputs, rewrite_run_weights
    from tfdet.postprocess import PostprocessConfig
    from tfdet.serving.export import export_saved_model

    root = tmp_path_factory.mktemp("controlled")
    logits = [float(np.log(p / (1 - p))) for p in CONTROLLED_SCORES]
    run = rewrite_run_weights(make_untrained_run(str(root / "run"), size=CONTROLLED_SIZE),
                              lambda model: constant_head_outputs(model, logits))
    post = PostprocessConfig(score_threshold=0.5, max_detections=60)
    path = export_saved_model(run, str(root / "export"), post=post)
    return {"run": run, "path": path, "post": post, "root": root}


def expected_detections(run, width, height, post):
    """What the controlled model must return for an image of width x height: the anchors kept by the
    reference NMS, mapped to original pixels (longer side -> the network size, then / scale), clipped.
    -> (boxes [K, 4] as xmin, ymin, xmax, ymax, scores [K])."""
    from tfdet.anchors.generator import generate_anchors_np
    from tfdet.ops.quads import boxes_yxyx_to_quads
    from tfdet.postprocess import reference_quad_nms
    from tfdet.training.config import RunConfig

    config = RunConfig.load(run)
    anchors = generate_anchors_np(config.anchors, CONTROLLED_SIZE, CONTROLLED_SIZE)
    scores = np.tile(np.asarray(CONTROLLED_SCORES, np.float32), len(anchors) // 3)
    keep = scores > post.score_threshold
    quads = boxes_yxyx_to_quads(tf.constant(anchors[keep])).numpy()
    kept = reference_quad_nms(quads, scores[keep], post.nms_iou_threshold, post.max_detections)
    ratio = CONTROLLED_SIZE / max(width, height)
    sx, sy = round(width * ratio) / width, round(height * ratio) / height
    yxyx = anchors[keep][kept]
    boxes = np.stack([np.clip(yxyx[:, 1] / sx, 0, width), np.clip(yxyx[:, 0] / sy, 0, height),
                      np.clip(yxyx[:, 3] / sx, 0, width), np.clip(yxyx[:, 2] / sy, 0, height)], -1)
    return boxes, scores[keep][kept]


def _extents(quads):
    q = np.asarray(quads).reshape(-1, 4, 2)
    return np.stack([q[..., 0].min(1), q[..., 1].min(1), q[..., 0].max(1), q[..., 1].max(1)], -1)


def test_quads_map_back_to_original_pixels(controlled, tmp_path):
    """Every detection of the controlled model, in pixels of the image sent: a landscape JPEG large
    enough to be decoded at 1/8 scale, a portrait PNG (x and y scales differ), and the same PNG's
    pixels through serving_image_tensor."""
    import cv2

    from tfdet.serving.export import load_detector

    rng = np.random.default_rng(0)
    landscape = cv2.imencode(".jpg", rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8))[1].tobytes()
    portrait_pixels = rng.integers(0, 255, (300, 100, 3), dtype=np.uint8)
    portrait = cv2.imencode(".png", portrait_pixels)[1].tobytes()
    detector = load_detector(controlled["path"])
    out = detector.detect_encoded([landscape, portrait])
    tensor_out = detector.loaded.signatures["serving_image_tensor"](images=tf.constant(portrait_pixels[None, ..., ::-1]))
    cases = [(out, 0, 1280, 720), (out, 1, 100, 300), ({k: v.numpy() for k, v in tensor_out.items()}, 0, 100, 300)]
    for result, i, width, height in cases:
        boxes, scores = expected_detections(controlled["run"], width, height, controlled["post"])
        n = int(result["num_detections"][i])
        assert n == len(boxes) > 10
        np.testing.assert_allclose(result["detection_scores"][i, :n], scores, atol=1e-5)
        np.testing.assert_allclose(_extents(result["detection_quads"][i, :n]), boxes, atol=1e-2)
        yxyx = result["detection_boxes"][i, :n]
        np.testing.assert_allclose(yxyx[:, [1, 0, 3, 2]], boxes, atol=1e-2)
        limits = np.array([width, height, width, height])
        assert ((boxes > 0.5) & (boxes < limits - 0.5)).sum() >= 20  # coordinates checked without any clipping


def test_saved_model_honours_or_refuses_postprocess_settings(controlled):
    """A SavedModel applies a higher score threshold and fewer detections exactly as the run folder
    would; another size, NMS IoU or top-k, a lower threshold or more detections are refused."""
    from tfdet.postprocess import PostprocessConfig
    from tfdet.serving.export import load_detector

    image = cv2_jpeg(320, 200)
    baked = load_detector(controlled["path"]).detect_encoded([image])
    n = int(baked["num_detections"][0])
    assert n > 0 and baked["detection_scores"][0, :n].min() > 0.5
    assert baked["detection_quads"].shape == (1, 60, 8)
    stricter = PostprocessConfig(score_threshold=0.7, max_detections=5)
    saved = load_detector(controlled["path"], stricter, requested=("score_threshold", "max_detections")).detect_encoded([image])
    python = load_detector(controlled["run"], stricter).detect_encoded([image])
    assert saved["detection_quads"].shape == (1, 5, 8) and int(saved["num_detections"][0]) == int(python["num_detections"][0]) == 5
    for key in ("detection_quads", "detection_boxes", "detection_scores", "detection_classes"):
        np.testing.assert_allclose(saved[key], python[key], atol=1e-3)
    refused = [({"score_threshold": 0.2}, "--score_threshold=0.2"), ({"nms_iou_threshold": 0.5}, "--nms_iou=0.5"),
               ({"max_detections": 100}, "--max_detections=100"), ({"pre_nms_top_k": 50}, "--pre_nms_top_k=50")]
    for change, flag in refused:
        post = dataclasses.replace(controlled["post"], **change)
        with pytest.raises(ValueError, match=re.escape(flag)):
            load_detector(controlled["path"], post, requested=tuple(change))
    with pytest.raises(ValueError, match="--size=128"):
        load_detector(controlled["path"], size=128, requested=("size",))
    assert load_detector(controlled["path"], size=CONTROLLED_SIZE, requested=("size",)).size == CONTROLLED_SIZE


def test_evaluating_an_export_sweeps_from_its_floor(controlled, tmp_path):
    """The checkpoint's numbers differ below the export's threshold; the export refuses to report
    them, leaves them out of its sweep, and matches the checkpoint above."""
    from tfdet.datasets.base import Sample
    from tfdet.evaluation.runner import evaluate_detector
    from tfdet.postprocess import PostprocessConfig
    from tfdet.serving.export import load_detector

    image = cv2_jpeg(320, 200)
    found = load_detector(controlled["run"], PostprocessConfig(score_threshold=0.05)).detect_encoded([image])
    n = int(found["num_detections"][0])
    boxes = found["detection_boxes"][0, :n]
    scores = found["detection_scores"][0, :n]
    assert {round(float(v), 3) for v in scores} == set(CONTROLLED_SCORES)
    middle = (scores > 0.5) & (scores < 0.7) & (boxes[:, 2] - boxes[:, 0] > 2) & (boxes[:, 3] - boxes[:, 1] > 2)
    gt = np.round(found["detection_quads"][0, :n][middle]).reshape(-1, 4, 2)
    k = len(gt)
    assert k >= 2
    sample = Sample(image=image, image_format="jpeg", filename="img_1.jpg", source_id="1", height=200, width=320, quads=gt,
                    labels=[1] * k, class_names=["text"] * k, difficult=[False] * k, texts=["word"] * k)
    checkpoint = evaluate_detector(load_detector(controlled["run"], PostprocessConfig(score_threshold=0.05)), [sample],
                                   "icdar2015", str(tmp_path / "ckpt"), 0.5, progress=False, pictures=0)
    by_threshold = {s["score_threshold"]: s for s in checkpoint["sweep"]}
    assert by_threshold[0.2]["precision"] < by_threshold[0.5]["precision"]  # the 0.3 detections count below 0.5
    export = load_detector(controlled["path"])
    with pytest.raises(ValueError, match="--score_threshold=0.2"):
        evaluate_detector(export, [sample], "icdar2015", str(tmp_path / "low"), 0.2, progress=False, pictures=0)
    summary = evaluate_detector(export, [sample], "icdar2015", str(tmp_path / "export"), 0.5, progress=False, pictures=0)
    assert summary["score_floor"] == 0.5 and min(s["score_threshold"] for s in summary["sweep"]) == 0.5
    for point in summary["sweep"]:
        assert point == by_threshold[point["score_threshold"]]
    assert summary["hmean"] == checkpoint["hmean"] > 0


def cv2_jpeg(width, height, seed=3):
    import cv2

    return cv2.imencode(".jpg", np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8))[1].tobytes()


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
    # GIF, BMP and WebP headers claiming 20000 x 20000 (lossless WebP: 16384 x 16384) pixels are refused too, before decoding
    for header in huge_headers(20000, 20000):
        with pytest.raises(tf.errors.InvalidArgumentError, match="too many pixels"):
            detector.detect_encoded([header])
    # the same formats within the limit are served, in their own pixels
    for small in small_images(90, 60):
        out = detector.detect_encoded([small])
        n = int(out["num_detections"][0])
        assert n > 0 and out["detection_quads"][0, :n, 0::2].max() <= 90 and out["detection_quads"][0, :n, 1::2].max() <= 60
    assert detector.detect_encoded([open(exported["image"], "rb").read()])["num_detections"][0] >= 0  # still serving


def small_images(width, height):
    """The same picture as GIF, BMP, lossy and lossless WebP (PIL)."""
    import io

    from PIL import Image

    pixels = np.random.default_rng(1).integers(0, 255, (height, width, 3), dtype=np.uint8)
    out = []
    for fmt, options in (("GIF", {}), ("BMP", {}), ("WEBP", {"quality": 80}), ("WEBP", {"lossless": True})):
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, fmt, **options)
        out.append(buf.getvalue())
    return out


def huge_headers(width, height):
    """Small GIF, BMP and WebP (VP8X, lossless VP8L) files whose headers claim width x height."""
    gif, bmp, _, lossless = (bytearray(b) for b in small_images(8, 8))
    gif[6:10] = width.to_bytes(2, "little") + height.to_bytes(2, "little")
    bmp[18:26] = width.to_bytes(4, "little") + height.to_bytes(4, "little")
    bits = int.from_bytes(lossless[21:25], "little") & ~((1 << 28) - 1)  # VP8L sides are 14-bit fields: at most 16384
    lossless[21:25] = (bits | (min(width, 16384) - 1) | ((min(height, 16384) - 1) << 14)).to_bytes(4, "little")
    extended = b"RIFF" + (22).to_bytes(4, "little") + b"WEBPVP8X" + (10).to_bytes(4, "little") + bytes(4) \
        + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little") + bytes(8)
    return [bytes(gif), bytes(bmp), bytes(lossless), extended]


def test_predict_and_evaluate_tools(exported, tmp_path):
    root = shared_path("icdar2015", "test")
    pred = subprocess.run([sys.executable, os.path.join(REPO, "tools", "predict.py"), f"--model={exported['path']}",
                           f"--images={os.path.join(root, 'images')}", f"--output_dir={tmp_path / 'pred'}", "--score_threshold=0.0"],
                          capture_output=True, text=True, timeout=300, env=QUIET)
    assert pred.returncode == 0, pred.stderr[-3000:]
    assert len([n for n in os.listdir(tmp_path / "pred") if n.endswith(".png")]) == 5
    # the export runs at its own size: another --size is refused, not silently ignored
    resized = subprocess.run([sys.executable, os.path.join(REPO, "tools", "predict.py"), f"--model={exported['path']}",
                              f"--images={os.path.join(root, 'images')}", f"--output_dir={tmp_path / 'pred2'}", "--size=512"],
                             capture_output=True, text=True, timeout=300, env=QUIET)
    assert resized.returncode == 1 and "--size=512" in resized.stderr and "re-export" in resized.stderr
    ev = subprocess.run([sys.executable, os.path.join(REPO, "tools", "evaluate.py"), f"--model={exported['run']}",
                         "--protocol=icdar2015", "--dataset=icdar2015", f"--image_dir={os.path.join(root, 'images')}",
                         f"--annotations={os.path.join(root, 'gt')}", f"--output_dir={tmp_path / 'eval'}", "--noprogress"],
                        capture_output=True, text=True, timeout=300, env=QUIET)
    assert ev.returncode == 0, ev.stderr[-3000:]
    summary = json.load(open(tmp_path / "eval" / "summary.json"))
    assert {"precision", "recall", "hmean", "sweep", "best"} <= set(summary)
    assert os.path.exists(tmp_path / "eval" / "submit.zip") and os.path.exists(tmp_path / "eval" / "pr_curve.png")
    assert sorted(os.listdir(tmp_path / "eval" / "results")) == [f"res_img_{i}.txt" for i in sorted(["2", "10", "14", "26", "75"])]


def test_postprocess_flags_protocol_defaults_and_requested_settings():
    from absl import flags

    from tfdet import flags as tfdet_flags

    fv = flags.FlagValues()
    tfdet_flags.define_postprocess_flags(fv)
    fv(["tool"])
    assert tfdet_flags.requested_postprocess(fv) == ()
    assert tfdet_flags.postprocess_config_from_flags(fv, protocol="icdar2015").nms_iou_threshold == 0.3
    assert tfdet_flags.postprocess_config_from_flags(fv, protocol="coco").nms_iou_threshold == 0.5
    assert tfdet_flags.postprocess_config_from_flags(fv).nms_iou_threshold == 0.3  # export and predict: text
    fv = flags.FlagValues()
    tfdet_flags.define_postprocess_flags(fv)
    fv(["tool", "--nms_iou=0.4", "--size=512", "--score_threshold=0.6"])
    assert set(tfdet_flags.requested_postprocess(fv)) == {"nms_iou_threshold", "size", "score_threshold"}
    assert tfdet_flags.postprocess_config_from_flags(fv, protocol="coco").nms_iou_threshold == 0.4


def test_evaluate_tool_on_an_export_reports_from_its_floor(controlled, tmp_path):
    root = shared_path("icdar2015", "test")
    base = [sys.executable, os.path.join(REPO, "tools", "evaluate.py"), f"--model={controlled['path']}", "--protocol=icdar2015",
            "--dataset=icdar2015", f"--image_dir={os.path.join(root, 'images')}", f"--annotations={os.path.join(root, 'gt')}",
            "--noprogress", "--pictures=0"]
    low = subprocess.run(base + [f"--output_dir={tmp_path / 'low'}", "--score_threshold=0.2"], capture_output=True, text=True,
                         timeout=300, env=QUIET)
    assert low.returncode == 1 and "--score_threshold=0.2" in low.stderr and "Traceback" not in low.stderr
    plain = subprocess.run(base + [f"--output_dir={tmp_path / 'plain'}", "--score_threshold=0.6", "--nms_iou=0.3"],
                           capture_output=True, text=True, timeout=300, env=QUIET)
    assert plain.returncode == 0, plain.stderr[-3000:]
    summary = json.load(open(tmp_path / "plain" / "summary.json"))
    assert summary["score_threshold"] == 0.6 and summary["score_floor"] == 0.5
    assert [s["score_threshold"] for s in summary["sweep"]][0] == 0.5


def _with_run_config(run, **changes):
    """Rewrite the run's run_config.json: `eval_protocol=...` at the top, `num_classes=...` in the model."""
    path = os.path.join(run, "run_config.json")
    data = json.load(open(path))
    if "num_classes" in changes:
        data["model"]["num_classes"] = changes.pop("num_classes")
    data.update(changes)
    json.dump(data, open(path, "w"))
    return run


def _export_flags(*argv):
    from absl import flags

    from tfdet import flags as tfdet_flags

    fv = flags.FlagValues()
    tfdet_flags.define_postprocess_flags(fv)
    fv(["export", *argv])
    return fv


def test_export_defaults_follow_the_run_protocol_and_a_cut_curve_is_warned_about(exported):
    """A COCO-protocol run exports with NMS IoU 0.5 and score floor 0.05 (the whole PR curve mAP scores), a text one
    with 0.3 and 0.5; flags given win; a floor above 0.05 on a multi-class or COCO-protocol model is warned about."""
    from tfdet.cli.export import export_postprocess

    run = exported["root"] / "protocols"
    shutil.copytree(exported["run"], run)
    run = str(run)

    def export_settings(*argv, **run_config):
        post, warning = export_postprocess(_with_run_config(run, **run_config), _export_flags(*argv))
        return post.nms_iou_threshold, post.score_threshold, warning

    assert export_settings(eval_protocol="icdar2015", num_classes=1) == (0.3, 0.5, None)
    assert export_settings(eval_protocol="coco_quad") == (0.5, 0.05, None)
    nms, floor, warning = export_settings("--score_threshold=0.3")
    assert (nms, floor) == (0.5, 0.3) and "coco_quad-protocol" in warning and "--score_threshold=0.05" in warning
    assert export_settings("--nms_iou=0.4", "--score_threshold=0.05") == (0.4, 0.05, None)
    nms, floor, warning = export_settings(eval_protocol="icdar2015", num_classes=10)  # multi-class, text protocol
    assert (nms, floor) == (0.3, 0.5) and "10-class model" in warning and "cuts that curve" in warning


def test_export_tool_bakes_the_run_protocol_and_warns(exported, tmp_path):
    run = tmp_path / "coco_run"
    shutil.copytree(exported["run"], run)
    _with_run_config(str(run), eval_protocol="coco")
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "export.py"), f"--model_dir={run}",
                           f"--export_dir={tmp_path / 'export'}", "--score_threshold=0.5"],
                          capture_output=True, text=True, timeout=300, env=QUIET, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "warning: this coco-protocol model is scored over its whole precision-recall curve" in proc.stderr
    path = json.loads(proc.stdout.strip().splitlines()[-1])["saved_model"]
    baked = json.load(open(os.path.join(path, "assets.extra", "export.json")))["postprocess"]
    assert (baked["nms_iou_threshold"], baked["score_threshold"]) == (0.5, 0.5)
    from tfdet.serving.export import run_protocol

    assert run_protocol(str(run)) == "coco" == run_protocol(path)  # the run and its export say how they are scored


def test_evaluate_scores_a_run_by_its_own_protocol_unless_told(exported, tmp_path):
    """evaluate --model=RUN without --protocol: the protocol the run was trained with, not icdar2015."""
    root = shared_path("icdar2015", "test")
    run = tmp_path / "coco_run"
    shutil.copytree(exported["run"], run)
    _with_run_config(str(run), eval_protocol="coco")
    base = [sys.executable, os.path.join(REPO, "tools", "evaluate.py"), f"--model={run}", "--dataset=icdar2015",
            f"--image_dir={os.path.join(root, 'images')}", f"--annotations={os.path.join(root, 'gt')}", "--noprogress",
            "--pictures=0"]
    proc = subprocess.run(base + [f"--output_dir={tmp_path / 'eval'}"], capture_output=True, text=True, timeout=300, env=QUIET)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "note: scoring with --protocol=coco" in proc.stderr
    assert json.load(open(tmp_path / "eval" / "summary.json"))["protocol"] == "coco"
    assert "mAP" in json.loads(proc.stdout.strip().splitlines()[-1])


def test_export_of_a_best_checkpoint_keeps_the_run_flags_and_what_chose_it(exported, tmp_path):
    """best/ckpt sits one folder below the run: its flags.cfg is the run folder's, and best.json says which
    evaluation picked the exported weights."""
    from tfdet.serving.export import export_saved_model, load_trained_model

    run = tmp_path / "run"
    shutil.copytree(exported["run"], run)
    (run / "flags.cfg").write_text("--eval_protocol=icdar2015\n")
    model, _, _ = load_trained_model(str(run))
    tf.train.Checkpoint(model=model).write(str(run / "best" / "ckpt"))
    (run / "best" / "best.json").write_text(json.dumps({"metric": 0.8, "key": "hmean", "step": 40}))
    path = export_saved_model(str(run / "best"), str(tmp_path / "export"), post=exported["post"])
    extra = os.path.join(path, "assets.extra")
    assert open(os.path.join(extra, "flags.cfg")).read() == "--eval_protocol=icdar2015\n"
    assert json.load(open(os.path.join(extra, "best.json")))["step"] == 40
    assert json.load(open(os.path.join(extra, "export.json")))["checkpoint"] == str(run / "best" / "ckpt")
