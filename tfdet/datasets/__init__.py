"""Dataset readers. Each module turns one raw format into `Sample`s.

`get_reader(name, ...)` is the registry used by tools/make_tfrecord.py.
"""

from tfdet.datasets.base import Problem, Sample  # noqa: F401

READER_NAMES = ("synthtext", "icdar2013", "icdar2015", "mlt", "coco", "tfod", "synthetic", "digits", "msra_td500")


def get_reader(name: str, **kwargs):
    """Return the reader object for a dataset name (imports lazily)."""
    if name == "icdar2015":
        from tfdet.datasets.icdar2015 import Icdar2015Reader as cls
    elif name == "icdar2013":
        from tfdet.datasets.icdar2013 import Icdar2013Reader as cls
    elif name == "mlt":
        from tfdet.datasets.mlt import MltReader as cls
    elif name == "synthtext":
        from tfdet.datasets.synthtext import SynthTextReader as cls
    elif name == "coco":
        from tfdet.datasets.coco import CocoReader as cls
    elif name == "tfod":
        from tfdet.datasets.tfod import TfodReader as cls
    elif name == "synthetic":
        from tfdet.datasets.synthetic import SyntheticReader as cls
    elif name == "digits":
        from tfdet.datasets.digits import DigitsReader as cls
    elif name == "msra_td500":
        from tfdet.datasets.msra_td500 import MsraTd500Reader as cls
    else:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(READER_NAMES)}")
    return cls(**kwargs)
