"""RunConfig: everything a training run needs, typed, validated and saved with the run."""

from __future__ import annotations

import dataclasses
import json
import os

from tfdet.anchors.coder import BoxCoder
from tfdet.anchors.config import AnchorConfig, AnchorMismatchError, check_same
from tfdet.anchors.matcher import MatcherConfig
from tfdet.evaluation import PROTOCOLS
from tfdet.input.augment import AugmentConfig
from tfdet.input.pipeline import InputConfig
from tfdet.losses import LossConfig
from tfdet.modeling.config import ModelConfig
from tfdet.training.ema import check_decay
from tfdet.training.precision import CHOICES as PRECISIONS


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    optimizer: str = "sgd"  # sgd | adamw
    learning_rate: float = 0.01  # for `reference_batch_size` images; scaled linearly with the global batch
    reference_batch_size: int = 16
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_steps: int = 500
    warmup_factor: float = 0.001
    schedule: str = "cosine"  # cosine | step | constant
    step_boundaries: tuple = (0.67, 0.89)  # fractions of num_steps
    step_factor: float = 0.1
    clip_norm: float = 10.0  # global norm; 0 disables
    ema_decay: float = 0.0  # moving average of the weights (tfdet.training.ema); 0: none

    def __post_init__(self):
        object.__setattr__(self, "step_boundaries", tuple(float(v) for v in self.step_boundaries))
        if self.optimizer not in ("sgd", "adamw"):
            raise ValueError("optimizer must be sgd or adamw")
        if self.schedule not in ("cosine", "step", "constant"):
            raise ValueError("schedule must be cosine, step or constant")
        if self.learning_rate <= 0:
            raise ValueError("learning_rate must be positive")
        check_decay(self.ema_decay)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    model: ModelConfig
    anchors: AnchorConfig
    input: InputConfig
    matcher: MatcherConfig
    coder: BoxCoder
    loss: LossConfig
    optim: OptimConfig
    num_steps: int = 1000
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    log_every: int = 20
    eval_every: int = 0  # 0: only at the end when --val_records is given
    eval_size: int = 0  # 0: largest training size
    eval_protocol: str = "icdar2015"  # how the run is scored: picks best/, and export's NMS and score floor defaults
    precision: str = "auto"  # auto | float32 | mixed_float16 | mixed_bfloat16 (tfdet.training.precision)
    train_minutes: float = 0.0  # wall-clock training budget (0: none): stop there, the decay ends there
    jit_compile: bool = False
    strategy: str = "auto"
    num_cpu_devices: int = 0  # >1: split the CPU into logical devices (tests of MirroredStrategy)
    allow_anchor_change: bool = False

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}")
        if self.eval_protocol not in PROTOCOLS:
            raise ValueError(f"eval_protocol must be one of {', '.join(PROTOCOLS)}")
        if self.num_steps < 1:
            raise ValueError("num_steps must be positive")
        if self.train_minutes < 0:
            raise ValueError("train_minutes must be 0 (no budget) or positive")
        if self.checkpoint_every < 1:
            raise ValueError("checkpoint_every must be positive")
        if self.coder.loc_outputs != self.model.loc_outputs:
            raise ValueError("coder and model disagree on loc_outputs")
        self.input.validate(self.anchors)

    @property
    def global_batch_size(self) -> int:
        return self.input.batch_size

    @property
    def scaled_learning_rate(self) -> float:
        return self.optim.learning_rate * self.global_batch_size / self.optim.reference_batch_size

    @property
    def evaluation_size(self) -> int:
        return self.eval_size or max(self.input.sizes)

    def to_dict(self) -> dict:
        def plain(obj):
            if dataclasses.is_dataclass(obj):
                return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
            if isinstance(obj, tuple):
                return [plain(v) for v in obj]
            return obj

        return plain(self)

    def save(self, model_dir: str):
        os.makedirs(model_dir, exist_ok=True)
        with open(os.path.join(model_dir, "run_config.json"), "w") as f:
            json.dump(self.to_dict(), f, indent=1, sort_keys=True)
        with open(os.path.join(model_dir, "anchor_config.json"), "w") as f:
            f.write(self.anchors.to_json())
        with open(os.path.join(model_dir, "model_config.json"), "w") as f:
            f.write(self.model.to_json())

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        """Rebuild a saved config. Fields that this version no longer has are ignored (older run
        folders keep loading); fields it added since take their defaults."""
        parts = ("model", "anchors", "input", "matcher", "coder", "loss", "optim")
        inp = _known(InputConfig, d["input"])
        inp["augment"] = AugmentConfig(**_known(AugmentConfig, d["input"].get("augment", {})))
        return cls(
            model=ModelConfig(**_known(ModelConfig, d["model"])),
            anchors=AnchorConfig(**_known(AnchorConfig, d["anchors"])),
            input=InputConfig(**inp),
            matcher=MatcherConfig(**_known(MatcherConfig, d["matcher"])),
            coder=BoxCoder(**_known(BoxCoder, d["coder"])),
            loss=LossConfig(**_known(LossConfig, d["loss"])),
            optim=OptimConfig(**_known(OptimConfig, d["optim"])),
            **_known(cls, {k: v for k, v in d.items() if k not in parts}),
        )

    @classmethod
    def load(cls, model_dir: str) -> "RunConfig":
        path = os.path.join(model_dir, "run_config.json")
        try:
            with open(path) as f:
                data = json.load(f)
            if "eval_protocol" not in data:  # a run from before it was recorded here: its flags.cfg says it
                data["eval_protocol"] = flagfile_value(os.path.join(model_dir, "flags.cfg"), "eval_protocol") or "icdar2015"
            return cls.from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path} is not a readable tfdet run config: {exc}") from None


def flagfile_value(path: str, name: str) -> str | None:
    """The value of `--name=...` in a flagfile (the last one), or None when the file or the flag is absent."""
    if not os.path.exists(path):
        return None
    prefix = f"--{name}="
    with open(path, encoding="utf-8") as f:
        values = [line.strip()[len(prefix):] for line in f if line.strip().startswith(prefix)]
    return values[-1] if values else None


def _known(cls, data: dict) -> dict:
    """The entries of `data` that are fields of dataclass `cls`, lists turned into tuples."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names}


def check_run_folder(model_dir: str, config: RunConfig):
    """A model_dir that already holds a run must be continued with the same anchors and model."""
    path = os.path.join(model_dir, "anchor_config.json")
    if os.path.exists(path) and not config.allow_anchor_change:
        with open(path) as f:
            check_same(AnchorConfig.from_json(f.read()), config.anchors, f"the run in {model_dir}")
    path = os.path.join(model_dir, "model_config.json")
    if os.path.exists(path):
        with open(path) as f:
            saved = ModelConfig.from_dict(json.load(f))
        diff = architecture_difference(saved, config.model)
        if diff:
            raise ValueError(f"the run in {model_dir} has another architecture ({', '.join(diff)}); use a new --model_dir")


ARCHITECTURE_FIELDS = ("backbone", "norm", "width_multiplier", "fpn_channels", "fpn_from_c2", "head_convs", "head_channels",
                       "head_norm", "head_kernel", "num_classes", "loc_outputs", "classification_loss")


def architecture_difference(saved: ModelConfig, requested: ModelConfig, fields=ARCHITECTURE_FIELDS) -> list[str]:
    return [f"{f}: {getattr(saved, f)} -> {getattr(requested, f)}" for f in fields if getattr(saved, f) != getattr(requested, f)]


def check_resume_source(source: RunConfig, config: RunConfig, where: str) -> bool:
    """`--resume` (weights of a previous stage) must fit this run. Returns True when the anchors
    differ but `allow_anchor_change` accepts it (the caller then re-initialises the output layers,
    whose slots belong to the old anchors); raises ValueError / AnchorMismatchError otherwise."""
    # the norm may change between stages (frozen BN -> GroupNorm changes the variables: caught on restore)
    diff = architecture_difference(source.model, config.model, tuple(f for f in ARCHITECTURE_FIELDS if f != "norm"))
    if diff:
        raise ValueError(f"--resume: {where} has another architecture ({'; '.join(diff)}); its weights cannot initialise this model")
    if source.model.input_normalization != config.model.input_normalization:
        raise ValueError(f"--resume: {where} was trained with --input_normalization={source.model.input_normalization}, "
                         f"this run uses {config.model.input_normalization}: the weights would see other pixel values")
    if source.anchors == config.anchors:
        return False
    if source.anchors.anchors_per_location != config.anchors.anchors_per_location:
        raise AnchorMismatchError(f"--resume: {where} has {source.anchors.anchors_per_location} anchors per location, this run "
                                  f"{config.anchors.anchors_per_location}: the output layers cannot be reused")
    if not config.allow_anchor_change:
        try:
            check_same(source.anchors, config.anchors, f"--resume: {where}")
        except AnchorMismatchError as exc:
            raise AnchorMismatchError(f"{exc} To reuse its backbone, FPN and head towers and start the output layers "
                                      "afresh for the new anchors, pass --allow_anchor_change.") from None
    return True
