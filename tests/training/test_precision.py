"""--precision=auto: what it picks for each kind of hardware, and what explicit choices warn about."""

import pytest

from tfdet.training.precision import PrecisionError, choose_precision, cpu_has_native_bf16

AVX2_ONLY = {"fpu", "sse4_2", "avx", "avx2", "fma"}
AVX512_BF16 = AVX2_ONLY | {"avx512f", "avx512_bf16"}
AMX = AVX2_ONLY | {"avx512f", "amx_bf16", "amx_tile"}


def test_auto_on_cpus():
    assert choose_precision("auto", [], AVX2_ONLY, {}).policy == "float32"
    assert choose_precision("auto", [], AVX512_BF16, {}).policy == "mixed_bfloat16"
    assert choose_precision("auto", [], AMX, {}).policy == "mixed_bfloat16"
    assert "no native bfloat16" in choose_precision("auto", [], AVX2_ONLY, {}).reason


def test_auto_unknown_cpu_falls_back_to_float32(monkeypatch):
    from tfdet.training import precision

    monkeypatch.setattr(precision, "read_cpu_flags", lambda: None)
    choice = choose_precision("auto", [], None, {})
    assert choice.policy == "float32" and "could not be read" in choice.reason


def test_bf16_under_an_isa_cap_is_an_error():
    # TensorFlow takes oneDNN's bf16 kernels from the CPU flags and the cap removes them: a crash otherwise
    with pytest.raises(PrecisionError, match="ONEDNN_MAX_CPU_ISA"):
        choose_precision("mixed_bfloat16", [], AVX512_BF16, {"ONEDNN_MAX_CPU_ISA": "AVX2"})


def test_onednn_isa_cap_counts_as_no_bf16():
    native, why = cpu_has_native_bf16(AVX512_BF16, {"ONEDNN_MAX_CPU_ISA": "AVX2"})
    assert native is False and "ONEDNN_MAX_CPU_ISA" in why
    assert choose_precision("auto", [], AVX512_BF16, {"ONEDNN_MAX_CPU_ISA": "avx2"}).policy == "float32"
    assert choose_precision("auto", [], AVX512_BF16, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"}).policy == "mixed_bfloat16"


def test_auto_on_gpus():
    assert choose_precision("auto", [(8, 0)], AVX2_ONLY, {}).policy == "mixed_float16"
    assert choose_precision("auto", [(7, 0)], AVX2_ONLY, {}).policy == "mixed_float16"
    old = choose_precision("auto", [(6, 1)], AVX2_ONLY, {})
    assert old.policy == "float32" and "6.1" in old.reason


def test_explicit_choices_win_with_warnings():
    slow = choose_precision("mixed_bfloat16", [], AVX2_ONLY, {})
    assert slow.policy == "mixed_bfloat16" and "emulated" in slow.warning and "5x" in slow.warning
    assert choose_precision("mixed_bfloat16", [], AVX512_BF16, {}).warning == ""
    assert choose_precision("float32", [], AVX512_BF16, {}).policy == "float32"
    assert "Ampere" in choose_precision("mixed_bfloat16", [(7, 5)], AVX2_ONLY, {}).warning
    assert choose_precision("mixed_bfloat16", [(8, 6)], AVX2_ONLY, {}).warning == ""


def test_bad_choices_are_errors():
    with pytest.raises(PrecisionError, match="needs a CUDA GPU"):
        choose_precision("mixed_float16", [], AVX512_BF16, {})
    with pytest.raises(PrecisionError, match="choose one of auto"):
        choose_precision("half", [], AVX2_ONLY, {})


def test_cpu_flags_are_read_on_this_machine():
    from tfdet.training.precision import read_cpu_flags

    flags = read_cpu_flags()
    import platform

    if platform.system() in ("Linux", "Darwin"):
        assert flags, "the CPU flags should be readable here"
