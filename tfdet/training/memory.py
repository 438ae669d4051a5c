"""Keep freed tensor memory in the process during training (glibc malloc settings).

TensorFlow's GeneratorDataset op, which the distributed dataset iterators use
(`experimental_distribute_dataset`, `distribute_datasets_from_function`), calls
`mallopt(M_TRIM_THRESHOLD, 128 KiB)` when it is created ("Memory patch applied" in the log). Setting
any threshold by hand also switches off glibc's dynamic mmap threshold, which stays at 128 KiB: from
then on every buffer over 128 KiB (almost every activation and gradient of a detector) is a fresh
`mmap` that is unmapped when freed, so every training step page-faults all its tensors in again. On
the 2-core virtual machines of bench/RESULTS.md that cost a third of the step or more: the demo model's
training loop ran at 5.7 images/s before `keep_freed_memory()` and 8.3 after (bench/train_step.py); in one
timing window its minor page faults fell from 5.5 million to 0.6 million.

`keep_freed_memory()` sets the mmap threshold to glibc's maximum (32 MiB on 64-bit) and the trim
threshold to 256 MiB, so buffers are reused from the heap; the process keeps up to its peak working set
(what a training process holds anyway). The trainers call it after creating their dataset iterator,
i.e. after TensorFlow's own setting. It does nothing where the C library is not glibc (macOS, musl),
and the training log says which.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2 ** 20  # glibc's largest (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD = 256 * 2 ** 20


def _libc():
    """The process's glibc, or None (another C library, or none that ctypes finds)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # glibc only  # noqa: B018
        return libc
    except (OSError, AttributeError):
        return None


def keep_freed_memory(libc=None) -> str:
    """Apply the settings above; returns what was done, in words (for the training log)."""
    libc = libc if libc is not None else _libc()
    if libc is None:
        return "malloc settings unchanged (not glibc)"
    done = [libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD), libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)]
    if not all(done):
        return "malloc settings unchanged (mallopt refused them)"
    return f"malloc: mmap threshold {MMAP_THRESHOLD >> 20} MiB, trim threshold {TRIM_THRESHOLD >> 20} MiB"
