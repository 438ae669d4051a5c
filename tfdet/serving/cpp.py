"""Build tools/cpp/check_saved_model.cc against the installed TensorFlow wheel's libtensorflow_cc."""

from __future__ import annotations

import os
import subprocess


def source_path() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "tools", "cpp", "check_saved_model.cc"))


def build_command(output: str, source: str | None = None) -> list[str]:
    import tensorflow as tf

    lib_dir = os.path.dirname(tf.__file__)
    return (["g++", "-O0", "-o", output, source or source_path()] + tf.sysconfig.get_compile_flags() +
            [f"-L{lib_dir}", "-Wl,--no-as-needed", "-l:libtensorflow_cc.so.2", "-l:libtensorflow_framework.so.2", f"-Wl,-rpath,{lib_dir}"])


def build(output: str, timeout: int = 900) -> str:
    """Compile the checker; returns its path. Raises RuntimeError with the compiler's output on failure."""
    proc = subprocess.run(build_command(output), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"g++ failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return output
