"""Write results: calibrated TIFFs for Fiji, PNG previews with a scale bar, JSON manifests.

Every file is written atomically: to a temporary file in the target folder, then renamed
over the target, so an interrupted run never leaves a half-written file behind.
"""

from __future__ import annotations

import json
import os
import secrets
from contextlib import contextmanager
from os import PathLike
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .errors import OutputError
from .units import format_length

__all__ = ["atomic_path", "write_json", "write_rgb_tiff", "write_preview_png", "scale_bar_length"]


@contextmanager
def atomic_path(path: str | PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    Raises
    ------
    OutputError
        If the folder is not writable or the disk is full; nothing is left behind.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: never clobber; mode 0o666 less the umask, like any newly created file
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as exc:
        raise OutputError(f"cannot write here: {exc.strerror or exc}", path=path,
                          hint="choose a writable output folder") from None
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write: {exc.strerror or exc}", path=path,
                          hint="check free disk space and permissions") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: str | PathLike, data: Any) -> None:
    """Write ``data`` as indented UTF-8 JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def write_rgb_tiff(path: str | PathLike, rgb: np.ndarray, *, pixel_size_nm: float | None) -> None:
    """Write an RGB uint8 image as an ImageJ TIFF that Fiji opens calibrated in µm.

    Examples
    --------
    >>> import tempfile, os, tifffile
    >>> path = os.path.join(tempfile.mkdtemp(), "x_ddc.tif")
    >>> write_rgb_tiff(path, np.zeros((4, 5, 3), np.uint8), pixel_size_nm=20.0)
    >>> with tifffile.TiffFile(path) as tif:
    ...     tif.imagej_metadata["unit"], tif.pages[0].tags["XResolution"].value
    ('micron', (50, 1))
    """
    import tifffile

    kwargs: dict[str, Any] = {"photometric": "rgb"}
    if pixel_size_nm:
        um = pixel_size_nm / 1000.0
        kwargs.update(imagej=True, resolution=(1.0 / um, 1.0 / um), metadata={"unit": "micron"})
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, np.ascontiguousarray(rgb, dtype=np.uint8), **kwargs)


def scale_bar_length(width_nm: float) -> float:
    """A round scale-bar length (1, 2 or 5 x 10^k nm) near a fifth of the field width.

    Examples
    --------
    >>> scale_bar_length(10_240.0)
    2000.0
    """
    target = width_nm / 5.0
    exponent = np.floor(np.log10(target))
    best = 1.0
    for m in (1.0, 2.0, 5.0, 10.0):
        if m * 10**exponent <= target:
            best = m
    return float(best * 10**exponent)


def write_preview_png(
    path: str | PathLike, rgb: np.ndarray, *, pixel_size_nm: float | None
) -> None:
    """Write a PNG preview with a burned-in scale bar (bottom right) when calibrated."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB")
    if pixel_size_nm:
        w, h = image.size
        length_nm = scale_bar_length(w * pixel_size_nm)
        bar_px = max(1, int(round(length_nm / pixel_size_nm)))
        thick = max(2, h // 100)
        margin = max(4, w // 50)
        size = max(10, h // 30)
        try:
            font = ImageFont.load_default(size=size)
        except TypeError:  # Pillow < 10.1 has one fixed size
            font = ImageFont.load_default()
        draw = ImageDraw.Draw(image)
        label = format_length(length_nm)
        x1, y1 = w - margin, h - margin
        x0, y0 = x1 - bar_px, y1 - thick
        text_box = draw.textbbox((0, 0), label, font=font)
        tw, th = text_box[2] - text_box[0], text_box[3] - text_box[1]
        pad = max(2, thick)
        draw.rectangle([min(x0, x1 - tw) - pad, y0 - th - 3 * pad, x1 + pad, y1 + pad], fill=(0, 0, 0))
        draw.rectangle([x0, y0, x1, y1], fill=(255, 255, 255))
        draw.text(((x0 + x1 - tw) / 2, y0 - th - 2 * pad), label, fill=(255, 255, 255), font=font)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
