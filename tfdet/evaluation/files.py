"""Reading and writing RRC-style ground-truth and result files (folders or zips)."""

from __future__ import annotations

import os
import re
import zipfile

from tfdet.datasets.base import decode_text

_NUMBER = r"\s*(-?[0-9]+(?:\.[0-9]*)?)\s*"


class EvaluationFormatError(ValueError):
    """A ground-truth or result line the official script would reject."""


def load_files(path: str, pattern: str) -> dict[str, bytes]:
    """{sample id: bytes} for files whose name matches `pattern` (one group = the id), from a folder or a zip."""
    regex = re.compile(pattern)
    out = {}
    if os.path.isfile(path) and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                m = regex.match(os.path.basename(name))
                if m:
                    out[m.group(1)] = zf.read(name)
        return out
    if not os.path.isdir(path):
        raise FileNotFoundError(f"no such folder or zip: {path}")
    for name in sorted(os.listdir(path)):
        m = regex.match(name)
        if m:
            with open(os.path.join(path, name), "rb") as f:
                out[m.group(1)] = f.read()
    return out


def load_pair(gt_path: str, result_path: str, gt_pattern: str, result_pattern: str) -> tuple[dict, dict]:
    """Ground-truth and result files of one evaluation; a result without ground truth is an error."""
    gt_raw = load_files(gt_path, gt_pattern)
    if not gt_raw:
        raise EvaluationFormatError(f"no ground-truth files matching {gt_pattern} in {gt_path}")
    det_raw = load_files(result_path, result_pattern)
    for key in det_raw:
        if key not in gt_raw:
            raise EvaluationFormatError(f"res_img_{key}.txt: the sample {key} is not present in the ground truth")
    return gt_raw, det_raw


def file_lines(raw: bytes) -> list[tuple[int, str]]:
    """As the RRC scripts: BOM removed, split on LF, CR dropped, empty lines skipped."""
    text = decode_text(raw)
    out = []
    for i, line in enumerate(text.split("\n")):
        line = line.replace("\r", "")
        if line != "":
            out.append((i + 1, line))
    return out


def _plain_int(field: str) -> bool:
    return field.isascii() and (field.isdigit() or (field[:1] == "-" and field[1:].isdigit()))


def parse_line(line: str, num_coords: int, with_text: bool, where: str):
    """-> (coords list[float], score float | None, text str)."""
    # fast path for the common form (plain integers, no spaces); anything else goes through the
    # full pattern below, which accepts and rejects exactly what the official scripts do
    parts = line.split(",", num_coords if with_text else num_coords + 1)
    if len(parts) >= num_coords and all(_plain_int(p) for p in parts[:num_coords]):
        coords = [float(p) for p in parts[:num_coords]]
        if with_text and len(parts) == num_coords + 1:
            text = parts[num_coords]
            if '"' not in text:
                return coords, None, text
        elif not with_text and len(parts) == num_coords:
            return coords, None, ""
    head = ",".join([_NUMBER] * num_coords)
    if with_text:
        m = re.match(r"^" + head + r",(.*)$", line)
        if not m:
            raise EvaluationFormatError(f"{where}: expected {num_coords} numbers and a transcription: {line[:80]!r}")
        text = m.group(num_coords + 1)
        q = re.match(r'^\s*"(.*)"\s*$', text)
        if q:
            text = q.group(1).replace("\\\\", "\\").replace('\\"', '"')
        return [float(m.group(i + 1)) for i in range(num_coords)], None, text
    m = re.match(r"^" + head + r"(?:,\s*(-?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*)?,?\s*$", line)
    if not m:
        raise EvaluationFormatError(f"{where}: expected {num_coords} numbers and an optional score: {line[:80]!r}")
    score = float(m.group(num_coords + 1)) if m.group(num_coords + 1) else None
    return [float(m.group(i + 1)) for i in range(num_coords)], score, ""


def is_clockwise(points) -> bool:
    """The official test (rrc_evaluation_funcs.validate_clockwise_points), integer coordinates."""
    x1, y1, x2, y2, x3, y3, x4, y4 = (int(v) for v in points)
    total = (x2 - x1) * (y2 + y1) + (x3 - x2) * (y3 + y2) + (x4 - x3) * (y4 + y3) + (x1 - x4) * (y1 + y4)
    return total <= 0


def write_results(folder: str, sample_id: str, rows) -> str:
    """Write res_img_<id>.txt: rows of (coords ints, score or None). Returns the path."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"res_img_{sample_id}.txt")
    with open(path, "w", encoding="utf-8", newline="") as f:
        for coords, score in rows:
            line = ",".join(str(int(v)) for v in coords)
            if score is not None:
                line += f",{score:.4f}"
            f.write(line + "\r\n")
    return path


def zip_folder(folder: str, zip_path: str, pattern: str = r"res_img_\d+\.txt$"):
    regex = re.compile(pattern)
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(os.listdir(folder)):
            if regex.match(name):
                zf.write(os.path.join(folder, name), name)
