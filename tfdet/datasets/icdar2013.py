"""ICDAR 2013 Focused Scene Text, raw train/test and RRC formats (see text_gt)."""

from tfdet.datasets.text_gt import Icdar2013Reader, parse_icdar2013_line  # noqa: F401
