"""Quad geometry in core TF ops (no custom ops, no numpy): usable in tf.data and SavedModels.

Quads are [..., 4, 2] float tensors (x, y) in pixels.
"""

from __future__ import annotations

import tensorflow as tf


def signed_area(quads):
    """Shoelace area; positive = clockwise on screen (y down)."""
    x, y = quads[..., 0], quads[..., 1]
    xn, yn = tf.roll(x, -1, axis=-1), tf.roll(y, -1, axis=-1)
    return 0.5 * tf.reduce_sum(x * yn - xn * y, axis=-1)


def _cross3(o, a, b):
    return (a[..., 0] - o[..., 0]) * (b[..., 1] - o[..., 1]) - (a[..., 1] - o[..., 1]) * (b[..., 0] - o[..., 0])


def self_intersecting(quads):
    """[..., 4, 2] -> [...] bool, TF twin of `tfdet.geometry.self_intersecting` (bow-ties)."""

    def crosses(p1, p2, p3, p4):
        return (_cross3(p3, p4, p1) * _cross3(p3, p4, p2) < 0) & (_cross3(p1, p2, p3) * _cross3(p1, p2, p4) < 0)

    p0, p1, p2, p3 = quads[..., 0, :], quads[..., 1, :], quads[..., 2, :], quads[..., 3, :]
    return crosses(p0, p1, p2, p3) | crosses(p1, p2, p3, p0)


def _sort_by_angle(quads):
    """Vertices sorted clockwise on screen around their centroid (TF twin of `geometry.sort_by_angle`)."""
    center = tf.reduce_mean(quads, axis=-2, keepdims=True)
    angles = tf.atan2(quads[..., 1] - center[..., 1], quads[..., 0] - center[..., 0])
    return tf.gather(quads, tf.argsort(angles, axis=-1, stable=True), axis=-2, batch_dims=len(quads.shape) - 2)


def order_quads(quads):
    """TF twin of `tfdet.geometry.order_quad`: clockwise, start nearest the box's top-left.

    A self-intersecting quad (bow-tie, as a detector's independently decoded
    vertices can form) is first repaired by sorting its vertices by angle around
    their centroid; counter-clockwise quads are reversed.
    """
    quads = tf.convert_to_tensor(quads, tf.float32)
    batch_dims = len(quads.shape) - 2
    quads = tf.where(self_intersecting(quads)[..., None, None], _sort_by_angle(quads), quads)
    reversed_quads = tf.reverse(quads, axis=[-2])
    quads = tf.where((signed_area(quads) < 0)[..., None, None], reversed_quads, quads)
    top_left = tf.reduce_min(quads, axis=-2, keepdims=True)
    dist = tf.reduce_sum(tf.square(quads - top_left), axis=-1)
    start = tf.argmin(dist, axis=-1, output_type=tf.int32)
    idx = (start[..., None] + tf.range(4, dtype=tf.int32)) % 4
    return tf.gather(quads, idx, axis=-2, batch_dims=batch_dims)


def quads_to_boxes_yxyx(quads):
    mins = tf.reduce_min(quads, axis=-2)
    maxs = tf.reduce_max(quads, axis=-2)
    return tf.stack([mins[..., 1], mins[..., 0], maxs[..., 1], maxs[..., 0]], axis=-1)


def boxes_yxyx_to_quads(boxes):
    ymin, xmin, ymax, xmax = tf.unstack(boxes, axis=-1)
    return tf.stack([tf.stack([xmin, ymin], -1), tf.stack([xmax, ymin], -1),
                     tf.stack([xmax, ymax], -1), tf.stack([xmin, ymax], -1)], axis=-2)


def convexify(quads):
    """Documented rule for non-convex and self-intersecting quads: use their convex hull.

    Vertices are sorted clockwise by angle around the centroid; a vertex that
    lies inside the triangle of the other three (a reflex vertex) is replaced
    by its predecessor, which leaves a degenerate (triangle) but convex quad.
    Convex input comes back unchanged up to the start vertex.
    """
    q = _sort_by_angle(tf.convert_to_tensor(quads, tf.float32))
    prev = tf.roll(q, 1, axis=-2)
    nxt = tf.roll(q, -1, axis=-2)
    cross = _cross3(prev, q, nxt)
    # clockwise on screen (positive shoelace): a convex vertex has cross(q - prev, next - q) > 0
    reflex = cross < 0
    return tf.where(reflex[..., None], prev, q)


def _cross2(a, b):
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def convex_intersection_area(p, q, eps: float = 1e-9):
    """Exact intersection area of convex quads p and q ([..., 4, 2] each, clockwise on screen, broadcastable).

    The intersection polygon is the convex hull of: vertices of p inside q,
    vertices of q inside p, and the edge-edge intersection points. Those (at
    most 24) candidates are sorted by angle around their mean and summed with
    the shoelace formula; invalid candidates are replaced by the first valid
    one, which adds zero area.
    """
    p = tf.convert_to_tensor(p, tf.float32)
    q = tf.convert_to_tensor(q, tf.float32)
    shape = tf.broadcast_dynamic_shape(tf.shape(p), tf.shape(q))
    p = tf.broadcast_to(p, shape)
    q = tf.broadcast_to(q, shape)

    def inside(points, poly):
        # points [..., K, 2], poly [..., 4, 2] clockwise-on-screen: inside when cross(edge, pt - start) >= 0
        a = poly[..., None, :, :]  # [..., 1, 4, 2]
        b = tf.roll(poly, -1, axis=-2)[..., None, :, :]
        pt = points[..., :, None, :]  # [..., K, 1, 2]
        c = _cross2(b - a, pt - a)
        scale = tf.reduce_max(tf.abs(poly), axis=[-1, -2])[..., None, None] + 1.0
        return tf.reduce_all(c >= -1e-6 * scale * scale, axis=-1)

    p_in_q = inside(p, q)  # [..., 4]
    q_in_p = inside(q, p)
    # edge-edge intersections: p edge i (a->b) with q edge j (c->d)
    a = p[..., :, None, :]
    b = tf.roll(p, -1, axis=-2)[..., :, None, :]
    c = q[..., None, :, :]
    d = tf.roll(q, -1, axis=-2)[..., None, :, :]
    r = b - a
    s = d - c
    denom = _cross2(r, s)
    safe = tf.where(tf.abs(denom) < eps, tf.ones_like(denom), denom)
    t = _cross2(c - a, s) / safe
    u = _cross2(c - a, r) / safe
    valid_edges = (tf.abs(denom) >= eps) & (t >= 0.0) & (t <= 1.0) & (u >= 0.0) & (u <= 1.0)
    points_e = a + t[..., None] * r  # [..., 4, 4, 2]
    batch_shape = tf.shape(p)[:-2]
    points_e = tf.reshape(points_e, tf.concat([batch_shape, [16, 2]], 0))
    valid_edges = tf.reshape(valid_edges, tf.concat([batch_shape, [16]], 0))
    points = tf.concat([p, q, points_e], axis=-2)  # [..., 24, 2]
    valid = tf.concat([p_in_q, q_in_p, valid_edges], axis=-1)
    validf = tf.cast(valid, tf.float32)
    count = tf.reduce_sum(validf, axis=-1, keepdims=True)
    center = tf.reduce_sum(points * validf[..., None], axis=-2) / tf.maximum(count, 1.0)
    rel = points - center[..., None, :]
    angles = tf.atan2(rel[..., 1], rel[..., 0])
    angles = tf.where(valid, angles, tf.fill(tf.shape(angles), 10.0))
    order = tf.argsort(angles, axis=-1, stable=True)
    nb = len(p.shape) - 2
    sorted_pts = tf.gather(points, order, axis=-2, batch_dims=nb)
    sorted_valid = tf.gather(valid, order, axis=-1, batch_dims=nb)
    first = sorted_pts[..., :1, :]
    sorted_pts = tf.where(sorted_valid[..., None], sorted_pts, first)
    x, y = sorted_pts[..., 0], sorted_pts[..., 1]
    area = 0.5 * tf.abs(tf.reduce_sum(x * tf.roll(y, -1, axis=-1) - tf.roll(x, -1, axis=-1) * y, axis=-1))
    return tf.where(count[..., 0] >= 3.0, area, tf.zeros_like(area))


def _pairwise_intersection(boxes1, boxes2):
    """Intersection areas [N, M] of two sets of yxyx boxes, and the areas of each set."""
    b1 = boxes1[:, None, :]
    b2 = boxes2[None, :, :]
    ih = tf.maximum(tf.minimum(b1[..., 2], b2[..., 2]) - tf.maximum(b1[..., 0], b2[..., 0]), 0.0)
    iw = tf.maximum(tf.minimum(b1[..., 3], b2[..., 3]) - tf.maximum(b1[..., 1], b2[..., 1]), 0.0)
    a1 = (b1[..., 2] - b1[..., 0]) * (b1[..., 3] - b1[..., 1])
    a2 = (b2[..., 2] - b2[..., 0]) * (b2[..., 3] - b2[..., 1])
    return ih * iw, a1, a2


def box_iou_and_ioa_yxyx(boxes1, boxes2):
    """(IoU [N, M], intersection over the first box's area [N, M]) from one intersection."""
    inter, a1, a2 = _pairwise_intersection(boxes1, boxes2)
    union = a1 + a2 - inter
    iou = tf.where(union > 0, inter / tf.maximum(union, 1e-9), tf.zeros_like(union))
    return iou, inter / tf.maximum(a1, 1e-9)
