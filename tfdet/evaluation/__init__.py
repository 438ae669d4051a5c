"""ICDAR 2015 (IoU), ICDAR 2013 (DetEval) and COCO evaluation."""

# the scoring protocols, spelled once (flags, the evaluator and the trainer's best-metric check use them)
PROTOCOLS = ("icdar2015", "icdar2013", "coco", "coco_quad")


def is_coco_protocol(protocol: str | None) -> bool:
    """COCO-style protocols report mAP; the text protocols report precision / recall / Hmean."""
    return bool(protocol) and protocol.startswith("coco")
