"""Box sizes as the network sees them: after the training resize, at every training size."""

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


def network_boxes(rows: np.ndarray, sizes, seed: int = 0) -> np.ndarray:
    """(w, h) in network pixels: each box resized as the pipeline does (longer side -> size),
    with each box at every training size (sizes spread evenly: box i uses size i mod len)."""
    rows = np.asarray(rows, np.float64)
    sizes = np.asarray(sorted(sizes), np.float64)
    rng = np.random.default_rng(seed)
    choice = sizes[rng.permutation(len(rows)) % len(sizes)]
    scale = choice / np.maximum(rows[:, 2], rows[:, 3])
    wh = rows[:, :2] * scale[:, None]
    return np.maximum(wh, 1.0)
