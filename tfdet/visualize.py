"""Pictures: quads drawn on images, PR curves, anchor plots (PNG files)."""

from __future__ import annotations

import numpy as np

CARE_COLOR = (0, 220, 0)  # RGB
DONT_CARE_COLOR = (255, 64, 64)
PRED_COLOR = (0, 160, 255)
MISSED_COLOR = (255, 32, 32)
IGNORED_COLOR = (160, 160, 160)
ANCHOR_COLOR = (255, 200, 0)


def decode_image(data: bytes) -> np.ndarray:
    """RGB uint8 pixels as stored (no EXIF rotation: quads and detections refer to these)."""
    from tfdet.datasets.base import decode_stored_pixels

    pixels = decode_stored_pixels(data)
    if pixels is None:
        raise ValueError("cannot decode image")
    return pixels


def draw_quads(image: np.ndarray, quads, colors=None, labels=None, thickness: int = 2) -> np.ndarray:
    """Draw (N, 4, 2) quads (pixels) on an RGB image; first vertex marked with a dot."""
    import cv2

    out = np.ascontiguousarray(image.copy())
    quads = np.asarray(quads, dtype=np.float64).reshape(-1, 4, 2)
    for i, quad in enumerate(quads):
        color = tuple(int(c) for c in (colors[i] if colors is not None else CARE_COLOR))
        pts = np.round(quad).astype(np.int32)
        cv2.polylines(out, [pts], True, color, thickness, cv2.LINE_AA)
        cv2.circle(out, tuple(int(v) for v in pts[0]), thickness + 1, color, -1)
        if labels is not None and labels[i]:
            cv2.putText(out, str(labels[i])[:24], (int(pts[0][0]), max(10, int(pts[0][1]) - 4)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1, cv2.LINE_AA)
    return out


def save_png(path: str, image: np.ndarray):
    import cv2

    if not cv2.imwrite(path, np.ascontiguousarray(image[..., ::-1])):
        raise OSError(f"cannot write {path}")


def sample_picture(sample, with_text: bool = True) -> np.ndarray:
    image = decode_image(sample.image)
    colors = [DONT_CARE_COLOR if d else CARE_COLOR for d in sample.difficult]
    labels = [("###" if d else t or c) for d, t, c in zip(sample.difficult, sample.texts, sample.class_names)] if with_text else None
    return draw_quads(image, sample.quads, colors, labels)


def found_missed_picture(sample, quads, scores, iou_threshold: float = 0.5) -> tuple[np.ndarray, dict]:
    """A sample's photograph with its ground truth coloured by outcome: care words a detection matches
    (IoU >= iou_threshold, one to one, best pairs first) in green, missed ones in red, don't-care (`###`)
    in grey; the detections (N, 4, 2) in blue with their scores. -> (RGB image, counts)."""
    from tfdet.evaluation.quad_map import quad_iou_matrix

    gt = np.asarray(sample.quads, np.float64).reshape(-1, 4, 2)
    care = np.flatnonzero(~np.asarray(sample.difficult, bool)) if len(gt) else np.zeros(0, int)
    quads = np.asarray(quads, np.float64).reshape(-1, 4, 2)
    iou = quad_iou_matrix(gt[care], quads)
    found, used = set(), set()
    for flat in np.argsort(-iou, axis=None):
        g, d = np.unravel_index(flat, iou.shape)
        if iou[g, d] < iou_threshold:
            break
        if g not in found and d not in used:
            found.add(int(g))
            used.add(int(d))
    colors = [IGNORED_COLOR] * len(gt)
    for k, g in enumerate(care):
        colors[g] = CARE_COLOR if k in found else MISSED_COLOR
    image = draw_quads(decode_image(sample.image), gt, colors)
    image = draw_quads(image, quads, [PRED_COLOR] * len(quads), [f"{s:.2f}" for s in scores])
    return image, {"found": len(found), "missed": len(care) - len(found), "detections": len(quads)}


def plot_pr_curve(path: str, recalls, precisions, best: dict | None = None, title: str = "Precision-recall"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.plot(recalls, precisions, "-", color="tab:blue")
    if best:
        ax.plot([best["recall"]], [best["precision"]], "o", color="tab:red",
                label=f"best Hmean {best['hmean']:.3f} @ score {best['score_threshold']:.2f}")
        ax.legend(loc="lower left")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
