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
        iou = quad_ops.box_iou_yxyx(anchors, gt_boxes)  # [A, N]
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
        ioa = quad_ops.box_ioa_yxyx(anchors, gt_boxes)
        ioa = tf.where(gt_difficult[None, :], ioa, tf.zeros_like(ioa))
        over_dc = tf.reduce_max(ioa, axis=1) > config.dont_care_overlap
        cls = tf.where(over_dc & (cls <= 0), tf.fill(tf.shape(cls), IGNORE), cls)
        return cls, matched

    def without_gt():
        return tf.zeros([num_anchors], tf.int32), tf.zeros([num_anchors], tf.int32)

    return tf.cond(num_gt > 0, with_gt, without_gt)
