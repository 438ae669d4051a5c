"""Exponential moving average of a model's weights (Polyak averaging), kept beside the model in
every checkpoint.

Training updates the raw weights; with `--ema_decay` the trainer also keeps

    average <- d * average + (1 - d) * weight,   d = min(decay, (1 + n) / (10 + n)) after n updates

for every float weight (the ramp lets the average follow the first steps of a run instead of its
initial weights). Evaluation during training, `best/` and everything that loads a checkpoint
(evaluate, predict, export, `--resume`) use the average; the raw weights stay in the checkpoint
under `model` so that a resumed run continues exactly.

Both training loops keep it: the detector's (tfdet.training.trainer) and the embedder's
(tfdet.recognition.train). Checkpoint layout: `ema/averages/<i>` holds the average of the i-th
float weight of `model.weights` and `ema/updates` the update count. `read_weights` restores
`ema/averages` straight into a model's own variables by building the same structure over them.
"""

from __future__ import annotations

import contextlib

import numpy as np
import tensorflow as tf

EMA_KEY = "ema"  # the checkpoint entry (tf.train.Checkpoint(..., ema=WeightAverage))


def averaged_weights(model) -> list:
    """The weights an average covers: the model's float weights, in `model.weights` order."""
    return [w for w in model.weights if tf.as_dtype(w.dtype).is_floating]


def check_decay(decay: float):
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"ema_decay must be in [0, 1) (0: no average), got {decay}")


class WeightAverage(tf.Module):
    """Moving averages of `averaged_weights(model)`. Create it inside the strategy scope that holds the
    model; call `update()` after each optimizer step, in the cross-replica context."""

    def __init__(self, model, decay: float):
        super().__init__(name="weight_average")
        check_decay(decay)
        if decay == 0.0:
            raise ValueError("a WeightAverage needs a decay above 0")
        self.decay = float(decay)
        self._source = _Untracked(averaged_weights(model))  # the model's own variables: not saved twice
        self.averages = [tf.Variable(tf.convert_to_tensor(w), trainable=False, name=f"average_{i}")
                         for i, w in enumerate(self._source.weights)]
        self.updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="updates")

    def current_decay(self, updates):
        n = tf.cast(updates, tf.float32)
        return tf.minimum(self.decay, (1.0 + n) / (10.0 + n))

    def update(self):
        """One averaging step (inside the training tf.function, after the weights were updated)."""
        d = self.current_decay(self.updates)
        for average, weight in zip(self.averages, self._source.weights):
            value = tf.cast(tf.convert_to_tensor(weight), average.dtype)
            average.assign(average * tf.cast(d, average.dtype) + value * tf.cast(1.0 - d, average.dtype))
        self.updates.assign_add(1)

    def reset(self):
        """Start the averages at the current weights (a run that begins from another stage's weights)."""
        for average, weight in zip(self.averages, self._source.weights):
            average.assign(tf.convert_to_tensor(weight))
        self.updates.assign(0)

    @contextlib.contextmanager
    def applied(self):
        """The model holds the averages inside the block and its own weights again afterwards."""
        saved = [np.array(w.numpy()) for w in self._source.weights]
        try:
            for weight, average in zip(self._source.weights, self.averages):
                weight.assign(average.numpy())
            yield
        finally:
            for weight, value in zip(self._source.weights, saved):
                weight.assign(value)


class _Untracked:
    """A plain holder: checkpoints do not follow it."""

    def __init__(self, weights):
        self.weights = weights


class _AverageSlots(tf.Module):
    """The checkpoint structure of a WeightAverage built over a model's own variables, so that reading
    `ema/averages` writes the averages into the model directly."""

    def __init__(self, model):
        super().__init__(name="weight_average")
        self.averages = averaged_weights(model)


def checkpoint_entry(average: WeightAverage | None) -> dict:
    """What a training checkpoint adds for a run's average: {"ema": average}, or nothing without one."""
    return {EMA_KEY: average} if average is not None else {}


def restore_run(state: dict, average: WeightAverage | None, ckpt: str, log=print):
    """Restore a run's own checkpoint: `state` (model, optimizer, counters) and its average. A checkpoint
    written without an average (the run kept none until now) restores the rest and starts the average at
    its weights."""
    if average is not None and not holds_average(ckpt):
        tf.train.Checkpoint(**state).restore(ckpt).assert_existing_objects_matched()
        average.reset()
        log(f"{ckpt} holds no weight average: the average (--ema_decay) starts at its weights")
    else:
        tf.train.Checkpoint(**state, **checkpoint_entry(average)).restore(ckpt).assert_existing_objects_matched()
        if average is None and holds_average(ckpt):
            log(f"{ckpt} holds a weight average but this run keeps none (--ema_decay=0): training continues from its "
                "raw weights and later checkpoints have no average; pass --ema_decay to keep it")


def holds_average(ckpt: str) -> bool:
    """Whether the checkpoint was written by a run that kept a weight average."""
    prefix = f"{EMA_KEY}/averages/"
    return any(name.startswith(prefix) for name, _ in tf.train.list_variables(ckpt))


def read_weights(model, ckpt: str) -> str:
    """Restore a model's weights from a training checkpoint, preferring its weight average.
    -> "average" or "weights" (which one was read)."""
    # read, not restore: restore would also ask for a save counter, which a best/ckpt (written, not saved) lacks
    status = tf.train.Checkpoint(model=model).read(ckpt)
    status.expect_partial().assert_existing_objects_matched()
    if not holds_average(ckpt):
        return "weights"
    # the average covers the float weights only: the rest (counters, integer state) came from `model` above
    tf.train.Checkpoint(**{EMA_KEY: _AverageSlots(model)}).read(ckpt).expect_partial().assert_existing_objects_matched()
    return "average"
