"""K x P sampler: exactly P classes x K samples, short classes, determinism per step."""

import numpy as np
import pytest

from tfdet.recognition.sampler import KxPSampler


def test_exact_p_classes_k_samples():
    labels = np.repeat(np.arange(10), 6)
    sampler = KxPSampler(labels, classes_per_batch=4, samples_per_class=3, seed=1)
    seen = set()
    for step in range(20):
        index = sampler.batch(step)
        assert len(index) == 12
        blocks = labels[index].reshape(4, 3)
        assert (blocks == blocks[:, :1]).all()  # K samples of one class per block
        assert len(set(blocks[:, 0])) == 4  # P distinct classes
        for block in index.reshape(4, 3):
            assert len(set(block)) == 3  # enough samples: no repeats
        seen.update(blocks[:, 0])
    assert seen == set(range(10))


def test_classes_with_fewer_than_k_samples():
    labels = np.array([0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3])  # class 0: 2 samples, class 3: 1 sample
    sampler = KxPSampler(labels, classes_per_batch=3, samples_per_class=4, seed=0)
    assert sampler.excluded == [3]  # one sample cannot make a positive pair
    for step in range(6):
        index = sampler.batch(step)
        blocks = labels[index].reshape(3, 4)
        assert (blocks == blocks[:, :1]).all() and sorted(blocks[:, 0]) == [0, 1, 2]
        zero = index.reshape(3, 4)[blocks[:, 0] == 0][0]
        assert sorted(set(zero)) == [0, 1]  # both samples of the short class used, repeated to fill K


def test_deterministic_per_step_and_seed():
    labels = np.repeat(np.arange(8), 5)
    a, b = KxPSampler(labels, 4, 2, seed=3), KxPSampler(labels, 4, 2, seed=3)
    assert all((a.batch(s) == b.batch(s)).all() for s in (0, 5, 17))
    assert not (a.batch(0) == KxPSampler(labels, 4, 2, seed=4).batch(0)).all()


def test_too_few_classes_is_a_clear_error():
    with pytest.raises(ValueError, match="at least P=4 classes"):
        KxPSampler(np.array([0, 0, 1, 1, 2]), 4, 2)
