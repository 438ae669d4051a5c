"""Training-step images/s of ResNet-50-FPN at 512 and of the small backbone at 384, each as a ratio
to keras.applications.ResNet50 forward + backward alone at the same size (the backbone floor),
measured in the same run on this CPU."""

import sys

import keras
import numpy as np
import tensorflow as tf

from tfdet.anchors.config import AnchorConfig
from tfdet.benchmark import best_rate, report
from tfdet.losses import LossConfig, detection_losses
from tfdet.modeling.config import ModelConfig
from tfdet.modeling.retinanet import build_model

BATCH, STEPS = 2, 4


def step_rate(model, loss_fn, size):
    optimizer = keras.optimizers.SGD(0.001, momentum=0.9)
    images = tf.random.uniform([BATCH, size, size, 3], 0, 255)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(model(images, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    step()
    return best_rate(lambda: [step() for _ in range(STEPS)], STEPS * BATCH, 2)


def detector_rate(model_cfg, anchors, size):
    model = build_model(model_cfg, anchors)
    a = anchors.num_anchors(size, size)
    rng = np.random.default_rng(0)
    positives = 256
    targets = {"cls_targets": tf.constant(rng.choice([-1, 0, 0, 0, 1], (BATCH, a)), tf.int32),
               "box_indices": tf.constant(np.sort(rng.choice(a, (BATCH, positives), replace=False), 1), tf.int32),
               "box_targets": tf.constant(rng.normal(0, 1, (BATCH, positives, 12)), tf.float32)}
    return step_rate(model, lambda out: detection_losses(out, targets, 1, LossConfig(), 100.0)["total_loss"], size)


def floor_rate(size):
    backbone = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(size, size, 3))
    return step_rate(backbone, lambda out: tf.reduce_mean(tf.square(out)), size)


def main():
    rows = {}
    text = AnchorConfig.for_levels(3, 7)
    for name, cfg, anchors, size in (
        ("resnet50_fpn_512", ModelConfig(backbone="resnet50"), text, 512),
        ("tiny_384", ModelConfig(backbone="tiny", norm="group_norm", fpn_channels=64, head_convs=2, head_channels=64),
         AnchorConfig(min_level=3, max_level=6, base_sizes=(24, 48, 96, 192), aspect_ratios=(1, 2, 4, 8), scales_per_octave=1), 384),
    ):
        ours = detector_rate(cfg, anchors, size)
        floor = floor_rate(size)
        rows[name] = {"images_per_second": round(ours, 3), "resnet50_floor_images_per_second": round(floor, 3), "ratio": round(ours / floor, 4)}
        print(f"{name}: {ours:.2f} img/s, ResNet50 floor at {size}: {floor:.2f} img/s", file=sys.stderr)
    report({"bench": "train_step", "batch": BATCH, "precision": "float32", **rows, "ratio": rows["resnet50_fpn_512"]["ratio"]})


if __name__ == "__main__":
    main()
