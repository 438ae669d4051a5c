"""Crop augmentation for embedder training: photometric changes (the detector pipeline's colour
map, blur and JPEG noise), a small random shift and zoom, and random erasing (Zhong et al. 2017:
a rectangle of random noise, standing in for occlusion). Stateless: seeded by (seed, step)."""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from tfdet.input import augment as detector_augment


@dataclasses.dataclass(frozen=True)
class CropAugmentConfig:
    photometric: bool = True
    erase_probability: float = 0.5
    erase_area: tuple = (0.02, 0.25)  # share of the crop
    erase_aspect: tuple = (0.3, 3.3)
    max_shift: float = 0.08  # share of the crop size, each way
    zoom: tuple = (0.9, 1.1)

    def __post_init__(self):
        object.__setattr__(self, "erase_area", tuple(float(v) for v in self.erase_area))
        object.__setattr__(self, "erase_aspect", tuple(float(v) for v in self.erase_aspect))
        object.__setattr__(self, "zoom", tuple(float(v) for v in self.zoom))
        if not 0.0 <= self.erase_probability <= 1.0:
            raise ValueError("erase_probability must be in [0, 1]")


def _shift_zoom(images, seed, cfg: CropAugmentConfig):
    n, size = tf.shape(images)[0], tf.shape(images)[1]
    u = tf.random.stateless_uniform([n, 3], seed)
    zoom = cfg.zoom[0] + (cfg.zoom[1] - cfg.zoom[0]) * u[:, 0]
    half = 0.5 / zoom
    cy = 0.5 + (2.0 * u[:, 1] - 1.0) * cfg.max_shift
    cx = 0.5 + (2.0 * u[:, 2] - 1.0) * cfg.max_shift
    boxes = tf.stack([cy - half, cx - half, cy + half, cx + half], -1)
    return tf.image.crop_and_resize(images, boxes, tf.range(n), tf.stack([size, size]), extrapolation_value=127.0)


def random_erasing(images, seed, cfg: CropAugmentConfig):
    """float images [N, S, S, 3] -> same, a noise rectangle in a `erase_probability` share of them."""
    shape = tf.shape(images)
    n, size = shape[0], tf.cast(shape[1], tf.float32)
    u = tf.random.stateless_uniform([n, 5], seed)
    area = (cfg.erase_area[0] + (cfg.erase_area[1] - cfg.erase_area[0]) * u[:, 0]) * size * size
    log_lo, log_hi = tf.math.log(cfg.erase_aspect[0]), tf.math.log(cfg.erase_aspect[1])
    aspect = tf.exp(log_lo + (log_hi - log_lo) * u[:, 1])
    h = tf.minimum(tf.sqrt(area * aspect), size)
    w = tf.minimum(tf.sqrt(area / aspect), size)
    y0 = u[:, 2] * (size - h)
    x0 = u[:, 3] * (size - w)
    grid = tf.range(size)[None, :] + 0.5
    in_y = (grid >= y0[:, None]) & (grid < (y0 + h)[:, None])
    in_x = (grid >= x0[:, None]) & (grid < (x0 + w)[:, None])
    apply = (u[:, 4] < cfg.erase_probability)[:, None, None, None]
    mask = in_y[:, :, None, None] & in_x[:, None, :, None] & apply
    noise = tf.random.stateless_uniform(shape, seed + 1, 0.0, 255.0)
    return tf.where(mask, noise, images)


def augment_crops(images, seed, cfg: CropAugmentConfig):
    """uint8 or float crops [N, S, S, 3] -> float32 augmented crops (0-255)."""
    seed = tf.cast(seed, tf.int64)
    x = tf.cast(images, tf.float32)
    if cfg.photometric:
        colour = detector_augment.AugmentConfig(hue_delta=0.02)  # colour tells products apart: small hue shifts only
        seeds = tf.random.experimental.stateless_split(seed, tf.shape(x)[0])
        x = tf.cast(tf.map_fn(lambda a: detector_augment.photometric(a[0], a[1], colour), (x, seeds),
                              fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8)), tf.float32)
    x = _shift_zoom(x, seed + 2, cfg)
    return random_erasing(x, seed + 3, cfg)
