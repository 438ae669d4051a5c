"""Export detector + recogniser + gallery as one SavedModel (swap the gallery by exporting again).

python tools/export_recognizer.py --model_dir=runs/detector --embedder=runs/embedder --gallery=gallery.npz \
    --export_dir=export/shelves [--score_threshold=0.5]
"""

from tfdet.cli import launch

if __name__ == "__main__":
    launch("export_recognizer")
