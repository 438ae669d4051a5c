"""Embedder training: K x P batches, triplet loss with a batch-all -> batch-hard curriculum.

The detector's conventions, reused from tfdet.training: the strategy (one device, mirrored,
multi-worker), the warm-up schedule and optimizer, precision, checkpoints (model, optimizer,
step) every `checkpoint_every` steps with "resuming from step N" when run again on the same
folder, SIGTERM/SIGINT saving first, a NaN loss stopping the run. Each replica gets whole K x P
batches (mining needs the classes of one batch together); batches are a function of the step,
so a resumed run sees the batches the first run would have seen.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from tfdet.recognition import losses
from tfdet.recognition.augment import augment_crops
from tfdet.recognition.config import LABELS_FILE, EmbedderRunConfig, check_run_folder
from tfdet.recognition.crops import CropSet
from tfdet.recognition.model import build_embedder
from tfdet.recognition.sampler import KxPSampler
from tfdet.training import schedule as schedule_lib
from tfdet.training import strategy as strategy_lib
from tfdet.training.signals import StopSignals
from tfdet.training import gradients as gradients_lib
from tfdet.training.ema import WeightAverage, checkpoint_entry, read_weights, restore_run
from tfdet.training.memory import keep_freed_memory
from tfdet.training.precision import apply_precision
from tfdet.training.trainer import NonFiniteLossError


COLLAPSE_DISTANCE = 0.01  # mean pairwise distance of a batch below this: all crops embed to (almost) one point


def load_embedder(path: str):
    """Run folder (or checkpoint prefix inside one) -> (keras model with trained weights, EmbedderRunConfig,
    checkpoint prefix). float32."""
    run_dir = path if os.path.isdir(path) else os.path.dirname(path)
    config = EmbedderRunConfig.load(run_dir)
    ckpt = tf.train.latest_checkpoint(run_dir) if os.path.isdir(path) else path
    if not ckpt:
        raise FileNotFoundError(f"no embedder checkpoint in {path}")
    keras.mixed_precision.set_global_policy("float32")
    model = build_embedder(dataclasses.replace(config.model, backbone_weights=""))
    read_weights(model, ckpt)  # the run's weight average when it kept one (tfdet.training.ema)
    return model, config, ckpt


class EmbedderTrainer:
    def __init__(self, config: EmbedderRunConfig, model_dir: str, crops: CropSet, log=print, progress: bool = True):
        self.config = config
        self.model_dir = model_dir
        self.crops = crops
        self.log = log
        self.progress = progress
        self._signals = StopSignals()

    def _build(self):
        cfg = self.config
        self.precision = apply_precision(cfg.precision, log=self.log)
        self.strategy = strategy_lib.make_strategy(cfg.strategy, cfg.num_cpu_devices)
        self.chief = strategy_lib.is_chief(self.strategy)
        self.num_replicas = self.strategy.num_replicas_in_sync
        keras.utils.set_random_seed(cfg.seed)
        global_batch = cfg.batch_size * self.num_replicas
        learning_rate = cfg.optim.learning_rate * global_batch / cfg.optim.reference_batch_size
        with self.strategy.scope():
            self.model = build_embedder(cfg.model)
            self.optimizer, self.schedule = schedule_lib.make_optimizer(cfg.optim, cfg.num_steps, learning_rate)
            if self.precision.policy == "mixed_float16":
                self.optimizer = keras.optimizers.LossScaleOptimizer(self.optimizer)
            self.optimizer.build(self.model.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
            self.ema = WeightAverage(self.model, cfg.optim.ema_decay) if cfg.optim.ema_decay else None
        self._state = dict(model=self.model, optimizer=self.optimizer, step=self.step)
        self.checkpoint = tf.train.Checkpoint(**self._state, **checkpoint_entry(self.ema))
        save_dir = self.model_dir if self.chief else os.path.join(self.model_dir, ".worker_tmp")
        self.manager = tf.train.CheckpointManager(self.checkpoint, save_dir, max_to_keep=cfg.keep_checkpoints)

    def _restore(self) -> int:
        latest = tf.train.latest_checkpoint(self.model_dir)
        if not latest:
            return 0
        restore_run(self._state, self.ema, latest, self.log)
        step = int(self.step.numpy())
        self.log(f"resuming from step {step} ({latest})")
        return step

    def _dataset(self, start: int, label_ids: np.ndarray):
        cfg = self.config
        sampler = KxPSampler(label_ids, cfg.classes_per_batch, cfg.samples_per_class, cfg.seed)
        images = tf.constant(self.crops.images)
        labels = tf.constant(label_ids)

        def fn(ctx):
            pipelines, pipeline = ctx.num_input_pipelines, ctx.input_pipeline_id
            replicas = max(1, self.num_replicas // max(1, pipelines))  # replicas fed by this pipeline

            def batch_of(element):
                # element e of this pipeline feeds global step e // replicas; its batch is unique per (step, replica)
                return sampler.batch(int(element) * pipelines + pipeline)

            def load(element):
                index = tf.numpy_function(batch_of, [element], tf.int64)
                index.set_shape([cfg.batch_size])
                seed = tf.stack([tf.constant(cfg.seed, tf.int64), element * pipelines + pipeline])
                return augment_crops(tf.gather(images, index), seed, cfg.augment), tf.gather(labels, index)

            ds = tf.data.Dataset.range(start * replicas, cfg.num_steps * replicas)
            return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(2)

        return self.strategy.distribute_datasets_from_function(fn), sampler

    def _make_train_step(self):
        cfg = self.config
        model, optimizer, replicas = self.model, self.optimizer, self.num_replicas
        loss_scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        l2 = gradients_lib.l2_factor(cfg.optim)

        def replica_step(images, labels, hard):
            with tf.GradientTape() as tape:
                embeddings = model(images, training=True)
                all_loss, all_active = losses.batch_all_triplet_loss(labels, embeddings, cfg.margin)
                hard_loss, hard_active = losses.batch_hard_triplet_loss(labels, embeddings, cfg.margin)
                loss = tf.where(hard, hard_loss, all_loss)
                scaled = loss / replicas
                scaled = optimizer.scale_loss(scaled) if loss_scaled else scaled
            variables = model.trainable_variables
            grads = tape.gradient(scaled, variables)
            grads, _ = gradients_lib.finalize_gradients(grads, variables, cfg.optim.clip_norm, l2,
                                                        optimizer.dynamic_scale if loss_scaled else None)
            optimizer.apply_gradients(zip(grads, variables))
            distances = losses.pairwise_distances(embeddings)
            mean_distance = tf.reduce_sum(distances) / tf.cast(tf.maximum(tf.size(distances) - tf.shape(distances)[0], 1), tf.float32)
            return {"loss": loss / replicas, "active_triplets": tf.where(hard, hard_active, all_active) / replicas,
                    "mean_distance": mean_distance / replicas}

        def step_fn(iterator, hard):
            images, labels = next(iterator)
            out = self.strategy.run(replica_step, args=(images, labels, hard))
            if self.ema is not None:
                self.ema.update()  # cross-replica context, after the weights were updated
            return {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in out.items()}

        return tf.function(step_fn)

    def run(self) -> dict:
        cfg = self.config
        os.makedirs(self.model_dir, exist_ok=True)
        check_run_folder(self.model_dir, cfg)
        label_ids, vocabulary = self.crops.label_ids()
        self._build()
        if self.chief:
            cfg.save(self.model_dir)
        start = self._restore()
        if start >= cfg.num_steps:
            self.log(f"already trained to step {start} of {cfg.num_steps}; nothing to do")
            return {"steps": start, "train_seconds": 0.0, "final_loss": None, "checkpoint": self.manager.latest_checkpoint}
        dataset, sampler = self._dataset(start, label_ids)
        if self.chief:
            counts = np.bincount(label_ids, minlength=len(vocabulary))
            with open(os.path.join(self.model_dir, LABELS_FILE), "w") as f:
                json.dump({"labels": vocabulary, "crops_per_label": counts.tolist(),
                           "excluded": [vocabulary[i] for i in sampler.excluded]}, f, indent=1)
            if sampler.excluded:
                self.log(f"{len(sampler.excluded)} labels have fewer than 2 crops and are left out of training")
        iterator = iter(dataset)
        self.log(keep_freed_memory())  # after the iterator, as the detector's trainer does
        train_step = self._make_train_step()
        writer = tf.summary.create_file_writer(os.path.join(self.model_dir, "train")) if self.chief else tf.summary.create_noop_writer()
        self._signals = StopSignals().install()  # restored in the finally below
        from tqdm import tqdm

        bar = tqdm(total=cfg.num_steps, initial=start, desc="embedder", unit="step", file=sys.stderr, dynamic_ncols=True,
                   disable=not (self.progress and self.chief))
        t_start, step, last = time.time(), start, {}
        try:
            while step < cfg.num_steps:
                hard = tf.constant(cfg.mining(step) == "batch_hard")
                values = train_step(iterator, hard)
                step += 1
                self.step.assign(step)
                last = {k: float(v) for k, v in values.items()}
                if not math.isfinite(last["loss"]):
                    raise NonFiniteLossError(f"embedder loss is {last['loss']} at step {step}; training stopped. The last good "
                                             f"checkpoint is {self.manager.latest_checkpoint or 'none'}; lower --learning_rate.")
                bar.update(1)
                bar.set_postfix(loss=f"{last['loss']:.3f}", active=f"{last['active_triplets']:.2f}", mining=cfg.mining(step - 1))
                if step % cfg.log_every == 0 or step == cfg.num_steps:
                    with writer.as_default(step=step):
                        tf.summary.scalar("loss/triplet", last["loss"])
                        tf.summary.scalar("active_triplets", last["active_triplets"])
                        tf.summary.scalar("mean_distance", last["mean_distance"])
                        tf.summary.scalar("learning_rate", float(self.schedule(step)))
                if step % cfg.checkpoint_every == 0 or step == cfg.num_steps:
                    self.manager.save(checkpoint_number=step)
                if self._signals.received is not None:
                    path = self.manager.save(checkpoint_number=step)
                    self.log(f"stopped by signal {self._signals.received} at step {step}; checkpoint {path}. "
                             "Run the same command again to continue.")
                    break
        finally:
            bar.close()
            self._signals.restore()
            writer.flush()
        elapsed = time.time() - t_start
        summary = {"steps": step, "start_step": start, "train_seconds": round(elapsed, 2),
                   "crops_per_second": round((step - start) * cfg.batch_size * self.num_replicas / max(elapsed, 1e-9), 1),
                   "final_loss": last.get("loss"), "final_active_triplets": last.get("active_triplets"),
                   "final_mean_distance": last.get("mean_distance"),
                   "labels": len(vocabulary), "crops": len(self.crops), "checkpoint": self.manager.latest_checkpoint,
                   "replicas": self.num_replicas, "ema_decay": cfg.optim.ema_decay or None}
        if last and last["mean_distance"] < COLLAPSE_DISTANCE:
            self.log(f"warning: the embeddings have collapsed (mean distance {last['mean_distance']:.2g} between the crops of a "
                     "batch, on a unit sphere): nearest-neighbour ranks may still work but similarities say nothing. "
                     "Use a fixed --triplet_margin (e.g. 0.2) or more --batch_all_steps.")
        if self.chief:
            with open(os.path.join(self.model_dir, "train_summary.json"), "w") as f:
                json.dump(summary, f, indent=1)
        return summary
