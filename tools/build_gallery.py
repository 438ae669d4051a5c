"""Embed reference images into a gallery file (no training: adding a label is adding images).

python tools/build_gallery.py --embedder=runs/embedder --image_dir=references --output=gallery.npz [--append]
python tools/build_gallery.py --embedder=runs/embedder --records='records/gallery/*' --output=gallery.npz
"""

from tfdet.cli import launch

if __name__ == "__main__":
    launch("build_gallery")
