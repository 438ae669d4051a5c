"""Sigmoid focal loss + smooth L1 on positives (and OHEM softmax for comparison).

Targets (tfdet.input.pipeline.train_dataset): cls_targets [B, A] int32 (label >= 1 positive,
0 background, -1 ignore), box_indices [B, P] int32 (positive anchors, -1 padding) and
box_targets [B, P, L] (their encoded quads). Every loss is a *sum* over the local batch divided by
`normalizer`, the number of positive anchors summed over all replicas, so that
summing gradients across replicas gives the global-batch loss.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class LossConfig:
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    box_weight: float = 1.0
    smooth_l1_beta: float = 1.0
    classification_loss: str = "focal"
    ohem_negative_ratio: float = 3.0


def sigmoid_focal_loss_sum(logits, cls_targets, num_classes: int, alpha: float, gamma: float):
    """Sum of the focal loss over non-ignored anchors and all classes."""
    logits = tf.cast(logits, tf.float32)
    valid = tf.cast(cls_targets >= 0, tf.float32)
    onehot = tf.one_hot(tf.maximum(cls_targets, 0) - 1, num_classes, dtype=tf.float32)  # label 0 -> all zeros
    p = tf.sigmoid(logits)
    ce = tf.nn.sigmoid_cross_entropy_with_logits(labels=onehot, logits=logits)
    p_t = onehot * p + (1 - onehot) * (1 - p)
    alpha_t = onehot * alpha + (1 - onehot) * (1 - alpha)
    loss = alpha_t * tf.pow(1.0 - p_t, gamma) * ce
    return tf.reduce_sum(loss * valid[..., None])


def smooth_l1_sum(pred, box_indices, box_targets, beta: float):
    """Smooth L1 between the predictions [B, A, L] at the listed anchors [B, P] (-1 = padding)
    and their targets [B, P, L]."""
    valid = box_indices >= 0
    pred = tf.gather(tf.cast(pred, tf.float32), tf.maximum(box_indices, 0), batch_dims=1)
    diff = tf.abs(pred - box_targets)
    loss = tf.where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta)
    return tf.reduce_sum(tf.where(valid[..., None], loss, 0.0))


def ohem_softmax_sum(logits, cls_targets, ratio: float):
    """Softmax CE over background + classes with 3:1 hard negatives per image."""
    logits = tf.cast(logits, tf.float32)
    labels = tf.maximum(cls_targets, 0)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    positive = cls_targets > 0
    negative = tf.equal(cls_targets, 0)
    num_pos = tf.reduce_sum(tf.cast(positive, tf.int32), axis=1)
    num_neg = tf.minimum(tf.cast(tf.cast(tf.maximum(num_pos, 1), tf.float32) * ratio, tf.int32),
                         tf.reduce_sum(tf.cast(negative, tf.int32), axis=1))
    neg_loss = tf.where(negative, ce, tf.zeros_like(ce))
    sorted_neg = tf.sort(neg_loss, axis=1, direction="DESCENDING")
    kth = tf.gather(sorted_neg, tf.maximum(num_neg - 1, 0), axis=1, batch_dims=1)
    hard = negative & (neg_loss >= kth[:, None]) & (num_neg[:, None] > 0)
    return tf.reduce_sum(tf.where(positive | hard, ce, tf.zeros_like(ce)))


def detection_losses(outputs, targets, num_classes: int, config: LossConfig, normalizer):
    """-> dict(cls_loss, box_loss, total_loss, num_positives (local))."""
    cls_targets = targets["cls_targets"]
    positive = cls_targets > 0
    normalizer = tf.maximum(tf.cast(normalizer, tf.float32), 1.0)
    if config.classification_loss == "ohem":
        cls_sum = ohem_softmax_sum(outputs["cls_logits"], cls_targets, config.ohem_negative_ratio)
    else:
        cls_sum = sigmoid_focal_loss_sum(outputs["cls_logits"], cls_targets, num_classes, config.focal_alpha, config.focal_gamma)
    box_sum = smooth_l1_sum(outputs["box_regression"], targets["box_indices"], targets["box_targets"], config.smooth_l1_beta)
    cls_loss = cls_sum / normalizer
    box_loss = config.box_weight * box_sum / normalizer
    return {
        "cls_loss": cls_loss,
        "box_loss": box_loss,
        "total_loss": cls_loss + box_loss,
        "num_positives": tf.reduce_sum(tf.cast(positive, tf.float32)),
    }
