import numpy as np
import pytest
import tensorflow as tf

from tfdet import geometry
from tfdet.postprocess import quad_nms, reference_quad_nms


def random_quads(rng, n, spread=300):
    out = []
    for _ in range(n):
        c = rng.uniform(0, spread, 2)
        w, h = rng.uniform(5, 60, 2)
        a = rng.uniform(-0.6, 0.6)
        pts = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        out.append(geometry.order_quad(pts @ rot.T + c + rng.normal(0, 3, (4, 2))))
    return np.array(out)


@pytest.mark.parametrize("seed,n,iou", [(0, 60, 0.3), (1, 400, 0.5), (2, 800, 0.1)])
def test_quad_nms_matches_shapely_reference(seed, n, iou):
    rng = np.random.default_rng(seed)
    quads, scores = random_quads(rng, n), rng.random(n)
    got = tf.function(lambda q, s: quad_nms(q, s, iou, 300))(tf.constant(quads, tf.float32), tf.constant(scores, tf.float32))
    np.testing.assert_array_equal(got.numpy(), reference_quad_nms(quads, scores, iou, 300))


def test_non_convex_and_class_aware():
    # a non-convex quad (arrow head) is treated as its convex hull
    arrow = np.array([[0, 0], [10, 5], [20, 0], [10, 20]], float)
    hull = np.array([[0, 0], [20, 0], [10, 20], [10, 20]], float)
    quads = np.stack([arrow, hull])
    keep = quad_nms(quads, [0.9, 0.8], 0.5, 10).numpy()
    assert keep.tolist() == [0]
    keep = quad_nms(quads, [0.9, 0.8], 0.5, 10, classes=tf.constant([1, 2])).numpy()
    assert sorted(keep.tolist()) == [0, 1]
    assert quad_nms(np.zeros((0, 4, 2)), np.zeros(0), 0.5, 10).numpy().tolist() == []


def test_bowties_suppress_by_their_convex_hull():
    # a bow-tie whose lobes cancel (shoelace area 0) over the 100 x 20 box: its hull is the box, IoU 1
    box = np.array([[0, 0], [100, 0], [100, 20], [0, 20]], float)
    bowtie = np.array([[0, 0], [100, 0], [0, 20], [100, 20]], float)
    for quads in (np.stack([bowtie, box]), np.stack([box, bowtie])):
        assert quad_nms(quads, [0.9, 0.8], 0.9, 10).numpy().tolist() == [0]
        assert reference_quad_nms(quads, [0.9, 0.8], 0.9, 10).tolist() == [0]
    # half the box (x 50..100) against the bow-tie: hull IoU 1000 / 2000 = 0.5 (a lobe sum would give 500 / 1500)
    half = np.array([[50, 0], [100, 0], [100, 20], [50, 20]], float)
    assert quad_nms(np.stack([bowtie, half]), [0.9, 0.8], 0.45, 10).numpy().tolist() == [0]
    assert sorted(quad_nms(np.stack([bowtie, half]), [0.9, 0.8], 0.55, 10).numpy().tolist()) == [0, 1]


def test_detect_one_outputs_canonical_quads():
    """Decoded vertices that cross or run counter-clockwise come out ordered (they used to be
    passed on as decoded, and the evaluation runner then dropped them)."""
    from tfdet.anchors.coder import BoxCoder
    from tfdet.postprocess import PostprocessConfig, detect_one

    coder = BoxCoder()
    anchors = tf.constant([[0, 0, 20, 100], [100, 0, 120, 100], [200, 0, 220, 100]], tf.float32)  # yxyx
    decoded = np.array([[[0, 0], [100, 0], [0, 20], [100, 20]],  # bow-tie
                        [[0, 100], [0, 120], [100, 120], [100, 100]],  # counter-clockwise
                        [[100, 220], [0, 220], [0, 200], [100, 200]]], np.float32)  # clockwise, starting bottom-right
    offsets = coder.encode(tf.constant(decoded), anchors)
    logits = tf.constant([[3.0], [2.0], [1.0]])
    quads, _, scores, _ = detect_one(logits, offsets, anchors, coder, PostprocessConfig(score_threshold=0.05))
    assert scores.numpy().tolist() == pytest.approx(tf.sigmoid(logits[:, 0]).numpy().tolist())
    np.testing.assert_allclose(quads.numpy(), [[[0, 0], [100, 0], [100, 20], [0, 20]],
                                               [[0, 100], [100, 100], [100, 120], [0, 120]],
                                               [[0, 200], [100, 200], [100, 220], [0, 220]]], atol=1e-3)
