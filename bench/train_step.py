"""Training throughput, each row a ratio to a like-for-like baseline measured in the same run.

- `demo_loop`: the demo model (`--config`, default configs/demo_cpu.cfg: batch 8 at 384) in the training loop itself
  (tf.data pipeline on synthetic records, distributed step, host-side loss read-back), over the same
  step fed one fixed batch again and again (the model's isolated forward + backward + optimizer).
  Goal: >= 0.8 (the pipeline and the loop cost at most a fifth of the time).
- `effl0_fpn_cpu_640` (`--detector`): a recipe's training step at 640, batch 8, over its bare backbone's forward +
  backward (EfficientNet-Lite0, frozen BN) in the same run: what the FPN, heads, losses and optimizer add.
  Goal: >= 0.6.
- `resnet50_fpn_512`: the ResNet-50-FPN quad RetinaNet (frozen BN) over keras.applications ResNet50
  forward + backward with its BN frozen too, at 512: what the FPN, heads and losses add to the backbone.
- `keras_hub_retinanet_512` (when keras-hub is installed): keras-hub's box RetinaNet (ResNet-50) train
  step at 512, as a peer of ours; skipped with a message otherwise.

`--precision=float32|mixed_bfloat16|auto` (default float32: the same on every CPU). The machine's CPU
model and bf16 flags are printed with the figures.
"""

import argparse
import os
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from tfdet.anchors.config import AnchorConfig
from tfdet.benchmark import best_rate, report
from tfdet.losses import LossConfig, detection_losses
from tfdet.modeling.config import ModelConfig
from tfdet.modeling.retinanet import build_model
from tfdet.training.memory import keep_freed_memory
from tfdet.training.precision import apply_precision, read_cpu_flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _timed_steps(step, batch: int, steps: int, repeats: int = 3) -> float:
    """Images/s of `step()` (returns tensors), best of `repeats` windows after one warm-up call."""
    tf.nest.map_structure(lambda t: t.numpy(), step())

    def window():
        out = None
        for _ in range(steps):
            out = step()
        tf.nest.map_structure(lambda t: t.numpy(), out)

    return best_rate(window, steps * batch, repeats)


def _trainer(precision: str, flagfile: str, *extra: str):
    """A built Trainer of `flagfile` on 64 synthetic records (the tools' own flags, loop and step)."""
    from absl import flags as absl_flags

    from tfdet import flags as tfdet_flags
    from tfdet.datasets import get_reader
    from tfdet.records import writer
    from tfdet.training.trainer import Trainer

    work = tempfile.mkdtemp(prefix="tfdet_bench_")
    writer.convert(get_reader("synthetic", num_images=64, seed=5), os.path.join(work, "records"), num_shards=2, progress=False)
    tfdet_flags.define_train_flags()
    fv = absl_flags.FLAGS
    fv.unparse_flags()
    fv(["bench", f"--flagfile={os.path.join(REPO, flagfile)}", f"--precision={precision}",
        f"--train_records={os.path.join(work, 'records', '*.tfrecord')}", f"--model_dir={os.path.join(work, 'run')}", *extra])
    config = tfdet_flags.run_config_from_flags(fv)
    trainer = Trainer(config, os.path.join(work, "run"), fv.train_records, log=lambda *_: None, progress=False)
    trainer.build()
    return trainer, config


def _isolated_step_rate(trainer, steps: int) -> tuple:
    """(step, iterator of the real pipeline, images/s of the step fed one fixed batch again and again)."""
    step = trainer.make_train_step()
    iterator = iter(trainer.dataset(0))
    fixed = next(iter(trainer.dataset(0)))
    repeated = iter(trainer.strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(fixed).repeat()))
    keep_freed_memory()  # as Trainer.run does after creating its iterator
    return step, iterator, _timed_steps(lambda: step(repeated), trainer.config.global_batch_size, steps)


def demo_loop_rows(precision: str, steps: int, flagfile: str = "configs/demo_cpu.cfg") -> dict:
    """The demo's own loop vs the same step on one fixed batch."""
    trainer, config = _trainer(precision, flagfile)
    batch = config.global_batch_size
    step, iterator, isolated = _isolated_step_rate(trainer, steps)
    loop = _timed_steps(lambda: step(iterator), batch, steps)
    loop = max(loop, _timed_steps(lambda: step(iterator), batch, steps))  # alternate, best of each
    return {"demo_loop": {"images_per_second": round(loop, 2), "isolated_step_images_per_second": round(isolated, 2),
                          "ratio": round(loop / isolated, 3), "batch": batch, "size": config.input.sizes[0],
                          "precision": trainer.precision.policy, "config": flagfile}}


def detector_vs_backbone_rows(precision: str, steps: int, flagfile: str, size: int, batch: int) -> dict:
    """A detector recipe's training step (the loop's own step, one fixed batch: forward, losses, backward,
    optimizer) over its bare backbone's forward + backward (same norm, batch, size and precision)."""
    from tfdet.modeling.backbones import build_backbone

    trainer, config = _trainer(precision, flagfile, f"--sizes={size}", f"--batch_size={batch}")
    _, _, ours = _isolated_step_rate(trainer, steps)
    backbone = build_backbone(config.model)
    images = tf.random.uniform([batch, size, size, 3], -1, 1)
    floor = _timed_steps(_step_fn(backbone, lambda out: tf.add_n([tf.reduce_mean(tf.square(tf.cast(f, tf.float32)))
                                                                   for f in out]), images), batch, steps)
    name = os.path.splitext(os.path.basename(flagfile))[0]
    return {f"{name}_{size}": {"images_per_second": round(ours, 3), "backbone_images_per_second": round(floor, 3),
                               "ratio": round(ours / floor, 3), "batch": batch, "size": size,
                               "precision": trainer.precision.policy, "config": flagfile}}


def _step_fn(model, loss_fn, images):
    optimizer = keras.optimizers.SGD(0.001, momentum=0.9)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(model(images, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return step


def resnet50_rows(steps: int, batch: int = 2, size: int = 512) -> dict:
    images = tf.random.uniform([batch, size, size, 3], 0, 255)
    anchors = AnchorConfig.for_levels(3, 7)
    model = build_model(ModelConfig(backbone="resnet50", norm="frozen_bn"), anchors)
    a = anchors.num_anchors(size, size)
    rng = np.random.default_rng(0)
    targets = {"cls_targets": tf.constant(rng.choice([-1, 0, 0, 0, 0, 0, 0, 0, 0, 1], (batch, a)), tf.int32),
               "box_indices": tf.constant(np.sort(rng.choice(a, (batch, 256), replace=False), 1), tf.int32),
               "box_targets": tf.constant(rng.normal(0, 1, (batch, 256, 12)), tf.float32)}
    ours = _timed_steps(_step_fn(model, lambda out: detection_losses(out, targets, 1, LossConfig(), 100.0)["total_loss"], images),
                        batch, steps)
    backbone = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(size, size, 3))
    for layer in backbone.layers:  # frozen BN, as in the detector
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    floor = _timed_steps(_step_fn(backbone, lambda out: tf.reduce_mean(tf.square(tf.cast(out, tf.float32))), images), batch, steps)
    rows = {"resnet50_fpn_512": {"images_per_second": round(ours, 3), "backbone_frozen_bn_images_per_second": round(floor, 3),
                                 "ratio": round(ours / floor, 3), "batch": batch}}
    try:
        import keras_hub
    except ImportError:
        print("keras-hub is not installed: its RetinaNet peer row is skipped (pip install keras-hub)", file=sys.stderr)
        return rows
    try:
        peer = _keras_hub_rate(keras_hub, images, steps, batch, size)
        rows["keras_hub_retinanet_512"] = {"images_per_second": round(peer, 3), "ratio": round(ours / peer, 3)}
    except Exception as exc:  # a peer that fails to build must not hide our figures
        print(f"keras-hub RetinaNet peer skipped: {exc}", file=sys.stderr)
    return rows


def _keras_hub_rate(keras_hub, images, steps, batch, size):
    backbone = keras_hub.models.ResNetBackbone(input_conv_filters=[64], input_conv_kernel_sizes=[7],
                                               stackwise_num_filters=[64, 128, 256, 512], stackwise_num_blocks=[3, 4, 6, 3],
                                               stackwise_num_strides=[1, 2, 2, 2], block_type="bottleneck_block",
                                               image_shape=(size, size, 3))
    detector = keras_hub.models.RetinaNetObjectDetector(
        backbone=keras_hub.models.RetinaNetBackbone(image_encoder=backbone, min_level=3, max_level=7, use_p5=False),
        anchor_generator=keras_hub.layers.AnchorGenerator(bounding_box_format="yxyx", min_level=3, max_level=7,
                                                          num_scales=3, aspect_ratios=[0.5, 1.0, 2.0], anchor_size=4),
        num_classes=1, bounding_box_format="yxyx")
    detector.compile(optimizer=keras.optimizers.SGD(0.001, momentum=0.9))
    boxes = {"boxes": tf.constant([[[40.0, 40.0, 200.0, 300.0]]] * batch), "labels": tf.constant([[0]] * batch)}
    data = tf.data.Dataset.from_tensors((images, boxes)).repeat()  # its train_on_batch rejects dict targets
    detector.fit(data, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)  # trace
    start = time.perf_counter()
    detector.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
    return steps * batch / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", default="float32", help="float32, mixed_bfloat16 or auto")
    parser.add_argument("--steps", type=int, default=6, help="steps per timing window")
    parser.add_argument("--config", default="configs/demo_cpu.cfg", help="flagfile of the demo-loop model")
    parser.add_argument("--skip_resnet50", action="store_true", help="only the demo model rows")
    parser.add_argument("--detector", default="configs/effl0_fpn_cpu.cfg",
                        help="recipe whose step is timed against its bare backbone ('' to skip)")
    parser.add_argument("--detector_size", type=int, default=640)
    parser.add_argument("--detector_batch", type=int, default=8)
    args = parser.parse_args()
    apply_precision(args.precision, log=lambda m: print(m, file=sys.stderr))
    cpu_flags = read_cpu_flags() or set()
    rows = demo_loop_rows(args.precision, args.steps, args.config)
    print(f"demo loop: {rows['demo_loop']}", file=sys.stderr)
    if args.detector:
        rows.update(detector_vs_backbone_rows(args.precision, max(2, args.steps // 2), args.detector,
                                              args.detector_size, args.detector_batch))
        print(f"detector vs backbone: {rows}", file=sys.stderr)
    if not args.skip_resnet50:
        apply_precision(args.precision, log=lambda m: None)
        rows.update(resnet50_rows(max(2, args.steps // 2)))
    report({"bench": "train_step", "precision": rows["demo_loop"]["precision"],
            "cpu_bf16_flags": sorted(f for f in cpu_flags if "bf16" in f),
            "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""), **rows, "ratio": rows["demo_loop"]["ratio"]})


if __name__ == "__main__":
    main()
