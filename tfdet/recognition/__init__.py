"""Two-stage recognition: a class-agnostic detector finds objects, an embedding network trained
with triplet losses names each crop by its nearest neighbour in a gallery (no retraining to add
a product). Crops (`crops`), K x P sampling (`sampler`), triplet losses (`losses`), crop
augmentation (`augment`), the embedder (`model`), its run config (`config`), training
(`train`), galleries (`gallery`) and evaluation (`evaluate`)."""
