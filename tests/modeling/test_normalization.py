"""Input normalisation bound to the backbone weights; frozen batch norm refused without weights."""

import copy
import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from tfdet import flags as tfdet_flags
from tfdet.anchors.coder import BoxCoder
from tfdet.anchors.config import AnchorConfig
from tfdet.anchors.matcher import MatcherConfig
from tfdet.input.pipeline import InputConfig
from tfdet.losses import LossConfig
from tfdet.modeling.config import ModelConfig
from tfdet.modeling.retinanet import InputNormalization
from tfdet.training.config import OptimConfig, RunConfig
from tfdet.training.trainer import Trainer


@pytest.mark.parametrize("backbone,width,weights,expected", [
    ("resnet50", 1.0, "imagenet", "caffe"),      # keras.applications ResNet: BGR minus mean
    ("resnet101", 1.0, "/w/resnet101.h5", "caffe"),  # a keras.applications file for a ResNet
    ("mobilenetv2", 0.35, "imagenet", "tf"),      # keras.applications MobileNetV2: [-1, 1]
    ("resnet50", 1.0, "", "imagenet"),          # no weights: tfdet's default
    ("resnet50", 0.5, "/w/narrow.weights.h5", "imagenet"),  # no keras ResNet is narrow: a tfdet file
    ("tiny", 1.0, "/w/tiny.weights.h5", "imagenet"),
])
def test_auto_resolves_to_what_the_weights_expect(backbone, width, weights, expected):
    config = ModelConfig(backbone=backbone, width_multiplier=width, backbone_weights=weights)
    assert config.input_normalization == expected
    # the resolved value is what is saved, and it reloads unchanged (also without the weights, as export does)
    assert ModelConfig.from_dict(json.loads(config.to_json())).input_normalization == expected
    assert ModelConfig(**{**config.to_dict(), "backbone_weights": ""}).input_normalization == expected


@pytest.mark.parametrize("backbone,wrong,right", [("resnet50", "imagenet", "caffe"), ("mobilenetv2", "caffe", "tf"),
                                                  ("mobilenetv2", "imagenet", "tf")])
def test_mismatch_with_imagenet_weights_is_refused(backbone, wrong, right, tmp_path):
    config = ModelConfig(backbone=backbone, backbone_weights="imagenet", input_normalization=wrong)
    with pytest.raises(ValueError, match=f"--input_normalization={right}"):
        config.check_input_normalization()
    run_config = dataclasses.replace(_run_config("group_norm"), model=config)
    with pytest.raises(ValueError, match=f"--input_normalization={right}"):
        Trainer(run_config, str(tmp_path), "unused").build()
    ModelConfig(backbone=backbone, backbone_weights="imagenet", input_normalization=right).check_input_normalization()
    # a run saved with the mismatch (before this check) still loads, with what it was trained on
    assert ModelConfig.from_dict(config.to_dict()).input_normalization == wrong


def test_explicit_choice_wins_for_weights_files():
    # a ResNet-50 backbone saved by a tfdet run trained with RGB mean/std
    config = ModelConfig(backbone="resnet50", backbone_weights="/w/run.weights.h5", input_normalization="imagenet")
    assert config.input_normalization == "imagenet"
    config.check_input_normalization()


def test_normalization_values():
    pixel = tf.constant([[[[0.0, 127.5, 255.0]]]])
    np.testing.assert_allclose(InputNormalization("tf")(pixel).numpy().ravel(), [-1, 0, 1])
    np.testing.assert_allclose(InputNormalization("caffe")(pixel).numpy().ravel(), [255 - 103.939, 127.5 - 116.779, -123.68])
    np.testing.assert_allclose(InputNormalization("imagenet")(pixel).numpy().ravel(),
                               [-123.675 / 58.395, (127.5 - 116.28) / 57.12, (255 - 103.53) / 57.375], rtol=1e-6)


def test_flags_record_the_resolved_normalization(tmp_path):
    tfdet_flags.define_train_flags()
    fv = copy.deepcopy(tfdet_flags.FLAGS)
    fv(["train", "--backbone=mobilenetv2", "--width_multiplier=0.5", "--backbone_weights=imagenet", "--sizes=256"])
    config = tfdet_flags.run_config_from_flags(fv)
    config.save(str(tmp_path))
    saved = json.load(open(tmp_path / "run_config.json"))
    assert saved["model"]["input_normalization"] == "tf"
    fv = copy.deepcopy(tfdet_flags.FLAGS)
    fv(["train", "--backbone=resnet50", "--backbone_weights=imagenet", "--input_normalization=imagenet", "--sizes=256"])
    with pytest.raises(ValueError, match="caffe"):
        tfdet_flags.run_config_from_flags(fv)


def _run_config(norm, weights=""):
    anchors = AnchorConfig(min_level=3, max_level=5, base_sizes=(32, 64, 128), aspect_ratios=(1,), scales_per_octave=1)
    model = ModelConfig(backbone="tiny", norm=norm, backbone_weights=weights, fpn_channels=16, head_channels=16, head_convs=1)
    return RunConfig(model=model, anchors=anchors, input=InputConfig(sizes=(128,)), matcher=MatcherConfig(),
                     coder=BoxCoder(), loss=LossConfig(), optim=OptimConfig())


def test_frozen_bn_without_weights_is_refused(tmp_path):
    with pytest.raises(ValueError, match="normalise nothing"):
        Trainer(_run_config("frozen_bn"), str(tmp_path / "a"), "unused").build()
    with pytest.raises(ValueError, match="group_norm"):
        _run_config("frozen_bn").model.check_initialisation(resumed=False)
    # accepted: with a --resume source, with weights, or with norms that learn their statistics
    _run_config("frozen_bn").model.check_initialisation(resumed=True)
    _run_config("frozen_bn", "/w/tiny.weights.h5").model.check_initialisation(resumed=False)
    for norm in ("group_norm", "batch_norm", "sync_bn"):
        _run_config(norm).model.check_initialisation(resumed=False)
    trainer = Trainer(_run_config("frozen_bn"), str(tmp_path / "b"), "unused", resume=str(tmp_path / "previous"))
    trainer.build()  # the weights will come from the previous stage
    assert trainer.model is not None
