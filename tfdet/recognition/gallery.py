"""A gallery: labelled reference embeddings (and their crops, for pictures) in one .npz file.

Recognition names a query by its nearest gallery entry (cosine similarity of L2-normalised
embeddings). Adding a label is adding its entries (`append`), no training. Entries keep the
embedder they were made with (`meta["embedder"]`): mixing embedders is refused.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np


class GalleryError(ValueError):
    """A gallery file that is missing, unreadable or made by another embedder."""


@dataclasses.dataclass
class Gallery:
    embeddings: np.ndarray  # float32 [N, D], L2-normalised
    names: list
    sources: list
    crops: np.ndarray  # uint8 [N, S, S, 3] (pictures)
    meta: dict

    def __post_init__(self):
        self.embeddings = np.asarray(self.embeddings, np.float32).reshape(len(self.names), -1)
        if not (len(self.sources) == len(self.crops) == len(self.names)):
            raise GalleryError("gallery arrays disagree in length")

    def __len__(self):
        return len(self.names)

    @property
    def labels(self) -> list:
        return sorted(set(self.names))

    def append(self, other: "Gallery") -> "Gallery":
        """Earlier entries first, then `other`'s; both must come from the same embedder."""
        if len(self) and self.meta.get("embedder") != other.meta.get("embedder"):
            raise GalleryError(f"cannot append: the gallery was made with embedder {self.meta.get('embedder')}, "
                               f"the new entries with {other.meta.get('embedder')}")
        if len(self) and self.embeddings.shape[1] != other.embeddings.shape[1]:
            raise GalleryError("cannot append: embedding sizes differ")
        return Gallery(np.concatenate([self.embeddings, other.embeddings]), self.names + other.names,
                       self.sources + other.sources, np.concatenate([self.crops, other.crops]), dict(other.meta))

    def save(self, path: str):
        """Atomic: a temporary file renamed when complete."""
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        tmp = path + ".tmp.npz"
        np.savez_compressed(tmp, embeddings=self.embeddings, names=np.array(self.names, dtype=str),
                            sources=np.array(self.sources, dtype=str), crops=self.crops, meta=np.array(json.dumps(self.meta)))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str) -> "Gallery":
        if not os.path.isfile(path):
            raise GalleryError(f"gallery file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(data["embeddings"], [str(v) for v in data["names"]], [str(v) for v in data["sources"]],
                           data["crops"], json.loads(str(data["meta"])))
        except (OSError, KeyError, ValueError) as exc:
            raise GalleryError(f"{path} is not a tfdet gallery file: {exc}") from None

    def label_similarities(self, queries: np.ndarray) -> tuple[np.ndarray, list]:
        """-> (similarity [M, L] of each query to each label's nearest entry, labels)."""
        labels = self.labels
        index = {n: i for i, n in enumerate(labels)}
        entry_label = np.array([index[n] for n in self.names])
        sims = np.asarray(queries, np.float32) @ self.embeddings.T
        out = np.full((len(sims), len(labels)), -np.inf, np.float32)
        for i in range(len(labels)):
            out[:, i] = sims[:, entry_label == i].max(1)
        return out, labels

    def rank(self, queries: np.ndarray, k: int = 5) -> tuple[list, np.ndarray, np.ndarray]:
        """-> (top-k label names per query, their similarities [M, k], nearest entry index [M])."""
        if not len(self):
            raise GalleryError("the gallery is empty")
        label_sims, labels = self.label_similarities(queries)
        order = np.argsort(-label_sims, axis=1, kind="stable")[:, :k]
        nearest = np.argmax(np.asarray(queries, np.float32) @ self.embeddings.T, axis=1)
        return [[labels[j] for j in row] for row in order], np.take_along_axis(label_sims, order, 1), nearest


def empty_gallery(meta: dict, crop_size: int) -> Gallery:
    return Gallery(np.zeros((0, 0), np.float32), [], [], np.zeros((0, crop_size, crop_size, 3), np.uint8), meta)


def embedder_fingerprint(config, checkpoint: str) -> str:
    """Identifies the weights that made a gallery: architecture and checkpoint."""
    return json.dumps({"architecture": config.model.architecture(), "checkpoint": os.path.abspath(checkpoint)}, sort_keys=True)


def check_embedder(gallery: Gallery, config, checkpoint: str, gallery_path: str, embedder_path: str):
    """A gallery is only meaningful with the embedder that made it."""
    if gallery.meta.get("embedder") != embedder_fingerprint(config, checkpoint):
        raise GalleryError(f"{gallery_path} was built with another embedder ({gallery.meta.get('embedder')}); "
                           f"rebuild it with tools/build_gallery.py --embedder={embedder_path}")
