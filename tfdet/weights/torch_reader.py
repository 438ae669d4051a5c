"""Read PyTorch checkpoints (`torch.save` state dicts) without torch and without trusting them.

A checkpoint is a pickle, and a pickle can name any Python callable (`os.system`, `builtins.eval`)
that unpickling would call. This reader never calls `pickle.load` unrestricted: its unpickler
resolves only the handful of globals a state dict needs (`torch._utils._rebuild_tensor_v2`, the
`torch.*Storage` types, `collections.OrderedDict`), each to a harmless stand-in defined here, and
refuses any other name before anything runs. Tensor data never goes through pickle: it is read as
raw little-endian bytes into numpy.

Two layouts exist:
- legacy (torch < 1.6, and `_use_new_zipfile_serialization=False`): five pickles in a row (magic
  number, protocol version, system info, the object, the storage keys), then each storage as an
  int64 element count followed by its bytes;
- zip (torch >= 1.6): `<prefix>/data.pkl` holds the object, `<prefix>/data/<key>` each storage.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# torch storage class -> numpy dtype of its elements
STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16", "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class CheckpointError(ValueError):
    """The file is not a readable, safe PyTorch checkpoint."""


class _Storage:
    """What a persistent id points to: a storage's key, element type and element count."""

    def __init__(self, key: str, dtype, numel: int | None):
        self.key, self.dtype, self.numel = key, dtype, numel


class _TensorRef:
    """A tensor as the pickle describes it: a view into a storage."""

    def __init__(self, storage: _Storage, offset: int, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, int(offset), tuple(size), tuple(stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    if not isinstance(storage, _Storage):
        raise CheckpointError("a tensor refers to something that is not a storage")
    return _TensorRef(storage, storage_offset, size, stride)


def _storage_type(name: str):
    def marker():  # never called by the unpickler: only passed back through persistent ids
        raise CheckpointError(f"torch.{name} is not callable here")
    marker.storage_name = name
    return marker


ALLOWED_GLOBALS = {("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
                   ("collections", "OrderedDict"): collections.OrderedDict,
                   **{("torch", name): _storage_type(name) for name in STORAGE_DTYPES}}


def _dtype(name: str):
    dtype = STORAGE_DTYPES[name]
    if dtype == "bfloat16":
        import ml_dtypes  # a TensorFlow dependency

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(dtype)


class _SafeUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str):
        super().__init__(file, encoding="utf-8")
        self.source = source

    def find_class(self, module, name):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise CheckpointError(f"{self.source}: refused: the pickle names the global {module}.{name}, which a "
                                  "state dict never needs (a checkpoint is untrusted input; nothing was run)") from None

    def persistent_load(self, pid):
        # legacy: ('storage', storage_type, key, location, numel[, view_metadata]); zip: the same without numel
        if not isinstance(pid, tuple) or len(pid) < 4 or pid[0] != "storage":
            raise CheckpointError(f"{self.source}: unsupported persistent id {str(pid)[:80]}")
        storage_type = pid[1]
        name = getattr(storage_type, "storage_name", None)
        if name is None:
            raise CheckpointError(f"{self.source}: a storage of unknown type {storage_type!r}")
        numel = int(pid[4]) if len(pid) > 4 else None
        if len(pid) > 5 and pid[5] is not None:
            raise CheckpointError(f"{self.source}: storage views (pre-1.0 torch files) are not supported")
        return _Storage(str(pid[2]), _dtype(name), numel)


def _load_pickle(file, source: str):
    try:
        return _SafeUnpickler(file, source).load()
    except CheckpointError:
        raise
    except Exception as exc:  # truncated, corrupt, not a pickle
        raise CheckpointError(f"{source}: not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})") from None


def _collect_storages(obj, found: dict):
    if isinstance(obj, _TensorRef):
        found[obj.storage.key] = obj.storage
    elif isinstance(obj, dict):
        for value in obj.values():
            _collect_storages(value, found)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _collect_storages(value, found)
    return found


def _tensor(ref: _TensorRef, data: dict, name: str, source: str) -> np.ndarray:
    flat = data[ref.storage.key]
    size = ref.size
    count = int(np.prod(size)) if size else 1
    if count == 0:
        return np.zeros(size, flat.dtype)
    last = ref.offset + sum((s - 1) * st for s, st in zip(size, ref.stride))
    if ref.offset < 0 or min(ref.stride, default=1) < 0 or last >= flat.size:
        raise CheckpointError(f"{source}: tensor {name} {list(size)} reaches element {last} of a storage "
                              f"holding {flat.size}: the file is truncated or corrupt")
    item = flat.itemsize
    view = np.lib.stride_tricks.as_strided(flat[ref.offset:], shape=size, strides=[s * item for s in ref.stride],
                                           writeable=False)
    return np.array(view)  # contiguous copy


def _flatten(obj, data: dict, source: str, prefix: str = "") -> dict:
    """Nested dicts of tensors -> {dotted name: array}; other leaves (ints, strings) are dropped."""
    out = {}
    if isinstance(obj, dict):
        if prefix == "" and "state_dict" in obj and isinstance(obj["state_dict"], dict):
            obj = obj["state_dict"]  # a training checkpoint: {'state_dict': ..., 'epoch': ...}
        for key, value in obj.items():
            out.update(_flatten(value, data, source, f"{prefix}{key}."))
    elif isinstance(obj, _TensorRef):
        name = prefix[:-1]
        out[name] = _tensor(obj, data, name, source)
    return out


def _read_legacy(f, source: str) -> dict:
    magic = _load_pickle(f, source)
    if magic != LEGACY_MAGIC:
        raise CheckpointError(f"{source}: wrong magic number {magic!r}: not a PyTorch checkpoint")
    protocol = _load_pickle(f, source)
    if protocol != LEGACY_PROTOCOL:
        raise CheckpointError(f"{source}: unsupported legacy protocol version {protocol!r}")
    sys_info = _load_pickle(f, source)
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise CheckpointError(f"{source}: big-endian checkpoints are not supported")
    obj = _load_pickle(f, source)
    keys = _load_pickle(f, source)
    if not isinstance(keys, list):
        raise CheckpointError(f"{source}: the storage key list is missing")
    storages = _collect_storages(obj, {})
    data = {}
    for key in keys:
        key = str(key)
        header = f.read(8)
        if len(header) < 8:
            raise CheckpointError(f"{source}: truncated: storage {key} has no header")
        (numel,) = struct.unpack("<q", header)
        storage = storages.get(key)
        dtype = storage.dtype if storage else np.dtype(np.uint8)
        nbytes = numel * dtype.itemsize
        if numel < 0 or nbytes > 1 << 36:
            raise CheckpointError(f"{source}: storage {key} claims {numel} elements")
        raw = f.read(nbytes)
        if len(raw) < nbytes:
            raise CheckpointError(f"{source}: truncated: storage {key} holds {len(raw)} of its {nbytes} bytes")
        data[key] = np.frombuffer(raw, dtype.newbyteorder("<") if dtype.itemsize > 1 else dtype)
    missing = sorted(set(storages) - set(data))
    if missing:
        raise CheckpointError(f"{source}: truncated: storages {missing[:5]} are missing")
    return _flatten(obj, data, source)


def _read_zip(path: str, source: str) -> dict:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise CheckpointError(f"{source}: a damaged zip checkpoint ({exc})") from None
    with archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pickles:
            raise CheckpointError(f"{source}: a zip without data.pkl: not a PyTorch checkpoint")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = prefix + "byteorder"
        if byteorder in names and archive.read(byteorder).strip() != b"little":
            raise CheckpointError(f"{source}: big-endian checkpoints are not supported")
        try:
            obj = _load_pickle(io.BytesIO(archive.read(pickles[0])), source)
            data = {}
            for key, storage in _collect_storages(obj, {}).items():
                member = f"{prefix}data/{key}"
                if member not in names:
                    raise CheckpointError(f"{source}: storage {member} is missing")
                raw = archive.read(member)
                data[key] = np.frombuffer(raw[: len(raw) - len(raw) % storage.dtype.itemsize], storage.dtype)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:  # CRC errors, truncated members
            raise CheckpointError(f"{source}: a damaged zip checkpoint ({exc})") from None
    return _flatten(obj, data, source)


def read_state_dict(path: str) -> dict[str, np.ndarray]:
    """{name: numpy array} of a PyTorch checkpoint (legacy or zip), read without torch or unsafe pickle.

    Raises CheckpointError (naming the file) for a missing, truncated or corrupt file, a wrong magic
    number, a storage shorter than its tensors need, or a pickle naming any global a state dict does
    not need. Non-tensor entries (e.g. `num_batches_tracked` are tensors and kept; an `epoch` int is not).
    """
    source = os.path.basename(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    if zipfile.is_zipfile(path):
        state = _read_zip(path, source)
    else:
        with open(path, "rb") as f:
            state = _read_legacy(f, source)
    if not state:
        raise CheckpointError(f"{source}: holds no tensors")
    return state
