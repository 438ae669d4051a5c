"""The custom training loop: `strategy.run` inside a tf.function, so the same code runs on
one device, MirroredStrategy and MultiWorkerMirroredStrategy.

Continuation: checkpoints (model, optimizer, step) go to model_dir every
`checkpoint_every` steps; running again on the same model_dir resumes from the
latest one ("resuming from step N"). The data stream is reseeded from the
resumed step, so a resumed run sees a fresh, deterministic order. `--resume`
loads weights only, from a previous stage, after checking that its anchors, architecture and
input normalisation fit this run (tfdet.training.config.check_resume_source).

Precision comes from tfdet.training.precision (`auto` by default) and is recorded in
`precision.json`. Gradients are summed over replicas, clipped and given their L2 term in
tfdet.training.gradients. With `train_minutes` the run stops when the wall-clock budget is spent
(it carries over a resume; several workers go by the mean of their clocks) and the learning-rate decay
follows the budget. With `ema_decay` a
moving average of the weights (tfdet.training.ema) is kept beside them, saved with every checkpoint,
and is what evaluation, best/ and later loads see.

With an evaluator (the chief runs it) the best checkpoint goes to best/ (tfdet.training.best) and
`early_stopping_patience` evaluations without a better figure stop the run. A continued run reads
best/best.json back and restores the count of evaluations since the best from its checkpoint, so it
only ever replaces best/ with a better checkpoint and stops where the uninterrupted run would have; a
run that stopped early has nothing left to do unless the patience is raised. Every stop decision
(early stopping, the time budget, a signal) is agreed by all workers in one all-reduce after each step
(`_agree`), so that no worker leaves the loop while another waits in the next all-reduce.
"""

from __future__ import annotations

import collections
import contextlib
import json
import math
import os
import shutil
import sys
import time

import keras
import tensorflow as tf

from tfdet.evaluation import selection_key
from tfdet.input.pipeline import train_dataset
from tfdet.losses import detection_losses
from tfdet.modeling.retinanet import build_model
from tfdet.training import gradients as gradients_lib
from tfdet.training import schedule as schedule_lib
from tfdet.training import strategy as strategy_lib
from tfdet.training.best import Best, load_best, save_best
from tfdet.training.ema import WeightAverage, checkpoint_entry, read_weights, restore_run
from tfdet.training.memory import keep_freed_memory
from tfdet.training.signals import StopSignals
from tfdet.training.checkpoints import resolve_checkpoint
from tfdet.training.config import RunConfig, check_resume_source, check_run_folder
from tfdet.training.precision import apply_precision


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


LOSS_WINDOW = 10  # steps averaged for the summary's first / last loss

OUTPUT_LAYERS = ("cls_logits_conv", "box_regression_conv")  # their slots belong to the anchors
EVALUATIONS_SINCE_BEST = "evaluations_since_best"  # the checkpoint entry of the early-stopping count


def reinitialize_output_layers(model):
    """Give the final classification and regression convolutions their initial values again."""
    for name in OUTPUT_LAYERS:
        layer = model.get_layer(name)
        for variable, initializer in ((layer.kernel, layer.kernel_initializer), (layer.bias, layer.bias_initializer)):
            variable.assign(initializer(tuple(variable.shape), variable.dtype))


def _window_means(window) -> dict | None:
    if not window:
        return None
    return {"total_loss": round(sum(w[0] for w in window) / len(window), 4),
            "cls_loss": round(sum(w[1] for w in window) / len(window), 4)}


class Trainer:
    def __init__(self, config: RunConfig, model_dir: str, train_records: str, val_records: str | None = None,
                 resume: str | None = None, log=print, progress: bool = True, evaluator=None,
                 early_stopping_patience: int = 0, best_metric: str = "auto"):
        self.config = config
        self.model_dir = model_dir
        self.train_records = train_records
        self.val_records = val_records
        self.resume = resume
        self.log = log
        self.progress = progress
        self.evaluator = evaluator  # callable(model, step) -> dict with "hmean" or "mAP" (run on the chief only)
        self.early_stopping_patience = early_stopping_patience  # evaluations without a new best; 0 = never stop
        self.best_metric = best_metric  # which evaluation figure picks best/ (tfdet.evaluation.selection_key)
        self._signals = StopSignals()

    # -- set-up -------------------------------------------------------------------------
    def build(self):
        cfg = self.config
        self.precision = apply_precision(cfg.precision, log=self.log)
        self.strategy = strategy_lib.make_strategy(cfg.strategy, cfg.num_cpu_devices)
        self.chief = strategy_lib.is_chief(self.strategy)
        self.num_replicas = self.strategy.num_replicas_in_sync
        keras.utils.set_random_seed(cfg.input.seed)  # same initial weights for the same seed
        if cfg.global_batch_size % self.num_replicas:
            raise ValueError(f"global batch {cfg.global_batch_size} is not divisible by {self.num_replicas} replicas")
        cfg.model.check_input_normalization()
        cfg.model.check_initialisation(resumed=bool(self.resume) or tf.train.latest_checkpoint(self.model_dir) is not None)
        with self.strategy.scope():
            self.model = build_model(cfg.model, cfg.anchors)
            self.optimizer, self.schedule = schedule_lib.make_optimizer(cfg.optim, cfg.num_steps, cfg.scaled_learning_rate)
            if self.precision.policy == "mixed_float16":
                self.optimizer = keras.optimizers.LossScaleOptimizer(self.optimizer)
            self.optimizer.build(self.model.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
            self.train_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="train_seconds")
            self.ema = WeightAverage(self.model, cfg.optim.ema_decay) if cfg.optim.ema_decay else None
        # evaluations since the best one (early stopping): training state, saved and restored with the step
        self.evaluations_since_best = tf.Variable(0, dtype=tf.int64, trainable=False, name=EVALUATIONS_SINCE_BEST)
        self.time_fraction = self.schedule.track_time() if cfg.train_minutes > 0 else None
        self._state = dict(model=self.model, optimizer=self.optimizer, step=self.step, train_seconds=self.train_seconds,
                           **{EVALUATIONS_SINCE_BEST: self.evaluations_since_best})
        self.checkpoint = tf.train.Checkpoint(**self._state, **checkpoint_entry(self.ema))
        save_dir = self.model_dir if self.chief else os.path.join(self.model_dir, f".worker_tmp_{self._task_id()}")
        self.manager = tf.train.CheckpointManager(self.checkpoint, save_dir, max_to_keep=cfg.keep_checkpoints)
        self._all_mean = tf.function(self._mean_over_replicas)

    def _mean_over_replicas(self, values):
        """The mean of `values` over every replica of every worker (an all-reduce: all workers must call it)."""
        per_replica = self.strategy.run(tf.identity, args=(values,))
        return self.strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)

    def _agree(self, seconds: float, early_stop: bool, signalled: bool) -> tuple[float, bool, bool]:
        """Every stop decision goes through this one all-reduce, after each step on every worker: the training time
        (the mean of the workers' clocks, so the time budget and the learning rate it drives are the same
        everywhere) and whether any worker stops early (the chief's evaluation) or got a signal. All workers then
        leave the loop at the same step; one leaving alone would block the others in their next all-reduce."""
        agreed = self._all_mean(tf.constant([seconds, float(early_stop), float(signalled)], tf.float64)).numpy()
        return float(agreed[0]), bool(agreed[1] > 0), bool(agreed[2] > 0)

    def _averaged(self):
        """Inside: the model holds the weight average (when the run keeps one)."""
        return self.ema.applied() if self.ema is not None else contextlib.nullcontext()

    def _task_id(self):
        resolver = getattr(self.strategy, "cluster_resolver", None)
        return getattr(resolver, "task_id", 0) or 0

    def _restore(self) -> int:
        latest = tf.train.latest_checkpoint(self.model_dir)
        if latest:
            restore_run(self._saved_state(latest), self.ema, latest, self.log)
            step = int(self.step.numpy())
            self.log(f"resuming from step {step} ({latest})")
            return step
        if self.resume:
            path, source_dir = resolve_checkpoint(self.resume)
            reinit_outputs = check_resume_source(RunConfig.load(source_dir), self.config, source_dir)
            # weights only (a best/ckpt holds no optimizer or save counter); a stage that kept an average gives it
            which = read_weights(self.model, path)
            self.log(f"initialised weights from {path} (previous stage{', its weight average' if which == 'average' else ''}); "
                     "step starts at 0")
            if reinit_outputs:
                reinitialize_output_layers(self.model)
                self.log("the previous stage had other anchors (--allow_anchor_change): output layers start afresh")
            if self.ema is not None:
                self.ema.reset()
        return 0

    def _saved_state(self, ckpt: str) -> dict:
        """The training state `ckpt` holds: checkpoints written before the early-stopping count was kept lack it
        (the count then starts at 0)."""
        names = {name.split("/", 1)[0] for name, _ in tf.train.list_variables(ckpt)}
        return {k: v for k, v in self._state.items() if k != EVALUATIONS_SINCE_BEST or k in names}

    def dataset(self, start_step: int = 0):
        cfg = self.config
        if isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy):
            def fn(ctx):
                per_replica = ctx.get_per_replica_batch_size(cfg.global_batch_size)
                return train_dataset(self.train_records, cfg.input, cfg.anchors, cfg.matcher, cfg.coder,
                                     batch_size=per_replica, input_context=ctx, start_step=start_step)
            return self.strategy.distribute_datasets_from_function(fn)
        ds = train_dataset(self.train_records, cfg.input, cfg.anchors, cfg.matcher, cfg.coder,
                           batch_size=cfg.global_batch_size, start_step=start_step)
        return self.strategy.experimental_distribute_dataset(ds)

    def make_train_step(self):
        cfg = self.config
        model, optimizer = self.model, self.optimizer
        num_classes = cfg.model.num_classes
        loss_scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        l2 = gradients_lib.l2_factor(cfg.optim)

        def replica_step(images, targets):
            ctx = tf.distribute.get_replica_context()
            local_pos = tf.reduce_sum(tf.cast(targets["cls_targets"] > 0, tf.float32))
            global_pos = ctx.all_reduce(tf.distribute.ReduceOp.SUM, local_pos)
            with tf.GradientTape() as tape:
                outputs = model(tf.cast(images, tf.float32), training=True)  # uint8 from the pipeline
                losses = detection_losses(outputs, targets, num_classes, cfg.loss, global_pos)
                scaled = optimizer.scale_loss(losses["total_loss"]) if loss_scaled else losses["total_loss"]
            variables = model.trainable_variables
            grads = tape.gradient(scaled, variables)
            grads, norm = gradients_lib.finalize_gradients(
                grads, variables, cfg.optim.clip_norm, l2, optimizer.dynamic_scale if loss_scaled else None)
            optimizer.apply_gradients(zip(grads, variables))
            out = {k: losses[k] for k in ("total_loss", "cls_loss", "box_loss", "num_positives")}
            out["grad_norm"] = norm / self.num_replicas  # identical on every replica: summed below
            return out

        def step_fn(iterator):
            images, targets = next(iterator)
            per_replica = self.strategy.run(replica_step, args=(images, targets))
            if self.ema is not None:
                self.ema.update()  # cross-replica context, after the weights were updated
            return {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in per_replica.items()}

        return tf.function(step_fn, jit_compile=cfg.jit_compile or None)

    # -- loop ---------------------------------------------------------------------------
    def _save(self, step: int):
        path = self.manager.save(checkpoint_number=step)
        if not self.chief:
            shutil.rmtree(os.path.dirname(path), ignore_errors=True)
        return path

    def check(self) -> Best:
        """What must hold before anything is written: a run folder continued with the same anchors, model, best
        figure and protocol (ValueError / AnchorMismatchError otherwise). -> the best so far (best/best.json).
        Every worker reads it before the strategy exists, so a refusal stops them all."""
        cfg = self.config
        check_run_folder(self.model_dir, cfg)
        key = selection_key(self.best_metric, cfg.eval_protocol)
        return load_best(self.model_dir, key, self.best_metric, cfg.eval_protocol) if self.evaluator is not None else Best(key)

    def run(self) -> dict:
        cfg = self.config
        os.makedirs(self.model_dir, exist_ok=True)
        best = self.check()
        self.build()
        if self.chief:
            cfg.save(self.model_dir)
            self.precision.save(self.model_dir)
        start = self._restore()
        budget = cfg.train_minutes * 60.0
        spent = float(self.train_seconds.numpy())
        done = self._already_done(start, spent, best)
        if done:
            self.log(f"{done}; nothing to do")
            return {"steps": start, "train_seconds": 0.0, "images_per_second": 0.0, "final_loss": None,
                    "precision": self.precision.policy, "best": best.summary()}
        iterator = iter(self.dataset(start))
        self.log(keep_freed_memory())  # after the iterator: its GeneratorDataset op sets malloc's thresholds first
        train_step = self.make_train_step()
        writer = tf.summary.create_file_writer(os.path.join(self.model_dir, "train")) if self.chief else tf.summary.create_noop_writer()
        self._signals = StopSignals().install()  # restored in the finally below
        from tqdm import tqdm

        bar = tqdm(total=cfg.num_steps, initial=start, desc="train", unit="step", disable=not (self.progress and self.chief),
                   file=sys.stderr, dynamic_ncols=True)
        images_seen = 0
        t_start, cpu_start = time.time(), time.process_time()
        t_window, images_window = time.time(), 0
        first, last = {}, {}
        first_window, last_window = [], collections.deque(maxlen=LOSS_WINDOW)  # "did the loss fall" in the summary
        step = start
        stop = path = None
        try:
            while step < cfg.num_steps:
                values = train_step(iterator)
                step += 1
                self.step.assign(step)
                last = {k: float(v) for k, v in values.items()}
                first = first or last
                if len(first_window) < LOSS_WINDOW:
                    first_window.append((last["total_loss"], last["cls_loss"]))
                last_window.append((last["total_loss"], last["cls_loss"]))
                if not math.isfinite(last["total_loss"]):  # the loss is summed over all replicas: every worker stops here
                    kept = self.manager.latest_checkpoint
                    raise NonFiniteLossError(
                        f"loss is {last['total_loss']} at step {step} (cls {last['cls_loss']}, box {last['box_loss']}); "
                        f"training stopped. The last good checkpoint is {kept or 'none (no checkpoint was written yet)'}; "
                        "lower --learning_rate, raise --warmup_steps or set --clip_norm, then run again.")
                images_seen += cfg.global_batch_size
                images_window += cfg.global_batch_size
                bar.update(1)
                bar.set_postfix(loss=f"{last['total_loss']:.3f}", cls=f"{last['cls_loss']:.3f}", box=f"{last['box_loss']:.3f}")
                if step % cfg.log_every == 0 or step == cfg.num_steps:
                    now = time.time()
                    ips = images_window / max(now - t_window, 1e-9)
                    t_window, images_window = now, 0
                    with writer.as_default(step=step):
                        for k in ("total_loss", "cls_loss", "box_loss"):
                            tf.summary.scalar(f"loss/{k}", last[k])
                        tf.summary.scalar("learning_rate", float(self.schedule(step)))
                        tf.summary.scalar("positives_per_image", last["num_positives"] / cfg.global_batch_size)
                        tf.summary.scalar("images_per_second", ips)
                        tf.summary.scalar("gradient_norm", last["grad_norm"])
                evaluated = bool(cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.num_steps
                if evaluated:
                    best = self._evaluate(step, best)
                stop = self._stop_reason(step, spent + time.time() - t_start, budget)
                if stop == "budget" and not evaluated:
                    best = self._evaluate(step, best)  # the last step reached: evaluated as the last of num_steps would be
                if step % cfg.checkpoint_every == 0 or step == cfg.num_steps or stop:
                    path = self._save(step)
                if stop:
                    self._log_stop(stop, step, best, path)
                    break
        finally:
            bar.close()
            self._signals.restore()
            writer.flush()
        elapsed = time.time() - t_start
        summary = {
            "steps": step,
            "start_step": start,
            "train_seconds": round(elapsed, 2),
            "cpu_seconds": round(time.process_time() - cpu_start, 1),  # every thread of this process (this invocation)
            "images_per_second": round(images_seen / max(elapsed, 1e-9), 2),
            "first_loss": first.get("total_loss"),
            # mean (total, classification) loss of the run's first and last LOSS_WINDOW steps
            "loss_first_steps": _window_means(first_window),
            "loss_last_steps": _window_means(last_window),
            "final_loss": last.get("total_loss"),
            "final_cls_loss": last.get("cls_loss"),
            "final_box_loss": last.get("box_loss"),
            "checkpoint": self.manager.latest_checkpoint,
            "best": best.summary(),
            "early_stopped_at": step if stop == "early" else None,
            "replicas": self.num_replicas,
            "precision": self.precision.policy,
            "precision_reason": self.precision.reason,
            "stopped_by_time_budget": stop == "budget",
            "stopped_by_signal": stop == "signal",
            "ema_decay": cfg.optim.ema_decay or None,
        }
        if self.chief:
            with open(os.path.join(self.model_dir, "train_summary.json"), "w") as f:
                json.dump(summary, f, indent=1)
        return summary

    def _already_done(self, start: int, spent: float, best: Best) -> str | None:
        """Why a continued run has nothing left to train (the same on every worker: it comes from the checkpoint)."""
        cfg = self.config
        if start >= cfg.num_steps:
            return f"already trained to step {start} of {cfg.num_steps}"
        if cfg.train_minutes and spent >= cfg.train_minutes * 60.0:
            return f"already trained for its {cfg.train_minutes:g}-minute budget"
        if self._patience_spent():
            return (f"stopped early at step {start}: no better {best.key} in {int(self.evaluations_since_best.numpy())} "
                    f"evaluations (best {best.metric} at step {best.step}, in best/); raise --early_stopping_patience to go on")
        return None

    def _patience_spent(self) -> bool:
        return bool(self.evaluator is not None and self.early_stopping_patience
                    and int(self.evaluations_since_best.numpy()) >= self.early_stopping_patience)

    def _stop_reason(self, step: int, seconds: float, budget: float) -> str | None:
        """early, budget, signal or None: agreed by all workers (`_agree`)."""
        early_wanted = self._patience_spent() and step < self.config.num_steps
        seconds, early, signalled = self._agree(seconds, early_wanted, self._signals.received is not None)
        self.train_seconds.assign(seconds)
        if budget:
            self.time_fraction.assign(min(1.0, seconds / budget))
        if early:
            return "early"
        if budget and seconds >= budget:
            return "budget"
        return "signal" if signalled else None

    def _log_stop(self, reason: str, step: int, best: Best, checkpoint: str):
        cfg = self.config
        if reason == "early":
            detail = (f"no better {best.key} in {int(self.evaluations_since_best.numpy())} evaluations (best {best.metric:.4f} "
                      f"at step {best.step}, kept in best/)" if self.chief else "the chief's evaluations stopped improving")
            self.log(f"early stopping at step {step}: {detail}")
        elif reason == "budget":
            self.log(f"time budget of {cfg.train_minutes:g} minutes reached at step {step} of {cfg.num_steps}")
        else:
            received = self._signals.received or "on another worker"
            self.log(f"stopped by signal {received} at step {step}; checkpoint {checkpoint}. Run the same command again to continue.")

    def _evaluate(self, step: int, best: Best) -> Best:
        """Evaluate on the chief (the other workers go on to the next all-reduce and wait there); a better figure
        replaces best/, another evaluation without one counts towards early stopping."""
        if self.evaluator is None or not self.chief:
            return best
        with self._averaged():  # the weights evaluated are the weights best/ keeps
            metrics = self.evaluator(self.model, step)
            if best.key not in metrics:
                raise ValueError(f"--best_metric={self.best_metric}: the evaluation gives {sorted(metrics)}, not {best.key}")
            value = metrics[best.key]
            if best.improved_by(value):
                best = Best(best.key, value, step)
                save_best(self.model_dir, self.model, best, self.best_metric, self.config.eval_protocol, metrics,
                          "average" if self.ema is not None else "weights")
                self.evaluations_since_best.assign(0)
            else:
                self.evaluations_since_best.assign_add(1)
        writer = tf.summary.create_file_writer(os.path.join(self.model_dir, "eval"))
        with writer.as_default(step=step):
            for k, v in metrics.items():
                if isinstance(v, (int, float)):
                    tf.summary.scalar(f"eval/{k}", v)
        self.log(f"step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float)))
        return best
