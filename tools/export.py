"""Export a trained run as a versioned SavedModel for TF Serving.

python tools/export.py --model_dir=runs/tiny --export_dir=export/tiny
"""

from tfdet.cli import launch

if __name__ == "__main__":
    launch("export")
