"""TF quad ops against their numpy twins in tfdet.geometry."""

import numpy as np
import pytest
import tensorflow as tf

from tfdet import geometry
from tfdet.ops import quads as quad_ops


def test_order_quads_repairs_bowties_like_order_quad():
    rng = np.random.default_rng(0)
    quads = rng.uniform(0, 100, (500, 4, 2)).round(1)  # about a third of random quads are bow-ties
    crossing = geometry.self_intersecting(quads)
    assert 100 < crossing.sum() < 400
    np.testing.assert_array_equal(quad_ops.self_intersecting(tf.constant(quads, tf.float32)).numpy(), crossing)
    got = quad_ops.order_quads(quads).numpy()
    want = np.stack([geometry.order_quad(q) for q in quads])
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert not geometry.self_intersecting(got).any()
    assert all(geometry.signed_area(q) >= 0 for q in got)


def test_order_quads_golden_bowtie():
    # the crossed quad (0,0) (100,0) (0,20) (100,20) becomes the 100 x 20 box, clockwise from the top-left
    out = quad_ops.order_quads([[[100, 20], [0, 0], [100, 0], [0, 20]]]).numpy()
    np.testing.assert_allclose(out[0], [[0, 0], [100, 0], [100, 20], [0, 20]])
    assert geometry.signed_area(out[0]) == pytest.approx(2000)
