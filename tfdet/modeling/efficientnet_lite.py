"""EfficientNet-Lite backbones (Tan & Le 2019; the "Lite" edge variants) returning C2-C5 (strides 4, 8, 16, 32).

The EfficientNet-B0 block table with what mobile accelerators and TFLite quantisation dislike taken
out: no squeeze-excitation, ReLU6 instead of swish, and stem (32) and head (1280) channels kept fixed
when the variant scales width and depth (the first and last stage keep their single block too).
Each block is an inverted residual: [1x1 expansion -> BN -> ReLU6] -> kxk depthwise -> BN -> ReLU6
-> 1x1 linear projection -> BN [+ identity when the shape is kept]. Convolutions have no bias and
pad as TensorFlow's "same" (the published weights were trained so: symmetric padding changes the
stride-2 outputs), batch norm uses epsilon 1e-3, and inputs are (x - 127.5) / 128 ("centered").

Layer names follow the published PyTorch checkpoints (lukemelas `efficientnet_pytorch` naming:
`_blocks.N._depthwise_conv` is `block{N}_depthwise_conv` here), and `torch_layer_names` is the one
mapping between them, built from `STAGES`.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from tfdet.modeling.layers import norm_layer

BN_EPSILON = 1e-3
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280
# (expansion, kernel, first stride, output channels, repeats) of the seven EfficientNet-B0 stages
STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
# variant -> (width coefficient, depth coefficient, ImageNet training resolution)
VARIANTS = {"efficientnet_lite0": (1.0, 1.0, 224), "efficientnet_lite1": (1.0, 1.1, 240),
            "efficientnet_lite2": (1.1, 1.2, 260), "efficientnet_lite3": (1.2, 1.4, 280),
            "efficientnet_lite4": (1.4, 1.8, 300)}
FEATURE_STAGES = {2: 1, 3: 2, 4: 4, 5: 6}  # pyramid level -> stage whose last block outputs C_level


def round_channels(channels: float, width: float, divisor: int = 8) -> int:
    """EfficientNet's width scaling: nearest multiple of `divisor`, never more than 10% below."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def block_specs(variant: str, width_multiplier: float = 1.0) -> list[tuple[int, int, int, int, int]]:
    """[(stage, expansion, kernel, stride, output channels)] of every block of `variant`, in order.
    `width_multiplier` narrows the network further (ImageNet weights exist for 1.0 only)."""
    width, depth, _ = VARIANTS[variant]
    specs = []
    for stage, (expansion, kernel, stride, channels, repeats) in enumerate(STAGES):
        if 0 < stage < len(STAGES) - 1:  # Lite keeps the first and the last stage at one block
            repeats = int(math.ceil(depth * repeats))
        out = round_channels(channels, width * width_multiplier)
        for i in range(repeats):
            specs.append((stage, expansion, kernel, stride if i == 0 else 1, out))
    return specs


def _conv_bn(x, filters: int, kernel: int, stride: int, norm: str, name: str, relu: bool):
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=name + "_conv")(x)
    x = norm_layer(norm, filters, name + "_bn", epsilon=BN_EPSILON)(x)
    return layers.ReLU(6.0, name=name + "_relu")(x) if relu else x


def inverted_residual(x, block_id: int, expansion: int, kernel: int, stride: int, channels: int, norm: str):
    name = f"block{block_id}"
    in_channels = x.shape[-1]
    y = x
    if expansion != 1:
        y = _conv_bn(y, in_channels * expansion, 1, 1, norm, name + "_expand", relu=True)
    y = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=name + "_depthwise_conv")(y)
    y = norm_layer(norm, y.shape[-1], name + "_depthwise_bn", epsilon=BN_EPSILON)(y)
    y = layers.ReLU(6.0, name=name + "_depthwise_relu")(y)
    y = _conv_bn(y, channels, 1, 1, norm, name + "_project", relu=False)  # linear bottleneck
    if stride == 1 and in_channels == channels:
        return layers.Add(name=name + "_add")([x, y])
    return y


def _body(inputs, variant: str, width_multiplier: float, norm: str):
    """Stem and blocks: -> (last block's output, [C2, C3, C4, C5])."""
    x = _conv_bn(inputs, STEM_CHANNELS, 3, 2, norm, "stem", relu=True)
    specs = block_specs(variant, width_multiplier)
    last_of_stage = {stage: i for i, (stage, *_) in enumerate(specs)}
    taps = {last_of_stage[stage] for stage in FEATURE_STAGES.values()}
    features = []
    for block_id, (_, expansion, kernel, stride, channels) in enumerate(specs):
        x = inverted_residual(x, block_id, expansion, kernel, stride, channels, norm)
        if block_id in taps:
            features.append(x)
    return x, features


def build_efficientnet_lite(variant: str, width_multiplier: float, norm: str) -> keras.Model:
    """Model: image (already normalised, (x - 127.5) / 128 for the published weights) -> [C2, C3, C4, C5].
    The classifier's 1x1 head (1280 channels) is left out: a detector takes the stage outputs."""
    inputs = keras.Input((None, None, 3), name="normalized_image")
    _, features = _body(inputs, variant, width_multiplier, norm)
    return keras.Model(inputs, features, name=f"{variant}_backbone")


def build_efficientnet_lite_classifier(variant: str, num_classes: int = 1000, norm: str = "frozen_bn") -> keras.Model:
    """The ImageNet classifier (normalised image -> logits): the backbone's body, the 1x1 head conv
    (1280, BN, ReLU6), global average pooling and a dense layer. Used to check converted weights."""
    inputs = keras.Input((None, None, 3), name="normalized_image")
    x, _ = _body(inputs, variant, 1.0, norm)
    x = _conv_bn(x, HEAD_CHANNELS, 1, 1, norm, "head", relu=True)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    logits = layers.Dense(num_classes, name="classifier")(x)
    return keras.Model(inputs, logits, name=f"{variant}_classifier")


def torch_layer_names(variant: str, width_multiplier: float = 1.0) -> dict[str, tuple[str, str]]:
    """{keras layer name: (PyTorch module prefix, kind)} for every weighted layer of the classifier,
    kind in conv, depthwise, bn, dense. The backbone has all but the head and the classifier."""
    names = {"stem_conv": ("_conv_stem", "conv"), "stem_bn": ("_bn0", "bn")}
    for block_id, (_, expansion, *_rest) in enumerate(block_specs(variant, width_multiplier)):
        torch, ours = f"_blocks.{block_id}.", f"block{block_id}_"
        if expansion != 1:
            names[ours + "expand_conv"] = (torch + "_expand_conv", "conv")
            names[ours + "expand_bn"] = (torch + "_bn0", "bn")
        names[ours + "depthwise_conv"] = (torch + "_depthwise_conv", "depthwise")
        names[ours + "depthwise_bn"] = (torch + "_bn1", "bn")
        names[ours + "project_conv"] = (torch + "_project_conv", "conv")
        names[ours + "project_bn"] = (torch + "_bn2", "bn")
    names.update({"head_conv": ("_conv_head", "conv"), "head_bn": ("_bn1", "bn"), "classifier": ("_fc", "dense")})
    return names
