"""Triplet losses on a K x P batch (Hermans, Beyer and Leibe 2017), in TF ops.

Distances are Euclidean. Per triplet (anchor a, positive p of a's class, negative n of another
class) the loss is `soft`: log(1 + exp(d(a, p) - d(a, n))), or with a fixed margin m:
max(d(a, p) - d(a, n) + m, 0).

- batch_all: every valid triplet of the batch. With a fixed margin the sum is divided by the
  number of triplets whose loss is non-zero (averaging over all would drown the few informative
  ones as training progresses); with the soft margin, by the number of valid triplets.
- batch_hard: for each anchor, its farthest positive and nearest negative; the mean over anchors
  that have both.
"""

from __future__ import annotations

import tensorflow as tf

SOFT = "soft"


def pairwise_distances(embeddings):
    """[N, D] -> [N, N] Euclidean distances (zero on the diagonal, gradient-safe at zero)."""
    e = tf.cast(embeddings, tf.float32)
    sq = tf.reduce_sum(tf.square(e), -1)
    d2 = tf.maximum(sq[:, None] - 2.0 * tf.matmul(e, e, transpose_b=True) + sq[None, :], 0.0)
    zero = tf.cast(tf.equal(d2, 0.0), tf.float32)
    d = tf.sqrt(d2 + zero * 1e-16) * (1.0 - zero)
    return d * (1.0 - tf.eye(tf.shape(e)[0]))


def _masks(labels):
    labels = tf.reshape(labels, [-1])
    same = tf.equal(labels[:, None], labels[None, :])
    not_self = tf.logical_not(tf.eye(tf.shape(labels)[0], dtype=tf.bool))
    return same & not_self, tf.logical_not(same)


def _triplet_term(difference, margin):
    """difference = d(a, p) - d(a, n)."""
    if margin == SOFT:
        return tf.nn.softplus(difference)
    return tf.maximum(difference + float(margin), 0.0)


def batch_all_triplet_loss(labels, embeddings, margin=SOFT):
    """-> (loss, share of valid triplets with a non-zero loss)."""
    d = pairwise_distances(embeddings)
    positive, negative = _masks(labels)
    valid = positive[:, :, None] & negative[:, None, :]  # [a, p, n]
    terms = _triplet_term(d[:, :, None] - d[:, None, :], margin)
    valid_f = tf.cast(valid, tf.float32)
    terms = terms * valid_f
    num_valid = tf.reduce_sum(valid_f)
    active = tf.reduce_sum(tf.cast(terms > 1e-16, tf.float32))
    denominator = num_valid if margin == SOFT else active
    loss = tf.reduce_sum(terms) / tf.maximum(denominator, 1.0)
    return loss, active / tf.maximum(num_valid, 1.0)


def batch_hard_triplet_loss(labels, embeddings, margin=SOFT):
    """-> (loss, share of anchors with a non-zero loss)."""
    d = pairwise_distances(embeddings)
    positive, negative = _masks(labels)
    hardest_positive = tf.reduce_max(tf.where(positive, d, -1.0), axis=1)
    big = tf.reduce_max(d) + 1.0
    hardest_negative = tf.reduce_min(tf.where(negative, d, big), axis=1)
    valid = tf.reduce_any(positive, 1) & tf.reduce_any(negative, 1)
    valid_f = tf.cast(valid, tf.float32)
    terms = _triplet_term(hardest_positive - hardest_negative, margin) * valid_f
    num_valid = tf.reduce_sum(valid_f)
    active = tf.reduce_sum(tf.cast(terms > 1e-16, tf.float32))
    return tf.reduce_sum(terms) / tf.maximum(num_valid, 1.0), active / tf.maximum(num_valid, 1.0)


def parse_margin(text):
    """'soft' -> SOFT; '0.2' -> 0.2 (a fixed margin must be positive)."""
    text = str(text).strip().lower()
    if text == SOFT:
        return SOFT
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"triplet margin must be 'soft' or a positive number, not {text!r}") from None
    if value <= 0:
        raise ValueError(f"a fixed triplet margin must be positive, not {value}")
    return value
