"""Map a foreign state dict (PyTorch names and layouts) onto a Keras model, tensor by tensor.

A name table says, for each weighted Keras layer, which PyTorch module holds its tensors and what
kind of layer it is; the kind fixes the tensor names and the layout change (PyTorch convolutions
are [out, in, kh, kw], Keras [kh, kw, in, out]; dense layers are transposed). Every tensor of the
checkpoint ends up mapped, skipped for a stated reason, or unexpected; a missing tensor, a shape
mismatch or an unexpected name is an error that names it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

# kind -> [(PyTorch tensor name, layout change, required)] in the order of the Keras layer's weights
KINDS = {
    "conv": [("weight", (2, 3, 1, 0), True), ("bias", None, False)],
    "depthwise": [("weight", (2, 3, 0, 1), True), ("bias", None, False)],
    "bn": [("weight", None, True), ("bias", None, True), ("running_mean", None, True), ("running_var", None, True)],
    "dense": [("weight", (1, 0), True), ("bias", None, True)],
}
NO_KERAS_SLOT = {"num_batches_tracked": "batch-norm step counter: Keras keeps none"}


class MappingError(ValueError):
    """The checkpoint does not fit the model: the message names the tensor."""


@dataclasses.dataclass
class MappingReport:
    source: str
    mapped: list = dataclasses.field(default_factory=list)  # (torch name, keras weight path, shape)
    skipped: list = dataclasses.field(default_factory=list)  # (torch name, reason)
    unexpected: list = dataclasses.field(default_factory=list)  # torch names no table entry explains
    errors: list = dataclasses.field(default_factory=list)  # messages (missing tensors, shape mismatches)

    @property
    def parameters(self) -> int:
        return int(sum(np.prod(shape) for _, _, shape in self.mapped))

    def table(self) -> str:
        """Plain-text report: one line per mapped, skipped and unexpected tensor, then the counts."""
        lines = [f"{'status':<10} {'checkpoint tensor':<44} {'keras weight / reason'}"]
        lines += [f"{'mapped':<10} {name:<44} {target} {list(shape)}" for name, target, shape in self.mapped]
        lines += [f"{'skipped':<10} {name:<44} {reason}" for name, reason in self.skipped]
        lines += [f"{'UNEXPECTED':<10} {name:<44} no layer of the model takes it" for name in self.unexpected]
        lines += [f"{'ERROR':<10} {message}" for message in self.errors]
        lines.append(f"{self.source}: {len(self.mapped)} tensors mapped ({self.parameters:,} parameters), "
                     f"{len(self.skipped)} skipped, {len(self.unexpected)} unexpected, {len(self.errors)} errors")
        return "\n".join(lines)

    def check(self):
        problems = self.errors + [f"unknown tensor {name}: no layer of the model takes it" for name in self.unexpected]
        if problems:
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            raise MappingError(f"{self.source}: " + "; ".join(problems[:3]) + more)


def _strip_wrapper_prefix(state: dict) -> dict:
    """nn.DataParallel and DistributedDataParallel save every name behind 'module.'."""
    if state and all(name.startswith("module.") for name in state):
        return {name[len("module."):]: value for name, value in state.items()}
    return state


def map_state_dict(model, state: dict, names: dict, source: str) -> tuple[dict, MappingReport]:
    """({keras layer name: [arrays in the layer's weight order]}, report) for `model`.

    `names` maps each Keras layer name to (PyTorch module prefix, kind); entries whose layer the model
    lacks (a classifier head on a backbone) have their tensors skipped with that reason.
    """
    state = _strip_wrapper_prefix(dict(state))
    report = MappingReport(source)
    values = {}
    used = set()
    layers = {layer.name: layer for layer in model.layers if layer.weights}
    for keras_name, (prefix, kind) in names.items():
        layer = layers.pop(keras_name, None)
        tensors = [(f"{prefix}.{suffix}", layout, required) for suffix, layout, required in KINDS[kind]]
        if layer is None:
            for name, _, _ in tensors:
                if name in state:
                    used.add(name)
                    report.skipped.append((name, f"not part of {model.name} (its {keras_name} layer is left out)"))
            continue
        arrays = []
        for (name, layout, required), weight in zip([t for t in tensors if t[0] in state or t[2]], layer.weights):
            if name not in state:
                report.errors.append(f"missing tensor {name} (for {weight.path})")
                continue
            used.add(name)
            value = state[name] if layout is None else np.transpose(state[name], layout)
            if tuple(value.shape) != tuple(weight.shape):
                report.errors.append(f"tensor {name} has shape {list(state[name].shape)}, which is "
                                     f"{list(value.shape)} in Keras layout, but {weight.path} is {list(weight.shape)}")
                continue
            arrays.append(value.astype(np.float32))
            report.mapped.append((name, weight.path, tuple(weight.shape)))
        if len(arrays) == len(layer.weights):
            values[keras_name] = arrays
        elif not any(keras_name in message for message in report.errors):
            report.errors.append(f"layer {keras_name} has {len(layer.weights)} weights, the checkpoint {len(arrays)}")
    for keras_name in layers:
        report.errors.append(f"layer {keras_name} of {model.name} has no tensors in the name table")
    for name in state:
        if name in used:
            continue
        reason = NO_KERAS_SLOT.get(name.rsplit(".", 1)[-1])
        if reason:
            report.skipped.append((name, reason))
        else:
            report.unexpected.append(name)
    return values, report


def assign(model, values: dict):
    """Set the mapped arrays (from map_state_dict) into the model's layers."""
    for keras_name, arrays in values.items():
        model.get_layer(keras_name).set_weights(arrays)
