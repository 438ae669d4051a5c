"""Raw outputs -> detections: decode offsets, score threshold, top-k, in-graph quad NMS.

Everything is core TF (no custom ops, no numpy), so it runs inside SavedModels
and TF Serving. The 8 vertex offsets are decoded independently, so a decoded
quad can come out counter-clockwise or crossed (a bow-tie): every decoded quad
is put in the canonical order first (`ops.quads.order_quads`, the TF twin of
`geometry.order_quad`: a bow-tie's vertices are re-sorted by angle into the
simple quad through the same 4 points). NMS suppresses by the exact IoU of
convex quads; non-convex quads, and bow-ties given to `quad_nms` directly, are
replaced by their convex hull (`ops.quads.convexify`) before the IoU, so no
shoelace area of a crossed quad (whose lobes cancel) is ever used. An
axis-aligned pre-filter skips the polygon work for pairs whose boxes do not
overlap. Multi-class models run class-aware NMS (boxes of different classes
never suppress each other).
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from tfdet.anchors.coder import BoxCoder
from tfdet.ops import quads as quad_ops


@dataclasses.dataclass(frozen=True)
class PostprocessConfig:
    score_threshold: float = 0.05
    pre_nms_top_k: int = 1000
    nms_iou_threshold: float = 0.3
    max_detections: int = 100
    classification_loss: str = "focal"

    def __post_init__(self):
        if not 0 <= self.score_threshold < 1:
            raise ValueError("score threshold must be within [0, 1)")
        if self.pre_nms_top_k < 1 or self.max_detections < 1:
            raise ValueError("pre_nms_top_k and max_detections must be positive")


def quad_nms(quads, scores, iou_threshold: float, max_output: int, classes=None):
    """Greedy NMS on quads [N, 4, 2] with scores [N] (sorted or not). Returns kept indices [K] (K <= max_output).

    Loop of at most `max_output` iterations; each compares the best remaining
    quad with every other remaining one.
    """
    quads = tf.convert_to_tensor(quads, tf.float32)
    scores = tf.convert_to_tensor(scores, tf.float32)
    n = tf.shape(scores)[0]
    order = tf.argsort(scores, direction="DESCENDING", stable=True)
    quads = tf.gather(quads, order)
    convex = quad_ops.convexify(quads)
    boxes = quad_ops.quads_to_boxes_yxyx(convex)
    areas = tf.abs(quad_ops.signed_area(convex))
    cls = tf.gather(classes, order) if classes is not None else tf.zeros([n], tf.int32)

    def cond(i, alive, kept, count):
        return (count < max_output) & tf.reduce_any(alive)

    def body(i, alive, kept, count):
        best = tf.argmax(tf.cast(alive, tf.int32), output_type=tf.int32)  # first alive = highest score
        kept = kept.write(count, best)
        alive = tf.tensor_scatter_nd_update(alive, [[best]], [False])
        b = boxes[best]
        overlap = ((tf.minimum(boxes[:, 2], b[2]) > tf.maximum(boxes[:, 0], b[0])) &
                   (tf.minimum(boxes[:, 3], b[3]) > tf.maximum(boxes[:, 1], b[1])) & alive &
                   tf.equal(cls, cls[best]))
        idx = tf.where(overlap)[:, 0]
        cand = tf.gather(convex, idx)
        inter = quad_ops.convex_intersection_area(cand, convex[best][None])
        union = tf.gather(areas, idx) + areas[best] - inter
        iou = inter / tf.maximum(union, 1e-9)
        suppress = tf.boolean_mask(idx, iou > iou_threshold)
        alive = tf.tensor_scatter_nd_update(alive, suppress[:, None], tf.zeros_like(suppress, tf.bool))
        return i + 1, alive, kept, count + 1

    kept = tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[])
    _, _, kept, count = tf.while_loop(cond, body, (tf.constant(0), tf.ones([n], tf.bool), kept, tf.constant(0)),
                                      maximum_iterations=max_output)
    return tf.gather(order, kept.stack()[:count])


def class_scores(cls_logits, classification_loss: str):
    if classification_loss == "ohem":
        return tf.nn.softmax(tf.cast(cls_logits, tf.float32), axis=-1)[..., 1:]
    return tf.sigmoid(tf.cast(cls_logits, tf.float32))


def detect_one(cls_logits, box_regression, anchors, coder: BoxCoder, cfg: PostprocessConfig):
    """One image: -> (quads [K, 4, 2], boxes [K, 4], scores [K], classes [K] int32 1-based), K <= max_detections."""
    scores_all = class_scores(cls_logits, cfg.classification_loss)  # [A, C]
    num_classes = tf.shape(scores_all)[1]
    flat = tf.reshape(scores_all, [-1])
    k = tf.minimum(cfg.pre_nms_top_k, tf.shape(flat)[0])
    top_scores, top_idx = tf.math.top_k(flat, k=k, sorted=True)
    keep = top_scores > cfg.score_threshold
    top_scores = tf.boolean_mask(top_scores, keep)
    top_idx = tf.boolean_mask(top_idx, keep)
    anchor_idx = top_idx // num_classes
    classes = top_idx % num_classes + 1
    quads, boxes = coder.decode(tf.gather(box_regression, anchor_idx), tf.gather(anchors, anchor_idx))
    quads = quad_ops.order_quads(quads)
    kept = quad_nms(quads, top_scores, cfg.nms_iou_threshold, cfg.max_detections, classes)
    return tf.gather(quads, kept), tf.gather(boxes, kept), tf.gather(top_scores, kept), tf.gather(classes, kept)


def detect_batch(outputs, anchors, coder: BoxCoder, cfg: PostprocessConfig):
    """Batched, padded to max_detections: dict(quads [B, K, 4, 2], boxes [B, K, 4], scores [B, K],
    classes [B, K] int32, num_detections [B] int32). Coordinates are network-input pixels."""
    m = cfg.max_detections

    def one(args):
        cls_logits, box_reg = args
        q, b, s, c = detect_one(cls_logits, box_reg, anchors, coder, cfg)
        n = tf.shape(s)[0]
        pad = m - n
        return (tf.pad(q, [[0, pad], [0, 0], [0, 0]]), tf.pad(b, [[0, pad], [0, 0]]), tf.pad(s, [[0, pad]]),
                tf.pad(c, [[0, pad]]), n)

    q, b, s, c, n = tf.map_fn(one, (outputs["cls_logits"], outputs["box_regression"]),
                              fn_output_signature=(tf.TensorSpec([m, 4, 2], tf.float32), tf.TensorSpec([m, 4], tf.float32),
                                                   tf.TensorSpec([m], tf.float32), tf.TensorSpec([m], tf.int32),
                                                   tf.TensorSpec([], tf.int32)))
    return {"quads": q, "boxes": b, "scores": s, "classes": c, "num_detections": n}


def reference_quad_nms(quads, scores, iou_threshold: float, max_output: int, classes=None):
    """numpy + shapely reference (tests and benchmarks only): same rule, same order."""
    import numpy as np
    from shapely.geometry import Polygon

    quads = np.asarray(quads, np.float64)
    order = np.argsort(-np.asarray(scores), kind="stable")
    polys = [Polygon(q).convex_hull for q in quads]
    cls = np.zeros(len(quads), int) if classes is None else np.asarray(classes)
    kept, alive = [], np.ones(len(quads), bool)
    for i in order:
        if not alive[i]:
            continue
        kept.append(int(i))
        alive[i] = False
        if len(kept) >= max_output:
            break
        for j in order:
            if alive[j] and cls[j] == cls[i]:
                inter = polys[i].intersection(polys[j]).area
                union = polys[i].area + polys[j].area - inter
                if union > 0 and inter / union > iou_threshold:
                    alive[j] = False
    return np.asarray(kept, int)
