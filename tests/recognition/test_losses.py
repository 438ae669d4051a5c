"""Triplet losses against a numpy reference written from the definitions, and golden values."""

import itertools
import math

import numpy as np
import pytest

from tfdet.recognition import losses

LABELS = np.array([0, 0, 1, 1, 2, 2, 2])
EMB = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [0.5, 2.0], [3.0, 0.0], [3.0, 1.0], [2.0, 0.5]], np.float32)


def dist(a, b):
    return float(np.sqrt(((a - b) ** 2).sum()))


def term(diff, margin):
    return math.log1p(math.exp(diff)) if margin == "soft" else max(diff + margin, 0.0)


def reference_batch_all(labels, emb, margin):
    values = []
    for a, p, n in itertools.product(range(len(labels)), repeat=3):
        if a != p and labels[a] == labels[p] and labels[n] != labels[a]:
            values.append(term(dist(emb[a], emb[p]) - dist(emb[a], emb[n]), margin))
    values = np.array(values)
    if margin == "soft":
        return values.mean()
    return values.sum() / max((values > 1e-16).sum(), 1)


def reference_batch_hard(labels, emb, margin):
    values = []
    for a in range(len(labels)):
        pos = [dist(emb[a], emb[p]) for p in range(len(labels)) if p != a and labels[p] == labels[a]]
        neg = [dist(emb[a], emb[n]) for n in range(len(labels)) if labels[n] != labels[a]]
        if pos and neg:
            values.append(term(max(pos) - min(neg), margin))
    return np.mean(values)


@pytest.mark.parametrize("margin", ["soft", 0.2, 1.5])
def test_batch_all_equals_reference(margin):
    loss, _ = losses.batch_all_triplet_loss(LABELS, EMB, margin)
    assert float(loss) == pytest.approx(reference_batch_all(LABELS, EMB, margin), rel=1e-5)


@pytest.mark.parametrize("margin", ["soft", 0.2, 1.5])
def test_batch_hard_equals_reference(margin):
    loss, _ = losses.batch_hard_triplet_loss(LABELS, EMB, margin)
    assert float(loss) == pytest.approx(reference_batch_hard(LABELS, EMB, margin), rel=1e-5)


def test_soft_margin_golden_value():
    # anchor (0,0), positive (3,4) at distance 5, negative (1,0) at distance 1: log(1 + e^4)
    labels = np.array([0, 0, 1])
    emb = np.array([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]], np.float32)
    loss, active = losses.batch_hard_triplet_loss(labels[:3], emb, "soft")
    # anchors: 0 -> d(0,1)=5, d(0,2)=1: log(1+e^4); 1 -> d=5 vs d(1,2)=sqrt(20): log(1+e^(5-sqrt20)); 2 has no positive
    expected = (math.log(1 + math.exp(4.0)) + math.log(1 + math.exp(5 - math.sqrt(20)))) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-6) and float(active) == 1.0
    assert float(losses.batch_hard_triplet_loss(labels, emb, 1.0)[0]) == pytest.approx((5.0 + (5 - math.sqrt(20) + 1)) / 2, rel=1e-6)


def test_distances_and_gradients_at_zero():
    import tensorflow as tf

    emb = tf.constant([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    with tf.GradientTape() as tape:
        tape.watch(emb)
        d = losses.pairwise_distances(emb)
        loss = losses.batch_hard_triplet_loss(tf.constant([0, 0, 1]), emb, "soft")[0]
    np.testing.assert_allclose(d.numpy(), [[0, 0, math.sqrt(2)], [0, 0, math.sqrt(2)], [math.sqrt(2), math.sqrt(2), 0]], atol=1e-6)
    assert np.isfinite(tape.gradient(loss, emb).numpy()).all()


def test_no_valid_triplet_gives_zero():
    loss, active = losses.batch_all_triplet_loss(np.array([0, 1, 2]), EMB[:3], "soft")
    assert float(loss) == 0.0 and float(active) == 0.0


def test_margin_parsing():
    assert losses.parse_margin("soft") == "soft" and losses.parse_margin("0.3") == 0.3
    for bad in ("-1", "0", "wide"):
        with pytest.raises(ValueError):
            losses.parse_margin(bad)
