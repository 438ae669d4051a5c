"""Sample <-> tf.train.Example (schema in DESIGN.md; keys in tfdet.keys).

Records hold normalised [0, 1] coordinates; Samples hold pixels.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from tfdet import geometry, keys
from tfdet.datasets.base import Sample


def _bytes(values):
    import tensorflow as tf

    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _floats(values):
    import tensorflow as tf

    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))


def _ints(values):
    import tensorflow as tf

    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def sample_to_example(sample: Sample):
    """Build the tf.train.Example of one sample."""
    import tensorflow as tf

    w, h = float(sample.width), float(sample.height)
    quads = np.asarray(sample.quads, dtype=np.float64).reshape(-1, 4, 2)
    boxes = geometry.quad_to_box_yxyx(quads) if len(quads) else np.zeros((0, 4))
    feature = {
        keys.IMAGE_ENCODED: _bytes([sample.image]),
        keys.IMAGE_FORMAT: _bytes([sample.image_format.encode()]),
        keys.IMAGE_HEIGHT: _ints([sample.height]),
        keys.IMAGE_WIDTH: _ints([sample.width]),
        keys.IMAGE_FILENAME: _bytes([sample.filename.encode("utf-8")]),
        keys.IMAGE_SOURCE_ID: _bytes([sample.source_id.encode("utf-8")]),
        keys.IMAGE_SHA256: _bytes([hashlib.sha256(sample.image).hexdigest().encode()]),
        keys.BBOX_YMIN: _floats(boxes[:, 0] / h),
        keys.BBOX_XMIN: _floats(boxes[:, 1] / w),
        keys.BBOX_YMAX: _floats(boxes[:, 2] / h),
        keys.BBOX_XMAX: _floats(boxes[:, 3] / w),
        keys.CLASS_LABEL: _ints(sample.labels),
        keys.CLASS_TEXT: _bytes([n.encode("utf-8") for n in sample.class_names]),
        keys.DIFFICULT: _ints([int(d) for d in sample.difficult]),
        keys.IS_CROWD: _ints([int(c) for c in sample.is_crowd]),
        keys.AREA: _floats(sample.areas),
        keys.OBJECT_TEXT: _bytes([t.encode("utf-8") for t in sample.texts]),
        keys.OBJECT_SCRIPT: _bytes([s.encode("utf-8") for s in sample.scripts]),
    }
    if sample.original_labels:
        feature[keys.CLASS_ORIGINAL_LABEL] = _ints(sample.original_labels)
    for i in range(4):
        feature[keys.QUAD_X[i]] = _floats(quads[:, i, 0] / w)
        feature[keys.QUAD_Y[i]] = _floats(quads[:, i, 1] / h)
    return tf.train.Example(features=tf.train.Features(feature=feature))


def _get(features, key, kind, default=None):
    if key not in features.feature:
        return default
    f = features.feature[key]
    return list(getattr(f, kind).value)


def example_to_sample(serialized: bytes) -> Sample:
    """Parse one serialized Example (ours, or OD-API records without quad keys)."""
    import tensorflow as tf

    example = tf.train.Example.FromString(serialized)
    f = example.features
    image = _get(f, keys.IMAGE_ENCODED, "bytes_list", [b""])[0]
    height = int(_get(f, keys.IMAGE_HEIGHT, "int64_list", [0])[0])
    width = int(_get(f, keys.IMAGE_WIDTH, "int64_list", [0])[0])
    fmt = _get(f, keys.IMAGE_FORMAT, "bytes_list", [b"jpeg"])[0].decode() or "jpeg"
    if height <= 0 or width <= 0:
        from tfdet.datasets.base import inspect_image

        fmt, height, width, image = inspect_image(image)
    ymin = np.asarray(_get(f, keys.BBOX_YMIN, "float_list", []), np.float64)
    n = len(ymin)
    if all(k in f.feature for k in keys.QUAD_X + keys.QUAD_Y) and len(f.feature[keys.QUAD_X[0]].float_list.value) == n:
        xs = np.stack([np.asarray(_get(f, k, "float_list"), np.float64) for k in keys.QUAD_X], axis=-1) * width
        ys = np.stack([np.asarray(_get(f, k, "float_list"), np.float64) for k in keys.QUAD_Y], axis=-1) * height
        quads = np.stack([xs, ys], axis=-1)
    else:
        xmin = np.asarray(_get(f, keys.BBOX_XMIN, "float_list", []), np.float64) * width
        xmax = np.asarray(_get(f, keys.BBOX_XMAX, "float_list", []), np.float64) * width
        ymax = np.asarray(_get(f, keys.BBOX_YMAX, "float_list", []), np.float64) * height
        quads = np.stack([geometry.box_to_quad(a, b, c, d) for a, b, c, d in zip(xmin, ymin * height, xmax, ymax)]) if n else np.zeros((0, 4, 2))

    def strings(key):
        values = _get(f, key, "bytes_list", None)
        return [v.decode("utf-8", errors="replace") for v in values] if values is not None and len(values) == n else None

    labels = _get(f, keys.CLASS_LABEL, "int64_list", None)
    labels = [int(v) for v in labels] if labels is not None and len(labels) == n else [1] * n
    class_names = strings(keys.CLASS_TEXT) or [keys.TEXT_CLASS_NAME] * n
    texts = strings(keys.OBJECT_TEXT) or [""] * n
    difficult = _get(f, keys.DIFFICULT, "int64_list", None)
    difficult = [bool(v) for v in difficult] if difficult is not None and len(difficult) == n else [False] * n
    crowd = _get(f, keys.IS_CROWD, "int64_list", None)
    crowd = [bool(v) for v in crowd] if crowd is not None and len(crowd) == n else [False] * n
    areas = _get(f, keys.AREA, "float_list", None)
    areas = [float(v) for v in areas] if areas is not None and len(areas) == n else []
    original = _get(f, keys.CLASS_ORIGINAL_LABEL, "int64_list", None)
    original = [int(v) for v in original] if original is not None and len(original) == n else []
    return Sample(
        image=image,
        image_format=fmt,
        filename=(_get(f, keys.IMAGE_FILENAME, "bytes_list", [b""])[0]).decode("utf-8", errors="replace"),
        source_id=(_get(f, keys.IMAGE_SOURCE_ID, "bytes_list", [b""])[0]).decode("utf-8", errors="replace"),
        height=height,
        width=width,
        quads=quads,
        labels=labels,
        class_names=class_names,
        difficult=difficult,
        texts=texts,
        is_crowd=crowd,
        scripts=strings(keys.OBJECT_SCRIPT) or [],
        areas=areas,
        original_labels=original,
    )


def iter_record_files(pattern: str):
    """Sorted record files of a glob (or a comma-separated list of globs). The converter's
    `dataset.json` (and any other .json) beside the shards is left out, so `DIR/*` works."""
    import glob

    files = []
    for part in pattern.split(","):
        files.extend(f for f in sorted(glob.glob(part.strip())) if not f.endswith(".json") and os.path.isfile(f))
    if not files:
        raise FileNotFoundError(f"no record files match {pattern!r}")
    return files


def read_samples(pattern: str):
    """Yield Samples from record files (testing, tools, anchor statistics)."""
    import tensorflow as tf

    for path in iter_record_files(pattern):
        try:
            for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
                yield example_to_sample(raw)
        except tf.errors.DataLossError as exc:
            raise ValueError(f"{path} is not a TFRecord file or is corrupt: {exc.message.splitlines()[0]}") from None
