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
