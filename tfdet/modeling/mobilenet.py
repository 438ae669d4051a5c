"""MobileNetV2 backbone (Sandler et al. 2018) returning C2-C5 (strides 4, 8, 16, 32).

Inverted residual blocks: 1x1 expansion -> ReLU6 -> 3x3 depthwise -> ReLU6 -> 1x1 linear
projection (no activation: the linear bottleneck), with a residual add when the shape is kept.
The width multiplier (0.35-1.4) scales every layer as keras.applications does
(`_make_divisible(channels * alpha, 8)`), and layer names are those of
keras.applications.MobileNetV2 (Conv1, bn_Conv1, block_N_expand, block_N_depthwise_BN, ...),
so ImageNet weights load by name (`KERAS_LAYER_NAMES` is the mapping, tested).

Features: C2 = block_2 (24a channels), C3 = block_5 (32a), C4 = block_12 (96a),
C5 = block_16 (320a, the last bottleneck). The classifier's 1x1 Conv_1 (1280 channels) is
left out: at 1280x736 it would cost as much as the FPN and adds nothing a detector needs.
"""

from __future__ import annotations

import keras
from keras import layers

from tfdet.modeling.config import check_mobilenet_width
from tfdet.modeling.layers import norm_layer

# keras.applications MobileNetV2 batch-norm epsilon (their weights were trained with it)
BN_EPSILON = 1e-3
# (expansion, base output channels, repeats, first stride) per stage, as in the paper's Table 2
STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
FEATURE_BLOCKS = {2: 2, 3: 5, 4: 12, 5: 16}  # pyramid level -> index of the block whose output is C_level
IMAGENET_WIDTHS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)  # alphas keras.applications has ImageNet weights for


def make_divisible(value: float, divisor: int = 8) -> int:
    """keras.applications' rounding of channel counts: nearest multiple of `divisor`, never 10% below."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def block_specs(alpha: float) -> list[tuple[int, int, int]]:
    """[(expansion, output channels, stride)] for blocks 0..16."""
    specs = []
    for expansion, channels, repeats, stride in STAGES:
        for i in range(repeats):
            specs.append((expansion, make_divisible(int(channels * alpha)), stride if i == 0 else 1))
    return specs


def _prefix(block_id: int) -> str:
    return "expanded_conv_" if block_id == 0 else f"block_{block_id}_"


def _norm(x, norm: str, name: str):
    return norm_layer(norm, x.shape[-1], name, epsilon=BN_EPSILON)(x)


def inverted_residual(x, expansion: int, channels: int, stride: int, norm: str, block_id: int):
    """1x1 expand (ReLU6) -> 3x3 depthwise (ReLU6) -> 1x1 linear projection [+ identity]."""
    prefix = _prefix(block_id)
    in_channels = x.shape[-1]
    y = x
    if expansion != 1:
        y = layers.Conv2D(expansion * in_channels, 1, padding="same", use_bias=False, name=prefix + "expand")(y)
        y = _norm(y, norm, prefix + "expand_BN")
        y = layers.ReLU(6.0, name=prefix + "expand_relu")(y)
    if stride == 2:  # keras.applications pads bottom/right only, then a valid convolution
        y = layers.ZeroPadding2D(((0, 1), (0, 1)), name=prefix + "pad")(y)
    y = layers.DepthwiseConv2D(3, strides=stride, padding="same" if stride == 1 else "valid", use_bias=False,
                               name=prefix + "depthwise")(y)
    y = _norm(y, norm, prefix + "depthwise_BN")
    y = layers.ReLU(6.0, name=prefix + "depthwise_relu")(y)
    y = layers.Conv2D(channels, 1, padding="same", use_bias=False, name=prefix + "project")(y)
    y = _norm(y, norm, prefix + "project_BN")  # linear bottleneck: no activation
    if stride == 1 and in_channels == channels:
        return layers.Add(name=prefix + "add")([x, y])
    return y


def build_mobilenet_v2(alpha: float, norm: str) -> keras.Model:
    """Model: image (already normalised, [-1, 1] for keras weights) -> [C2, C3, C4, C5]."""
    check_mobilenet_width(alpha)
    inputs = keras.Input((None, None, 3), name="normalized_image")
    x = layers.Conv2D(make_divisible(32 * alpha), 3, strides=2, padding="same", use_bias=False, name="Conv1")(inputs)
    x = _norm(x, norm, "bn_Conv1")
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    features = []
    wanted = sorted(FEATURE_BLOCKS.values())
    for block_id, (expansion, channels, stride) in enumerate(block_specs(alpha)):
        x = inverted_residual(x, expansion, channels, stride, norm, block_id)
        if block_id in wanted:
            features.append(x)
    return keras.Model(inputs, features, name="mobilenetv2_backbone")


def keras_layer_names(alpha: float) -> list[str]:
    """The weighted layers of keras.applications.MobileNetV2(include_top=False) that the backbone uses, in order."""
    names = ["Conv1", "bn_Conv1"]
    for block_id, (expansion, _, _) in enumerate(block_specs(alpha)):
        prefix = _prefix(block_id)
        if expansion != 1:
            names += [prefix + "expand", prefix + "expand_BN"]
        names += [prefix + "depthwise", prefix + "depthwise_BN", prefix + "project", prefix + "project_BN"]
    return names
