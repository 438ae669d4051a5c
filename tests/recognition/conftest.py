"""Tiny recognition fixtures: coloured crops of a few labels and a briefly trained tiny embedder."""

import numpy as np
import pytest


def colour_crops(labels=6, per_label=4, size=32, seed=0):
    from tfdet.recognition.crops import CropSet

    rng = np.random.default_rng(seed)
    images, names = [], []
    for label in range(labels):
        colour = rng.integers(0, 255, 3)
        for _ in range(per_label):
            image = np.clip(colour + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)
            images.append(image)
            names.append(f"label{label}")
    return CropSet(np.stack(images), names, [str(i) for i in range(len(names))])


def tiny_config(**overrides):
    from tfdet.recognition.config import EmbedderRunConfig
    from tfdet.recognition.model import EmbedderConfig

    fields = dict(model=EmbedderConfig(backbone="tiny", width_multiplier=0.25, embedding_size=8, input_size=32),
                  classes_per_batch=3, samples_per_class=2, num_steps=4, checkpoint_every=2, log_every=2, batch_all_steps=2)
    fields.update(overrides)
    return EmbedderRunConfig(**fields)


@pytest.fixture(scope="session")
def tiny_embedder(tmp_path_factory):
    from tfdet.recognition.train import EmbedderTrainer

    folder = str(tmp_path_factory.mktemp("embedder") / "run")
    EmbedderTrainer(tiny_config(), folder, colour_crops(), progress=False, log=lambda *_: None).run()
    return folder
