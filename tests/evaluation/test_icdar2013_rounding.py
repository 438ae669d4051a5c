"""DetEval sums of area fractions are rounded to 4 decimals before the comparison, as the official
script does (`round(many_sum, 4)`, issue 16 item 9)."""

import pytest

from tfdet.evaluation import icdar2013

# inclusive-pixel rectangles: [0, 0, 1086, 22] has 1087 x 23 = 25001 pixels
WIDE = [0, 0, 1086, 22]


def test_one_to_many_sum_rounded():
    # three detections inside the gt cover 500 x 23 + 425 x 19 + 25 x 17 = 20000 pixels: recall sum
    # 20000 / 25001 = 0.79997, below 0.8 unrounded, 0.8000 rounded -> one-to-many: recall 0.8, precision 0.8 each
    r = icdar2013.evaluate({"1": ([WIDE], [False], [[0, 0, 499, 22], [500, 0, 924, 18], [925, 0, 949, 16]])})
    assert r["per_image"]["1"]["recall_accum"] == pytest.approx(0.8)
    assert r["per_image"]["1"]["precision_accum"] == pytest.approx(2.4)
    # one pixel less (third detection 53 x 8 = 424: 19999 / 25001 = 0.79993 -> 0.7999): no match
    r = icdar2013.evaluate({"1": ([WIDE], [False], [[0, 0, 499, 22], [500, 0, 924, 18], [925, 0, 977, 7]])})
    assert r["per_image"]["1"]["recall_accum"] == 0 and r["per_image"]["1"]["precision_accum"] == 0


def test_many_to_one_sum_rounded():
    # two gts of 500 x 10 inside one detection of 25001 pixels: precision sum 10000 / 25001 = 0.399984,
    # below 0.4 unrounded, 0.4000 rounded -> many-to-one: recall 1 per gt, precision 1
    r = icdar2013.evaluate({"1": ([[0, 0, 499, 9], [500, 0, 999, 9]], [False, False], [WIDE])})
    assert r["recall"] == 1.0 and r["precision"] == 1.0
    # 9999 pixels (0.39994 -> 0.3999): no match
    r = icdar2013.evaluate({"1": ([[0, 0, 499, 9], [500, 0, 998, 9], [999, 0, 999, 8]], [False] * 3, [WIDE])})
    assert r["per_image"]["1"]["precision_accum"] == 0
