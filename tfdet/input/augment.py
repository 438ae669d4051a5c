"""Augmentations in TF with stateless seeds (deterministic per element): quad-aware random
crop, small rotation with exact quad rotation, photometric changes, resize + pad."""

from __future__ import annotations

import dataclasses
import math

import tensorflow as tf

from tfdet.ops import quads as quad_ops


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    crop_probability: float = 0.8
    crop_trials: int = 32
    crop_min_scale: float = 0.1  # of the image area
    crop_max_aspect: float = 2.0
    crop_min_text_overlap: float = 0.5  # a crop must show this share of at least one care quad
    keep_visible: float = 0.7  # quads less visible than this become don't care
    rotate_probability: float = 0.0
    max_rotation_degrees: float = 10.0
    photometric: bool = True
    brightness_delta: float = 32.0
    contrast_range: tuple = (0.6, 1.4)
    saturation_range: tuple = (0.6, 1.4)
    hue_delta: float = 0.05
    blur_probability: float = 0.1
    jpeg_probability: float = 0.1
    horizontal_flip: bool = False  # mirrors text: off by default

    def __post_init__(self):
        for name in ("crop_probability", "rotate_probability", "blur_probability", "jpeg_probability", "keep_visible"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be within [0, 1]")


def _uniform(seed, shape=(), minval=0.0, maxval=1.0):
    return tf.random.stateless_uniform(shape, seed=seed, minval=minval, maxval=maxval)


def restrict_to_window(quads, labels, difficult, x0, y0, w, h, keep_visible):
    """Move quads into a window's frame: invisible ones go, partly visible ones become
    don't care, all are clipped to the window and put back in canonical order."""
    window = tf.stack([tf.stack([x0, y0]), tf.stack([x0 + w, y0]), tf.stack([x0 + w, y0 + h]), tf.stack([x0, y0 + h])])
    convex = quad_ops.convexify(quads)
    area = tf.abs(quad_ops.signed_area(convex))
    visible = quad_ops.convex_intersection_area(convex, window[None]) / tf.maximum(area, 1e-6)
    shifted = quads - tf.stack([x0, y0])
    clipped = tf.stack([tf.clip_by_value(shifted[..., 0], 0.0, w), tf.clip_by_value(shifted[..., 1], 0.0, h)], -1)
    clipped = quad_ops.order_quads(clipped)
    keep = (visible > 0.0) & (tf.abs(quad_ops.signed_area(clipped)) >= 1.0)
    new_difficult = difficult | (visible < keep_visible)
    return (tf.boolean_mask(clipped, keep), tf.boolean_mask(labels, keep), tf.boolean_mask(new_difficult, keep))


def random_crop(image, quads, labels, difficult, seed, cfg: AugmentConfig):
    """SSD / TextBoxes++ style crop that keeps text: see AugmentConfig."""
    height = tf.cast(tf.shape(image)[0], tf.float32)
    width = tf.cast(tf.shape(image)[1], tf.float32)
    seeds = tf.random.experimental.stateless_split(seed, 6)
    t = cfg.crop_trials
    scale = _uniform(seeds[0], [t], cfg.crop_min_scale, 1.0)
    log_ar = _uniform(seeds[1], [t], -math.log(cfg.crop_max_aspect), math.log(cfg.crop_max_aspect))
    ratio = tf.exp(log_ar)
    cw = tf.clip_by_value(width * tf.sqrt(scale * ratio), 1.0, width)
    ch = tf.clip_by_value(height * tf.sqrt(scale / ratio), 1.0, height)
    x0 = tf.floor(_uniform(seeds[2], [t]) * (width - cw))
    y0 = tf.floor(_uniform(seeds[3], [t]) * (height - ch))
    cw = tf.floor(cw)
    ch = tf.floor(ch)
    windows = tf.stack([tf.stack([x0, y0], -1), tf.stack([x0 + cw, y0], -1), tf.stack([x0 + cw, y0 + ch], -1),
                        tf.stack([x0, y0 + ch], -1)], axis=-2)  # [T, 4, 2]
    convex = quad_ops.convexify(quads)
    area = tf.abs(quad_ops.signed_area(convex))
    visible = quad_ops.convex_intersection_area(convex[None], windows[:, None]) / tf.maximum(area, 1e-6)[None]  # [T, N]
    care = tf.logical_not(difficult)
    shows_text = tf.reduce_any(care[None] & (visible >= cfg.crop_min_text_overlap) & (visible >= cfg.keep_visible), axis=1)
    no_care_text = tf.logical_not(tf.reduce_any(care))
    valid = shows_text | no_care_text
    use_crop = tf.reduce_any(valid) & (_uniform(seeds[4]) < cfg.crop_probability)
    first = tf.argmax(tf.cast(valid, tf.int32), output_type=tf.int32)
    x0 = tf.where(use_crop, x0[first], 0.0)
    y0 = tf.where(use_crop, y0[first], 0.0)
    cw = tf.where(use_crop, cw[first], width)
    ch = tf.where(use_crop, ch[first], height)
    image = tf.image.crop_to_bounding_box(image, tf.cast(y0, tf.int32), tf.cast(x0, tf.int32), tf.cast(ch, tf.int32), tf.cast(cw, tf.int32))
    quads, labels, difficult = restrict_to_window(quads, labels, difficult, x0, y0, cw, ch, cfg.keep_visible)
    return image, quads, labels, difficult


def random_rotate(image, quads, labels, difficult, seed, cfg: AugmentConfig):
    """Rotate about the centre by a small angle; quads are rotated with the same matrix."""
    seeds = tf.random.experimental.stateless_split(seed, 2)
    apply = _uniform(seeds[0]) < cfg.rotate_probability
    angle = tf.where(apply, _uniform(seeds[1], (), -1.0, 1.0) * cfg.max_rotation_degrees * math.pi / 180.0, 0.0)
    height = tf.cast(tf.shape(image)[0], tf.float32)
    width = tf.cast(tf.shape(image)[1], tf.float32)
    c, s = tf.cos(angle), tf.sin(angle)
    # output -> input map in pixel-index coordinates (centre (W-1)/2, (H-1)/2)
    cx_i, cy_i = (width - 1.0) / 2.0, (height - 1.0) / 2.0
    transform = tf.stack([c, s, cx_i - c * cx_i - s * cy_i, -s, c, cy_i + s * cx_i - c * cy_i, 0.0, 0.0])
    rotated = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.cast(image, tf.float32)[None], transforms=transform[None], output_shape=tf.shape(image)[:2],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")[0]
    rotated = tf.cast(tf.clip_by_value(tf.round(rotated), 0, 255), tf.uint8)
    center = tf.stack([width / 2.0, height / 2.0])  # continuous coordinates
    rel = quads - center
    new_quads = tf.stack([c * rel[..., 0] - s * rel[..., 1], s * rel[..., 0] + c * rel[..., 1]], -1) + center
    new_quads = quad_ops.order_quads(new_quads)
    out = restrict_to_window(new_quads, labels, difficult, 0.0, 0.0, width, height, cfg.keep_visible)
    return (rotated,) + out


def _gaussian_blur(image, sigma):
    radius = 3
    x = tf.cast(tf.range(-radius, radius + 1), tf.float32)
    k = tf.exp(-0.5 * tf.square(x / sigma))
    k = k / tf.reduce_sum(k)
    kx = tf.tile(tf.reshape(k, [1, -1, 1, 1]), [1, 1, 3, 1])
    ky = tf.tile(tf.reshape(k, [-1, 1, 1, 1]), [1, 1, 3, 1])
    out = tf.nn.depthwise_conv2d(image[None], kx, [1, 1, 1, 1], "SAME")
    out = tf.nn.depthwise_conv2d(out, ky, [1, 1, 1, 1], "SAME")
    return out[0]


def photometric(image, seed, cfg: AugmentConfig):
    """Image (uint8 or float 0-255) -> float32 [0, 255] with colour, blur and JPEG-noise changes."""
    seeds = tf.random.experimental.stateless_split(seed, 9)
    x = tf.cast(image, tf.float32) / 255.0
    x = tf.image.stateless_random_brightness(x, cfg.brightness_delta / 255.0, seed=seeds[0])
    x = tf.image.stateless_random_contrast(x, cfg.contrast_range[0], cfg.contrast_range[1], seed=seeds[1])
    x = tf.image.stateless_random_saturation(x, cfg.saturation_range[0], cfg.saturation_range[1], seed=seeds[2])
    x = tf.image.stateless_random_hue(x, cfg.hue_delta, seed=seeds[3])
    x = tf.clip_by_value(x, 0.0, 1.0)
    x = tf.cond(_uniform(seeds[4]) < cfg.blur_probability,
                lambda: _gaussian_blur(x, _uniform(seeds[5], (), 0.5, 1.5)), lambda: x)
    quality = tf.cast(_uniform(seeds[7], (), 30.0, 90.0), tf.int32)
    x = tf.cond(_uniform(seeds[6]) < cfg.jpeg_probability,
                lambda: tf.image.adjust_jpeg_quality(x, quality), lambda: x)
    x.set_shape([None, None, 3])
    return x * 255.0


def resize_keep_aspect(image, size):
    """Resize so the longer side is `size`. Returns (float32 image, scale [2] (x, y))."""
    height = tf.cast(tf.shape(image)[0], tf.float32)
    width = tf.cast(tf.shape(image)[1], tf.float32)
    size_f = tf.cast(size, tf.float32)
    ratio = size_f / tf.maximum(height, width)
    new_h = tf.clip_by_value(tf.round(height * ratio), 1.0, size_f)
    new_w = tf.clip_by_value(tf.round(width * ratio), 1.0, size_f)
    resized = tf.image.resize(tf.cast(image, tf.float32), tf.cast(tf.stack([new_h, new_w]), tf.int32), method="bilinear")
    return resized, tf.stack([new_w / width, new_h / height])


def resize_and_pad(image, size, quads=None):
    """Keep the aspect ratio so the longer side is `size`, pad bottom/right to size x size.

    Returns (image float32 [size, size, 3], scale [2] (x, y) from original to network
    pixels, quads scaled when given). The one resize used by training, evaluation
    and serving.
    """
    resized, scale = resize_keep_aspect(image, size)
    padded = tf.image.pad_to_bounding_box(resized, 0, 0, size, size)
    if quads is None:
        return padded, scale
    return padded, scale, quads * scale
