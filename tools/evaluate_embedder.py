"""Recognition accuracy of an embedder + gallery on the ground-truth crops of records.

python tools/evaluate_embedder.py --embedder=runs/embedder --gallery=gallery.npz --records='records/test/*' --output_dir=eval/recog
"""

from tfdet.cli import launch

if __name__ == "__main__":
    launch("evaluate_embedder")
