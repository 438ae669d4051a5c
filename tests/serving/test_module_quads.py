"""DetectorModule's output quads: mapped back to the image, clipped, and ordered again (clipping each
coordinate to the image can cross or flip a quad; issue 16 item 4)."""

import keras
import numpy as np
import tensorflow as tf

from tfdet import geometry
from tfdet.anchors.coder import BoxCoder
from tfdet.anchors.config import AnchorConfig
from tfdet.postprocess import PostprocessConfig
from tfdet.serving import module as serving_module


def test_quads_clipped_to_the_image_come_out_ordered(monkeypatch):
    # a simple clockwise quad reaching outside a 20 x 20 image; clipped naively it crosses itself
    quad = np.array([[-4.03, 12.34], [6.57, 35.86], [-17.57, 23.92], [16.86, -18.3]], np.float32)
    assert not geometry.is_self_intersecting(quad) and geometry.signed_area(quad) > 0
    clipped = np.clip(quad, 0, 20)
    assert geometry.is_self_intersecting(clipped)
    fixed = {"quads": tf.constant(np.stack([quad, np.zeros((4, 2), np.float32)])[None]),
             "boxes": tf.zeros([1, 2, 4]), "scores": tf.constant([[0.9, 0.0]]), "classes": tf.constant([[1, 0]]),
             "num_detections": tf.constant([1])}
    monkeypatch.setattr(serving_module, "detect_batch", lambda *args: fixed)
    model = keras.Sequential([keras.Input((128, 128, 3)), keras.layers.Identity()])
    det = serving_module.DetectorModule(model, AnchorConfig(), BoxCoder(), PostprocessConfig(max_detections=2), 128)
    out = det._detect(tf.zeros([1, 128, 128, 3]), tf.constant([[1.0, 1.0]]), tf.constant([[20.0, 20.0]]),
                      tf.constant([[20.0, 20.0]]))  # extent: the resized image on the canvas
    got = out["detection_quads"].numpy()[0, 0].reshape(4, 2)
    np.testing.assert_allclose(got, geometry.order_quad(clipped), atol=1e-4)
    assert not geometry.is_self_intersecting(got) and geometry.signed_area(got) > 0
    np.testing.assert_array_equal(out["detection_quads"].numpy()[0, 1], np.zeros(8))  # padding stays zero
