"""The backbone registry (ResNet / SE-ResNet here; MobileNetV2 and EfficientNet-Lite in their own modules),
all returning C2-C5 (strides 4, 8, 16, 32), and loading their pretrained weights.

Layer names follow keras.applications (conv1_conv, conv2_block1_1_conv, ...)
so ImageNet weights load by name.
"""

from __future__ import annotations

import os

import keras
from keras import layers

from tfdet.modeling.config import EFFICIENTNET_LITES, KERAS_APPLICATIONS, ModelConfig, published_normalization
from tfdet.modeling.efficientnet_lite import build_efficientnet_lite, torch_layer_names
from tfdet.modeling.layers import norm_layer, squeeze_excite
from tfdet.modeling.mobilenet import IMAGENET_WIDTHS, build_mobilenet_v2
from tfdet.weights.convert import MappingError, assign, map_state_dict
from tfdet.weights.sources import WeightsError, file_kind, package_checkpoint
from tfdet.weights.torch_reader import CheckpointError, read_state_dict

SPECS = {
    # name: (block type, blocks per stage, base widths)
    "tiny": ("basic", (1, 1, 1, 1), (32, 64, 128, 256)),
    "resnet18": ("basic", (2, 2, 2, 2), (64, 128, 256, 512)),
    "resnet34": ("basic", (3, 4, 6, 3), (64, 128, 256, 512)),
    "resnet50": ("bottleneck", (3, 4, 6, 3), (64, 128, 256, 512)),
    "resnet101": ("bottleneck", (3, 4, 23, 3), (64, 128, 256, 512)),
    "se_resnet50": ("bottleneck", (3, 4, 6, 3), (64, 128, 256, 512)),
    "se_resnet101": ("bottleneck", (3, 4, 23, 3), (64, 128, 256, 512)),
}


def _conv(x, filters, kernel, stride, name):
    return layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=True, name=name + "_conv")(x)


def _shortcut(x, out_channels, stride, norm, name):
    """Identity, or a strided 1x1 projection when the shape changes."""
    if stride == 1 and x.shape[-1] == out_channels:
        return x
    shortcut = _conv(x, out_channels, 1, stride, name + "_0")
    return norm_layer(norm, out_channels, name + "_0_bn")(shortcut)


def _conv_norm(x, filters, kernel, stride, norm, name, relu=True):
    """conv (name_conv) -> norm (name_bn) -> relu (name_relu), keras.applications naming."""
    y = _conv(x, filters, kernel, stride, name)
    y = norm_layer(norm, filters, name + "_bn")(y)
    return layers.Activation("relu", name=name + "_relu")(y) if relu else y


def _merge(shortcut, y, channels, se, name):
    if se:
        y = squeeze_excite(y, channels, name)
    y = layers.Add(name=name + "_add")([shortcut, y])
    return layers.Activation("relu", name=name + "_out")(y)


def _basic_block(x, filters, stride, norm, se, name):
    shortcut = _shortcut(x, filters, stride, norm, name)
    y = _conv_norm(x, filters, 3, stride, norm, name + "_1")
    y = _conv_norm(y, filters, 3, 1, norm, name + "_2", relu=False)
    return _merge(shortcut, y, filters, se, name)


def _bottleneck_block(x, filters, stride, norm, se, name):
    out_channels = 4 * filters
    shortcut = _shortcut(x, out_channels, stride, norm, name)
    y = _conv_norm(x, filters, 1, stride, norm, name + "_1")  # stride on the 1x1, as keras.applications
    y = _conv_norm(y, filters, 3, 1, norm, name + "_2")
    y = _conv_norm(y, out_channels, 1, 1, norm, name + "_3", relu=False)
    return _merge(shortcut, y, out_channels, se, name)


def build_backbone(config: ModelConfig) -> keras.Model:
    """Model: image (already normalised) -> [C2, C3, C4, C5]."""
    if config.backbone == "mobilenetv2":
        return build_mobilenet_v2(config.width_multiplier, config.norm)
    if config.backbone in EFFICIENTNET_LITES:
        return build_efficientnet_lite(config.backbone, config.width_multiplier, config.norm)
    block_type, blocks, widths = SPECS[config.backbone]
    widths = [max(8, int(round(w * config.width_multiplier))) for w in widths]
    se = config.backbone.startswith("se_")
    block = _basic_block if block_type == "basic" else _bottleneck_block
    inputs = keras.Input((None, None, 3), name="normalized_image")
    stem = widths[0]
    x = layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = layers.Conv2D(stem, 7, strides=2, name="conv1_conv")(x)
    x = norm_layer(config.norm, stem, "conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    features = []
    for stage, (count, filters) in enumerate(zip(blocks, widths)):
        for i in range(count):
            stride = 2 if (i == 0 and stage > 0) else 1
            x = block(x, filters, stride, config.norm, se, f"conv{stage + 2}_block{i + 1}")
        features.append(x)
    return keras.Model(inputs, features, name=f"{config.backbone}_backbone")


# layers of each backbone family's stem (the convolutions before the stride-4 stage)
STEM_PREFIXES = {"resnet": ("conv1_", "pool1_"), "mobilenetv2": ("Conv1", "bn_Conv1"), "efficientnet_lite": ("stem_",)}


def _family(backbone: str) -> str:
    if backbone.startswith("efficientnet_lite"):
        return "efficientnet_lite"
    return "mobilenetv2" if backbone == "mobilenetv2" else "resnet"


def frozen_layer_names(backbone: keras.Model, stages: int, backbone_name: str = "") -> list[str]:
    """Layers of the first `stages` stages: 1 = the stem; N = 2..5 = everything up to and including the
    layer that outputs C_N (so 5 is the whole backbone). `backbone_name` (a BACKBONES entry) picks the
    stem's layer names; by default it is read from the model's name ('<backbone>_backbone')."""
    if stages <= 0:
        return []
    if stages == 1:
        family = _family(backbone_name or backbone.name.removesuffix("_backbone"))
        return [layer.name for layer in backbone.layers if layer.name.startswith(STEM_PREFIXES[family])]
    last = backbone.outputs[min(stages, 5) - 2]
    names = []
    for layer in backbone.layers:  # topological order: every layer before C_N feeds it
        if isinstance(layer, keras.layers.InputLayer):
            continue
        names.append(layer.name)
        if layer.output is last:
            return names
    return names


def keras_reference(config: ModelConfig, source: str):
    """keras.applications model holding `source` weights ("imagenet" or a file), or None when the
    backbone has no keras.applications counterpart or the file is not a keras.applications file."""
    if config.backbone not in KERAS_APPLICATIONS or published_normalization(
            config.backbone, config.width_multiplier, source) is None:
        if source == "imagenet":
            raise WeightsError(f"no ImageNet weights are published for {config.backbone} at width "
                               f"{config.width_multiplier}; give a weights file path")
        return None
    name = KERAS_APPLICATIONS[config.backbone][0]
    kwargs = {}
    if config.backbone == "mobilenetv2":
        if source == "imagenet" and config.width_multiplier not in IMAGENET_WIDTHS:
            raise WeightsError(f"keras.applications has MobileNetV2 ImageNet weights for widths {IMAGENET_WIDTHS} only, "
                               f"not {config.width_multiplier}")
        kwargs["alpha"] = config.width_multiplier
    try:
        return getattr(keras.applications, name)(include_top=False, weights=source, input_shape=(None, None, 3), **kwargs)
    except Exception as exc:
        if source == "imagenet":
            raise WeightsError(f"cannot download ImageNet weights for {config.backbone}: {exc}") from exc
        return None  # maybe a tfdet backbone file


def torch_name_table(config: ModelConfig) -> dict:
    """{keras layer: (PyTorch module prefix, kind)} for the backbones whose PyTorch checkpoints map."""
    if config.backbone in EFFICIENTNET_LITES:
        return torch_layer_names(config.backbone, config.width_multiplier)
    raise WeightsError(f"no PyTorch checkpoint maps onto {config.backbone}: PyTorch files are read for "
                       f"{', '.join(EFFICIENTNET_LITES)}")


def map_torch_checkpoint(backbone: keras.Model, config: ModelConfig, path: str):
    """(values, report) of a PyTorch checkpoint mapped onto `backbone` (see tfdet.weights.convert)."""
    table = torch_name_table(config)
    try:
        state = read_state_dict(path)
    except CheckpointError as exc:
        raise WeightsError(str(exc)) from None
    return map_state_dict(backbone, state, table, os.path.basename(path))


def _keras_file_reference(config: ModelConfig, source: str) -> keras.Model:
    """A model of the configured backbone holding the weights of a Keras file: a tfdet backbone saved
    with save_weights (.weights.h5 / .h5), or a .keras archive of a backbone or a whole tfdet detector."""
    if file_kind(source) == "keras_archive":
        from tfdet.modeling.retinanet import InputNormalization

        try:
            saved = keras.saving.load_model(source, compile=False, custom_objects={"InputNormalization": InputNormalization})
        except Exception as exc:
            raise WeightsError(f"{source} is not a readable .keras file: {exc}") from exc
        nested = [layer for layer in saved.layers if layer.name == f"{config.backbone}_backbone"]
        return nested[0] if nested else saved
    clone = build_backbone(config)
    try:
        clone.load_weights(source)
    except Exception as exc:
        raise WeightsError(f"{source} does not match the {config.backbone} backbone: {exc}") from exc
    return clone


def copy_by_layer_name(backbone: keras.Model, reference: keras.Model, source: str):
    """Copy the weights of every layer of `reference` into the same-named layer of `backbone`; a
    convolution left without weights, or a shape that differs, is an error."""
    ref_layers = {layer.name: layer for layer in reference.layers}
    missing = []
    for layer in backbone.layers:
        if not layer.weights:
            continue
        ref = ref_layers.get(layer.name)
        if ref is None or len(ref.weights) != len(layer.weights):
            missing.append(layer)
            continue
        values = ref.get_weights()
        for w, v in zip(layer.weights, values):
            if tuple(w.shape) != tuple(v.shape):
                raise WeightsError(f"{source}: layer {layer.name} has shape {tuple(v.shape)}, expected {tuple(w.shape)}")
        layer.set_weights(values)
    convs = [layer.name for layer in missing if isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D))]
    if convs:
        raise WeightsError(f"{source} has no weights for {len(convs)} layers of {backbone.name}, e.g. {convs[:3]}")


def resolve_weights_source(config: ModelConfig) -> str:
    """config.backbone_weights with "imagenet" of EfficientNet-Lite resolved to its package's checkpoint
    ("imagenet" stays for keras.applications); a file that does not exist is an error."""
    source = config.backbone_weights
    if source == "imagenet" and config.backbone in EFFICIENTNET_LITES:
        return package_checkpoint(config.backbone)
    if source and source != "imagenet" and not os.path.isfile(source):
        raise WeightsError(f"backbone weights file not found: {source}")
    return source


def load_backbone_weights(backbone: keras.Model, config: ModelConfig):
    """Load ImageNet weights or a weights file into `backbone`.

    "imagenet": for EfficientNet-Lite the checkpoint of its registry package (installed with tfdet, no
    download); for ResNet-50/101 and MobileNetV2 keras.applications (needs internet once).
    A file may be a PyTorch checkpoint (.pth / .pt, legacy or zip; mapped by `torch_name_table`), a
    keras.applications file (`*.h5` / `*.weights.h5` of ResNet50/101 or MobileNetV2 without top), a
    file saved from a tfdet backbone (`backbone.save_weights`, e.g. by tools/convert_weights.py), or a
    `.keras` archive. Keras weights are matched by layer name (tfdet layers carry the keras.applications
    names); any convolution left unmatched, or any shape that differs, is an error.
    """
    source = resolve_weights_source(config)
    if not source:
        return
    if source != "imagenet" and file_kind(source) == "torch":
        values, report = map_torch_checkpoint(backbone, config, source)
        try:
            report.check()
        except MappingError as exc:
            raise WeightsError(str(exc)) from None
        assign(backbone, values)
        return
    reference = keras_reference(config, source) or _keras_file_reference(config, source)
    copy_by_layer_name(backbone, reference, source)
