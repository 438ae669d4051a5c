"""MobileNetV2 backbone: strides and channels, keras.applications weight mapping, separable heads."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfdet.anchors.config import AnchorConfig
from tfdet.modeling.backbones import WeightsError, build_backbone, load_backbone_weights
from tfdet.modeling.config import ModelConfig
from tfdet.modeling.mobilenet import keras_layer_names, make_divisible
from tfdet.modeling.retinanet import build_model

ANCHORS = AnchorConfig(min_level=3, max_level=6, base_sizes=(32, 64, 128, 256), aspect_ratios=(1, 4), scales_per_octave=1)


def test_make_divisible_matches_keras_rounding():
    # hand-computed: nearest multiple of 8, never more than 10% below the value
    assert [make_divisible(v) for v in (11.2, 8.4, 33.6, 44.8, 112.0, 4.0, 36.0)] == [16, 8, 32, 48, 112, 8, 40]


@pytest.mark.parametrize("alpha,channels", [(0.35, (8, 16, 32, 112)), (1.0, (24, 32, 96, 320)), (1.4, (32, 48, 136, 448))])
def test_strides_and_channels(alpha, channels):
    backbone = build_backbone(ModelConfig(backbone="mobilenetv2", width_multiplier=alpha, norm="group_norm"))
    features = backbone(tf.zeros([1, 96, 160, 3]))
    assert [tuple(f.shape[1:3]) for f in features] == [(24, 40), (12, 20), (6, 10), (3, 5)]  # strides 4, 8, 16, 32
    assert tuple(f.shape[-1] for f in features) == channels


def test_inverted_residual_structure():
    backbone = build_backbone(ModelConfig(backbone="mobilenetv2", width_multiplier=1.0, norm="batch_norm"))
    relu6 = [layer for layer in backbone.layers if isinstance(layer, keras.layers.ReLU)]
    assert relu6 and all(float(layer.max_value) == 6.0 for layer in relu6)
    # linear bottleneck: a projection's batch norm feeds an Add or the next block, never a ReLU
    for layer in backbone.layers:
        if layer.name.endswith("project_BN"):
            consumers = [node.operation for node in layer._outbound_nodes]
            assert not any(isinstance(c, keras.layers.ReLU) for c in consumers)
    adds = [layer.name for layer in backbone.layers if isinstance(layer, keras.layers.Add)]
    assert len(adds) == 10  # blocks 2, 4, 5, 7, 8, 9, 11, 12, 14, 15 keep their shape
    assert len([layer for layer in backbone.layers if isinstance(layer, keras.layers.DepthwiseConv2D)]) == 17


def test_width_range_is_checked():
    with pytest.raises(ValueError, match="0.35-1.4"):
        ModelConfig(backbone="mobilenetv2", width_multiplier=0.25)
    with pytest.raises(ValueError, match="0.35-1.4"):
        ModelConfig(backbone="mobilenetv2", width_multiplier=2.0)


@pytest.mark.parametrize("alpha", [0.35, 1.0])
def test_keras_applications_weights_file_mapping(tmp_path, alpha):
    reference = keras.applications.MobileNetV2(include_top=False, weights=None, alpha=alpha, input_shape=(None, None, 3))
    rng = np.random.default_rng(0)
    for w in reference.weights:  # distinct values everywhere, variances positive
        w.assign(rng.uniform(0.5, 1.5, w.shape).astype(np.float32))
    path = str(tmp_path / "mobilenet_v2.weights.h5")
    reference.save_weights(path)
    config = ModelConfig(backbone="mobilenetv2", width_multiplier=alpha, norm="frozen_bn", backbone_weights=path)
    assert config.input_normalization == "tf"  # auto: keras MobileNetV2 weights expect [-1, 1]
    backbone = build_backbone(config)
    load_backbone_weights(backbone, config)
    names = keras_layer_names(alpha)
    assert len(names) == 2 + 16 * 6 + 4  # Conv1 + bn, block 0 (depthwise, project), blocks 1-16 (expand too)
    for name in names:
        for ours, theirs in zip(backbone.get_layer(name).weights, reference.get_layer(name).weights):
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=name)
    # the same numbers come out: C5 is keras' block_16_project_BN
    x = tf.random.uniform([1, 64, 96, 3], -1, 1, seed=1)
    tap = keras.Model(reference.input, reference.get_layer("block_16_project_BN").output)
    np.testing.assert_allclose(backbone(x)[-1].numpy(), tap(x).numpy(), rtol=1e-4, atol=1e-3)


def test_weights_file_of_another_width_is_refused(tmp_path):
    reference = keras.applications.MobileNetV2(include_top=False, weights=None, alpha=0.5, input_shape=(None, None, 3))
    path = str(tmp_path / "alpha05.weights.h5")
    reference.save_weights(path)
    config = ModelConfig(backbone="mobilenetv2", width_multiplier=0.75, norm="frozen_bn", backbone_weights=path)
    with pytest.raises(WeightsError):
        load_backbone_weights(build_backbone(config), config)


def test_imagenet_weights_need_a_published_width():
    config = ModelConfig(backbone="mobilenetv2", width_multiplier=0.6, norm="frozen_bn", backbone_weights="imagenet")
    with pytest.raises(WeightsError, match="widths"):
        load_backbone_weights(build_backbone(config), config)


@pytest.mark.parametrize("separable", [False, True])
def test_mobilenet_detector_forward(separable):
    config = ModelConfig(backbone="mobilenetv2", width_multiplier=0.35, norm="group_norm", fpn_channels=32, head_channels=32,
                         head_convs=2, separable_convs=separable)
    model = build_model(config, ANCHORS)
    out = model(tf.zeros([1, 128, 192, 3]))
    assert out["cls_logits"].shape == (1, ANCHORS.num_anchors(128, 192), 1)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert ("SeparableConv2D" in kinds) == separable
    head = model.get_layer("box_regression_conv")
    assert isinstance(head, keras.layers.SeparableConv2D) == separable
    # the separable FPN and heads are several times smaller (what makes them cheap)
    if separable:
        dense = build_model(ModelConfig(**{**config.to_dict(), "separable_convs": False}), ANCHORS)
        backbone = model.get_layer("mobilenetv2_backbone").count_params()
        assert model.count_params() - backbone < 0.4 * (dense.count_params() - backbone)
