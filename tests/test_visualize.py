"""Pictures: the found/missed drawing of a model card's examples colours each word by its outcome."""

import numpy as np

from tests.conftest import write_jpeg
from tfdet import visualize
from tfdet.datasets.base import Sample


def _box(x0, y0, x1, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def test_found_missed_and_dont_care_words_get_their_colours(tmp_path):
    data = open(write_jpeg(str(tmp_path / "photo.jpg"), 200, 120, seed=1), "rb").read()
    gt = [_box(10, 10, 60, 30), _box(100, 10, 150, 30), _box(10, 70, 60, 90), _box(100, 70, 150, 90)]
    sample = Sample(image=data, image_format="jpeg", filename="photo.jpg", source_id="photo", height=120, width=200,
                    quads=gt, labels=[1] * 4, class_names=["text"] * 4, difficult=[False, False, False, True],
                    texts=["one", "two", "three", "###"])
    # word 0 found twice (one detection may count once), word 1 touched below IoU 0.5, word 2 untouched
    dets = [_box(11, 10, 60, 31), _box(12, 11, 61, 30), _box(100, 10, 118, 30)]
    image, counts = visualize.found_missed_picture(sample, dets, [0.9, 0.8, 0.7])
    assert counts == {"found": 1, "missed": 2, "detections": 3}
    assert image.shape == (120, 200, 3)

    expected = visualize.draw_quads(visualize.decode_image(data), gt, [visualize.CARE_COLOR, visualize.MISSED_COLOR,
                                                                      visualize.MISSED_COLOR, visualize.IGNORED_COLOR])
    expected = visualize.draw_quads(expected, dets, [visualize.PRED_COLOR] * 3, ["0.90", "0.80", "0.70"])
    np.testing.assert_array_equal(image, expected)
    # nothing detected: every care word is missed, no detection drawn
    _, none = visualize.found_missed_picture(sample, np.zeros((0, 4, 2)), [])
    assert none == {"found": 0, "missed": 3, "detections": 0}
