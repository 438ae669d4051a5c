"""The embedding network: a tfdet backbone (ResNet-18/50, ...) -> global average pooling ->
dense -> L2-normalised embedding. Inputs are crops, 0-255 RGB [N, S, S, 3]."""

from __future__ import annotations

import dataclasses
import json

import keras
from keras import layers

from tfdet.modeling.backbones import build_backbone, frozen_layer_names, load_backbone_weights
from tfdet.modeling.config import BACKBONES, NORMS, ModelConfig
from tfdet.modeling.retinanet import InputNormalization


@dataclasses.dataclass(frozen=True)
class EmbedderConfig:
    backbone: str = "resnet18"
    norm: str = "group_norm"
    width_multiplier: float = 1.0
    embedding_size: int = 128
    input_size: int = 64  # crops are input_size x input_size
    crop_margin: float = 0.1  # box grown by this share of its size on each side before cropping
    freeze_stages: int = 0  # 0: train everything; 1: stem; 2: stem + conv2; ... 5: whole backbone
    backbone_weights: str = ""  # "", "imagenet" or a weights file
    input_normalization: str = "imagenet"

    def __post_init__(self):
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; choose from {', '.join(BACKBONES)}")
        if self.norm not in NORMS:
            raise ValueError(f"unknown norm {self.norm!r}; choose from {', '.join(NORMS)}")
        if self.embedding_size < 2:
            raise ValueError("embedding_size must be at least 2")
        if self.input_size < 32 or self.input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32 (the backbone's stride), not {self.input_size}")
        if not 0 <= self.freeze_stages <= 5:
            raise ValueError("freeze_stages must be within 0-5")
        if not 0 <= self.crop_margin < 1:
            raise ValueError("crop_margin must be within [0, 1)")

    def backbone_config(self) -> ModelConfig:
        return ModelConfig(backbone=self.backbone, norm=self.norm, width_multiplier=self.width_multiplier,
                           backbone_weights=self.backbone_weights, input_normalization=self.input_normalization)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def architecture(self) -> dict:
        """What a checkpoint must match (weights source and freezing may differ between stages)."""
        d = self.to_dict()
        for k in ("backbone_weights", "freeze_stages", "crop_margin"):
            d.pop(k)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def build_embedder(config: EmbedderConfig) -> keras.Model:
    crops = keras.Input((config.input_size, config.input_size, 3), name="crops")
    x = InputNormalization(config.input_normalization, name="normalize")(crops)
    backbone = build_backbone(config.backbone_config())
    load_backbone_weights(backbone, config.backbone_config())
    for name in frozen_layer_names(backbone, config.freeze_stages, config.backbone):
        backbone.get_layer(name).trainable = False
    c5 = backbone(x)[-1]
    pooled = layers.GlobalAveragePooling2D(name="pool")(c5)
    projected = layers.Dense(config.embedding_size, name="embedding_dense")(pooled)
    embeddings = layers.UnitNormalization(axis=-1, dtype="float32", name="embedding")(projected)
    return keras.Model(crops, embeddings, name="embedder")


def embed(model: keras.Model, images, batch_size: int = 256):
    """uint8 crops [N, S, S, 3] -> float32 embeddings [N, D] (numpy)."""
    import numpy as np
    import tensorflow as tf

    if len(images) == 0:
        return np.zeros((0, model.output_shape[-1]), np.float32)
    call = tf.function(lambda x: model(tf.cast(x, tf.float32), training=False))
    return np.concatenate([call(tf.constant(images[i:i + batch_size])).numpy() for i in range(0, len(images), batch_size)])
