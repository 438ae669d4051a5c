"""tools/convert_weights.py: a backbone checkpoint -> Keras weights for --backbone_weights, with a mapping table."""

from __future__ import annotations

import os
import sys


def run(FLAGS) -> int:
    from tfdet.modeling.backbones import (build_backbone, load_backbone_weights, map_torch_checkpoint,
                                          resolve_weights_source)
    from tfdet.modeling.config import ModelConfig
    from tfdet.weights.convert import MappingError, assign
    from tfdet.weights.sources import WeightsError, file_kind

    if not FLAGS.output.endswith(".weights.h5"):
        print(f"error: --output must end in .weights.h5 (Keras weights), got {FLAGS.output}", file=sys.stderr)
        return 2
    try:
        config = ModelConfig(backbone=FLAGS.backbone, norm="frozen_bn", width_multiplier=FLAGS.width_multiplier,
                             backbone_weights=FLAGS.input)
        source = resolve_weights_source(config)
        backbone = build_backbone(config)
        if source != "imagenet" and file_kind(source) == "torch":
            values, report = map_torch_checkpoint(backbone, config, source)
            print(report.table())
            report.check()
            assign(backbone, values)
        else:
            load_backbone_weights(backbone, config)
            print(f"{source}: weights of {sum(1 for layer in backbone.layers if layer.weights)} layers copied by name")
    except (WeightsError, MappingError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
    partial = FLAGS.output[: -len(".weights.h5")] + ".partial.weights.h5"
    backbone.save_weights(partial)
    os.replace(partial, FLAGS.output)  # never a half-written file under the final name
    print(f"wrote {FLAGS.output}: {backbone.name}, {backbone.count_params():,} parameters; train with "
          f"--backbone={FLAGS.backbone} --backbone_weights={FLAGS.output} (input normalisation "
          f"{config.input_normalization}, chosen by --input_normalization=auto)")
    return 0
