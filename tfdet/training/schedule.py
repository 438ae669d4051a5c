"""Warm-up then cosine / step / constant learning rate, as a Keras schedule.

With a training time budget (`--train_minutes`) the decay follows whichever is further along, the
step count or the elapsed share of the budget (`time_fraction`, a variable the training loop sets),
so a slow machine still ends its budget at the end of the schedule instead of mid-decay.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from tfdet.training import gradients


@keras.saving.register_keras_serializable(package="tfdet")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, base_lr, total_steps, warmup_steps=0, warmup_factor=0.001, kind="cosine",
                 boundaries=(0.67, 0.89), factor=0.1):
        self.base_lr = float(base_lr)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.warmup_factor = float(warmup_factor)
        self.kind = kind
        self.boundaries = tuple(float(b) for b in boundaries)
        self.factor = float(factor)
        self.time_fraction = None  # tf.Variable in [0, 1] set by a time-budgeted training loop

    def track_time(self):
        """Create (once) and return the elapsed-share-of-budget variable the decay also follows."""
        if self.time_fraction is None:
            self.time_fraction = tf.Variable(0.0, dtype=tf.float32, trainable=False, name="time_fraction")
        return self.time_fraction

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        total = float(max(self.total_steps, 1))
        decay_step = step  # how far along the decay is: by steps, or by the time budget when further
        if self.time_fraction is not None:
            by_time = self.warmup_steps + tf.clip_by_value(self.time_fraction, 0.0, 1.0) * max(total - self.warmup_steps, 1.0)
            decay_step = tf.maximum(step, by_time)
        if self.kind == "cosine":
            progress = tf.clip_by_value((decay_step - self.warmup_steps) / max(total - self.warmup_steps, 1.0), 0.0, 1.0)
            lr = 0.5 * self.base_lr * (1.0 + tf.cos(math.pi * progress))
        elif self.kind == "step":
            lr = tf.constant(self.base_lr)
            for b in self.boundaries:
                lr = tf.where(decay_step >= b * total, lr * self.factor, lr)
        else:
            lr = tf.constant(self.base_lr)
        if self.warmup_steps > 0:
            alpha = tf.clip_by_value(step / self.warmup_steps, 0.0, 1.0)
            warm = self.warmup_factor * (1 - alpha) + alpha
            lr = tf.where(step < self.warmup_steps, lr * warm, lr)
        return lr

    def get_config(self):
        return {"base_lr": self.base_lr, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps,
                "warmup_factor": self.warmup_factor, "kind": self.kind, "boundaries": list(self.boundaries),
                "factor": self.factor}


def make_optimizer(optim, total_steps: int, learning_rate: float):
    """-> (optimizer, schedule). Clipping and SGD's L2 term are applied to the all-reduced
    gradients by `tfdet.training.gradients.finalize_gradients`, not by the optimizer."""
    schedule = WarmupSchedule(learning_rate, total_steps, optim.warmup_steps, optim.warmup_factor, optim.schedule,
                              optim.step_boundaries, optim.step_factor)
    return gradients.make_optimizer(optim, schedule), schedule
