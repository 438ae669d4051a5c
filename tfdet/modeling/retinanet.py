"""Quad RetinaNet: normalisation -> backbone -> FPN -> shared heads -> flat anchor outputs.

Outputs are concatenated over levels in AnchorConfig order (level, y, x, scale, ratio):
`cls_logits` [B, A, num_logits] and `box_regression` [B, A, loc_outputs], float32.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from tfdet.anchors.config import AnchorConfig
from tfdet.modeling.backbones import build_backbone, frozen_layer_names, load_backbone_weights
from tfdet.modeling.config import ModelConfig
from tfdet.modeling.layers import group_count

IMAGENET_MEAN_RGB = (123.675, 116.28, 103.53)
IMAGENET_STD_RGB = (58.395, 57.12, 57.375)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


class InputNormalization(layers.Layer):
    """0-255 RGB float -> the backbone's expected input (ModelConfig NORMALIZATIONS)."""

    def __init__(self, mode: str = "imagenet", **kwargs):
        super().__init__(**kwargs)
        self.mode = mode

    def call(self, images):
        images = ops.cast(images, self.compute_dtype)
        if self.mode == "caffe":
            bgr = images[..., ::-1]
            return bgr - ops.convert_to_tensor(CAFFE_MEAN_BGR, self.compute_dtype)
        if self.mode == "tf":
            return images / 127.5 - 1.0
        if self.mode == "centered":
            return (images - 127.5) / 128.0
        mean = ops.convert_to_tensor(IMAGENET_MEAN_RGB, self.compute_dtype)
        std = ops.convert_to_tensor(IMAGENET_STD_RGB, self.compute_dtype)
        return (images - mean) / std

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def conv(config: ModelConfig, filters: int, kernel, name: str, strides: int = 1, **initializers):
    """A "same" convolution, depthwise-separable (SSDLite-style) with config.separable_convs.
    When separable, `kernel_initializer` initialises the pointwise kernel (the depthwise one keeps
    Glorot: two 0.01-scale kernels in a row would start the tower at 1e-4 of its input)."""
    if not config.separable_convs:
        return layers.Conv2D(filters, kernel, strides=strides, padding="same", name=name, **initializers)
    init = initializers.pop("kernel_initializer", "glorot_uniform")
    return layers.SeparableConv2D(filters, kernel, strides=strides, padding="same", name=name,
                                  pointwise_initializer=init, **initializers)


def build_fpn(features, config: ModelConfig, anchor_config: AnchorConfig):
    """C2..C5 -> {level: P_level} for the AnchorConfig's levels."""
    c = dict(zip((2, 3, 4, 5), features))
    first = 2 if (config.fpn_from_c2 or anchor_config.min_level == 2) else 3
    if anchor_config.min_level < first:
        raise ValueError(f"anchors start at P{anchor_config.min_level} but the FPN starts at C{first}")
    ch = config.fpn_channels
    lateral = {lvl: layers.Conv2D(ch, 1, name=f"fpn_lateral_c{lvl}")(c[lvl]) for lvl in range(first, 6)}
    merged = {5: lateral[5]}
    for lvl in range(4, first - 1, -1):
        up = layers.UpSampling2D(2, interpolation="nearest", name=f"fpn_up_p{lvl + 1}")(merged[lvl + 1])
        merged[lvl] = layers.Add(name=f"fpn_merge_p{lvl}")([lateral[lvl], up])
    pyramid = {lvl: conv(config, ch, 3, f"fpn_p{lvl}")(merged[lvl]) for lvl in range(first, 6)}
    if anchor_config.max_level >= 6:
        pyramid[6] = conv(config, ch, 3, "fpn_p6", strides=2)(c[5])
    if anchor_config.max_level >= 7:
        pyramid[7] = conv(config, ch, 3, "fpn_p7", strides=2)(layers.Activation("relu", name="fpn_p6_relu")(pyramid[6]))
    return {lvl: pyramid[lvl] for lvl in anchor_config.levels}


def _head_tower(name, config: ModelConfig):
    tower = []
    for i in range(config.head_convs):
        tower.append(conv(config, config.head_channels, 3, f"{name}_conv{i}",
                          kernel_initializer=keras.initializers.RandomNormal(stddev=0.01)))
        if config.head_norm:
            tower.append(layers.GroupNormalization(groups=group_count(config.head_channels), name=f"{name}_gn{i}"))
        tower.append(layers.Activation("relu", name=f"{name}_relu{i}"))
    return tower


def build_model(config: ModelConfig, anchor_config: AnchorConfig) -> keras.Model:
    images = keras.Input((None, None, 3), name="images")
    x = InputNormalization(config.input_normalization, name="normalize")(images)
    backbone = build_backbone(config)
    load_backbone_weights(backbone, config)
    for name in frozen_layer_names(backbone, config.freeze_stages, config.backbone):
        backbone.get_layer(name).trainable = False
    features = backbone(x)
    pyramid = build_fpn(features, config, anchor_config)
    k = anchor_config.anchors_per_location
    cls_tower, box_tower = _head_tower("cls_head", config), _head_tower("box_head", config)
    if config.classification_loss == "focal":
        bias = keras.initializers.Constant(-math.log((1 - config.prior_probability) / config.prior_probability))
    else:
        bias = "zeros"
    cls_out = conv(config, k * config.num_logits, config.head_kernel, "cls_logits_conv",
                   kernel_initializer=keras.initializers.RandomNormal(stddev=0.01), bias_initializer=bias)
    box_out = conv(config, k * config.loc_outputs, config.head_kernel, "box_regression_conv",
                   kernel_initializer=keras.initializers.RandomNormal(stddev=0.01))
    cls_all, box_all = [], []
    for lvl, feature in pyramid.items():
        c, b = feature, feature
        for layer in cls_tower:
            c = layer(c)
        for layer in box_tower:
            b = layer(b)
        c = layers.Reshape((-1, config.num_logits), name=f"cls_flat_p{lvl}")(cls_out(c))
        b = layers.Reshape((-1, config.loc_outputs), name=f"box_flat_p{lvl}")(box_out(b))
        cls_all.append(c)
        box_all.append(b)
    cls_logits = layers.Concatenate(axis=1, name="cls_concat")(cls_all) if len(cls_all) > 1 else cls_all[0]
    box_reg = layers.Concatenate(axis=1, name="box_concat")(box_all) if len(box_all) > 1 else box_all[0]
    cls_logits = layers.Activation("linear", dtype="float32", name="cls_logits")(cls_logits)
    box_reg = layers.Activation("linear", dtype="float32", name="box_regression")(box_reg)
    return keras.Model(images, {"cls_logits": cls_logits, "box_regression": box_reg}, name="quad_retinanet")
