"""Augmentations in TF with stateless seeds (deterministic per element): quad-aware random
crop, small rotation with exact quad rotation, photometric changes, resize + pad."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import tensorflow as tf

from tfdet.ops import quads as quad_ops


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    crop_probability: float = 0.8
    crop_trials: int = 32
    crop_min_scale: float = 0.1  # of the image area
    crop_max_aspect: float = 2.0
    # (MIN, MAX): square windows that show the source at a zoom drawn log-uniformly in [MIN, MAX]
    # (side: the largest training size / zoom, in source pixels) instead of a share of the image area
    crop_zoom: tuple = ()
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
    horizontal_flip: bool = False  # half the images mirrored; mirrors glyphs too, so off by default (text)

    def __post_init__(self):
        for name in ("crop_probability", "rotate_probability", "blur_probability", "jpeg_probability", "keep_visible"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be within [0, 1]")
        if self.crop_zoom and (len(self.crop_zoom) != 2 or not 0 < self.crop_zoom[0] <= self.crop_zoom[1]
                               or not all(math.isfinite(z) for z in self.crop_zoom)):
            raise ValueError(f"crop_zoom must be MIN,MAX with 0 < MIN <= MAX, got {self.crop_zoom!r}")


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


def _place(lo, hi, u):
    """An integer in [lo, hi] (floats holding integers), uniform for u in [0, 1)."""
    return tf.minimum(lo + tf.floor(u * (hi - lo + 1.0)), hi)


def crop_window_sides(height, width, u_scale, u_ratio, cfg: AugmentConfig, reference_size: int = 0):
    """Width and height of the candidate crop windows (float, whole pixels, within the image) for
    uniform draws `u_scale` and `u_ratio` in [0, 1) (arrays, one per trial; numpy or TF).

    Area mode: a share of the image area in [crop_min_scale, 1] with an aspect jitter of up to
    crop_max_aspect. Zoom mode (`crop_zoom`): square windows of side reference_size / zoom, the zoom
    log-uniform in crop_zoom, clipped to the image; resized to reference_size they show the source
    at that zoom whatever its resolution (DBNet / PP-OCR's random scale and fixed-size crop).
    """
    xp = np if isinstance(u_scale, np.ndarray) else tf.math

    def whole(side, limit):  # whole pixels in [1, limit]
        return xp.floor(xp.minimum(xp.maximum(side, 1.0), limit))

    if cfg.crop_zoom:
        if reference_size <= 0:
            raise ValueError("crop_zoom needs the training size (reference_size)")
        low, high = math.log(cfg.crop_zoom[0]), math.log(cfg.crop_zoom[1])
        side = reference_size / xp.exp(low + (high - low) * u_scale)
        return whole(side, width), whole(side, height)
    scale = cfg.crop_min_scale + (1.0 - cfg.crop_min_scale) * u_scale
    ratio = xp.exp(math.log(cfg.crop_max_aspect) * (2.0 * u_ratio - 1.0))
    return whole(width * xp.sqrt(scale * ratio), width), whole(height * xp.sqrt(scale / ratio), height)


def sample_crop(height, width, quads, labels, difficult, seed, cfg: AugmentConfig, reference_size: int = 0):
    """SSD / TextBoxes++ style crop that keeps text, for an image of the given size, chosen before
    any pixel is decoded.

    `crop_trials` candidate windows are drawn (crop_window_sides: area share and aspect ratio, or
    with `crop_zoom` a zoom against `reference_size`, the largest training size); the crop is built
    around one care quad picked at random (among those inside the image if any): the first trial
    large enough to hold that quad's bounding box is placed at a random position that holds it, so
    the crop always shows some text whole. Without a trial
    that fits (or with probability 1 - crop_probability) the image stays whole; an image without
    care text gets a crop anywhere. Returns the window (x0, y0, width, height) int32 and the quads,
    labels and don't-care flags moved into it (restrict_to_window).
    """
    height = tf.cast(height, tf.float32)
    width = tf.cast(width, tf.float32)
    t = cfg.crop_trials
    u = _uniform(seed, [2 * t + 4])  # one draw for every decision below
    cw, ch = crop_window_sides(height, width, u[:t], u[t:2 * t], cfg, reference_size)
    # the text to keep: a random care quad (inside the image when there is one), its bounding box
    # in whole pixels clipped to the image
    care = tf.logical_not(difficult)
    xs, ys = quads[..., 0], quads[..., 1]
    inside = (tf.reduce_min(xs, 1) >= 0) & (tf.reduce_min(ys, 1) >= 0) & (tf.reduce_max(xs, 1) <= width) & (tf.reduce_max(ys, 1) <= height)
    care = tf.cond(tf.reduce_any(care & inside), lambda: care & inside, lambda: care)
    care_quads = tf.boolean_mask(quads, care)
    num_care = tf.shape(care_quads)[0]
    has_care = num_care > 0
    pick = tf.minimum(tf.cast(u[2 * t] * tf.cast(num_care, tf.float32), tf.int32), tf.maximum(num_care - 1, 0))
    target = tf.concat([care_quads, tf.zeros([1, 4, 2])], 0)[pick]
    bx0 = tf.clip_by_value(tf.floor(tf.reduce_min(target[:, 0])), 0.0, width)
    by0 = tf.clip_by_value(tf.floor(tf.reduce_min(target[:, 1])), 0.0, height)
    bx1 = tf.clip_by_value(tf.math.ceil(tf.reduce_max(target[:, 0])), bx0, width)
    by1 = tf.clip_by_value(tf.math.ceil(tf.reduce_max(target[:, 1])), by0, height)
    fits = ((cw >= bx1 - bx0) & (ch >= by1 - by0)) | tf.logical_not(has_care)
    use_crop = tf.reduce_any(fits) & (u[2 * t + 1] < cfg.crop_probability)
    first = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)
    cw = tf.where(use_crop, cw[first], width)
    ch = tf.where(use_crop, ch[first], height)
    # positions that hold the box: x0 in [bx1 - cw, bx0] within [0, width - cw]
    x0 = _place(tf.where(has_care, tf.maximum(bx1 - cw, 0.0), 0.0), tf.where(has_care, tf.minimum(bx0, width - cw), width - cw),
                u[2 * t + 2])
    y0 = _place(tf.where(has_care, tf.maximum(by1 - ch, 0.0), 0.0), tf.where(has_care, tf.minimum(by0, height - ch), height - ch),
                u[2 * t + 3])
    quads, labels, difficult = restrict_to_window(quads, labels, difficult, x0, y0, cw, ch, cfg.keep_visible)
    window = tf.cast(tf.stack([x0, y0, cw, ch]), tf.int32)
    return window, quads, labels, difficult


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


def random_horizontal_flip(image, quads, seed):
    """Mirror the image left-right with probability 1/2; quads follow (x -> width - x in continuous
    coordinates, pixel i -> width - 1 - i) and are put back in canonical order (the mirror reverses
    their turning direction)."""
    width = tf.cast(tf.shape(image)[1], tf.float32)

    def flip():
        mirrored = tf.stack([width - quads[..., 0], quads[..., 1]], -1)
        return tf.image.flip_left_right(image), quad_ops.order_quads(mirrored)

    image, quads = tf.cond(_uniform(seed) < 0.5, flip, lambda: (image, quads))
    image.set_shape([None, None, 3])
    return image, quads


def _gaussian_blur(image, sigma):
    """3x3 Gaussian blur (one depthwise convolution) of a float image [h, w, 3]."""
    k = tf.exp(-0.5 * tf.square(tf.constant([-1.0, 0.0, 1.0]) / sigma))
    kernel = k[:, None] * k[None, :]
    kernel = tf.tile((kernel / tf.reduce_sum(kernel))[:, :, None, None], [1, 1, 3, 1])
    return tf.nn.depthwise_conv2d(image[None], kernel, [1, 1, 1, 1], "SAME")[0]


_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]])
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


def color_transform(brightness, contrast, saturation, hue, mean):
    """One affine colour map (3x3 matrix M, bias b; pixel' = M pixel + b) doing, in this order:
    add `brightness`; scale the distance to the channel means `mean` (after the brightness
    change) by `contrast`; scale the chroma by `saturation` and rotate the hue by `hue` turns,
    both in YIQ space (luma kept)."""
    angle = hue * 2.0 * math.pi
    c, s = tf.cos(angle) * saturation, tf.sin(angle) * saturation
    zero, one = tf.zeros_like(c), tf.ones_like(c)
    rotation = tf.stack([tf.stack([one, zero, zero]), tf.stack([zero, c, -s]), tf.stack([zero, s, c])])
    chroma = tf.constant(_YIQ_TO_RGB, tf.float32) @ rotation @ tf.constant(_RGB_TO_YIQ, tf.float32)
    matrix = contrast * chroma
    # x -> contrast * x + (1 - contrast) * mean + brightness, then chroma
    bias = tf.linalg.matvec(chroma, (1.0 - contrast) * mean + brightness)
    return matrix, bias


def to_uint8(image):
    """Float pixels -> uint8, rounded and saturated at 0 and 255."""
    return tf.saturate_cast(image + 0.5, tf.uint8)


def photometric(image, seed, cfg: AugmentConfig):
    """Image (uint8 or float 0-255) -> uint8 with colour, blur and JPEG-noise changes.

    Brightness, contrast, saturation and hue are one affine colour map (color_transform) applied
    in a single pass; the contrast reference is the channel mean of every 8th row."""
    u = _uniform(seed, [8])  # one draw for every decision below
    x = tf.cast(image, tf.float32)
    mean = tf.reduce_mean(tf.reshape(tf.gather(x, tf.range(0, tf.shape(x)[0], 8)), [-1, 3]), axis=0)

    def between(i, lo, hi):
        return lo + (hi - lo) * u[i]

    matrix, bias = color_transform(between(0, -cfg.brightness_delta, cfg.brightness_delta),
                                   between(1, *cfg.contrast_range), between(2, *cfg.saturation_range),
                                   between(3, -cfg.hue_delta, cfg.hue_delta), mean)
    # + 0.5 here makes the final truncating cast round (to_uint8 without another pass)
    x = tf.reshape(tf.nn.bias_add(tf.matmul(tf.reshape(x, [-1, 3]), matrix, transpose_b=True), bias + 0.5), tf.shape(x))
    x = tf.cond(u[4] < cfg.blur_probability, lambda: _gaussian_blur(x, between(5, 0.5, 1.5)), lambda: x)
    x = tf.saturate_cast(x, tf.uint8)
    quality = tf.cast(between(7, 30.0, 90.0), tf.int32)
    x = tf.cond(u[6] < cfg.jpeg_probability, lambda: tf.image.adjust_jpeg_quality(x, quality), lambda: x)
    x.set_shape([None, None, 3])
    return x


def resize_keep_aspect(image, size):
    """Resize so the longer side is `size`. Returns (float32 image, scale [2] (x, y))."""
    height = tf.cast(tf.shape(image)[0], tf.float32)
    width = tf.cast(tf.shape(image)[1], tf.float32)
    size_f = tf.cast(size, tf.float32)
    ratio = size_f / tf.maximum(height, width)
    new_h = tf.clip_by_value(tf.round(height * ratio), 1.0, size_f)
    new_w = tf.clip_by_value(tf.round(width * ratio), 1.0, size_f)
    resized = tf.image.resize(image, tf.cast(tf.stack([new_h, new_w]), tf.int32), method="bilinear")  # float32 out
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
