"""keep_freed_memory: after TensorFlow's GeneratorDataset sets malloc's trim threshold (which pins the mmap
threshold at 128 KiB), buffers over 128 KiB are mmapped afresh and page-faulted in on every use; the
trainers undo that after creating their dataset iterator."""

import json
import subprocess
import sys

import pytest

from tfdet.training import memory


class FakeLibc:
    def __init__(self, accept=True):
        self.calls, self.accept = [], accept

    def mallopt(self, option, value):
        self.calls.append((option, value))
        return int(self.accept)


def test_the_thresholds_it_sets():
    libc = FakeLibc()
    assert memory.keep_freed_memory(libc) == "malloc: mmap threshold 32 MiB, trim threshold 256 MiB"
    assert libc.calls == [(memory.M_MMAP_THRESHOLD, 32 * 2 ** 20), (memory.M_TRIM_THRESHOLD, 256 * 2 ** 20)]
    assert memory.keep_freed_memory(FakeLibc(accept=False)) == "malloc settings unchanged (mallopt refused them)"


def test_not_glibc_changes_nothing(monkeypatch):
    monkeypatch.setattr(memory, "_libc", lambda: None)
    assert memory.keep_freed_memory() == "malloc settings unchanged (not glibc)"


# Measured in a fresh interpreter: malloc's state in this one depends on what earlier tests ran (the TFLite
# interpreter, for one, leaves freed 1 MiB buffers reused whatever the thresholds are).
_FAULTS = """
import json, resource
import numpy as np
from tfdet.training import memory

def faults(n=100, size=2 ** 20):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        buffer = np.empty(size, np.uint8)
        buffer[::4096] = 1  # touch every page, as a tensor written by an op is
        del buffer
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

libc = memory._libc()
# what TensorFlow's GeneratorDataset op leaves: a fixed trim threshold and a mmap threshold no longer dynamic
libc.mallopt(memory.M_TRIM_THRESHOLD, 128 * 1024)
pinned = faults()
message = memory.keep_freed_memory()
faults(2)  # the heap grows once
print(json.dumps({"pinned": pinned, "kept": faults(), "message": message}))
"""


def test_freed_buffers_are_reused_instead_of_faulted_in_again():
    if memory._libc() is None:
        pytest.skip("not glibc: malloc settings do not apply")
    done = subprocess.run([sys.executable, "-c", _FAULTS], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert "mmap threshold" in measured["message"], measured
    # pinned at 128 KiB: each 1 MiB buffer is a fresh mapping, 256 page faults; kept: the heap's pages are reused
    assert measured["pinned"] >= 100 * 200 and measured["kept"] < measured["pinned"] / 20, measured


def test_the_trainer_applies_it(records, tmp_path):
    from tests.training.test_early_stopping import _tiny_config
    from tfdet.training.trainer import Trainer

    messages = []
    Trainer(_tiny_config(1), str(tmp_path), records, progress=False, log=messages.append).run()
    expected = "malloc: mmap threshold" if memory._libc() is not None else "malloc settings unchanged"
    assert any(m.startswith(expected) for m in messages), messages
