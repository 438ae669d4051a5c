"""TFLite export: conversion with built-in ops only, parity with the SavedModel, quantizations, bad inputs."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import REPO, write_jpeg
from tfdet import geometry, keys
from tfdet.anchors.coder import BoxCoder
from tfdet.benchmark import make_untrained_run
from tfdet.postprocess import PostprocessConfig, quad_nms, reference_quad_nms

QUIET = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def _spread_weights(run):
    """An untrained model scores every anchor ~0.01: give the heads random weights so scores and
    quads spread out (NMS then has real work), and save it as the run's latest checkpoint."""
    from tfdet.serving.export import load_trained_model

    model, _, _ = load_trained_model(run)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if layer.name.startswith(("cls_head", "box_head")) and hasattr(layer, "kernel"):
            layer.kernel.assign(rng.normal(0, 0.06, layer.kernel.shape).astype(np.float32))
    for name, std in (("cls_logits_conv", 0.1), ("box_regression_conv", 0.03)):  # logits ~ -4..4, offsets ~ -2..2
        kernel = model.get_layer(name).kernel
        kernel.assign(rng.normal(0, std, kernel.shape).astype(np.float32))
    bias = model.get_layer("cls_logits_conv").bias
    bias.assign(np.zeros(bias.shape, np.float32))
    tf.train.Checkpoint(model=model).save(os.path.join(run, "ckpt"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from tfdet.serving.export import export_saved_model
    from tfdet.serving.tflite import export_tflite

    root = tmp_path_factory.mktemp("tflite")
    run = make_untrained_run(str(root / "run"), size=192, channels=16)
    _spread_weights(run)
    post = PostprocessConfig(score_threshold=0.3, nms_iou_threshold=0.3, max_detections=50, pre_nms_top_k=300)
    saved = export_saved_model(run, str(root / "saved"), post=post)
    lite = export_tflite(run, str(root / "lite"), post=post)
    images = [open(write_jpeg(str(root / f"{i}.jpg"), w, h, seed=i), "rb").read() for i, (w, h) in enumerate([(320, 200), (150, 260)])]
    return {"run": run, "saved": saved, "lite": lite, "post": post, "images": images, "root": root}


def test_layout_and_builtin_ops_only(exported):
    assert os.path.exists(os.path.join(exported["lite"], "model.tflite"))
    spec = json.load(open(os.path.join(exported["lite"], "detector.json")))
    assert spec["input_height"] == spec["input_width"] == 192 and spec["quantization"] == "float32"
    assert spec["ops"] and not [op for op in spec["ops"] if op.lower().startswith("flex") or op == "CUSTOM"]
    assert "CONV_2D" in spec["ops"]
    assert not [n for n in os.listdir(os.path.dirname(exported["lite"])) if n.startswith(".tmp")]


def test_float32_matches_saved_model(exported):
    from tfdet.serving.export import SavedModelDetector
    from tfdet.serving.tflite import TFLiteDetector

    saved = SavedModelDetector(exported["saved"]).detect_encoded(exported["images"])
    lite = TFLiteDetector(exported["lite"]).detect_encoded(exported["images"])
    assert set(lite) == set(saved)
    for i in range(len(exported["images"])):
        n = int(saved[keys.OUT_NUM][i])
        assert n >= 3, "the test model must detect something for the comparison to mean anything"
        assert int(lite[keys.OUT_NUM][i]) == n  # same keep set: same count, same order, same quads
        lite_quads, saved_quads = lite[keys.OUT_QUADS][i, :n], saved[keys.OUT_QUADS][i, :n]
        close = np.all(np.abs(lite_quads - saved_quads) <= 1.0, axis=1)
        # a quad without area (an untrained model's quad clipped flat onto the image border) has no vertex order to
        # keep: 1e-4 px decide it. Those, and only those, may differ in order; they must still have the same 4 vertices
        for j in np.nonzero(~close)[0]:
            assert abs(geometry.signed_area(saved_quads[j].reshape(4, 2))) < 1.0, (j, lite_quads[j], saved_quads[j])
            np.testing.assert_allclose(np.sort(lite_quads[j].reshape(4, 2), axis=0), np.sort(saved_quads[j].reshape(4, 2), axis=0),
                                       atol=1.0, err_msg=f"image {i}, detection {j}")
        assert close.sum() >= n // 2, (close, lite_quads, saved_quads)
        np.testing.assert_allclose(lite[keys.OUT_BOXES][i, :n], saved[keys.OUT_BOXES][i, :n], atol=1.0)
        np.testing.assert_allclose(lite[keys.OUT_SCORES][i, :n], saved[keys.OUT_SCORES][i, :n], atol=1e-4)
        np.testing.assert_array_equal(lite[keys.OUT_CLASSES][i, :n], saved[keys.OUT_CLASSES][i, :n])


def test_softmax_multiclass_exports_agree(tmp_path):
    """A 3-class model trained with the softmax loss (--classification_loss=ohem, as configs/digits_cpu.cfg):
    the SavedModel and the TFLite file both score it by the softmax over background and classes (class 0 is
    background and never returned) and return the same detections, classes and scores."""
    from tfdet.benchmark import small_run_config
    from tfdet.serving.export import SavedModelDetector, export_saved_model
    from tfdet.serving.tflite import TFLiteDetector, export_tflite

    config = small_run_config(192, channels=16, num_classes=3, classification_loss="ohem")
    run = make_untrained_run(str(tmp_path / "run"), config=config)
    _spread_weights(run)
    post = PostprocessConfig(score_threshold=0.3, nms_iou_threshold=0.3, max_detections=50, pre_nms_top_k=300)
    # a square image fills the SavedModel's canvas, so both run the network on the same 192x192 input
    images = [open(write_jpeg(str(tmp_path / "a.jpg"), 320, 320, seed=5), "rb").read()]
    saved = SavedModelDetector(export_saved_model(run, str(tmp_path / "saved"), post=post)).detect_encoded(images)
    lite = TFLiteDetector(export_tflite(run, str(tmp_path / "lite"), post=post)).detect_encoded(images)
    n = int(saved[keys.OUT_NUM][0])
    assert n >= 3 and int(lite[keys.OUT_NUM][0]) == n
    classes = saved[keys.OUT_CLASSES][0, :n]
    assert set(classes.tolist()) <= {1, 2, 3} and len(set(classes.tolist())) > 1
    scores = saved[keys.OUT_SCORES][0, :n]
    assert np.all((scores > 0.3) & (scores < 1.0))  # softmax probabilities over 4 outputs, not sigmoids
    np.testing.assert_array_equal(lite[keys.OUT_CLASSES][0, :n], classes)
    np.testing.assert_allclose(lite[keys.OUT_SCORES][0, :n], scores, atol=1e-4)
    np.testing.assert_allclose(lite[keys.OUT_BOXES][0, :n], saved[keys.OUT_BOXES][0, :n], atol=1.0)


def test_numpy_nms_and_decoding_match_the_graph():
    from tfdet.serving.tflite import decode_offsets, quad_nms_numpy

    rng = np.random.default_rng(3)
    centers = rng.uniform(20, 200, (60, 1, 2))
    quads = (centers + rng.uniform(-25, 25, (60, 4, 2))).astype(np.float32)  # many non-convex and crossing quads
    scores = rng.uniform(0, 1, 60).astype(np.float32)
    classes = rng.integers(1, 3, 60)
    for threshold in (0.1, 0.3, 0.6):
        graph = quad_nms(quads, scores, threshold, 40, tf.constant(classes, tf.int32)).numpy()
        np.testing.assert_array_equal(quad_nms_numpy(quads, scores, threshold, 40, classes), graph)
    # hand-made: two overlapping squares (IoU 1/3 > 0.3) and a far one; the lower score of the pair goes
    squares = np.array([[[0, 0], [10, 0], [10, 10], [0, 10]], [[5, 0], [15, 0], [15, 10], [5, 10]],
                        [[50, 50], [60, 50], [60, 60], [50, 60]]], np.float32)
    np.testing.assert_array_equal(quad_nms_numpy(squares, np.array([0.5, 0.9, 0.7]), 0.3, 10), [1, 2])
    np.testing.assert_array_equal(reference_quad_nms(squares, [0.5, 0.9, 0.7], 0.3, 10), [1, 2])
    for loc in (12, 8):
        coder = BoxCoder(loc_outputs=loc)
        offsets = rng.normal(0, 2, (30, loc)).astype(np.float32)
        anchors = np.concatenate([rng.uniform(0, 100, (30, 2)), rng.uniform(120, 200, (30, 2))], 1).astype(np.float32)
        want_quads, want_boxes = coder.decode(offsets, anchors)
        got_quads, got_boxes = decode_offsets(offsets, anchors, coder)
        np.testing.assert_allclose(got_quads, want_quads.numpy(), rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(got_boxes, want_boxes.numpy(), rtol=1e-5, atol=1e-3)


def test_bad_inputs_get_clear_errors(exported):
    from tfdet.serving.tflite import TFLiteDetector, TFLiteInputError

    detector = TFLiteDetector(exported["lite"])
    with pytest.raises(TFLiteInputError, match=r"takes float32 images of shape \[1, 192, 192, 3\].*got uint8"):
        detector.run_network(np.zeros([1, 192, 192, 3], np.uint8))
    with pytest.raises(TFLiteInputError, match=r"shape \[1, 192, 192, 3\].*got \[1, 100, 192, 3\]"):
        detector.run_network(np.zeros([1, 100, 192, 3], np.float32))
    with pytest.raises(TFLiteInputError, match="cannot decode"):
        detector.detect_encoded([b"not an image"])
    with pytest.raises(TFLiteInputError, match="bytes"):
        detector.detect_encoded([np.zeros([10, 10, 3], np.uint8)])
    empty = detector.detect_encoded([])
    assert empty[keys.OUT_QUADS].shape == (0, 50, 8) and empty[keys.OUT_NUM].shape == (0,)
    scores, regression = detector.run_network(np.zeros([1, 192, 192, 3], np.float32))
    assert scores.shape == (len(detector.anchors), 1) and regression.shape == (len(detector.anchors), 12)


def test_quantizations_and_input_size_checks(exported, tmp_path):
    from tfdet.serving.export import load_trained_model
    from tfdet.serving.tflite import TFLiteDetector, convert, export_tflite, op_names

    records = str(exported["root"] / "calib.tfrecord")
    with tf.io.TFRecordWriter(records) as writer:
        for data in exported["images"]:
            feature = {keys.IMAGE_ENCODED: tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    detector = TFLiteDetector(exported["lite"])
    image = detector.preprocess(tf.constant(exported["images"][0]))[0].numpy()
    want_scores, want_regression = detector.run_network(image)
    model, _, _ = load_trained_model(exported["run"])
    float_size = os.path.getsize(os.path.join(exported["lite"], "model.tflite"))
    for quantization, size_share, tolerance in (("float16", 0.7, 0.01), ("dynamic_int8", 0.5, 0.1)):
        content = convert(model, 192, 192, quantization=quantization)
        assert len(content) < size_share * float_size
        assert not [op for op in op_names(content) if op.lower().startswith("flex")]
        out = tf.lite.Interpreter(model_content=content).get_signature_runner()(images=image)
        assert np.abs(out["scores"][0] - want_scores).max() < tolerance
        assert np.abs(out["box_regression"][0] - want_regression).max() < 10 * tolerance
    # full int8, calibrated on record images; input and output stay float32
    path = export_tflite(exported["run"], str(tmp_path / "int8"), post=exported["post"], quantization="int8",
                         representative_records=records)
    spec = json.load(open(os.path.join(path, "detector.json")))
    assert "QUANTIZE" in spec["ops"] and not [op for op in spec["ops"] if op.lower().startswith("flex")]
    int8 = TFLiteDetector(path)
    scores, _ = int8.run_network(image)
    assert np.abs(scores - want_scores).max() < 0.15  # coarse, but calibrated: not garbage
    assert int8.detect_encoded(exported["images"][:1])[keys.OUT_QUADS].shape == (1, 50, 8)
    with pytest.raises(ValueError, match="representative"):
        export_tflite(exported["run"], str(tmp_path / "bad"), quantization="int8")
    with pytest.raises(FileNotFoundError, match="no files match"):
        export_tflite(exported["run"], str(tmp_path / "bad"), quantization="int8", representative_records=str(tmp_path / "none-*"))
    with pytest.raises(ValueError, match="multiple of the largest stride"):
        export_tflite(exported["run"], str(tmp_path / "odd"), input_size=(100, 192))


def _local_network(model, image: bytes, height: int, width: int, detections: int = 30):
    """Make `model` see each output position through a few input pixels only (every kernel keeps its centre tap,
    frozen batch norm): its outputs on an image then do not depend on the padding after it. The padding (zero
    pixels) gets class logit -top and the `image`'s `detections` best anchors logits above 0."""
    import keras

    from tfdet.serving.tflite import resize_to_fit

    rng = np.random.default_rng(1)
    for weight in model.weights:
        if len(weight.shape) == 4:  # [kh, kw, in, out] convolution kernels: the centre tap only, He-scaled
            kh, kw, cin, cout = weight.shape
            kernel = np.zeros(weight.shape, np.float32)
            kernel[kh // 2, kw // 2] = rng.normal(0, np.sqrt(2.0 / cin), (cin, cout))
            weight.assign(kernel)
    for name, scale in (("cls_logits_conv", 0.3), ("box_regression_conv", 0.05)):  # logits spread, offsets ~ +-3
        layer = model.get_layer(name)
        layer.kernel.assign(layer.kernel * scale)
    # every pyramid level maps zero pixels to a zero feature, so the heads give the padding one value at all levels
    levels = [layer.name for layer in model.layers if layer.name.startswith("fpn_p") and layer.name[5:].isdigit()]
    probe = keras.Model(model.inputs, [model.get_layer(name).output for name in levels])
    for name, feature in zip(levels, probe(tf.zeros([1, 64, 64, 3]))):
        bias = model.get_layer(name).bias
        bias.assign(bias - feature[0, 0, 0])
    padding = model(tf.zeros([1, 64, 64, 3]))["cls_logits"][0].numpy()
    per_location = model.get_layer("cls_logits_conv").bias.shape[0] // padding.shape[1]
    network_input = resize_to_fit(tf.io.decode_jpeg(image), height, width)[0][None]
    logits = model(network_input)["cls_logits"][0].numpy()
    above_padding = logits - np.tile(padding[:per_location], (len(logits) // per_location, 1))
    top = np.sort(above_padding.ravel())[-detections]
    bias = model.get_layer("cls_logits_conv").bias
    bias.assign(bias - padding[:per_location].reshape(-1) - top)


def test_non_square_input_detects_what_the_saved_model_does(exported, tmp_path):
    """A 192x128 (width x height) TFLite input against the 192x192 SavedModel on the same 320x200 image (both
    scale it by 0.6): with a network whose outputs on the image ignore the padding after it, both must find the
    same detections, quads within 1 px, in the pixels of the original image."""
    from tfdet.anchors.coder import BoxCoder as Coder
    from tfdet.anchors.config import AnchorConfig
    from tfdet.anchors.matcher import MatcherConfig
    from tfdet.benchmark import rewrite_run_weights
    from tfdet.input.pipeline import InputConfig
    from tfdet.losses import LossConfig
    from tfdet.modeling.config import ModelConfig
    from tfdet.serving.export import SavedModelDetector, export_saved_model
    from tfdet.serving.tflite import TFLiteDetector, export_tflite
    from tfdet.training.config import OptimConfig, RunConfig

    image = exported["images"][0]
    config = RunConfig(model=ModelConfig(backbone="tiny", norm="frozen_bn", fpn_channels=16, head_channels=16, head_convs=1),
                       anchors=AnchorConfig(min_level=3, max_level=6, base_sizes=(24, 48, 96, 192), aspect_ratios=(1, 2, 4),
                                            scales_per_octave=1),
                       input=InputConfig(sizes=(192,)), matcher=MatcherConfig(), coder=Coder(), loss=LossConfig(), optim=OptimConfig())
    run = rewrite_run_weights(make_untrained_run(str(tmp_path / "run"), config=config),
                              lambda model: _local_network(model, image, 128, 192))
    post = exported["post"]
    saved = SavedModelDetector(export_saved_model(run, str(tmp_path / "saved"), post=post)).detect_encoded([image])
    wide = TFLiteDetector(export_tflite(run, str(tmp_path / "wide"), post=post, input_size=(128, 192))).detect_encoded([image])
    n = int(saved[keys.OUT_NUM][0])
    assert n >= 10 and int(wide[keys.OUT_NUM][0]) == n
    np.testing.assert_allclose(wide[keys.OUT_QUADS][0, :n], saved[keys.OUT_QUADS][0, :n], atol=1.0)
    np.testing.assert_allclose(wide[keys.OUT_BOXES][0, :n], saved[keys.OUT_BOXES][0, :n], atol=1.0)
    np.testing.assert_allclose(wide[keys.OUT_SCORES][0, :n], saved[keys.OUT_SCORES][0, :n], atol=1e-4)
    np.testing.assert_array_equal(wide[keys.OUT_CLASSES][0, :n], saved[keys.OUT_CLASSES][0, :n])
    quads = wide[keys.OUT_QUADS][0, :n]
    assert quads[:, 0::2].max() > 192 and quads[:, 1::2].max() > 128  # original pixels, beyond the network input


def test_resize_to_fit_equals_the_serving_resize():
    from tfdet.input.augment import resize_and_pad
    from tfdet.serving.tflite import parse_input_size, resize_to_fit

    image = tf.random.uniform([37, 61, 3], 0, 255)
    a, sa = resize_to_fit(image, 64, 64)
    b, sb = resize_and_pad(image, 64)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(sa.numpy(), sb.numpy())
    padded, scale = resize_to_fit(tf.ones([720, 1280, 3]), 736, 1280)
    assert padded.shape == (736, 1280, 3) and scale.numpy().tolist() == [1.0, 1.0]
    assert float(tf.reduce_sum(padded[720:])) == 0.0
    assert parse_input_size("1280x736") == (736, 1280) and parse_input_size("640") == (640, 640) and parse_input_size("") is None
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        parse_input_size("1280x")


def test_export_tool_tflite(exported, tmp_path):
    out = tmp_path / "tool"
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "export.py"), f"--model_dir={exported['run']}",
                           f"--export_dir={out}", "--format=tflite", "--tflite_input_size=192x128", "--max_detections=10"],
                          capture_output=True, text=True, timeout=300, env=QUIET, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    path = json.loads(proc.stdout.strip().splitlines()[-1])["tflite"]
    spec = json.load(open(os.path.join(path, "detector.json")))
    assert (spec["input_width"], spec["input_height"]) == (192, 128) and spec["postprocess"]["max_detections"] == 10
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "export.py"), f"--model_dir={exported['run']}",
                           f"--export_dir={out}", "--format=tflite", "--tflite_quantization=int8"],
                          capture_output=True, text=True, timeout=300, env=QUIET, cwd=REPO)
    assert proc.returncode == 1 and "representative_records" in proc.stderr and "Traceback" not in proc.stderr
