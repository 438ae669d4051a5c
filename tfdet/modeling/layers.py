"""Normalisation choices and small building blocks."""

from __future__ import annotations

import math

from keras import layers


def group_count(channels: int, preferred: int = 32) -> int:
    return math.gcd(channels, preferred) or 1


def norm_layer(kind: str, channels: int, name: str, epsilon: float = 1.001e-5):
    """frozen_bn: BatchNorm in inference mode with fixed statistics and affine parameters.
    group_norm: 32 groups (fewer when channels are not divisible).
    sync_bn: BatchNorm synchronised across replicas. batch_norm: plain trainable BatchNorm.
    `epsilon` is the batch-norm epsilon of the weights to load (ResNet 1.001e-5, MobileNetV2 1e-3)."""
    if kind == "frozen_bn":
        layer = layers.BatchNormalization(epsilon=epsilon, name=name)
        layer.trainable = False  # Keras 3: a non-trainable BN always runs in inference mode
        return layer
    if kind == "group_norm":
        return layers.GroupNormalization(groups=group_count(channels), epsilon=1e-5, name=name)
    if kind == "sync_bn":
        return layers.BatchNormalization(epsilon=epsilon, synchronized=True, name=name)
    return layers.BatchNormalization(epsilon=epsilon, name=name)


def squeeze_excite(x, channels: int, name: str, reduction: int = 16):
    s = layers.GlobalAveragePooling2D(keepdims=True, name=name + "_se_pool")(x)
    s = layers.Conv2D(max(channels // reduction, 4), 1, activation="relu", name=name + "_se_reduce")(s)
    s = layers.Conv2D(channels, 1, activation="sigmoid", name=name + "_se_expand")(s)
    return layers.Multiply(name=name + "_se_scale")([x, s])
