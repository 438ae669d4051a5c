import numpy as np
import pytest
import tensorflow as tf

from tfdet.anchors.config import AnchorConfig
from tfdet.losses import LossConfig, detection_losses, sigmoid_focal_loss_sum
from tfdet.modeling.backbones import WeightsError, build_backbone
from tfdet.modeling.config import ModelConfig
from tfdet.modeling.retinanet import build_model

ANCHORS = AnchorConfig(min_level=3, max_level=7, base_sizes=(32, 64, 128, 256, 512), aspect_ratios=(1, 2, 1 / 2), scales_per_octave=1)


SHALLOW = ["tiny", "resnet18", "resnet50", "se_resnet50"]
CASES = [(b, n) for b in SHALLOW for n in ("frozen_bn", "group_norm", "sync_bn")]
CASES += [("resnet34", "frozen_bn"), ("resnet101", "frozen_bn"), ("se_resnet101", "group_norm")]  # deep variants: one norm each


@pytest.mark.parametrize("backbone,norm", CASES)
def test_forward_shapes(backbone, norm):
    cfg = ModelConfig(backbone=backbone, norm=norm, fpn_channels=32, head_channels=32, head_convs=1, width_multiplier=0.25)
    model = build_model(cfg, ANCHORS)
    out = model(tf.zeros([2, 128, 128, 3]))
    a = ANCHORS.num_anchors(128, 128)
    assert out["cls_logits"].shape == (2, a, 1) and out["box_regression"].shape == (2, a, 12)
    assert out["cls_logits"].dtype == tf.float32


def test_heads_c2_levels_ohem_and_eight_outputs():
    anchors = AnchorConfig(min_level=2, max_level=6, base_sizes=(16, 32, 64, 128, 256), aspect_ratios=(1,), scales_per_octave=1)
    cfg = ModelConfig(backbone="tiny", fpn_channels=16, head_channels=16, head_convs=1, loc_outputs=8, num_classes=3,
                      classification_loss="ohem", fpn_from_c2=True, head_kernel=(3, 5))
    out = build_model(cfg, anchors)(tf.zeros([1, 64, 64, 3]))
    assert out["cls_logits"].shape == (1, anchors.num_anchors(64, 64), 4)
    assert out["box_regression"].shape[-1] == 8


def test_prior_probability_bias():
    model = build_model(ModelConfig(backbone="tiny", fpn_channels=16, head_channels=16, head_convs=1), ANCHORS)
    probs = tf.sigmoid(model(tf.zeros([1, 128, 128, 3]))["cls_logits"]).numpy()
    assert abs(probs.mean() - 0.01) < 0.005


def test_frozen_bn_is_frozen():
    cfg = ModelConfig(backbone="tiny", norm="frozen_bn", fpn_channels=16, head_channels=16, head_convs=1)
    model = build_model(cfg, ANCHORS)
    bn = [w for w in model.weights if "_bn/" in w.path or "conv1_bn" in w.path]
    assert bn and all(not w.trainable for w in bn)
    before = [w.numpy().copy() for w in bn]
    optimizer = tf.keras.optimizers.SGD(0.1) if hasattr(tf, "keras") else None
    import keras

    optimizer = keras.optimizers.SGD(0.1)
    x = tf.random.uniform([2, 128, 128, 3], 0, 255)
    for _ in range(3):
        with tf.GradientTape() as tape:
            out = model(x, training=True)
            loss = tf.reduce_mean(tf.square(out["cls_logits"])) + tf.reduce_mean(tf.square(out["box_regression"]))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    for w, b in zip(bn, before):
        np.testing.assert_array_equal(w.numpy(), b)


def test_focal_loss_against_hand_computation():
    logits = tf.constant([[[2.0], [-1.0], [0.5]]])
    targets = tf.constant([[1, 0, -1]])
    got = float(sigmoid_focal_loss_sum(logits, targets, 1, 0.25, 2.0))
    p1 = 1 / (1 + np.exp(-2.0))
    pos = 0.25 * (1 - p1) ** 2 * -np.log(p1)
    p2 = 1 / (1 + np.exp(1.0))
    neg = 0.75 * p2 ** 2 * -np.log(1 - p2)
    assert got == pytest.approx(pos + neg, rel=1e-5)  # the ignored anchor adds nothing
    regression = tf.constant(np.arange(36, dtype=np.float32).reshape(1, 3, 12) * 0.01)
    losses = detection_losses({"cls_logits": logits, "box_regression": regression},
                              {"cls_targets": targets, "box_indices": tf.constant([[0, -1]]),
                               "box_targets": tf.stack([regression[:, 0] + 2.0, tf.fill([1, 12], 99.0)], 1)}, 1, LossConfig(), 1.0)
    # one positive (anchor 0) off by 2 in each output: smooth L1 1.5 each; the padding slot counts nothing
    assert float(losses["box_loss"]) == pytest.approx(12 * 1.5)


def test_weights_file_loading(tmp_path):
    cfg = ModelConfig(backbone="tiny", norm="frozen_bn")
    source = build_backbone(cfg)
    for w in source.weights:
        w.assign(tf.random.normal(w.shape) * 0.01 + 0.5)
    path = str(tmp_path / "tiny.weights.h5")
    source.save_weights(path)
    model = build_model(ModelConfig(backbone="tiny", norm="frozen_bn", backbone_weights=path, fpn_channels=16, head_channels=16), ANCHORS)
    backbone = model.get_layer("tiny_backbone")
    for a, b in zip(backbone.weights, source.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy())
    with pytest.raises(WeightsError, match="not found"):
        build_model(ModelConfig(backbone="tiny", backbone_weights=str(tmp_path / "missing.h5")), ANCHORS)
    other = build_backbone(ModelConfig(backbone="resnet18"))
    other.save_weights(str(tmp_path / "r18.weights.h5"))
    with pytest.raises(WeightsError):
        build_model(ModelConfig(backbone="tiny", backbone_weights=str(tmp_path / "r18.weights.h5")), ANCHORS)


def test_keras_applications_resnet50_weights_file(tmp_path):
    import keras

    reference = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(None, None, 3))
    layer = reference.get_layer("conv3_block2_2_conv")
    layer.kernel.assign(tf.random.normal(layer.kernel.shape))
    path = str(tmp_path / "resnet50.weights.h5")
    reference.save_weights(path)
    model = build_model(ModelConfig(backbone="resnet50", backbone_weights=path, input_normalization="caffe",
                                    fpn_channels=16, head_channels=16, head_convs=1), ANCHORS)
    ours = model.get_layer("resnet50_backbone").get_layer("conv3_block2_2_conv")
    np.testing.assert_allclose(ours.kernel.numpy(), layer.kernel.numpy())
    a = reference(tf.ones([1, 64, 64, 3]))
    b = model.get_layer("resnet50_backbone")(tf.ones([1, 64, 64, 3]))[-1]
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4)
