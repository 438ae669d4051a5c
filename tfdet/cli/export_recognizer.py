"""tools/export_recognizer.py: detector run + embedder run + gallery -> export/<name>/<version>/."""

from __future__ import annotations

import json
import sys

from tfdet import flags as tfdet_flags


def run(FLAGS) -> int:
    from tfdet.recognition.gallery import GalleryError
    from tfdet.serving.export import run_protocol
    from tfdet.serving.recognition import export_recognizer

    try:
        post = tfdet_flags.postprocess_config_from_flags(FLAGS, protocol=run_protocol(FLAGS.model_dir))  # the detector run's NMS IoU
        path = export_recognizer(FLAGS.model_dir, FLAGS.embedder, FLAGS.gallery, FLAGS.export_dir, FLAGS.version or None,
                                 post, FLAGS.size or None)
    except (FileNotFoundError, FileExistsError, ValueError, GalleryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"saved_model": path}))
    return 0
