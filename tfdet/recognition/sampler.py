"""K x P batches: P distinct classes, K samples of each (Hermans et al., "In Defense of the
Triplet Loss"). Deterministic per (seed, step), so a resumed run sees the batches it would have.

Classes with fewer than `min_samples` samples cannot give a positive pair and are left out
(`excluded`); classes with fewer than K samples fill their K slots by repeating samples (the
augmentation makes the repeats differ). Classes are visited epoch by epoch in a shuffled order,
so every class appears equally often.
"""

from __future__ import annotations

import numpy as np


class KxPSampler:
    def __init__(self, labels, classes_per_batch: int, samples_per_class: int, seed: int = 0, min_samples: int = 2):
        if classes_per_batch < 2 or samples_per_class < 2:
            raise ValueError("K x P batches need at least 2 classes (P) and 2 samples per class (K)")
        labels = np.asarray(labels)
        self.P, self.K, self.seed = int(classes_per_batch), int(samples_per_class), int(seed)
        classes, counts = np.unique(labels, return_counts=True)
        self.members = {c: np.nonzero(labels == c)[0] for c, n in zip(classes, counts) if n >= min_samples}
        self.classes = np.array(sorted(self.members))
        self.excluded = [c for c, n in zip(classes, counts) if n < min_samples]
        if len(self.classes) < self.P:
            raise ValueError(f"K x P sampling needs at least P={self.P} classes with {min_samples}+ samples; "
                             f"the data has {len(self.classes)} ({len(self.excluded)} classes have fewer samples)")
        self.batches_per_epoch = len(self.classes) // self.P

    @property
    def batch_size(self) -> int:
        return self.P * self.K

    def batch(self, step: int) -> np.ndarray:
        """Indices [P * K] of batch `step`: class by class, K each."""
        step = int(step)
        epoch, slot = divmod(step, self.batches_per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(self.classes)
        chosen = order[slot * self.P:(slot + 1) * self.P]
        rng = np.random.default_rng([self.seed, epoch, slot, 1])
        out = []
        for c in chosen:
            members = self.members[c]
            if len(members) >= self.K:
                out.append(rng.choice(members, self.K, replace=False))
            else:
                out.append(rng.permutation(np.concatenate([members, rng.choice(members, self.K - len(members))])))
        return np.concatenate(out).astype(np.int64)
