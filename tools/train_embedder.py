"""Train the recogniser's embedding network (triplet loss, K x P batches).

python tools/train_embedder.py --flagfile=configs/recognition_tiny_cpu.cfg --train_records='records/shelves/train-*' --model_dir=runs/embedder
"""

from tfdet.cli import launch

if __name__ == "__main__":
    launch("train_embedder")
