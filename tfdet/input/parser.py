"""Parse our records (and OD-API records without quad keys) inside tf.data."""

from __future__ import annotations

import tensorflow as tf

from tfdet import keys
from tfdet.ops import images as image_ops
from tfdet.ops import quads as quad_ops


def _feature_spec():
    spec = {
        keys.IMAGE_ENCODED: tf.io.FixedLenFeature([], tf.string),
        keys.IMAGE_SOURCE_ID: tf.io.FixedLenFeature([], tf.string, default_value=""),
        keys.IMAGE_FILENAME: tf.io.FixedLenFeature([], tf.string, default_value=""),
        keys.CLASS_LABEL: tf.io.VarLenFeature(tf.int64),
        keys.DIFFICULT: tf.io.VarLenFeature(tf.int64),
        keys.IS_CROWD: tf.io.VarLenFeature(tf.int64),
    }
    for k in (keys.BBOX_YMIN, keys.BBOX_XMIN, keys.BBOX_YMAX, keys.BBOX_XMAX) + keys.QUAD_X + keys.QUAD_Y:
        spec[k] = tf.io.VarLenFeature(tf.float32)
    return spec


def _dense(sparse, dtype=None):
    values = tf.sparse.to_dense(sparse)
    return tf.cast(values, dtype) if dtype is not None else values


def _pad_to(values, n, fill):
    size = tf.shape(values)[0]
    return tf.concat([values[:n], tf.fill([tf.maximum(n - size, 0)], tf.cast(fill, values.dtype))], 0)


def parse_example(serialized, decode: bool = True):
    """-> dict(image uint8 [H, W, 3], quads float32 [N, 4, 2] pixels, labels int32 [N],
    difficult bool [N] (difficult or is_crowd: don't care), source_id, filename).

    With decode=False the image stays encoded: `encoded` and its `shape` [H, W] int32 (read from
    the JPEG/PNG header) come instead of `image`, so that a crop can decode only its window.
    """
    f = tf.io.parse_single_example(serialized, _feature_spec())
    encoded = f[keys.IMAGE_ENCODED]
    if decode:
        image = image_ops.decode_rgb(encoded)
        shape = tf.shape(image)[:2]
    else:
        shape = image_ops.encoded_shape(encoded)
    height = tf.cast(shape[0], tf.float32)
    width = tf.cast(shape[1], tf.float32)
    ymin = _dense(f[keys.BBOX_YMIN])
    n = tf.shape(ymin)[0]
    qx = [_dense(f[k]) for k in keys.QUAD_X]
    qy = [_dense(f[k]) for k in keys.QUAD_Y]
    have_quads = tf.equal(tf.shape(qx[0])[0], n)
    for v in qx[1:] + qy:
        have_quads = have_quads & tf.equal(tf.shape(v)[0], n)

    def from_quads():
        xs = tf.stack([_pad_to(v, n, 0.0) for v in qx], -1)
        ys = tf.stack([_pad_to(v, n, 0.0) for v in qy], -1)
        return tf.stack([xs * width, ys * height], -1)

    def from_boxes():
        boxes = tf.stack([ymin * height, _dense(f[keys.BBOX_XMIN]) * width, _dense(f[keys.BBOX_YMAX]) * height,
                          _dense(f[keys.BBOX_XMAX]) * width], -1)
        return quad_ops.boxes_yxyx_to_quads(boxes)

    quads = tf.cond(have_quads, from_quads, from_boxes)
    quads = tf.reshape(quads, [-1, 4, 2])
    labels = _pad_to(_dense(f[keys.CLASS_LABEL], tf.int32), n, 1)
    # COCO crowd regions are don't care (ignored by the matcher), as `difficult` ones are
    crowd = _pad_to(_dense(f[keys.IS_CROWD], tf.int32), n, 0) > 0
    difficult = (_pad_to(_dense(f[keys.DIFFICULT], tf.int32), n, 0) > 0) | crowd
    out = {"quads": quads, "labels": labels, "difficult": difficult, "source_id": f[keys.IMAGE_SOURCE_ID],
           "filename": f[keys.IMAGE_FILENAME]}
    if decode:
        out["image"] = image
    else:
        out.update(encoded=encoded, shape=shape)
    return out
