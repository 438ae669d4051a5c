"""Box sizes as the network sees them: through the training crop, after the training resize, at every training size."""

from __future__ import annotations

import json
import os

import numpy as np


def boxes_from_dataset_json(path: str) -> np.ndarray:
    """(w, h, image_w, image_h) rows saved by the converter (all splits)."""
    with open(path) as f:
        data = json.load(f)
    rows = []
    for split in data.get("splits", {}).values():
        rows.extend(split.get("boxes", {}).get("samples_w_h_imgw_imgh", []))
    if not rows:
        raise ValueError(f"{path} holds no box statistics")
    return np.asarray(rows, np.float64)


def boxes_from_records(pattern: str) -> np.ndarray:
    """(w, h, image_w, image_h) of every care object in the records (axis-aligned box of the quad)."""
    import tensorflow as tf

    from tfdet import keys
    from tfdet.records.codec import iter_record_files

    spec = {keys.IMAGE_HEIGHT: tf.io.FixedLenFeature([], tf.int64, default_value=0),
            keys.IMAGE_WIDTH: tf.io.FixedLenFeature([], tf.int64, default_value=0),
            keys.DIFFICULT: tf.io.VarLenFeature(tf.int64)}
    for k in (keys.BBOX_XMIN, keys.BBOX_XMAX, keys.BBOX_YMIN, keys.BBOX_YMAX):
        spec[k] = tf.io.VarLenFeature(tf.float32)

    def parse(batch):
        f = tf.io.parse_example(batch, spec)
        return {k: (tf.sparse.to_dense(v) if isinstance(v, tf.SparseTensor) else v) for k, v in f.items()}

    ds = tf.data.TFRecordDataset(iter_record_files(pattern), num_parallel_reads=4).batch(512).map(parse)
    rows = []
    for f in ds.as_numpy_iterator():
        h_img, w_img = f[keys.IMAGE_HEIGHT].astype(np.float64), f[keys.IMAGE_WIDTH].astype(np.float64)
        w = (f[keys.BBOX_XMAX] - f[keys.BBOX_XMIN]) * w_img[:, None]
        h = (f[keys.BBOX_YMAX] - f[keys.BBOX_YMIN]) * h_img[:, None]
        n = f[keys.BBOX_XMIN].shape[1]
        difficult = f[keys.DIFFICULT]
        if difficult.shape[1] < n:
            difficult = np.pad(difficult, [(0, 0), (0, n - difficult.shape[1])])
        valid = (w > 0) & (h > 0) & (difficult[:, :n] == 0)
        iw = np.broadcast_to(w_img[:, None], w.shape)
        ih = np.broadcast_to(h_img[:, None], h.shape)
        rows.append(np.stack([w[valid], h[valid], iw[valid], ih[valid]], -1))
    if not rows or sum(len(r) for r in rows) == 0:
        raise ValueError(f"no care boxes in {pattern}")
    return np.concatenate(rows)


def load_boxes(source: str) -> np.ndarray:
    if source.endswith(".json") or os.path.isdir(source):
        path = os.path.join(source, "dataset.json") if os.path.isdir(source) else source
        return boxes_from_dataset_json(path)
    return boxes_from_records(source)


def crop_zooms(rows: np.ndarray, augment, rng: np.random.Generator, reference_size: int = 0) -> np.ndarray:
    """Side of the window each box is seen through, drawn as the pipeline's crop draws it
    (augment.sample_crop, with the same augment.crop_window_sides): with probability
    `crop_probability`, up to `crop_trials` windows (area share and aspect, or a zoom relative to
    `reference_size` with `crop_zoom`), the first one holding the box (each box taken as the crop's
    target word); otherwise, or when none holds it, the whole image. -> longer side of that window [N].
    Trials are drawn only for the boxes still without a window (the same first-fit distribution)."""
    from tfdet.input.augment import crop_window_sides

    out = np.maximum(rows[:, 2], rows[:, 3]).astype(np.float64)
    if augment is None or augment.crop_probability <= 0:
        return out
    pending = np.nonzero(rng.random(len(rows)) < augment.crop_probability)[0]
    for _ in range(augment.crop_trials):
        if not len(pending):
            break
        r = rows[pending]
        u_scale = rng.random(len(r))  # drawn before u_ratio, as always
        cw, ch = crop_window_sides(r[:, 3], r[:, 2], u_scale, rng.random(len(r)), augment, reference_size)
        fits = (cw >= np.ceil(r[:, 0])) & (ch >= np.ceil(r[:, 1]))
        out[pending[fits]] = np.maximum(cw, ch)[fits]
        pending = pending[~fits]
    return out


def network_boxes(rows: np.ndarray, sizes, seed: int = 0, augment=None, min_samples: int = 20000,
                  max_samples: int = 1_000_000) -> np.ndarray:
    """(w, h) in network pixels of boxes (w, h, image_w, image_h) as training shows them: each box
    seen through a crop window drawn as the pipeline draws it (`augment`, an AugmentConfig; None:
    the whole image; windows of `crop_zoom` relative to the largest size), that window resized so
    its longer side is a training size.

    Each box is drawn several times (with new crops) until there are `min_samples` draws, and at
    every training size when that stays within `max_samples` draws (else at one size each,
    spread evenly over the sizes)."""
    rows = np.asarray(rows, np.float64)
    sizes = np.asarray(sorted(sizes), np.float64)
    rng = np.random.default_rng(seed)
    n = len(rows)
    repeats = max(-(-min_samples // n), min(len(sizes), max(max_samples // n, 1)))
    draw = np.tile(np.arange(n), repeats)
    repetition = np.repeat(np.arange(repeats), n)
    size = sizes[(repetition + rng.integers(len(sizes), size=n)[draw]) % len(sizes)]
    zoom = size / crop_zooms(rows[draw], augment, rng, int(sizes[-1]))
    return np.maximum(rows[draw, :2] * zoom[:, None], 1.0)
