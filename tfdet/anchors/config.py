"""AnchorConfig: levels, base sizes, aspect ratios and scales, serialisable and flag-loadable."""

from __future__ import annotations

import dataclasses
import json
import math

DEFAULT_BASE_SIZES = {2: 16.0, 3: 32.0, 4: 64.0, 5: 128.0, 6: 256.0, 7: 512.0}
TEXT_ASPECT_RATIOS = (1.0, 2.0, 3.0, 5.0, 1 / 2, 1 / 3, 1 / 5)


@dataclasses.dataclass(frozen=True)
class AnchorConfig:
    """Anchor layout. Aspect ratio = width / height. Sizes in input pixels.

    At level l (stride 2**l), each location has len(scales) * len(aspect_ratios)
    anchors of side base_size[l] * scale, reshaped to the ratio with constant
    area. Order: (level, y, x, scale, ratio).
    """

    min_level: int = 3
    max_level: int = 7
    base_sizes: tuple = (32.0, 64.0, 128.0, 256.0, 512.0)
    aspect_ratios: tuple = TEXT_ASPECT_RATIOS
    scales_per_octave: int = 2
    scales: tuple = ()  # explicit scales; empty -> 2 ** (i / scales_per_octave)

    def __post_init__(self):
        object.__setattr__(self, "base_sizes", tuple(float(v) for v in self.base_sizes))
        object.__setattr__(self, "aspect_ratios", tuple(float(v) for v in self.aspect_ratios))
        object.__setattr__(self, "scales", tuple(float(v) for v in self.scales))
        self.validate()

    def validate(self):
        if not 2 <= self.min_level <= self.max_level <= 7:
            raise ValueError(f"anchor levels must satisfy 2 <= min_level <= max_level <= 7, got {self.min_level}..{self.max_level}")
        if len(self.base_sizes) != self.num_levels:
            raise ValueError(f"{len(self.base_sizes)} base sizes for {self.num_levels} levels (P{self.min_level}-P{self.max_level})")
        if any(v <= 0 for v in self.base_sizes + self.aspect_ratios + self.anchor_scales):
            raise ValueError("anchor base sizes, aspect ratios and scales must be positive")
        if not self.aspect_ratios:
            raise ValueError("at least one aspect ratio is needed")
        if self.scales_per_octave < 1 and not self.scales:
            raise ValueError("scales_per_octave must be at least 1")

    @classmethod
    def for_levels(cls, min_level: int, max_level: int, **kwargs) -> "AnchorConfig":
        sizes = tuple(DEFAULT_BASE_SIZES[level] for level in range(min_level, max_level + 1))
        return cls(min_level=min_level, max_level=max_level, base_sizes=kwargs.pop("base_sizes", sizes), **kwargs)

    @property
    def num_levels(self) -> int:
        return self.max_level - self.min_level + 1

    @property
    def levels(self) -> tuple:
        return tuple(range(self.min_level, self.max_level + 1))

    @property
    def strides(self) -> tuple:
        return tuple(2 ** level for level in self.levels)

    @property
    def max_stride(self) -> int:
        return 2 ** self.max_level

    @property
    def anchor_scales(self) -> tuple:
        if self.scales:
            return self.scales
        return tuple(2 ** (i / self.scales_per_octave) for i in range(self.scales_per_octave))

    @property
    def anchors_per_location(self) -> int:
        return len(self.anchor_scales) * len(self.aspect_ratios)

    def shapes_per_level(self, level: int) -> list[tuple[float, float]]:
        """(width, height) of the anchors of one location, in (scale, ratio) order."""
        base = self.base_sizes[level - self.min_level]
        out = []
        for scale in self.anchor_scales:
            for ratio in self.aspect_ratios:
                side = base * scale
                out.append((side * math.sqrt(ratio), side / math.sqrt(ratio)))
        return out

    def num_anchors(self, height: int, width: int) -> int:
        self.check_input_size(height, width)
        return sum((height // s) * (width // s) for s in self.strides) * self.anchors_per_location

    def check_input_size(self, height: int, width: int):
        if height % self.max_stride or width % self.max_stride:
            raise ValueError(f"input size {height}x{width} must be a multiple of the largest stride {self.max_stride} (P{self.max_level})")

    def to_dict(self) -> dict:
        return {
            "min_level": self.min_level,
            "max_level": self.max_level,
            "base_sizes": list(self.base_sizes),
            "aspect_ratios": list(self.aspect_ratios),
            "scales_per_octave": self.scales_per_octave,
            "scales": list(self.scales),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "AnchorConfig":
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items()})

    @classmethod
    def from_json(cls, text: str) -> "AnchorConfig":
        return cls.from_dict(json.loads(text))

    def to_flags(self) -> list[str]:
        """Flagfile lines that `tools/train.py` reads back into this config."""

        def fmt(values):
            return ",".join(repr(float(v)) for v in values)  # exact round trip

        lines = [
            f"--anchor_min_level={self.min_level}",
            f"--anchor_max_level={self.max_level}",
            f"--anchor_base_sizes={fmt(self.base_sizes)}",
            f"--anchor_aspect_ratios={fmt(self.aspect_ratios)}",
            f"--anchor_scales_per_octave={self.scales_per_octave}",
        ]
        lines.append(f"--anchor_scales={fmt(self.scales)}" if self.scales else "--anchor_scales=")
        return lines

    def describe_difference(self, other: "AnchorConfig") -> str:
        a, b = self.to_dict(), other.to_dict()
        return "; ".join(f"{k}: {a[k]} vs {b[k]}" for k in a if a[k] != b[k])


class AnchorMismatchError(ValueError):
    """A model was loaded or resumed with an AnchorConfig other than the one it was trained with."""


def check_same(saved: AnchorConfig, requested: AnchorConfig, where: str):
    if saved != requested:
        raise AnchorMismatchError(
            f"{where} was trained with other anchors ({saved.describe_difference(requested)}). "
            "Use the anchor flagfile it was trained with (the run folder keeps anchor_config.json)."
        )
