"""Shared test helpers: where the real samples live, and small fixture makers."""

import os
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.normpath(os.path.join(REPO, "..", "shared", "data"))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def _float32_policy_after_each_test():
    """A test that builds a Trainer sets Keras' global precision policy (`auto`: bf16 on a CPU with
    native bf16); put float32 back so the next test in this process starts from the default."""
    yield
    if "keras" in sys.modules:
        sys.modules["keras"].mixed_precision.set_global_policy("float32")


def shared_path(*parts) -> str:
    """Path under ../shared/data, or skip the test with a clear reason."""
    path = os.path.join(SHARED_DATA, *parts)
    if not os.path.exists(path):
        pytest.skip(f"real sample data not available: {path} is absent (it lives in ../shared/data beside the checkout)")
    return path


def write_jpeg(path: str, width: int = 200, height: int = 100, seed: int = 0):
    import cv2

    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(path, image)
    return path
