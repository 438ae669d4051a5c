"""tools/export.py: run folder -> export/<name>/<version>/ SavedModel."""

from __future__ import annotations

import json
import sys

from tfdet import flags as tfdet_flags


def run(FLAGS) -> int:
    from tfdet.serving.export import export_saved_model

    try:
        path = export_saved_model(FLAGS.model_dir, FLAGS.export_dir, FLAGS.version or None,
                                  tfdet_flags.postprocess_config_from_flags(FLAGS), FLAGS.size or None)
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"saved_model": path}))
    return 0
