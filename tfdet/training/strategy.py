"""Pick the tf.distribute strategy: one device, MirroredStrategy, or MultiWorker from TF_CONFIG."""

from __future__ import annotations

import json
import os

import tensorflow as tf


def configure_cpu_devices(count: int):
    """Split the CPU into `count` logical devices (must run before TF initialises its devices)."""
    if count and count > 1:
        cpus = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * count)


def tf_config_workers() -> int:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return 0
    try:
        cluster = json.loads(raw).get("cluster", {})
    except ValueError as exc:
        raise ValueError(f"TF_CONFIG is not valid JSON: {exc}") from None
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def make_strategy(kind: str = "auto", num_cpu_devices: int = 0):
    if kind == "multi_worker" or (kind == "auto" and tf_config_workers() > 1):
        return tf.distribute.MultiWorkerMirroredStrategy()
    configure_cpu_devices(num_cpu_devices)
    gpus = tf.config.list_logical_devices("GPU")
    if kind == "mirrored" or (kind == "auto" and (len(gpus) > 1 or num_cpu_devices > 1)):
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if kind in ("auto", "one_device"):
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    raise ValueError(f"unknown strategy {kind!r}: auto, one_device, mirrored or multi_worker")


def is_chief(strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0 and
                                              "chief" not in resolver.cluster_spec().as_dict())
