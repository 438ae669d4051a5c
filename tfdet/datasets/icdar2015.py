"""ICDAR 2015 Incidental Scene Text: `img_N.jpg` + `gt_img_N.txt` (see text_gt)."""

from tfdet.datasets.text_gt import Icdar2015Reader, parse_icdar2015_line  # noqa: F401
