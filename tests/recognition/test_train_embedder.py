"""Embedder training: runs, checkpoints, resumes where it stopped, refuses another architecture."""

import dataclasses
import json
import os
import shutil

import numpy as np
import pytest

from tests.recognition.conftest import colour_crops, tiny_config
from tfdet.modeling.backbones import frozen_layer_names
from tfdet.recognition.model import EmbedderConfig, build_embedder


def test_train_then_resume(tmp_path, tiny_embedder):
    """The session fixture trained 4 steps (checkpoints every 2); a copy continues to 6."""
    from tfdet.recognition.train import EmbedderTrainer, load_embedder

    first = json.load(open(os.path.join(tiny_embedder, "train_summary.json")))
    assert first["steps"] == 4 and np.isfinite(first["final_loss"]) and first["checkpoint"].endswith("ckpt-4")
    labels = json.load(open(os.path.join(tiny_embedder, "labels.json")))
    assert labels["labels"] == [f"label{i}" for i in range(6)] and labels["crops_per_label"] == [4] * 6
    folder = str(tmp_path / "run")
    shutil.copytree(tiny_embedder, folder)
    crops = colour_crops()
    messages = []
    second = EmbedderTrainer(tiny_config(num_steps=6), folder, crops, progress=False, log=messages.append).run()
    assert second["start_step"] == 4 and second["steps"] == 6 and any("resuming from step 4" in m for m in messages)
    model, config, ckpt = load_embedder(folder)
    assert ckpt.endswith("ckpt-6") and config.num_steps == 6
    out = model(np.zeros((2, 32, 32, 3), np.float32)).numpy()
    assert out.shape == (2, 8) and np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    other = tiny_config(model=EmbedderConfig(backbone="tiny", width_multiplier=0.25, embedding_size=16, input_size=32))
    with pytest.raises(ValueError, match="another architecture"):
        EmbedderTrainer(other, folder, crops, progress=False).run()


def test_frozen_stages():
    config = EmbedderConfig(backbone="tiny", width_multiplier=0.25, embedding_size=8, input_size=32, freeze_stages=2)
    model = build_embedder(config)
    backbone = model.get_layer("tiny_backbone")
    frozen = frozen_layer_names(backbone, 2)
    assert "conv1_conv" in frozen and "conv2_block1_1_conv" in frozen and not any(n.startswith("conv3_") for n in frozen)
    assert not backbone.get_layer("conv1_conv").trainable and backbone.get_layer("conv3_block1_1_conv").trainable
    trainable = {v.path for v in model.trainable_variables}
    assert not any("conv2_block1_1_conv" in p for p in trainable) and any("embedding_dense" in p for p in trainable)
    assert frozen_layer_names(backbone, 0) == []
    with pytest.raises(ValueError):
        dataclasses.replace(config, input_size=50)


def test_weight_average(tmp_path, tiny_embedder):
    """--ema_decay in the embedder's loop: the average follows its formula from checkpoint to checkpoint, the
    run loads as its average, and a folder trained without one continues with one started at its weights."""
    import tensorflow as tf

    from tfdet.recognition.train import EmbedderTrainer, load_embedder
    from tfdet.training.config import OptimConfig
    from tfdet.training.ema import averaged_weights

    def averages(ckpt):
        reader = tf.train.load_checkpoint(ckpt)
        count = sum(n.startswith("ema/averages/") for n in reader.get_variable_to_shape_map())
        return ([reader.get_tensor(f"ema/averages/{i}/.ATTRIBUTES/VARIABLE_VALUE") for i in range(count)],
                int(reader.get_tensor("ema/updates/.ATTRIBUTES/VARIABLE_VALUE")))

    optim = OptimConfig(optimizer="adamw", learning_rate=1e-2, reference_batch_size=64, warmup_steps=0, ema_decay=0.9)
    folder = str(tmp_path / "ema")
    summary = EmbedderTrainer(tiny_config(optim=optim, checkpoint_every=1, num_steps=2), folder, colour_crops(),
                              progress=False, log=lambda *_: None).run()
    assert summary["ema_decay"] == 0.9
    (a1, n1), (a2, n2) = averages(os.path.join(folder, "ckpt-1")), averages(os.path.join(folder, "ckpt-2"))
    assert (n1, n2) == (1, 2)
    model, _, ckpt = load_embedder(folder)
    loaded = [w.numpy() for w in averaged_weights(model)]
    tf.train.Checkpoint(model=model).read(ckpt).expect_partial()  # the raw weights of step 2
    raw = [w.numpy() for w in averaged_weights(model)]
    d = min(0.9, 2 / 11)
    for prev, now, w, got in zip(a1, a2, raw, loaded):
        np.testing.assert_allclose(now, d * prev + (1 - d) * w, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got, now, rtol=1e-6, atol=1e-7)
    assert max(float(np.abs(a - w).max()) for a, w in zip(a2, raw)) > 1e-5
    # the session fixture kept no average: continued with one, the average starts at its step-4 weights
    plain = str(tmp_path / "plain")
    shutil.copytree(tiny_embedder, plain)
    messages = []
    EmbedderTrainer(tiny_config(optim=optim, num_steps=5), plain, colour_crops(), progress=False, log=messages.append).run()
    assert any("holds no weight average" in m for m in messages)
    assert averages(os.path.join(plain, "ckpt-5"))[1] == 1
