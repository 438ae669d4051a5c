"""Anchor boxes in pure TF for any input size that is a multiple of the largest stride."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfdet.anchors.config import AnchorConfig


def anchor_shapes(config: AnchorConfig) -> list[np.ndarray]:
    return [np.asarray(config.shapes_per_level(level), np.float32) for level in config.levels]


def generate_anchors(config: AnchorConfig, height, width):
    """[A, 4] anchors (ymin, xmin, ymax, xmax) in pixels, order (level, y, x, scale, ratio).

    `height` and `width` may be Python ints or scalar tensors.
    """
    out = []
    for level, shapes in zip(config.levels, anchor_shapes(config)):
        stride = 2 ** level
        fh = tf.cast(height, tf.int32) // stride
        fw = tf.cast(width, tf.int32) // stride
        ys = (tf.cast(tf.range(fh), tf.float32) + 0.5) * stride
        xs = (tf.cast(tf.range(fw), tf.float32) + 0.5) * stride
        cy, cx = tf.meshgrid(ys, xs, indexing="ij")  # [fh, fw]
        centers = tf.stack([cy, cx], axis=-1)[:, :, None, :]  # [fh, fw, 1, 2]
        wh = tf.constant(shapes)  # [k, 2] (w, h)
        half = tf.stack([wh[:, 1], wh[:, 0]], axis=-1)[None, None] / 2.0  # (h/2, w/2)
        boxes = tf.concat([centers - half, centers + half], axis=-1)  # [fh, fw, k, 4]
        out.append(tf.reshape(boxes, [-1, 4]))
    return tf.concat(out, axis=0)


def generate_anchors_np(config: AnchorConfig, height: int, width: int) -> np.ndarray:
    """Numpy version (anchor optimizer, tests): same values and order."""
    config.check_input_size(height, width)
    out = []
    for level, shapes in zip(config.levels, anchor_shapes(config)):
        stride = 2 ** level
        ys = (np.arange(height // stride) + 0.5) * stride
        xs = (np.arange(width // stride) + 0.5) * stride
        cy, cx = np.meshgrid(ys, xs, indexing="ij")
        c = np.stack([cy, cx], -1)[:, :, None, :]
        half = np.stack([shapes[:, 1], shapes[:, 0]], -1)[None, None] / 2
        out.append(np.concatenate([c - half, c + half], -1).reshape(-1, 4))
    return np.concatenate(out).astype(np.float32)
