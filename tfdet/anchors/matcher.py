"""Anchor assignment: IoU >= positive threshold, < negative threshold, ignore band, forced
best anchor per ground truth, and don't-care regions ignored rather than negative."""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from tfdet.ops import quads as quad_ops

IGNORE = -1
BACKGROUND = 0


@dataclasses.dataclass(frozen=True)
class MatcherConfig:
    positive_iou: float = 0.5
    negative_iou: float = 0.4
    dont_care_overlap: float = 0.5  # intersection over anchor area
    force_match: bool = True

    def __post_init__(self):
        if not 0 < self.negative_iou <= self.positive_iou <= 1:
            raise ValueError(f"need 0 < negative_iou <= positive_iou <= 1, got {self.negative_iou}, {self.positive_iou}")


def assign(anchors, gt_boxes, gt_labels, gt_difficult, config: MatcherConfig = MatcherConfig()):
    """Assign ground truth to anchors (one image).

    anchors [A, 4], gt_boxes [N, 4] yxyx, gt_labels [N] (1-based), gt_difficult [N] bool.
    Returns (cls_targets [A] int32: label, 0 background, -1 ignore; matched_gt [A] int32).
    """
    gt_difficult = tf.cast(gt_difficult, tf.bool)
    care = tf.logical_not(gt_difficult)
    num_anchors = tf.shape(anchors)[0]
    num_gt = tf.shape(gt_boxes)[0]

    def with_gt():
        iou, ioa = quad_ops.box_iou_and_ioa_yxyx(anchors, gt_boxes)  # [A, N] each
        iou = tf.where(care[None, :], iou, -tf.ones_like(iou))
        best_iou = tf.reduce_max(iou, axis=1)
        best_gt = tf.argmax(iou, axis=1, output_type=tf.int32)
        labels = tf.gather(tf.cast(gt_labels, tf.int32), best_gt)
        cls = tf.where(best_iou >= config.positive_iou, labels,
                       tf.where(best_iou < config.negative_iou, tf.zeros_like(labels), tf.fill(tf.shape(labels), IGNORE)))
        matched = best_gt
        if config.force_match:
            # each care ground truth gets its best anchor (ties: the first), if it overlaps at all
            gt_best_anchor = tf.argmax(iou, axis=0, output_type=tf.int32)  # [N]
            gt_best_iou = tf.reduce_max(iou, axis=0)
            ok = care & (gt_best_iou > 0)
            idx = tf.boolean_mask(gt_best_anchor, ok)
            gt_idx = tf.boolean_mask(tf.range(num_gt, dtype=tf.int32), ok)
            cls = tf.tensor_scatter_nd_update(cls, idx[:, None], tf.gather(tf.cast(gt_labels, tf.int32), gt_idx))
            matched = tf.tensor_scatter_nd_update(matched, idx[:, None], gt_idx)
        # don't-care regions: anchors mostly inside one are ignored unless positive
        def ignore_dont_care():
            dc_ioa = tf.where(gt_difficult[None, :], ioa, tf.zeros_like(ioa))
            over_dc = tf.reduce_max(dc_ioa, axis=1) > config.dont_care_overlap
            return tf.where(over_dc & (cls <= 0), tf.fill(tf.shape(cls), IGNORE), cls)

        cls = tf.cond(tf.reduce_any(gt_difficult), ignore_dont_care, lambda: cls)
        return cls, matched

    def without_gt():
        return tf.zeros([num_anchors], tf.int32), tf.zeros([num_anchors], tf.int32)

    return tf.cond(num_gt > 0, with_gt, without_gt)


def grid_overlaps(anchor_config, height: int, width: int, boxes, want_ioa: bool = False):
    """IoU (or intersection over anchor area) of every grid anchor with every box, gt-major [N, A].

    Anchors of one level form a grid, so the intersection of a box with an anchor of shape k at
    (y, x) is (overlap in y of row y) * (overlap in x of column x): an outer product of two
    small tensors instead of a dense pairwise computation. Same order as generate_anchors.
    """
    from tfdet.anchors.generator import anchor_shapes

    boxes = tf.convert_to_tensor(boxes, tf.float32)
    ymin, xmin, ymax, xmax = (boxes[:, i][:, None, None] for i in range(4))  # [N, 1, 1]
    box_area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[:, None, None, None]
    out = []
    for level, shapes in zip(anchor_config.levels, anchor_shapes(anchor_config)):
        stride = 2 ** level
        fh, fw = height // stride, width // stride
        w = tf.constant(shapes[:, 0])[None, None, :]  # [1, 1, k]
        h = tf.constant(shapes[:, 1])[None, None, :]
        cy = ((tf.range(fh, dtype=tf.float32) + 0.5) * stride)[None, :, None]  # [1, fh, 1]
        cx = ((tf.range(fw, dtype=tf.float32) + 0.5) * stride)[None, :, None]
        ih = tf.maximum(tf.minimum(ymax, cy + h / 2) - tf.maximum(ymin, cy - h / 2), 0.0)  # [N, fh, k]
        iw = tf.maximum(tf.minimum(xmax, cx + w / 2) - tf.maximum(xmin, cx - w / 2), 0.0)  # [N, fw, k]
        inter = ih[:, :, None, :] * iw[:, None, :, :]  # [N, fh, fw, k]
        anchor_area = (w * h)[:, :, None, :]
        if want_ioa:
            value = inter / anchor_area
        else:
            union = anchor_area + box_area - inter
            value = inter / tf.maximum(union, 1e-9)
        out.append(tf.reshape(value, [tf.shape(boxes)[0], -1]))
    return tf.concat(out, axis=1)


def assign_grid(anchor_config, height: int, width: int, gt_boxes, gt_labels, gt_difficult,
                config: MatcherConfig = MatcherConfig()):
    """`assign` for the anchors of `generate_anchors(anchor_config, height, width)`, faster:
    care boxes get IoU only, don't-care boxes intersection-over-anchor only (grid_overlaps)."""
    gt_boxes = tf.convert_to_tensor(gt_boxes, tf.float32)
    gt_labels = tf.cast(gt_labels, tf.int32)
    gt_difficult = tf.cast(gt_difficult, tf.bool)
    num_anchors = anchor_config.num_anchors(height, width)
    care_index = tf.cast(tf.where(tf.logical_not(gt_difficult))[:, 0], tf.int32)
    care_boxes = tf.gather(gt_boxes, care_index)
    num_care = tf.shape(care_index)[0]

    def with_care():
        iou = grid_overlaps(anchor_config, height, width, care_boxes)  # [Nc, A]
        best_iou = tf.reduce_max(iou, axis=0)
        best = tf.argmax(iou, axis=0, output_type=tf.int32)
        matched = tf.gather(care_index, best)
        labels = tf.gather(gt_labels, matched)
        cls = tf.where(best_iou >= config.positive_iou, labels,
                       tf.where(best_iou < config.negative_iou, tf.zeros_like(labels), tf.fill(tf.shape(labels), IGNORE)))
        if config.force_match:
            gt_best_anchor = tf.argmax(iou, axis=1, output_type=tf.int32)  # [Nc]
            ok = tf.reduce_max(iou, axis=1) > 0
            idx = tf.boolean_mask(gt_best_anchor, ok)
            gt_idx = tf.boolean_mask(care_index, ok)
            cls = tf.tensor_scatter_nd_update(cls, idx[:, None], tf.gather(gt_labels, gt_idx))
            matched = tf.tensor_scatter_nd_update(matched, idx[:, None], gt_idx)
        return cls, matched

    def without_care():
        return tf.zeros([num_anchors], tf.int32), tf.zeros([num_anchors], tf.int32)

    cls, matched = tf.cond(num_care > 0, with_care, without_care)
    dc_boxes = tf.boolean_mask(gt_boxes, gt_difficult)

    def ignore_dont_care():
        ioa = grid_overlaps(anchor_config, height, width, dc_boxes, want_ioa=True)
        over = tf.reduce_max(ioa, axis=0) > config.dont_care_overlap
        return tf.where(over & (cls <= 0), tf.fill(tf.shape(cls), IGNORE), cls)

    cls = tf.cond(tf.shape(dc_boxes)[0] > 0, ignore_dont_care, lambda: cls)
    return cls, matched
