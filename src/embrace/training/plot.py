"""The end-of-training curve: ``training_curve.jsonl`` (the points) and ``training_curve.png`` (a line chart).

The PNG is drawn with numpy and written with zlib (no matplotlib): train loss in blue, eval loss in orange, one
dot per point, axes with the step range under the x axis and the loss range beside the y axis (3x5 pixel digits).
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from embrace.io import atomic_write_bytes, atomic_write_text

_GLYPHS = {  # 3x5 pixel digits, rows top to bottom
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
    "8": "111101111101111", "9": "111101111001111", ".": "000000000000010", "-": "000000111000000",
    "e": "000111111100111", "+": "000010111010000",
}
SERIES = (("loss", (31, 119, 180)), ("eval_loss", (255, 127, 14)))


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of an RGB image ``pixels`` (height, width, 3) uint8."""
    height, width, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[row].tobytes() for row in range(height))  # filter type 0 per scanline

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def _text(img: np.ndarray, x: int, y: int, text: str, scale: int = 2) -> None:
    for char in text:
        glyph = _GLYPHS.get(char)
        if glyph is not None:
            for i, bit in enumerate(glyph):
                if bit == "1":
                    r, c = divmod(i, 3)
                    img[y + r * scale: y + (r + 1) * scale, x + c * scale: x + (c + 1) * scale] = 0
        x += 4 * scale


def _line(img: np.ndarray, p0: tuple[int, int], p1: tuple[int, int], color: tuple[int, int, int]) -> None:
    steps = max(abs(p1[0] - p0[0]), abs(p1[1] - p0[1]), 1)
    xs = np.linspace(p0[0], p1[0], steps + 1).round().astype(int)
    ys = np.linspace(p0[1], p1[1], steps + 1).round().astype(int)
    for dx in (0, 1):  # two pixels wide
        img[ys, np.clip(xs + dx, 0, img.shape[1] - 1)] = color


def render_curve(points: Mapping[str, Sequence[tuple[float, float]]], width: int = 640, height: int = 400) -> np.ndarray:
    """RGB image of each series' ``(step, value)`` points; colours as in ``SERIES``."""
    img = np.full((height, width, 3), 255, dtype=np.uint8)
    left, right, top, bottom = 80, width - 20, 20, height - 40
    img[top:bottom + 1, left] = 0
    img[bottom, left:right + 1] = 0
    every = [p for series in points.values() for p in series if np.isfinite(p[1])]
    if not every:
        return img
    xs, ys = [p[0] for p in every], [p[1] for p in every]
    x0, x1 = min(xs), max(max(xs), min(xs) + 1)
    y0, y1 = min(ys), max(ys)
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 0.5, y1 + 0.5

    def at(step: float, value: float) -> tuple[int, int]:
        return (round(left + (step - x0) / (x1 - x0) * (right - left)),
                round(bottom - (value - y0) / (y1 - y0) * (bottom - top)))

    colors = dict(SERIES)
    for name, series in points.items():
        color = colors.get(name, (44, 160, 44))
        finite = [at(s, v) for s, v in series if np.isfinite(v)]
        for a, b in zip(finite, finite[1:], strict=False):
            _line(img, a, b, color)
        for x, y in finite:
            img[max(y - 2, 0):y + 3, max(x - 2, 0):x + 3] = color
    _text(img, 4, top, f"{y1:.3g}")
    _text(img, 4, bottom - 10, f"{y0:.3g}")
    _text(img, left, bottom + 10, f"{x0:g}")
    _text(img, right - 40, bottom + 10, f"{x1:g}")
    return img


def write_curve(log_history: list[dict[str, Any]], output_dir: str | os.PathLike[str],
                name: str = "training_curve") -> tuple[str, str]:
    """Write ``<name>.jsonl`` (one ``{"step", "loss"|"eval_loss"|..., ...}`` per log entry with a loss) and
    ``<name>.png`` into ``output_dir``; return both paths."""
    rows = [entry for entry in log_history if any(key in entry for key, _ in SERIES)]
    jsonl_path = os.path.join(output_dir, f"{name}.jsonl")
    png_path = os.path.join(output_dir, f"{name}.png")
    atomic_write_text(jsonl_path, "".join(json.dumps(row) + "\n" for row in rows))
    points = {key: [(float(r["step"]), float(r[key])) for r in rows if key in r] for key, _ in SERIES}
    atomic_write_bytes(png_path, encode_png(render_curve(points)))
    return jsonl_path, png_path
