"""Warm-up then cosine / step / constant learning rate, as a Keras schedule."""

from __future__ import annotations

import math

import keras
import tensorflow as tf


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

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        total = float(max(self.total_steps, 1))
        if self.kind == "cosine":
            progress = tf.clip_by_value((step - self.warmup_steps) / max(total - self.warmup_steps, 1.0), 0.0, 1.0)
            lr = 0.5 * self.base_lr * (1.0 + tf.cos(math.pi * progress))
        elif self.kind == "step":
            lr = tf.constant(self.base_lr)
            for b in self.boundaries:
                lr = tf.where(step >= b * total, lr * self.factor, lr)
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
    schedule = WarmupSchedule(learning_rate, total_steps, optim.warmup_steps, optim.warmup_factor, optim.schedule,
                              optim.step_boundaries, optim.step_factor)
    clip = {"global_clipnorm": optim.clip_norm} if optim.clip_norm > 0 else {}
    if optim.optimizer == "adamw":
        return keras.optimizers.AdamW(schedule, weight_decay=optim.weight_decay, **clip), schedule
    return keras.optimizers.SGD(schedule, momentum=optim.momentum, weight_decay=optim.weight_decay or None, **clip), schedule
