"""The detector runs on the smallest stride-aligned canvas that holds the resized images, not a square."""

import numpy as np
import tensorflow as tf

from tfdet.anchors.config import AnchorConfig
from tfdet.anchors.generator import generate_anchors_np
from tfdet.benchmark import make_untrained_run
from tfdet.postprocess import PostprocessConfig
from tfdet.serving.export import load_trained_model, make_module


class _Recorder:
    """Stands in for the Keras model and records the shape of what the module feeds it (inside the graph)."""

    def __init__(self, model):
        self.model, self.last_shape = model, tf.Variable([0, 0, 0, 0])

    def __call__(self, images, training=False):
        self.last_shape.assign(tf.shape(images))
        return self.model(images, training=training)


def test_landscape_and_portrait_canvases(tmp_path):
    run = make_untrained_run(str(tmp_path / "run"), size=256)
    model, config, _ = load_trained_model(run)
    module = make_module(model, config, PostprocessConfig(score_threshold=0.0, max_detections=10), size=256)
    stride = config.anchors.max_stride
    recorder = _Recorder(model)
    module.model = recorder
    landscape = tf.io.encode_jpeg(tf.zeros([72, 128, 3], tf.uint8)).numpy()   # -> 256 x 144 -> canvas 256 x ceil(144)
    portrait = tf.io.encode_jpeg(tf.zeros([128, 40, 3], tf.uint8)).numpy()    # -> 80 x 256
    shapes = []
    for batch in ([landscape], [portrait], [landscape, portrait]):  # a batch: the canvas holds both
        module.detect_encoded(batch)
        shapes.append(tuple(recorder.last_shape.numpy()))
    up = lambda v: -(-v // stride) * stride  # noqa: E731
    assert shapes == [(1, up(144), 256, 3), (1, 256, up(80), 3), (2, 256, 256, 3)]


def test_canvas_anchors_match_the_numpy_generator():
    anchors = AnchorConfig(min_level=3, max_level=6, base_sizes=(24, 48, 96, 192), aspect_ratios=(1, 4), scales_per_octave=2)

    class Holder:
        anchor_config = anchors

    from tfdet.serving.module import DetectorModule

    images = tf.zeros([1, 1280, 1280, 3])
    cut, generated = DetectorModule._canvas(Holder(), images, tf.constant([[720.0, 1280.0]]))
    assert tuple(cut.shape) == (1, 768, 1280, 3)
    np.testing.assert_allclose(generated.numpy(), generate_anchors_np(anchors, 768, 1280))
