"""Writers of PyTorch checkpoint files made without torch (imported by the tests that need them): the legacy format (five pickles, then raw
storages) and the zip format, as torch.save writes them, plus crafted variants of both."""

import collections
import contextlib
import io
import pickle
import struct
import sys
import types
import zipfile

import numpy as np

from tfdet.weights.torch_reader import LEGACY_MAGIC, LEGACY_PROTOCOL

STORAGE_NAMES = {np.dtype(np.float32): "FloatStorage", np.dtype(np.int64): "LongStorage",
                 np.dtype(np.float16): "HalfStorage"}


class Storage:
    def __init__(self, key, array):
        self.key, self.array = key, array


class Tensor:
    def __init__(self, storage, size, offset=0, stride=None):
        self.storage, self.size, self.offset = storage, tuple(size), offset
        self.stride = stride or tuple(int(np.prod(size[i + 1:])) for i in range(len(size)))


@contextlib.contextmanager
def fake_torch():
    """Stand-in `torch` and `torch._utils` modules, so that pickle writes the globals torch.save writes."""
    saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in STORAGE_NAMES.values():
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    torch._utils = utils
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        yield torch, utils
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def pickler(buffer, torch, utils, with_numel):
    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                pid = ("storage", getattr(torch, STORAGE_NAMES[obj.array.dtype]), obj.key, "cpu")
                return pid + ((obj.array.size,) if with_numel else ())
            return None

        def reducer_override(self, obj):
            if isinstance(obj, Tensor):
                return utils._rebuild_tensor_v2, (obj.storage, obj.offset, obj.size, obj.stride, False,
                                                  collections.OrderedDict())
            return NotImplemented

    return Pickler(buffer, protocol=2, fix_imports=False)


def _as_tensors(state: dict):
    storages, tensors = [], collections.OrderedDict()
    for i, (name, value) in enumerate(state.items()):
        if isinstance(value, np.ndarray):
            storage = Storage(str(i), np.ascontiguousarray(value).reshape(-1))
            storages.append(storage)
            tensors[name] = Tensor(storage, value.shape)
        else:
            tensors[name] = value  # anything else is pickled as it is (crafted files)
    return storages, tensors


def legacy_bytes(state: dict, magic=LEGACY_MAGIC) -> bytes:
    """torch.save(state, f, _use_new_zipfile_serialization=False) of a dict of numpy arrays."""
    storages, tensors = _as_tensors(state)
    out = io.BytesIO()
    with fake_torch() as (torch, utils):
        for header in (magic, LEGACY_PROTOCOL, {"protocol_version": LEGACY_PROTOCOL, "little_endian": True}):
            pickle.dump(header, out, protocol=2)
        pickler(out, torch, utils, with_numel=True).dump(tensors)
    pickle.dump([s.key for s in storages], out, protocol=2)
    for storage in storages:
        out.write(struct.pack("<q", storage.array.size))
        out.write(storage.array.astype(storage.array.dtype.newbyteorder("<")).tobytes())
    return out.getvalue()


def zip_bytes(state: dict) -> bytes:
    """torch.save(state, f) (the zip format of torch >= 1.6) of a dict of numpy arrays."""
    storages, tensors = _as_tensors(state)
    return zip_of_tensors(tensors, {storage.key: storage.array for storage in storages})


def zip_of_tensors(tensors: dict, storages: dict, with_numel: bool = True, prefix: str = "archive") -> bytes:
    """A zip checkpoint of Tensor objects (any views) and the {key: array} storages they point into."""
    data = io.BytesIO()
    with fake_torch() as (torch, utils):
        pickler(data, torch, utils, with_numel=with_numel).dump(tensors)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(f"{prefix}/data.pkl", data.getvalue())
        archive.writestr(f"{prefix}/byteorder", "little")
        for key, array in storages.items():
            archive.writestr(f"{prefix}/data/{key}", array.tobytes())
        archive.writestr(f"{prefix}/version", "3\n")
    return out.getvalue()
