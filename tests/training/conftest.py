"""Records shared by the training tests (each module makes its own, once)."""

import os

import pytest

from tfdet.datasets import get_reader
from tfdet.records import writer


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    out = tmp_path_factory.mktemp("train_records")
    writer.convert(get_reader("synthetic", num_images=8, seed=11), str(out), num_shards=2, progress=False)
    return os.path.join(str(out), "*.tfrecord")
