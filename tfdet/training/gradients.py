"""What happens to the gradients between the tape and the optimizer, in one place.

Keras 3 optimizers clip each replica's *partial* gradient before the cross-replica sum, so
`global_clipnorm` would bound the wrong vector under MirroredStrategy / MultiWorkerMirroredStrategy,
and their SGD `weight_decay` is decoupled (it decays by lr * wd, about 10x weaker than the L2
penalty of the RetinaNet recipe's 1e-4 with momentum 0.9, and it decays biases, norm parameters and
the classification prior too). So the training step:

1. sums the gradients over replicas itself (`all_reduce`, once),
2. clips the summed gradient to `clip_norm` (global norm; with a loss scale the threshold is scaled
   too, so the unscaled gradient is what is clipped),
3. adds the L2 term `l2 * w` to the gradients of convolution / dense kernels only (SGD),
4. hands them to an optimizer whose own all-reduce is switched off (`PreReduced*`), so nothing is
   summed twice.

AdamW keeps its decoupled decay (the right form for Adam), restricted to kernels as well.
"""

from __future__ import annotations

import keras
import tensorflow as tf

DECAYED_VARIABLE_NAMES = ("kernel", "depthwise_kernel", "pointwise_kernel", "embeddings")


def is_decayed(variable) -> bool:
    """Weight decay applies to kernels only: never to biases, norm scales/offsets or the focal prior."""
    name = getattr(variable, "name", "").split("/")[-1].split(":")[0]
    return name in DECAYED_VARIABLE_NAMES


class _PreReducedMixin:
    """An optimizer that receives gradients already summed over replicas."""

    def _all_reduce_sum_gradients(self, grads_and_vars):
        return list(grads_and_vars)


class PreReducedSGD(_PreReducedMixin, keras.optimizers.SGD):
    pass


class PreReducedAdamW(_PreReducedMixin, keras.optimizers.AdamW):
    pass


def finalize_gradients(grads, variables, clip_norm: float = 0.0, l2: float = 0.0, loss_scale=None):
    """Replica context: -> gradients summed over replicas, clipped, with the L2 term added.

    `loss_scale`: the dynamic loss scale when the loss was scaled (mixed_float16), else None.
    Returns (gradients, global norm of the summed, unscaled gradient)."""
    ctx = tf.distribute.get_replica_context()
    pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
    reduced = [g for g, _ in pairs]
    if ctx is not None and ctx.num_replicas_in_sync > 1:
        reduced = ctx.all_reduce(tf.distribute.ReduceOp.SUM, reduced)
    scale = tf.cast(loss_scale, tf.float32) if loss_scale is not None else tf.constant(1.0)
    norm = tf.linalg.global_norm([tf.cast(g, tf.float32) for g in reduced])
    if clip_norm and clip_norm > 0:
        reduced, _ = tf.clip_by_global_norm(reduced, clip_norm * scale, use_norm=norm)
    if l2 and l2 > 0:
        reduced = [g + tf.cast(l2 * scale, g.dtype) * tf.cast(v, g.dtype) if is_decayed(v) else g
                   for g, (_, v) in zip(reduced, pairs)]
    out, it = [], iter(reduced)
    for g in grads:
        out.append(None if g is None else next(it))
    return out, norm / scale


def make_optimizer(optim, schedule):
    """SGD (momentum; L2 added by `finalize_gradients`) or AdamW (decoupled decay on kernels)."""
    if optim.optimizer == "adamw":
        optimizer = PreReducedAdamW(schedule, weight_decay=optim.weight_decay or None)
        if optim.weight_decay:
            optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta", "scale", "offset"])
        return optimizer
    return PreReducedSGD(schedule, momentum=optim.momentum)


def l2_factor(optim) -> float:
    """The L2 coefficient `finalize_gradients` adds (SGD only; AdamW decays in the optimizer)."""
    return optim.weight_decay if optim.optimizer == "sgd" else 0.0
