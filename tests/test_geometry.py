import numpy as np
import pytest

from tfdet import geometry


def test_order_quad_golden():
    # counter-clockwise input starting bottom-right -> clockwise from top-left
    ccw = [[10, 10], [10, 0], [0, 0], [0, 10]]
    np.testing.assert_allclose(geometry.order_quad(ccw), [[0, 0], [10, 0], [10, 10], [0, 10]])
    # clockwise but rotated start
    np.testing.assert_allclose(geometry.order_quad([[10, 10], [0, 10], [0, 0], [10, 0]]), [[0, 0], [10, 0], [10, 10], [0, 10]])


def test_order_quad_rotated_text_starts_nearest_box_top_left():
    # a quad rotated by ~30 degrees: the vertex nearest (xmin, ymin) comes first
    quad = np.array([[0, 5], [8.66, 0], [13.66, 8.66], [5, 13.66]])
    out = geometry.order_quad(quad[[2, 1, 0, 3]])
    np.testing.assert_allclose(out[0], [0, 5])
    assert geometry.signed_area(out) > 0


def test_bow_tie_is_repaired():
    bow = [[0, 0], [10, 10], [10, 0], [0, 10]]
    assert geometry.is_self_intersecting(np.array(bow, float))
    out = geometry.order_quad(bow)
    assert not geometry.is_self_intersecting(out)
    assert geometry.signed_area(out) == pytest.approx(100)


def test_validate_quad_drops_degenerate_and_clips():
    assert geometry.validate_quad([[0, 0], [5, 0], [10, 0], [3, 0]], 100, 100).quad is None
    check = geometry.validate_quad([[-5, -5], [50, -5], [50, 20], [-5, 20]], 40, 40)
    assert check.clipped and check.quad.min() == 0 and check.quad[:, 0].max() == 40
    assert geometry.validate_quad([[200, 200], [300, 200], [300, 300], [200, 300]], 100, 100).quad is None
    assert geometry.validate_quad([[0, 0], [np.nan, 0], [1, 1], [0, 1]], 10, 10).reason == "non-finite coordinate"


def test_self_intersecting_vectorised():
    box = [[0, 0], [10, 0], [10, 10], [0, 10]]
    crossed_02 = [[0, 0], [10, 10], [10, 0], [0, 10]]  # edges 0 and 2 cross
    crossed_13 = [[0, 0], [10, 0], [0, 10], [10, 10]]  # edges 1 and 3 cross
    touching = [[0, 0], [10, 0], [5, 0], [5, 5]]  # collinear overlap: not a proper crossing
    got = geometry.self_intersecting(np.array([[box, crossed_02], [crossed_13, touching]], float))
    assert got.tolist() == [[False, True], [True, False]]
