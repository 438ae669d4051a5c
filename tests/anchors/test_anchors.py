import numpy as np
import pytest
import tensorflow as tf

from tfdet.anchors.coder import BoxCoder
from tfdet.anchors.config import AnchorConfig, AnchorMismatchError, check_same
from tfdet.anchors.generator import generate_anchors, generate_anchors_np
from tfdet.anchors.matcher import IGNORE, MatcherConfig, assign


def test_anchor_golden_values_small_config():
    cfg = AnchorConfig(min_level=3, max_level=4, base_sizes=(8, 16), aspect_ratios=(1, 4), scales_per_octave=1)
    anchors = generate_anchors(cfg, 32, 32).numpy()
    assert anchors.shape == ((4 * 4 + 2 * 2) * 2, 4) == (cfg.num_anchors(32, 32), 4)
    # level 3, y=0, x=0: ratio 1 (8x8) then ratio 4 (16x4) centred at (4, 4)
    np.testing.assert_allclose(anchors[0], [0, 0, 8, 8])
    np.testing.assert_allclose(anchors[1], [2, -4, 6, 12])
    # level 3, y=0, x=1 -> centre x 12
    np.testing.assert_allclose(anchors[2], [0, 8, 8, 16])
    # first anchor of level 4 (index 32): centre (8, 8), 16x16
    np.testing.assert_allclose(anchors[32], [0, 0, 16, 16])
    np.testing.assert_allclose(anchors, generate_anchors_np(cfg, 32, 32))


def test_scales_order_and_serialisation(tmp_path):
    cfg = AnchorConfig.for_levels(3, 7, scales_per_octave=2, aspect_ratios=(1, 2))
    shapes = cfg.shapes_per_level(3)
    assert len(shapes) == 4
    np.testing.assert_allclose(shapes[0], (32, 32))
    np.testing.assert_allclose(shapes[2], (32 * 2 ** 0.5, 32 * 2 ** 0.5))
    assert AnchorConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="multiple of the largest stride"):
        cfg.num_anchors(300, 300)
    with pytest.raises(AnchorMismatchError, match="aspect_ratios"):
        check_same(cfg, AnchorConfig.for_levels(3, 7, scales_per_octave=2, aspect_ratios=(1, 3)), "run")


def test_flagfile_round_trip():
    from tfdet import flags as tfdet_flags

    cfg = AnchorConfig(min_level=2, max_level=5, base_sizes=(10, 20.5, 41, 82), aspect_ratios=(1, 2.5, 1 / 3), scales=(1.0, 1.3))
    assert tfdet_flags.parse_anchor_args(cfg.to_flags()) == cfg


@pytest.mark.parametrize("loc_outputs", [12, 8])
def test_encode_decode_round_trip(loc_outputs):
    rng = np.random.default_rng(0)
    anchors = np.concatenate([rng.uniform(0, 200, (500, 2)), rng.uniform(5, 80, (500, 2))], 1)
    anchors = np.stack([anchors[:, 0], anchors[:, 1], anchors[:, 0] + anchors[:, 2], anchors[:, 1] + anchors[:, 3]], 1)
    centers = np.stack([(anchors[:, 1] + anchors[:, 3]) / 2, (anchors[:, 0] + anchors[:, 2]) / 2], 1)
    quads = centers[:, None, :] + rng.uniform(-40, 40, (500, 4, 2))
    coder = BoxCoder(loc_outputs=loc_outputs)
    enc = coder.encode(tf.constant(quads, tf.float32), tf.constant(anchors, tf.float32))
    assert enc.shape == (500, loc_outputs)
    dec_quads, dec_boxes = coder.decode(enc, tf.constant(anchors, tf.float32))
    np.testing.assert_allclose(dec_quads.numpy(), quads, atol=1e-4 * 200)
    box = np.stack([quads[..., 1].min(1), quads[..., 0].min(1), quads[..., 1].max(1), quads[..., 0].max(1)], 1)
    np.testing.assert_allclose(dec_boxes.numpy(), box, atol=2e-2)


def test_assignment_hand_made_cases():
    anchors = tf.constant([[0, 0, 10, 10], [0, 5, 10, 15], [0, 50, 10, 60], [20, 20, 30, 30], [100, 100, 110, 110],
                           [0, 100, 10, 110]], tf.float32)
    gt = tf.constant([[0, 0, 10, 10], [21, 21, 31, 41], [100, 100, 140, 140]], tf.float32)
    labels = tf.constant([1, 2, 1])
    difficult = tf.constant([False, False, True])
    cls, matched = assign(anchors, gt, labels, difficult, MatcherConfig(0.5, 0.4, 0.5))
    cls = cls.numpy()
    assert cls[0] == 1 and matched.numpy()[0] == 0  # IoU 1 -> positive
    assert cls[1] == 0  # IoU 50/150 = 0.33 < 0.4 -> background
    assert cls[2] == 0  # far away -> background
    assert cls[3] == 2  # IoU 81/219 = 0.37 < 0.4, but the best anchor of gt 1 is forced positive
    assert cls[4] == IGNORE  # inside the don't-care region
    assert cls[5] == 0


def test_ignore_band_and_no_ground_truth():
    anchors = tf.constant([[0, 0, 10, 10], [0, 0, 10, 20]], tf.float32)
    gt = tf.constant([[0, 0, 10, 9]], tf.float32)
    cls, _ = assign(anchors, gt, tf.constant([1]), tf.constant([False]), MatcherConfig(0.5, 0.4))
    assert cls.numpy().tolist() == [1, IGNORE]  # 0.9 positive; 0.45 in the ignore band
    cls, _ = assign(anchors, tf.zeros([0, 4]), tf.zeros([0], tf.int32), tf.zeros([0], tf.bool))
    assert cls.numpy().tolist() == [0, 0]


@pytest.mark.parametrize("matcher", [MatcherConfig(), MatcherConfig(0.6, 0.3, 0.3), MatcherConfig(0.5, 0.5, 0.8, force_match=False)])
def test_grid_matcher_equals_generic_matcher(matcher):
    """The sparse grid matcher gives the dense matcher's result: tiny, huge, degenerate and partly
    outside boxes, non-square inputs, text and square anchor shapes, images with only don't-care
    boxes or none at all. The one freedom: when several anchors tie for a box's best IoU, the
    forced match may go to another of them."""
    from tfdet.anchors.matcher import assign_grid
    from tfdet.ops import quads as quad_ops

    configs = [(AnchorConfig(min_level=3, max_level=5, base_sizes=(16, 32, 64), aspect_ratios=(1, 3, 1 / 2), scales_per_octave=2), 128, 160),
               (AnchorConfig.for_levels(2, 7), 256, 384)]
    rng = np.random.default_rng(0)
    for cfg, height, width in configs:
        anchors = generate_anchors(cfg, height, width)
        for trial in range(12):
            n = int(rng.integers(0, 12)) if trial else 0
            y0, x0 = rng.uniform(-40, height, n), rng.uniform(-40, width, n)
            h, w = np.exp(rng.uniform(0, 6, n)), np.exp(rng.uniform(0, 6, n))
            h[: n // 4] = 0.0  # degenerate: no area
            boxes = tf.constant(np.stack([y0, x0, y0 + h, x0 + w], 1).reshape(n, 4), tf.float32)
            labels = tf.constant(rng.integers(1, 4, n), tf.int32)
            difficult = tf.constant(rng.random(n) < (1.0 if trial == 1 else 0.3))
            a_cls, a_match = assign(anchors, boxes, labels, difficult, matcher)
            b_cls, b_pos, b_gt = assign_grid(cfg, height, width, boxes, labels, difficult, matcher)
            a_cls, b_cls, a_match = a_cls.numpy(), b_cls.numpy(), a_match.numpy()
            assert sorted(b_pos.numpy()) == list(np.nonzero(b_cls > 0)[0])
            b_match = np.zeros_like(a_match)
            b_match[b_pos.numpy()] = b_gt.numpy()
            iou = quad_ops.box_iou_and_ioa_yxyx(anchors, boxes)[0].numpy()
            iou[:, difficult.numpy()] = -1
            for i in np.nonzero(a_cls != b_cls)[0]:  # only tied forced matches may differ
                g = a_match[i] if a_cls[i] > 0 else b_match[i]
                assert max(a_cls[i], b_cls[i]) > 0 and min(a_cls[i], b_cls[i]) <= 0
                assert iou[i, g] < matcher.positive_iou and iou[i, g] >= iou[:, g].max() - 1e-6, (i, g)
            assert (a_cls != b_cls).sum() <= 2 * n  # at most one moved forced match per box
            same = a_cls == b_cls
            np.testing.assert_array_equal(a_match[same & (a_cls > 0)], b_match[same & (a_cls > 0)])
