"""ICDAR 2015 (IoU), ICDAR 2013 (DetEval) and COCO evaluation, and what each scoring protocol implies
for the tools (post-processing defaults, the figure that picks a run's best checkpoint)."""

# the scoring protocols, spelled once (flags, the evaluator and the trainer's best-metric check use them)
PROTOCOLS = ("icdar2015", "icdar2013", "coco", "coco_quad")

# what a COCO-style evaluation keeps: detections down to this score make its precision-recall curve
COCO_SCORE_FLOOR = 0.05
TEXT_SCORE_THRESHOLD = 0.5  # the operating point the text protocols report (the --score_threshold default)


def is_coco_protocol(protocol: str | None) -> bool:
    """COCO-style protocols report mAP; the text protocols report precision / recall / Hmean."""
    return bool(protocol) and protocol.startswith("coco")


def default_nms_iou(protocol: str | None) -> float:
    """Quad NMS IoU for a scoring protocol: 0.5 for COCO-style protocols (the usual RetinaNet
    setting; 0.3 suppresses overlapping objects that COCO counts), 0.3 for text."""
    return 0.5 if is_coco_protocol(protocol) else 0.3


def default_score_threshold(protocol: str | None) -> float:
    """Score floor of a model exported for a protocol: COCO-style protocols score the whole
    precision-recall curve (down to COCO_SCORE_FLOOR), the text ones an operating point."""
    return COCO_SCORE_FLOOR if is_coco_protocol(protocol) else TEXT_SCORE_THRESHOLD


def selection_metrics(protocol: str | None) -> tuple[str, ...]:
    """The figures that can pick a run's best checkpoint under a protocol (the first is `auto`'s)."""
    return ("mAP", "mAP_50") if is_coco_protocol(protocol) else ("hmean", "best_sweep_hmean")


def selection_key(best_metric: str, protocol: str | None) -> str:
    """The evaluation figure that picks best/ and counts for early stopping (--best_metric resolved).

    auto: Hmean at the evaluation's score threshold for text protocols, mAP for COCO ones.
    best_sweep_hmean: the best Hmean over the threshold sweep, i.e. checkpoint and threshold chosen together on
    the validation split (its threshold is saved as best_sweep_threshold), robust to scores that drift while
    fine-tuning. ValueError when the protocol gives no such figure."""
    choices = selection_metrics(protocol)
    key = choices[0] if best_metric == "auto" else best_metric
    if key not in choices:
        raise ValueError(f"--best_metric={best_metric} does not exist for --eval_protocol={protocol} "
                         f"(use {' or '.join(choices)})")
    return key
