"""Convert a backbone checkpoint (PyTorch .pth / .pt, or published ImageNet weights) to Keras weights.

python tools/convert_weights.py --backbone=efficientnet_lite0 --input=imagenet --output=effl0.weights.h5
"""

from tfdet.cli import launch

if __name__ == "__main__":
    launch("convert_weights")
