"""SynthText: the official `gt.mat` (scipy) and the generator's HDF5 output (h5py).

gt.mat: cell arrays `imnames`, `wordBB`, `charBB`, `txt`; images are JPEGs
under `--image_dir`. `wordBB` is 2x4xN, squeezed to 2x4 for single-word images.
HDF5: `data/<name>` raw RGB arrays with attributes `wordBB`, `charBB`, `txt`;
images are encoded to JPEG. In both, the `txt` entries hold several words
separated by spaces and newlines that map to the boxes in order.
"""

from __future__ import annotations

import os

import numpy as np

from tfdet.datasets.base import ObjectAnnotation, Problem, build_samples_objects, encode_rgb, read_file_bytes


def _strings(value) -> list[str]:
    """Flatten whatever loadmat / h5py gives for `txt` into python strings."""
    out = []
    if isinstance(value, (bytes, np.bytes_)):
        return [bytes(value).decode("utf-8", errors="replace")]
    if isinstance(value, str):
        return [value]
    arr = np.asarray(value, dtype=object) if not isinstance(value, np.ndarray) else value
    if arr.dtype.kind in ("U", "S") and arr.ndim == 0:
        return _strings(arr.item())
    for v in arr.ravel():
        out.extend(_strings(v))
    return out


def words_of(txt) -> list[str]:
    words = []
    for entry in _strings(txt):
        words.extend(entry.split())
    return words


def word_quads(word_bb) -> np.ndarray:
    """2x4xN (or squeezed 2x4) -> (N, 4, 2)."""
    bb = np.asarray(word_bb, dtype=np.float64)
    if bb.ndim == 2:
        bb = bb[:, :, None]
    if bb.ndim != 3 or bb.shape[0] != 2 or bb.shape[1] != 4:
        raise ValueError(f"wordBB has shape {bb.shape}, expected 2x4xN")
    return np.transpose(bb, (2, 1, 0))


class SynthTextReader:
    dataset_name = "synthtext"

    def __init__(self, annotations: str, image_dir: str | None = None, split: str = "train", **_):
        if not os.path.isfile(annotations):
            raise FileNotFoundError(f"SynthText annotations not found: {annotations}")
        self.path = annotations
        self.image_dir = image_dir
        self.split = split
        self.is_h5 = annotations.lower().endswith((".h5", ".hdf5"))
        if not self.is_h5 and not image_dir:
            raise ValueError("SynthText gt.mat needs --image_dir (the folder holding 1/, 2/, ...)")
        self._h5 = None

    def items(self):
        if self.is_h5:
            import h5py

            with h5py.File(self.path, "r") as f:
                return [("h5", name) for name in sorted(f["data"].keys())]
        import scipy.io

        mat = scipy.io.loadmat(self.path, squeeze_me=False)
        for field in ("imnames", "wordBB", "txt"):
            if field not in mat:
                raise ValueError(f"{self.path}: no {field!r} field (is this a SynthText gt.mat?)")
        imnames = np.asarray(mat["imnames"]).ravel()
        word_bbs = np.asarray(mat["wordBB"]).ravel()
        txts = np.asarray(mat["txt"]).ravel()
        return [("mat", _strings(imnames[i])[0], np.asarray(word_bbs[i]), words_of(txts[i])) for i in range(len(imnames))]

    def _objects(self, display, quads_source, words, problems):
        try:
            quads = word_quads(quads_source)
        except ValueError as exc:
            problems.append(Problem("skipped_file", display, str(exc)))
            return None
        if len(words) != len(quads):
            problems.append(Problem("skipped_file", display, f"{len(words)} words in txt for {len(quads)} wordBB boxes"))
            return None
        return [ObjectAnnotation(quad=q, text=w) for q, w in zip(quads, words)]

    def load(self, item):
        problems: list[Problem] = []
        if item[0] == "h5":
            import h5py

            name = item[1]
            display = f"{self.path}!data/{name}"
            if self._h5 is None:
                self._h5 = h5py.File(self.path, "r")
            dataset = self._h5["data"][name]
            objects = self._objects(display, dataset.attrs["wordBB"], words_of(dataset.attrs["txt"]), problems)
            if objects is None:
                return None, problems
            pixels = np.asarray(dataset[...])
            if pixels.ndim != 3 or pixels.shape[2] != 3:
                problems.append(Problem("skipped_file", display, f"pixel array has shape {pixels.shape}, expected HxWx3"))
                return None, problems
            image = encode_rgb(pixels.astype(np.uint8), "jpeg")
            filename = name if name.lower().endswith(".jpg") else name + ".jpg"
        else:
            _, imname, word_bb, words = item
            path = os.path.join(self.image_dir, imname)
            display = path
            objects = self._objects(display, word_bb, words, problems)
            if objects is None:
                return None, problems
            try:
                image = read_file_bytes(path)
            except OSError as exc:
                problems.append(Problem("skipped_file", path, f"cannot read image: {exc}"))
                return None, problems
            filename = imname
        sample = build_samples_objects(display, image, os.path.basename(filename), f"synthtext/{filename}", objects, problems)
        return sample, problems

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_h5"] = None
        return state
