"""tools/make_shelves.py: synthetic product shelves in COCO format (or packshot folders)."""

from __future__ import annotations

import json
import sys

from tfdet import flags as tfdet_flags


def run(FLAGS) -> int:
    from tfdet.datasets import shelves

    try:
        identities = tfdet_flags.parse_identities(FLAGS.products, FLAGS.num_products)
        catalog = shelves.make_catalog(FLAGS.num_products, FLAGS.catalog_seed)
        if FLAGS.references:
            written = shelves.write_references(FLAGS.output_dir, catalog, identities, FLAGS.references, FLAGS.seed)
            print(json.dumps({"references": len(written), "output_dir": FLAGS.output_dir}))
            return 0
        path = shelves.write_coco(FLAGS.output_dir, FLAGS.num_images, FLAGS.seed, catalog, identities, FLAGS.image_size,
                                  FLAGS.image_size)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with open(path) as f:
        data = json.load(f)
    print(json.dumps({"annotations": path, "images": len(data["images"]), "objects": len(data["annotations"]),
                      "products": len({a["category_id"] for a in data["annotations"]})}))
    return 0
