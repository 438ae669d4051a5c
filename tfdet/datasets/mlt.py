"""MLT 2017 / 2019: quads with a script name; images jpg/png/gif (see text_gt)."""

from tfdet.datasets.text_gt import MltReader, parse_mlt_line  # noqa: F401
