"""EmbedderRunConfig: everything an embedder training run needs, saved with the run."""

from __future__ import annotations

import dataclasses
import json
import os

from tfdet.recognition.augment import CropAugmentConfig
from tfdet.recognition.losses import SOFT, parse_margin
from tfdet.recognition.model import EmbedderConfig
from tfdet.training.config import PRECISIONS, OptimConfig, _known

CONFIG_FILE = "embedder_config.json"
LABELS_FILE = "labels.json"


@dataclasses.dataclass(frozen=True)
class EmbedderRunConfig:
    model: EmbedderConfig = EmbedderConfig()
    optim: OptimConfig = OptimConfig(optimizer="adamw", learning_rate=1e-3, reference_batch_size=64, warmup_steps=100)
    augment: CropAugmentConfig = CropAugmentConfig()
    classes_per_batch: int = 16  # P
    samples_per_class: int = 4  # K
    margin: object = SOFT  # "soft" or a positive float
    batch_all_steps: int = 0  # curriculum: batch-all mining for these first steps, batch-hard after
    num_steps: int = 2000
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    log_every: int = 20
    precision: str = "auto"  # tfdet.training.precision
    strategy: str = "auto"
    num_cpu_devices: int = 0
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "margin", parse_margin(self.margin))
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}")
        if self.num_steps < 1 or self.checkpoint_every < 1:
            raise ValueError("num_steps and checkpoint_every must be positive")
        if self.classes_per_batch < 2 or self.samples_per_class < 2:
            raise ValueError("K x P batches need P >= 2 classes and K >= 2 samples per class")
        if self.batch_all_steps < 0:
            raise ValueError("batch_all_steps must be >= 0")

    @property
    def batch_size(self) -> int:
        return self.classes_per_batch * self.samples_per_class

    def mining(self, step: int) -> str:
        return "batch_all" if step < self.batch_all_steps else "batch_hard"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)  # tuples are written as JSON lists

    def save(self, model_dir: str):
        os.makedirs(model_dir, exist_ok=True)
        with open(os.path.join(model_dir, CONFIG_FILE), "w") as f:
            json.dump(self.to_dict(), f, indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "EmbedderRunConfig":
        parts = {"model": EmbedderConfig, "optim": OptimConfig, "augment": CropAugmentConfig}
        built = {k: c(**_known(c, d.get(k, {}))) for k, c in parts.items()}
        return cls(**built, **_known(cls, {k: v for k, v in d.items() if k not in parts}))

    @classmethod
    def load(cls, model_dir: str) -> "EmbedderRunConfig":
        path = os.path.join(model_dir, CONFIG_FILE)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no {CONFIG_FILE} in {model_dir}: not an embedder run folder")
        try:
            with open(path) as f:
                return cls.from_dict(json.load(f))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path} is not a readable embedder config: {exc}") from None


def check_run_folder(model_dir: str, config: EmbedderRunConfig):
    """A folder holding an embedder run must be continued with the same architecture."""
    if not os.path.exists(os.path.join(model_dir, CONFIG_FILE)):
        return
    saved = EmbedderRunConfig.load(model_dir).model.architecture()
    diff = sorted(k for k, v in config.model.architecture().items() if saved.get(k) != v)
    if diff:
        raise ValueError(f"the embedder run in {model_dir} has another architecture ({', '.join(diff)}); use a new --model_dir")
