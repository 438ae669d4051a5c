"""Synthetic product shelves in COCO format (images/ + annotations.json), deterministic per seed.

python tools/make_shelves.py --output_dir=data/shelves_train --num_images=400 --seed=1 --products=0-40
python tools/make_shelves.py --output_dir=data/references --references=3
"""

from tfdet.cli import launch

if __name__ == "__main__":
    launch("make_shelves")
