"""Quad geometry in numpy: the single ordering function and validation.

A quad is a (4, 2) array of (x, y) points in pixels. The canonical order
(DESIGN.md) is clockwise on screen (y grows downward), starting at the vertex
nearest the top-left corner of the quad's axis-aligned box. `order_quad` is the
only function that establishes that order; every reader, the input pipeline and
post-processing call it (the graphs through its TF twin in `tfdet.ops.quads`),
and the evaluation runner calls it again after rounding to integer pixels.
"""

from __future__ import annotations

import dataclasses

import numpy as np

MIN_QUAD_AREA = 1.0  # px^2: anything smaller is degenerate


def signed_area(quad: np.ndarray) -> float:
    """Shoelace sum / 2. Positive means clockwise on screen (y down)."""
    x, y = quad[:, 0], quad[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def self_intersecting(quads) -> np.ndarray:
    """[..., 4, 2] -> [...] bool: does edge 0 properly cross edge 2, or edge 1 edge 3 (a bow-tie)?"""
    q = np.asarray(quads, dtype=np.float64)

    def cross(o, a, b):
        return (a[..., 0] - o[..., 0]) * (b[..., 1] - o[..., 1]) - (a[..., 1] - o[..., 1]) * (b[..., 0] - o[..., 0])

    def crosses(p1, p2, p3, p4):
        return (cross(p3, p4, p1) * cross(p3, p4, p2) < 0) & (cross(p1, p2, p3) * cross(p1, p2, p4) < 0)

    p0, p1, p2, p3 = q[..., 0, :], q[..., 1, :], q[..., 2, :], q[..., 3, :]
    return crosses(p0, p1, p2, p3) | crosses(p1, p2, p3, p0)


def is_self_intersecting(quad: np.ndarray) -> bool:
    return bool(self_intersecting(np.asarray(quad, dtype=np.float64).reshape(4, 2)))


def sort_by_angle(quad: np.ndarray) -> np.ndarray:
    """Vertices sorted clockwise on screen around their centroid (repairs a bow-tie)."""
    center = quad.mean(axis=0)
    angles = np.arctan2(quad[:, 1] - center[1], quad[:, 0] - center[0])
    return quad[np.argsort(angles, kind="stable")]


def order_quad(quad) -> np.ndarray:
    """Return the quad in canonical order (see module docstring).

    Self-intersecting input is first repaired by sorting the vertices by angle
    around their centroid; counter-clockwise input is reversed. The cyclic order
    of a simple quad is otherwise kept.
    """
    q = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    if is_self_intersecting(q):
        q = sort_by_angle(q)
    if signed_area(q) < 0:
        q = q[::-1]
    top_left = q.min(axis=0)
    distances = np.sum((q - top_left) ** 2, axis=1)
    start = int(np.argmin(distances))
    return np.roll(q, -start, axis=0)


def quad_length_height(quad) -> tuple[float, float]:
    """(length along the text, height across it) of a canonical-order quad: the means of its
    top and bottom sides and of its left and right sides."""
    quad = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    length = 0.5 * (np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3]))
    height = 0.5 * (np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1]))
    return float(length), float(height)


def text_height(quad) -> float:
    """Height of a canonical-order text quad as the generators' don't-care rule reads it: the
    shorter of its two sides across the text (left and right)."""
    quad = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    return float(min(np.linalg.norm(quad[3] - quad[0]), np.linalg.norm(quad[2] - quad[1])))


def rectify_quad(image: np.ndarray, quad, height: int | None = None, margin: float = 0.0, min_side: float = 2.0,
                 max_aspect: float = np.inf):
    """Warp the region of a canonical-order quad to an upright rectangle (its long side left to right).

    The rectangle is `height` pixels high (None: the quad's own height) and as long as the quad's
    aspect says, both rounded to whole pixels, with `margin` heights (rounded) of the quad's
    surroundings on every side (pixels past the image repeat its border). Returns (patch, the quad's
    rectangle in the patch (4, 2), 3x3 matrix patch -> image), or None for a non-finite quad, a side
    under `min_side` pixels, or one longer than `max_aspect` heights.
    """
    import cv2

    quad = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    if not np.all(np.isfinite(quad)):
        return None
    length, thickness = quad_length_height(quad)
    if thickness < min_side or length < min_side or length > max_aspect * thickness:
        return None
    out_h = int(round(thickness)) if height is None else int(height)
    out_w = max(1, int(round(length * out_h / thickness)))
    pad = int(round(margin * out_h))
    rect = np.array([[pad, pad], [pad + out_w, pad], [pad + out_w, pad + out_h], [pad, pad + out_h]], dtype=np.float64)
    to_image = cv2.getPerspectiveTransform(rect.astype(np.float32), quad.astype(np.float32))
    patch = cv2.warpPerspective(image, to_image, (out_w + 2 * pad, out_h + 2 * pad),
                                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    return patch, rect, to_image


def box_to_quad(xmin: float, ymin: float, xmax: float, ymax: float) -> np.ndarray:
    return np.array([[xmin, ymin], [xmax, ymin], [xmax, ymax], [xmin, ymax]], dtype=np.float64)


def quad_to_box_yxyx(quad: np.ndarray) -> np.ndarray:
    """Axis-aligned box [ymin, xmin, ymax, xmax] of one quad or of a (N, 4, 2) array."""
    q = np.asarray(quad)
    mins, maxs = q.min(axis=-2), q.max(axis=-2)
    return np.stack([mins[..., 1], mins[..., 0], maxs[..., 1], maxs[..., 0]], axis=-1)


@dataclasses.dataclass
class QuadCheck:
    """Outcome of validating one quad: the fixed quad (or None) and what was done."""

    quad: np.ndarray | None
    repaired: bool = False
    clipped: bool = False
    reason: str = ""


def validate_quad(quad, width: float, height: float) -> QuadCheck:
    """Order, repair, clip to the image and reject degenerate quads.

    - non-finite coordinates: dropped;
    - self-intersecting (bow-tie): repaired by angle sort;
    - points outside [0, width] x [0, height]: clipped;
    - area below MIN_QUAD_AREA (before or after clipping): dropped.
    """
    q = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    if not np.all(np.isfinite(q)):
        return QuadCheck(None, reason="non-finite coordinate")
    repaired = is_self_intersecting(q)
    q = order_quad(q)
    if abs(signed_area(q)) < MIN_QUAD_AREA:
        return QuadCheck(None, repaired=repaired, reason="degenerate quad (zero area)")
    clipped_q = q.copy()
    clipped_q[:, 0] = np.clip(q[:, 0], 0.0, float(width))
    clipped_q[:, 1] = np.clip(q[:, 1], 0.0, float(height))
    clipped = bool(np.any(clipped_q != q))
    if clipped:
        if abs(signed_area(clipped_q)) < MIN_QUAD_AREA:
            return QuadCheck(None, repaired=repaired, clipped=True, reason="quad outside the image")
        clipped_q = order_quad(clipped_q)
    return QuadCheck(clipped_q, repaired=repaired, clipped=clipped)
