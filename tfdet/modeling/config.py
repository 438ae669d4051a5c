"""ModelConfig: the architecture, validated, saved with every run and export."""

from __future__ import annotations

import dataclasses
import json

EFFICIENTNET_LITES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "efficientnet_lite3",
                      "efficientnet_lite4")
BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101", "se_resnet50", "se_resnet101", "tiny", "mobilenetv2",
             *EFFICIENTNET_LITES)
NORMS = ("frozen_bn", "group_norm", "sync_bn", "batch_norm")
# What the network's first layer is fed (0-255 RGB in): imagenet = RGB (x - mean) / std,
# caffe = BGR x - mean (keras.applications ResNet weights), tf = x / 127.5 - 1 (keras MobileNetV2 weights),
# centered = (x - 127.5) / 128 (EfficientNet-Lite weights).
NORMALIZATIONS = ("imagenet", "caffe", "tf", "centered")
# backbone -> (keras.applications class, the input normalisation its ImageNet weights were trained with)
KERAS_APPLICATIONS = {"resnet50": ("ResNet50", "caffe"), "resnet101": ("ResNet101", "caffe"),
                      "mobilenetv2": ("MobileNetV2", "tf")}
# backbones whose every published checkpoint (registry packages, PyTorch files) expects one normalisation
NATIVE_NORMALIZATION = {name: "centered" for name in EFFICIENTNET_LITES}
MOBILENETV2_WIDTHS = (0.35, 1.4)  # range of the width multiplier (alpha)


def check_mobilenet_width(alpha: float):
    low, high = MOBILENETV2_WIDTHS
    if not low <= alpha <= high:
        raise ValueError(f"mobilenetv2 width multiplier must be within {low}-{high}, got {alpha}")


def published_normalization(backbone: str, width_multiplier: float, weights: str) -> str | None:
    """The input normalisation that `weights` expect when they are published weights: keras.applications
    ("imagenet", or a file for a backbone keras.applications has) or EfficientNet-Lite's (with or
    without weights: its architecture is only published trained on `centered` inputs), else None."""
    if backbone in NATIVE_NORMALIZATION:
        return NATIVE_NORMALIZATION[backbone]
    if not weights or backbone not in KERAS_APPLICATIONS:
        return None
    if backbone != "mobilenetv2" and width_multiplier != 1.0:
        return None  # keras.applications has no narrow ResNets: the file can only be a tfdet backbone
    return KERAS_APPLICATIONS[backbone][1]


def resolve_normalization(backbone: str, width_multiplier: float, weights: str, requested: str) -> str:
    """"auto" -> the normalisation the weights were trained with ("imagenet" without keras weights)."""
    if requested == "auto":
        return published_normalization(backbone, width_multiplier, weights) or "imagenet"
    if requested not in NORMALIZATIONS:
        raise ValueError(f"unknown input normalization {requested!r}; choose from auto, {', '.join(NORMALIZATIONS)}")
    return requested


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
    # "auto" resolves, when the config is made, to what the backbone weights expect (NORMALIZATIONS)
    input_normalization: str = "auto"
    separable_convs: bool = False  # SSDLite-style depthwise-separable FPN and head convolutions
    # backbone stages kept fixed in training: 0 none, 1 the stem, N = 2..5 everything up to C_N (5: all)
    freeze_stages: int = 0

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
        if not 0 <= self.freeze_stages <= 5:
            raise ValueError(f"freeze_stages must be within 0-5, got {self.freeze_stages}")
        if self.backbone == "mobilenetv2":
            check_mobilenet_width(self.width_multiplier)
        object.__setattr__(self, "input_normalization", resolve_normalization(
            self.backbone, self.width_multiplier, self.backbone_weights, self.input_normalization))

    def check_input_normalization(self):
        """A new run whose explicit normalisation contradicts keras.applications ImageNet weights is refused
        (saved configs are not checked: a model is evaluated with the normalisation it was trained with).
        With a weights file the explicit choice wins (a tfdet backbone file has the normalisation of its run)."""
        expected = published_normalization(self.backbone, self.width_multiplier, self.backbone_weights)
        if self.backbone_weights == "imagenet" and expected and self.input_normalization != expected:
            publisher = (f"keras.applications {KERAS_APPLICATIONS[self.backbone][0]}" if self.backbone in KERAS_APPLICATIONS
                         else f"the published {self.backbone}")
            raise ValueError(f"--backbone_weights=imagenet loads {publisher} weights, trained on {expected!r} inputs, but "
                             f"--input_normalization={self.input_normalization}; use --input_normalization={expected} or auto")

    def check_initialisation(self, resumed: bool):
        """Training from scratch with frozen batch norm would keep its initial statistics (mean 0,
        variance 1, scale 1, offset 0): such layers normalise nothing. Refuse it."""
        if self.norm == "frozen_bn" and not self.backbone_weights and not resumed:
            raise ValueError("--norm=frozen_bn keeps the backbone's batch-norm statistics fixed, but without "
                             "--backbone_weights or --resume they are the initial ones (mean 0, variance 1), so "
                             "those layers normalise nothing; give --backbone_weights=imagenet (or a weights file) "
                             "or --resume, or train them: --norm=group_norm, batch_norm or sync_bn")

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
