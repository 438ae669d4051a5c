"""Which numeric precision a run uses: the one place every tool asks.

`--precision=auto` (the default) picks, from the hardware this process runs on:

- a CUDA GPU of compute capability 7.0 or newer -> `mixed_float16` (tensor cores);
- a CPU with native bfloat16 (`avx512_bf16` or `amx_bf16` in its feature flags) -> `mixed_bfloat16`;
- anything else, or when the CPU's features cannot be read -> `float32`.

On a CPU without native bfloat16, oneDNN emulates it and a training step is about 5x slower
than float32; `mixed_float16` on a CPU is slower still. An explicit choice always wins, with a
warning (or, for `mixed_float16` without a GPU, an error) saying why it is slow. `mixed_bfloat16`
under an `ONEDNN_MAX_CPU_ISA` cap that excludes bf16 is an error: TensorFlow still picks oneDNN's bf16
kernels from the CPU's flags and the cap leaves none (the first convolution fails).

The CPU features are read from `/proc/cpuinfo` (Linux) or `sysctl` (macOS); `ONEDNN_MAX_CPU_ISA`
capping oneDNN below AVX-512 BF16 counts as "no native bfloat16", since the kernels then cannot
use it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
CHOICES = ("auto",) + PRECISIONS
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
# oneDNN ISA caps (ONEDNN_MAX_CPU_ISA) under which bf16 kernels are emulated
_ISA_WITHOUT_BF16 = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"}


class PrecisionError(ValueError):
    """An explicit precision this hardware cannot run usefully."""


@dataclasses.dataclass(frozen=True)
class PrecisionChoice:
    requested: str
    policy: str  # the Keras mixed-precision policy actually used
    reason: str
    warning: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, folder: str):
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "precision.json"), "w") as f:
            json.dump(self.to_dict(), f, indent=1)


def read_cpu_flags() -> set[str] | None:
    """The CPU's feature flags in lower case, or None when they cannot be read on this system."""
    system = platform.system()
    try:
        if system == "Linux":
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith(("flags", "Features")):
                        return set(line.split(":", 1)[1].lower().split())
            return None
        if system == "Darwin":
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.features", "machdep.cpu.leaf7_features"],
                                 capture_output=True, text=True, timeout=5, check=False).stdout
            return set(out.lower().replace(".", "_").split()) or None
    except (OSError, subprocess.SubprocessError):
        return None
    return None


def cpu_has_native_bf16(cpu_flags: set[str] | None = None, environ=None) -> tuple[bool | None, str]:
    """-> (True / False / None when unknown, a short explanation)."""
    environ = os.environ if environ is None else environ
    flags = read_cpu_flags() if cpu_flags is None else cpu_flags
    if flags is None:
        return None, "the CPU's feature flags could not be read on this system"
    found = [f for f in NATIVE_BF16_FLAGS if f in flags]
    if not found:
        return False, f"the CPU has no native bfloat16 (neither {' nor '.join(NATIVE_BF16_FLAGS)} in its flags)"
    cap = environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    if cap in _ISA_WITHOUT_BF16:
        return False, f"the CPU has {found[0]} but ONEDNN_MAX_CPU_ISA={cap} keeps oneDNN from using it"
    return True, f"the CPU has native bfloat16 ({', '.join(found)})"


def gpu_compute_capabilities() -> list[tuple[int, int]]:
    """Compute capabilities of the visible GPUs ([] without one). Initialises TensorFlow's devices."""
    import tensorflow as tf

    caps = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            cap = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        except (ValueError, RuntimeError):
            cap = None
        caps.append(tuple(cap) if cap else (0, 0))
    return caps


def choose_precision(requested: str = "auto", gpu_capabilities=None, cpu_flags: set[str] | None = None,
                     environ=None) -> PrecisionChoice:
    """Resolve `requested` (auto or an explicit policy) for this machine. Raises PrecisionError for
    an unknown value or mixed_float16 without a GPU. `gpu_capabilities` / `cpu_flags` are read from
    the machine when None (tests pass them)."""
    if requested not in CHOICES:
        raise PrecisionError(f"unknown precision {requested!r}; choose one of {', '.join(CHOICES)}")
    caps = gpu_compute_capabilities() if gpu_capabilities is None else list(gpu_capabilities)
    if caps:
        best = max(caps)
        if requested == "auto":
            if best >= (7, 0):
                return PrecisionChoice(requested, "mixed_float16",
                                       f"CUDA GPU of compute capability {best[0]}.{best[1]} (>= 7.0: float16 tensor cores)")
            return PrecisionChoice(requested, "float32", f"CUDA GPU of compute capability {best[0]}.{best[1]} (< 7.0: "
                                                         "no float16 tensor cores)")
        warning = ""
        if requested == "mixed_bfloat16" and best < (8, 0):
            warning = (f"mixed_bfloat16 on a GPU of compute capability {best[0]}.{best[1]}: bfloat16 tensor cores need "
                       "8.0 (Ampere) or newer; this will be slow. --precision=auto picks mixed_float16 here.")
        return PrecisionChoice(requested, requested, "asked for explicitly", warning)
    native, why = cpu_has_native_bf16(cpu_flags, environ)
    if requested == "auto":
        if native:
            return PrecisionChoice(requested, "mixed_bfloat16", f"no GPU; {why}")
        return PrecisionChoice(requested, "float32", f"no GPU; {why}" + ("" if native is False else ", so float32 is the safe choice"))
    if requested == "mixed_float16":
        raise PrecisionError("--precision=mixed_float16 needs a CUDA GPU and none is visible: on a CPU float16 is "
                             "emulated and about 10x slower than float32. Use --precision=auto (or float32).")
    if requested == "mixed_bfloat16" and "ONEDNN_MAX_CPU_ISA" in why:
        # TensorFlow sees the CPU's bf16 flag and takes oneDNN's bf16 kernels, which the cap removes:
        # the first convolution fails ("could not create a primitive descriptor")
        raise PrecisionError(f"--precision=mixed_bfloat16 cannot run here: {why}, and TensorFlow then finds no bfloat16 "
                             "convolution. Use --precision=auto (float32 here) or unset ONEDNN_MAX_CPU_ISA.")
    if requested == "mixed_bfloat16" and not native:
        return PrecisionChoice(requested, requested, "asked for explicitly",
                               f"--precision=mixed_bfloat16 on a CPU where {why}: bfloat16 is emulated and a training "
                               "step is about 5x slower than float32. --precision=auto picks float32 here.")
    return PrecisionChoice(requested, requested, "asked for explicitly")


def apply_precision(requested: str = "auto", log=print, **kwargs) -> PrecisionChoice:
    """Choose, set the Keras global policy, and log the choice (and any warning)."""
    import keras

    choice = choose_precision(requested, **kwargs)
    keras.mixed_precision.set_global_policy(choice.policy)
    log(f"precision: {choice.policy} ({choice.reason})")
    if choice.warning:
        log(f"warning: {choice.warning}")
    return choice
