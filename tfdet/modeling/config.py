"""ModelConfig: the architecture, validated, saved with every run and export."""

from __future__ import annotations

import dataclasses
import json

BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101", "se_resnet50", "se_resnet101", "tiny")
NORMS = ("frozen_bn", "group_norm", "sync_bn", "batch_norm")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    backbone: str = "resnet50"
    norm: str = "frozen_bn"
    width_multiplier: float = 1.0  # scales backbone channels (CPU configs)
    fpn_channels: int = 256
    fpn_from_c2: bool = False  # True: FPN over C2-C5 (P2 available); False: C3-C5
    head_convs: int = 4
    head_channels: int = 256
    head_norm: bool = False  # GroupNorm in the heads
    head_kernel: tuple = (3, 5)  # (height, width): TextBoxes++ long kernels
    num_classes: int = 1
    loc_outputs: int = 12
    classification_loss: str = "focal"  # or "ohem" (softmax, background class)
    prior_probability: float = 0.01
    backbone_weights: str = ""  # "", "imagenet", or a weights file path
    input_normalization: str = "imagenet"  # "imagenet" (RGB mean/std) or "caffe" (keras ResNet weights)

    def __post_init__(self):
        object.__setattr__(self, "head_kernel", tuple(int(v) for v in self.head_kernel))
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; choose from {', '.join(BACKBONES)}")
        if self.norm not in NORMS:
            raise ValueError(f"unknown norm {self.norm!r}; choose from {', '.join(NORMS)}")
        if self.classification_loss not in ("focal", "ohem"):
            raise ValueError("classification_loss must be 'focal' or 'ohem'")
        if self.loc_outputs not in (8, 12):
            raise ValueError("loc_outputs must be 8 or 12")
        if self.num_classes < 1:
            raise ValueError("num_classes must be at least 1")
        if len(self.head_kernel) != 2 or min(self.head_kernel) < 1:
            raise ValueError("head_kernel must be two positive ints")

    @property
    def num_logits(self) -> int:
        return self.num_classes + (1 if self.classification_loss == "ohem" else 0)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["head_kernel"] = list(self.head_kernel)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        return cls(**data)
