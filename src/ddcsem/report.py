"""Write results: calibrated TIFFs for Fiji, PNG previews with a scale bar, JSON manifests.

Every file is written atomically: to a temporary file in the target folder, then renamed
over the target, so an interrupted run never leaves a half-written file behind.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
from contextlib import contextmanager
from os import PathLike
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator

import numpy as np

from .errors import OutputError, ParameterError
from .units import cut_to_bytes, format_count, format_length, require_pixel_size

__all__ = [
    "atomic_path",
    "recorded_params_hash",
    "remove_stale_parts",
    "write_json",
    "write_toml",
    "write_tiff",
    "with_scale_bar",
    "write_preview_png",
    "write_tile_overview",
    "outlined",
    "write_overlay_png",
    "write_imagej_rois",
    "write_csv",
    "write_xlsx",
    "draw_size_distribution",
    "plot_size_distribution",
    "plot_analysis",
    "scale_bar_length",
    "write_image_results",
    "write_batch_tables",
    "plot_samples",
    "save_figure",
    "figure_format",
    "write_html_report",
]


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
    # the name's start will do, which leaves room for the rest in a file name's 255 bytes
    tmp = path.with_name(f".{cut_to_bytes(path.name, 200)}.{os.getpid()}.{secrets.token_hex(4)}.part")
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
    except PermissionError as exc:  # on Windows, also a file open in another program
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write: {exc.strerror or exc}", path=path,
                          hint="close it where it is open (Excel locks the tables it shows), or check "
                               "permissions") from None
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write: {exc.strerror or exc}", path=path,
                          hint="check free disk space and permissions") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_stale_parts(folder: str | PathLike) -> list[Path]:
    """Delete temporary files that a killed run left in ``folder`` (and below).

    Only files named as :func:`atomic_path` names them, whose writing process is gone.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / ".x.tif.999999999.ab12cd34.part").write_text("half")
    >>> [p.name for p in remove_stale_parts(d)]
    ['.x.tif.999999999.ab12cd34.part']
    """
    removed = []
    for path in Path(folder).rglob(".*.part"):
        parts = path.name.split(".")
        try:
            pid = int(parts[-3])
        except (IndexError, ValueError):
            continue
        if not _process_running(pid):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _process_running(pid: int) -> bool:
    """Whether process ``pid`` runs (another user's too). On Windows without a signal:
    ``os.kill(pid, 0)`` there sends Ctrl-C to the console process group ``pid``
    (``CTRL_C_EVENT`` is 0), and fails for one that is gone."""
    if os.name == "nt":
        import _winapi

        try:
            handle = _winapi.OpenProcess(0x00100000, False, pid)  # SYNCHRONIZE
        except OSError as exc:
            return getattr(exc, "winerror", None) == 5  # access denied: it runs, as another user's
        try:
            return _winapi.WaitForSingleObject(handle, 0) == 0x102  # WAIT_TIMEOUT: not ended
        finally:
            _winapi.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


def write_json(path: str | PathLike, data: Any) -> None:
    """Write ``data`` as indented UTF-8 JSON, atomically.

    Examples
    --------
    >>> import tempfile, os, json
    >>> path = os.path.join(tempfile.mkdtemp(), "m.json")
    >>> write_json(path, {"unit": "µm"})
    >>> json.load(open(path, encoding="utf-8"))
    {'unit': 'µm'}"""
    with atomic_path(path) as tmp:
        # a path whose name is not UTF-8 (Python's lone surrogates) is kept as its escape
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8",
                       errors="backslashreplace")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ParameterError(f"{value!r} has no TOML form")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # its escapes are TOML's basic string escapes
    return "[" + ", ".join(_toml_value(v) for v in value) + "]"


def write_toml(path: str | PathLike, values: dict[str, Any], *, comments: Iterable[str] = ()) -> None:
    """Write a flat table of strings, numbers, booleans and lists of them as TOML (keys
    whose value is None left out: TOML has no null), under ``comments``, atomically.

    Examples
    --------
    >>> import tempfile, os, tomllib
    >>> path = os.path.join(tempfile.mkdtemp(), "c.toml")
    >>> write_toml(path, {"threshold": "li", "clip": (1.0, 99.0), "register": False, "basis": None},
    ...            comments=["made by ddcsem"])
    >>> print(open(path, encoding="utf-8").read(), end="")
    # made by ddcsem
    threshold = "li"
    clip = [1.0, 99.0]
    register = false
    >>> tomllib.load(open(path, "rb"))["clip"]
    [1.0, 99.0]
    """
    lines = [f"# {line}" for line in comments]
    lines += [f"{key} = {_toml_value(value)}" for key, value in values.items() if value is not None]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="backslashreplace")


def write_tiff(path: str | PathLike, image: np.ndarray, *, pixel_size_nm: float | None,
               note: str | None = None) -> None:
    """Write an RGB uint8 image or a label image as a TIFF that Fiji opens calibrated in µm.

    Label images go out as uint16 (uint32 beyond 65 535 particles, which ImageJ reads
    without its hyperstack metadata but still calibrated). ``note`` is stored in the file
    (ImageJ's *Info*, else the image description): ddcsem records there the parameters a
    result was made with.

    Examples
    --------
    >>> import tempfile, os, tifffile
    >>> path = os.path.join(tempfile.mkdtemp(), "x_ddc.tif")
    >>> write_tiff(path, np.zeros((4, 5, 3), np.uint8), pixel_size_nm=20.0)
    >>> with tifffile.TiffFile(path) as tif:
    ...     tif.imagej_metadata["unit"], tif.pages[0].tags["XResolution"].value
    ('micron', (50, 1))
    """
    import tifffile

    image = np.asarray(image)
    rgb = image.ndim == 3
    if rgb:
        data = np.ascontiguousarray(image, dtype=np.uint8)
    else:
        data = image.astype(np.uint16 if image.max(initial=0) < 65536 else np.uint32)
    kwargs: dict[str, Any] = {"photometric": "rgb" if rgb else "minisblack"}
    imagej = data.dtype != np.uint32
    if pixel_size_nm is not None:
        um = require_pixel_size(pixel_size_nm) / 1000.0
        kwargs["resolution"] = (1.0 / um, 1.0 / um)
        if imagej:
            kwargs.update(imagej=True, metadata={"unit": "micron", **({"Info": note} if note else {})})
        else:
            kwargs["resolutionunit"] = "CENTIMETER"
            kwargs["resolution"] = (1e4 / um, 1e4 / um)
    if note and "imagej" not in kwargs:
        kwargs["description"] = note
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, data, **kwargs)


def recorded_params_hash(path: str | PathLike) -> str | None:
    """The ``params_hash=`` a ddcsem TIFF was written with (see :func:`write_tiff`), or None.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.tif")
    >>> write_tiff(path, np.zeros((4, 4, 3), np.uint8), pixel_size_nm=5.0, note="params_hash=ab12")
    >>> recorded_params_hash(path)
    'ab12'
    """
    import re

    import tifffile

    from .read import _tifffile_notes

    try:
        with _tifffile_notes(), tifffile.TiffFile(path) as tif:  # a damaged result is made again, not noted
            text = str((tif.imagej_metadata or {}).get("Info", "")) + " " + (tif.pages[0].description or "")
    except Exception:  # noqa: BLE001 - an unreadable result is not trusted
        return None
    found = re.search(r"params_hash=([0-9a-f]+)", text)
    return found.group(1) if found else None


#: A scale bar is drawn in whole pixels within this fraction of its length: one of
#: 1 / (2 * BAR_TOLERANCE) px or more always is.
BAR_TOLERANCE = 0.05


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


def _font(size: int):
    """DejaVu Sans from matplotlib's data (it has the µ sign), else Pillow's default font."""
    from PIL import ImageFont

    try:
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        return ImageFont.truetype(str(path), size)
    except (ImportError, OSError):
        return ImageFont.load_default(size=size)


def with_scale_bar(rgb: np.ndarray, *, pixel_size_nm: float | None, scale_bar: float | str = "auto") -> np.ndarray:
    """A copy of an RGB image with a scale bar burned in (bottom right), as the previews
    and overlays ddcsem writes have it (none when uncalibrated, or ``"off"``).

    Parameters
    ----------
    rgb : ndarray, shape (M, N, 3), uint8
        The image.
    pixel_size_nm : float or None
        Calibration; no scale bar without one.
    scale_bar : "auto", "off" or float, optional
        The bar's length: ``"auto"`` (a round length near a fifth of the width,
        :func:`scale_bar_length`; none on an image too narrow for its margins), ``"off"``
        (none), or a length in nm (the same on every image of a figure).

    Returns
    -------
    ndarray, shape (M, N, 3), uint8

    Raises
    ------
    ParameterError
        If the length given does not fit the image's width within the bar's margins.

    Examples
    --------
    >>> barred = with_scale_bar(np.zeros((100, 200, 3), np.uint8), pixel_size_nm=10.0)
    >>> int(barred[-10:, -60:].max()), int(barred[:50].max())   # the white bar, nothing else
    (255, 0)
    """
    return _bar_drawn(rgb, pixel_size_nm, scale_bar, None)


def _bar_drawn(rgb: np.ndarray, pixel_size_nm: float | None, scale_bar: float | str,
               path: str | PathLike | None) -> np.ndarray:
    """:func:`with_scale_bar`, ``path`` named in its error. Pillow draws on the bottom
    right corner alone, so a large image is copied once, not three times."""
    from PIL import Image, ImageDraw

    out = np.array(rgb, dtype=np.uint8, order="C")
    if pixel_size_nm is not None and scale_bar != "off":
        pixel_size_nm = require_pixel_size(pixel_size_nm)
        h, w = out.shape[:2]
        length_nm = scale_bar_length(w * pixel_size_nm) if scale_bar == "auto" else float(scale_bar)
        exact = length_nm / pixel_size_nm
        bar_px = max(1, int(round(exact)))
        thick = max(2, h // 100)
        margin = max(4, w // 50)
        if abs(bar_px - exact) > BAR_TOLERANCE * exact:  # a 1 nm bar on 20 nm pixels was a pixel, "1 nm"
            if scale_bar == "auto":  # an image a few pixels across
                return out
            raise ParameterError(f"a scale bar of {format_length(length_nm)} is {exact:.2g} px long: drawn in whole "
                                 f"pixels, {bar_px} px, it would show {format_length(bar_px * pixel_size_nm)}",
                                 path=path, hint=f"give one of {format_length(pixel_size_nm / BAR_TOLERANCE / 2)} "
                                                 "or more, or auto")
        if bar_px > w - 2 * margin:
            if scale_bar == "auto":  # an image under 9 px across: no room for any bar
                return out
            raise ParameterError(f"a scale bar of {format_length(length_nm)} is {bar_px} px long, more than the "
                                 f"image's width ({w} px of {format_length(pixel_size_nm)}) leaves",
                                 path=path, hint="give a shorter one, or auto")
        size = max(10, h // 30)
        font = _font(size)
        label = format_length(length_nm)
        text_box = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((0, 0), label, font=font)
        tw, th = text_box[2] - text_box[0], text_box[3] - text_box[1]
        pad = max(2, thick)
        x1, y1 = w - margin, h - margin
        x0, y0 = x1 - bar_px + 1, y1 - thick + 1  # PIL fills both ends: the bar is bar_px across
        left, top = min(x0, x1 - tw) - pad, y0 - th - 3 * pad  # the label's black backing
        # the corner, with room for any glyph beyond its box; whole pixels keep the drawing's
        # sub-pixel placement of the text as it is on the whole image
        c0, r0 = max(0, left - size), max(0, top - size)
        corner = Image.fromarray(out[r0:, c0:])
        draw = ImageDraw.Draw(corner)
        draw.rectangle([left - c0, top - r0, x1 + pad - c0, y1 + pad - r0], fill=(0, 0, 0))
        draw.rectangle([x0 - c0, y0 - r0, x1 - c0, y1 - r0], fill=(255, 255, 255))
        draw.text(((x0 + x1 - tw) / 2 - c0, y0 - th - 2 * pad - r0), label, fill=(255, 255, 255), font=font)
        out[r0:, c0:] = np.asarray(corner)
    return out


def write_preview_png(
    path: str | PathLike, rgb: np.ndarray, *, pixel_size_nm: float | None, scale_bar: float | str = "auto",
    threads: int | None = None,
) -> None:
    """Write a PNG preview with a burned-in scale bar (bottom right) when calibrated
    (:func:`with_scale_bar`), atomically, encoded on ``threads`` threads (default: as many
    as numba's kernels take in the calling thread; a thread of one's own starts with all).

    Raises
    ------
    ParameterError
        If the length given does not fit the image's width within the bar's margins.

    Examples
    --------
    >>> import tempfile, os
    >>> from PIL import Image
    >>> path = os.path.join(tempfile.mkdtemp(), "p.png")
    >>> write_preview_png(path, np.zeros((100, 200, 3), np.uint8), pixel_size_nm=10.0)
    >>> bool(np.asarray(Image.open(path))[-10:, -60:].max() == 255)   # the white bar
    True"""
    import numba

    image = _bar_drawn(rgb, pixel_size_nm, scale_bar, path)
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        _write_png(out, image, threads=numba.get_num_threads() if threads is None else threads)


#: Rows of a band that :func:`_write_png` deflates on a thread of its own, at least; and
#: rows that it filters at once within a band (so its filtered rows take little memory).
_PNG_BAND_ROWS = 256
_PNG_STEP_ROWS = 64
#: The most bytes of the deflated stream an IDAT chunk holds (PNG allows under 2 GiB).
_PNG_CHUNK_BYTES = 1 << 24
_ADLER_BASE = 65521


def _adler32_joined(first: int, second: int, second_length: int) -> int:
    """The Adler-32 checksum of two byte strings one after the other, from each one's own
    (sums A = 1 + the bytes, B = the sum of A after each byte, mod 65521): the second
    string's sums start from the first's A instead of 1, which adds A - 1 to its A and
    its length times A - 1 to its B."""
    a1, b1 = first & 0xFFFF, first >> 16
    a2, b2 = second & 0xFFFF, second >> 16
    a = (a1 + a2 - 1) % _ADLER_BASE
    b = (b1 + b2 + second_length * (a1 - 1)) % _ADLER_BASE
    return (b << 16) | a


def _write_png(out: BinaryIO, rgb: np.ndarray, *, threads: int = 1) -> None:
    """Write an (M, N, 3) uint8 image to a binary file as an RGB PNG.

    Every row is stored as its difference from the row above (PNG's "Up" filter) and
    deflated at zlib's fastest level, in up to ``threads`` bands of rows at once (zlib
    works without Python's lock); each band but the last ends on a byte boundary (a sync
    flush), so the bands joined are one deflate stream, whose Adler-32 checksum is joined
    from theirs. A 4096² overlay took Pillow's encoder 1.38 s at its fastest level
    (15.0 MB); this takes 0.62-0.74 s on one thread, 0.36 s on two (16.0 MB). A
    micrograph's noise barely compresses at any level.
    """
    import zlib
    from concurrent.futures import ThreadPoolExecutor

    rows, cols = rgb.shape[:2]
    flat = np.ascontiguousarray(rgb, dtype=np.uint8).reshape(rows, 3 * cols)
    n = max(1, min(threads, rows // _PNG_BAND_ROWS))
    edges = [rows * i // n for i in range(n + 1)]

    def deflate(i: int) -> tuple[bytes, int, int]:
        packer = zlib.compressobj(1, zlib.DEFLATED, -15)  # raw deflate: one header for all
        part = np.empty((_PNG_STEP_ROWS, 1 + 3 * cols), dtype=np.uint8)
        part[:, 0] = 2  # "Up"; above the first row PNG takes zeros
        pieces, check = [], 1
        for a in range(edges[i], edges[i + 1], _PNG_STEP_ROWS):
            b = min(a + _PNG_STEP_ROWS, edges[i + 1])
            raw = part[:b - a]
            raw[:, 1:] = flat[a:b]
            lo = max(a, 1)
            np.subtract(flat[lo:b], flat[lo - 1:b - 1], out=raw[lo - a:, 1:])  # modulo 256, as PNG reads it
            check = zlib.adler32(raw, check)
            pieces.append(packer.compress(raw))
        pieces.append(packer.flush(zlib.Z_FINISH if i == n - 1 else zlib.Z_SYNC_FLUSH))
        return b"".join(pieces), check, (edges[i + 1] - edges[i]) * (1 + 3 * cols)

    with ThreadPoolExecutor(n) as pool:
        bands = list(pool.map(deflate, range(n)))
    check = bands[0][1]
    for _, band_check, length in bands[1:]:
        check = _adler32_joined(check, band_check, length)

    def chunk(kind: bytes, data: bytes) -> None:
        out.write(len(data).to_bytes(4, "big") + kind)
        out.write(data)
        out.write(zlib.crc32(data, zlib.crc32(kind)).to_bytes(4, "big"))

    out.write(b"\x89PNG\r\n\x1a\n")
    chunk(b"IHDR", cols.to_bytes(4, "big") + rows.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0]))  # 8-bit RGB
    # zlib's header (deflate, 32 KiB window, fastest), the bands, the checksum of all rows
    stream = [b"\x78\x01", *(data for data, _, _ in bands), check.to_bytes(4, "big")]
    for data in stream:
        view = memoryview(data)
        for at in range(0, len(view), _PNG_CHUNK_BYTES):
            chunk(b"IDAT", view[at:at + _PNG_CHUNK_BYTES])
    chunk(b"IEND", b"")


def _boundaries(labels: np.ndarray, *, inner: bool) -> np.ndarray:
    """The pixels that differ from a 4-neighbour in ``labels`` (those of particles only,
    ``inner``): scikit-image's ``find_boundaries`` in its ``inner`` and ``thick`` modes,
    which the tests hold it to, at a seventeenth of its time (0.04 s at 4096²)."""
    labels = np.asarray(labels)
    out = np.zeros(labels.shape, dtype=bool)
    for after, before in (((slice(1, None), slice(None)), (slice(None, -1), slice(None))),
                          ((slice(None), slice(1, None)), (slice(None), slice(None, -1)))):
        differ = labels[after] != labels[before]
        out[after] |= differ
        out[before] |= differ
    if inner:
        out &= labels != 0
    return out


def outlined(rgb: np.ndarray, labels: np.ndarray, *, region: np.ndarray | None = None,
             markers: np.ndarray | None = None) -> np.ndarray:
    """A copy of the DDC image with the particle outlines (blue, apart from orange and
    green), the edge of the region analysed (magenta, when given) and the seeds marked by
    hand (white crosses at their centres, when given): the overlay ``ddcsem analyze``
    writes, without its scale bar (:func:`with_scale_bar`).

    Examples
    --------
    >>> labels = np.zeros((40, 40), int); labels[10:20, 10:20] = 1
    >>> outlined(np.zeros((40, 40, 3), np.uint8), labels)[10, 15].tolist()
    [40, 120, 255]
    """
    out = np.array(rgb, dtype=np.uint8, copy=True)
    out[_boundaries(labels, inner=True)] = (40, 120, 255)
    if region is not None:
        out[_boundaries(region, inner=False)] = (255, 0, 255)
    if markers is not None and markers.any():  # where the clicks were read
        from scipy import ndimage

        ids = np.unique(markers[markers > 0])
        rows, cols = np.round(np.array(ndimage.center_of_mass(markers > 0, markers, ids))).astype(int).T
        for dr, dc in [(d, 0) for d in range(-3, 4)] + [(0, d) for d in range(-3, 4)]:
            r, c = rows + dr, cols + dc
            inside = (r >= 0) & (c >= 0) & (r < out.shape[0]) & (c < out.shape[1])
            out[r[inside], c[inside]] = 255
    return out


def write_overlay_png(
    path: str | PathLike, rgb: np.ndarray, labels: np.ndarray, *, pixel_size_nm: float | None,
    region: np.ndarray | None = None, markers: np.ndarray | None = None, threads: int | None = None,
) -> None:
    """Write the DDC image with particle outlines (:func:`outlined`) and a scale bar
    (:func:`write_preview_png`, which takes ``threads``).

    Examples
    --------
    >>> import tempfile, os
    >>> from PIL import Image
    >>> labels = np.zeros((40, 40), int); labels[10:20, 10:20] = 1
    >>> path = os.path.join(tempfile.mkdtemp(), "o.png")
    >>> write_overlay_png(path, np.zeros((40, 40, 3), np.uint8), labels, pixel_size_nm=None)
    >>> np.asarray(Image.open(path))[10, 15].tolist()
    [40, 120, 255]
    """
    write_preview_png(path, outlined(rgb, labels, region=region, markers=markers), pixel_size_nm=pixel_size_nm,
                      threads=threads)


#: The longest side of the map of an image analysed in tiles (:func:`write_tile_overview`), px.
OVERVIEW_SIDE = 2048


def write_tile_overview(path: str | PathLike, shape: tuple[int, int],
                        tiles: list[tuple[tuple[slice, slice], Any, str]], *,
                        pixel_size_nm: float | None = None) -> None:
    """Write the map of an image analysed in tiles: each tile's DDC image in its place,
    scaled down to fit ``OVERVIEW_SIDE`` px, the grid, and each tile's caption (its name
    and particle count, say), with a scale bar when calibrated. Tiles without a DDC image
    (failed, or outside the region analysed) are grey; where no tile lies (padding passed
    over), black.

    Parameters
    ----------
    path : str or PathLike
        PNG file to write (atomically).
    shape : (int, int)
        The whole image's rows and columns.
    tiles : list of (window, ddc, caption)
        Each tile's rows and columns in the image (:class:`ddcsem.analyze.Tile`'s
        ``window``), its DDC image (an (M, N, 3) uint8 array, the path of its TIFF, or
        None) and the text to write on it.
    pixel_size_nm : float, optional
        The image's calibration.

    Examples
    --------
    >>> import tempfile, os
    >>> from PIL import Image
    >>> from ddcsem.analyze import tiles
    >>> grid = tiles(np.zeros((300, 500)), size=256)
    >>> path = os.path.join(tempfile.mkdtemp(), "tiles.png")
    >>> write_tile_overview(path, (300, 500), [(t.window, np.full((*t.image.shape, 3), 200, np.uint8), t.name)
    ...                                        for t in grid[:3]], pixel_size_nm=20.0)
    >>> overview = np.asarray(Image.open(path))
    >>> overview.shape, overview[100, 100].tolist(), overview[160, 300].tolist()  # the 4th tile: none
    ((300, 500, 3), [200, 200, 200], [0, 0, 0])
    """
    import tifffile
    from PIL import Image, ImageDraw

    pixel_size_nm = None if pixel_size_nm is None else require_pixel_size(pixel_size_nm)
    rows, cols = int(shape[0]), int(shape[1])
    scale = max(1, -(-max(rows, cols) // OVERVIEW_SIDE))
    canvas = Image.new("RGB", (-(-cols // scale), -(-rows // scale)))
    draw = ImageDraw.Draw(canvas)
    places = []
    for (r, c), ddc, caption in tiles:
        box = (c.start // scale, r.start // scale, -(-c.stop // scale), -(-r.stop // scale))
        size = (box[2] - box[0], box[3] - box[1])
        if ddc is None:
            draw.rectangle([box[0], box[1], box[2] - 1, box[3] - 1], fill=(90, 90, 90))
        else:
            image = tifffile.imread(ddc) if isinstance(ddc, (str, PathLike)) else ddc
            small = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).convert("RGB")
            canvas.paste(small.resize(size, Image.Resampling.BOX), box[:2])
        places.append((box, caption))
    font = _font(max(10, min(min(b[2] - b[0], b[3] - b[1]) for b, _ in places) // 10) if places else 10)
    for box, caption in places:
        draw.rectangle([box[0], box[1], box[2] - 1, box[3] - 1], outline=(255, 255, 255))
        draw.text((box[0] + 4, box[1] + 2), caption, fill=(255, 255, 255), font=font, stroke_width=2,
                  stroke_fill=(0, 0, 0))
    write_preview_png(path, np.asarray(canvas), pixel_size_nm=pixel_size_nm * scale if pixel_size_nm else None)


def write_imagej_rois(path: str | PathLike, labels: np.ndarray) -> int:
    """Write every particle's outline as an ImageJ traced ROI, in a zip for Fiji's ROI
    Manager, atomically; return how many ROIs were written.

    Each ROI runs along the particle's pixel edges, as ImageJ's wand traces it (see
    :func:`ddcsem.measure.particle_outlines`), so Fiji measures the same pixels, traced perimeter,
    Feret diameters and fitted ellipse as :func:`ddcsem.particle_table`; holes inside a
    particle are not traced. ROIs are named by label, zero-padded so the ROI Manager sorts
    them; a label in several 8-connected pieces gives one ROI per piece (``0007-2``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> labels = np.zeros((20, 30), np.int32); labels[2:6, 3:9] = 1; labels[10:15, 12:20] = 2
    >>> write_imagej_rois(pathlib.Path(tempfile.mkdtemp()) / "rois.zip", labels)
    2
    """
    import zipfile

    from roifile import ROI_TYPE, ImagejRoi

    from .measure import particle_outlines

    outlines = particle_outlines(labels)
    width = max(4, len(str(max(outlines, default=0))))
    count = 0
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for label, pieces in outlines.items():
            for piece, corners in enumerate(pieces, start=1):
                name = f"{label:0{width}d}" + (f"-{piece}" if len(pieces) > 1 else "")
                roi = ImagejRoi.frompoints(corners[:, ::-1], name=name)
                roi.roitype = ROI_TYPE.TRACED
                archive.writestr(f"{name}.roi", roi.tobytes())
                count += 1
    return count


def _cell(value: Any) -> str:
    if isinstance(value, str):  # first: ids, paths and messages are most of images.csv
        return value
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (float, np.floating)):
        return "" if not math.isfinite(value) else f"{float(value):.6g}"
    return str(value)


def write_csv(path: str | PathLike, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """Write rows as CSV (UTF-8, header line, empty cells for missing values), atomically.

    Opens directly in Excel and Fiji; booleans are 1/0, floats have six significant digits.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> write_csv(path, ["a", "b", "c"], [{"a": 1.23456789, "b": True}, {"a": float("nan"), "c": "x"}])
    >>> print(open(path).read().replace("\\r", ""))
    a,b,c
    1.23457,1,
    ,,x
    <BLANKLINE>
    """
    _write_csv_cells(path, columns, ([_cell(row.get(c)) for c in columns] for row in rows))


def _write_csv_cells(path: str | PathLike, columns: list[str], rows: Iterable[list[str]]) -> None:
    """:func:`write_csv` of rows given as their cells' text, in the order of ``columns``."""
    import csv

    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8", errors="backslashreplace") as fh:  # as write_json
            writer = csv.writer(fh)
            writer.writerow(columns)
            writer.writerows(rows)


#: The rows an Excel sheet holds, its header included, and the characters a cell holds.
EXCEL_ROWS = 1_048_576
EXCEL_CELL_CHARS = 32_767

#: The author that :func:`write_xlsx` gives its workbooks.
WORKBOOK_CREATOR = "ddcsem"


def _written_by_ddcsem(path: Path) -> bool:
    """Whether the workbook ``path`` is one that :func:`write_xlsx` wrote (its author)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as book:
            return f"<dc:creator>{WORKBOOK_CREATOR}</dc:creator>".encode() in book.read("docProps/core.xml")
    except (OSError, KeyError, zipfile.BadZipFile):
        return False


def write_xlsx(path: str | PathLike, sheets: list[tuple[str, list[str], Iterable[dict[str, Any]]]]) -> None:
    """Write tables as one Excel workbook, a sheet each, atomically.

    A CSV opens in Excel by a double click only where the decimal point is ``.`` and the
    list separator ``,``; elsewhere (German, French Excel) each row lands in one cell. A
    workbook opens alike in every locale, with numbers as numbers and text as text: an
    image id such as ``03-12`` stays an id, where Excel turns the CSV's into a date.

    The workbook is written as Office Open XML (ECMA-376) directly, a row at a time: 100,000
    particles in a few seconds, where a general workbook library takes half a minute.

    Parameters
    ----------
    path : str or PathLike
        The ``.xlsx`` file to write.
    sheets : list of (name, columns, rows)
        Each sheet's name, its header and its rows (dicts by column; missing values, None
        and NaN are empty cells). A table longer than a sheet holds goes on in the next,
        ``name (2)``. The header row is bold and stays in view as one scrolls.

    Raises
    ------
    ParameterError
        If a sheet's name is one Excel cannot hold: empty, over 31 characters, with one of
        ``[]:*?/\\``, or a name given twice.

    Examples
    --------
    >>> import tempfile, os
    >>> from openpyxl import load_workbook  # to read it back
    >>> path = os.path.join(tempfile.mkdtemp(), "t.xlsx")
    >>> write_xlsx(path, [("images", ["image_id", "n", "d50_um"], [{"image_id": "03-12", "n": 92, "d50_um": 0.3}])])
    >>> [[c.value for c in row] for row in load_workbook(path)["images"].iter_rows()]
    [['image_id', 'n', 'd50_um'], ['03-12', 92, 0.3]]
    """
    import itertools
    import tempfile
    import zipfile
    from datetime import datetime, timezone

    names: list[str] = []

    def add_sheet(name: str) -> None:
        taken = {n.casefold() for n in names}  # Excel's sheet names ignore case
        if not 0 < len(name) <= 31 or any(c in name for c in "[]:*?/\\") or name.casefold() in taken:
            raise ParameterError(f"sheet name {name!r}: Excel takes 1 to 31 characters, none of []:*?/\\, "
                             "each name once")
        names.append(name)

    with (atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as book,
          tempfile.TemporaryDirectory() as scratch):
        for name, columns, rows in sheets:
            rows, part = iter(rows), 1
            while True:
                add_sheet(name if part == 1 else f"{name} ({part})")
                # Each sheet is written out first, and zipped at its known size: an entry
                # whose size is unknown is written with ZIP64 fields, which Excel may refuse.
                sheet = Path(scratch) / "sheet.xml"
                with open(sheet, "wb") as fh:
                    _write_sheet_xml(fh, columns, itertools.islice(rows, EXCEL_ROWS - 1))
                book.write(sheet, f"xl/worksheets/sheet{len(names)}.xml")
                following = next(rows, _NO_ROW)
                if following is _NO_ROW:
                    break
                rows, part = itertools.chain([following], rows), part + 1
        created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        sheet_parts = range(1, len(names) + 1)
        book.writestr("[Content_Types].xml", _XML_HEAD + (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_SPREADSHEETML}.sheet.main+xml"/>'
            + "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
                      f'ContentType="{_SPREADSHEETML}.worksheet+xml"/>' for i in sheet_parts)
            + f'<Override PartName="/xl/styles.xml" ContentType="{_SPREADSHEETML}.styles+xml"/>'
            '<Override PartName="/docProps/core.xml" '
            'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/></Types>'))
        book.writestr("_rels/.rels", _XML_HEAD + _relationships([
            (f"{_OFFICE_DOCUMENT}/relationships/officeDocument", "xl/workbook.xml"),
            ("http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties",
             "docProps/core.xml")]))
        book.writestr("docProps/core.xml", _XML_HEAD + (
            '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f'<dc:creator>{WORKBOOK_CREATOR}</dc:creator>'  # how a later run knows the workbook for its own
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{created}</dcterms:created></cp:coreProperties>'))
        book.writestr("xl/workbook.xml", _XML_HEAD + (
            f'<workbook xmlns="{_SPREADSHEETML_MAIN}" xmlns:r="{_OFFICE_DOCUMENT}/relationships">'
            '<bookViews><workbookView/></bookViews><sheets>'
            + "".join(f'<sheet name="{_xml_text(n)}" sheetId="{i}" r:id="rId{i}"/>' for i, n in zip(sheet_parts, names))
            + '</sheets></workbook>'))
        book.writestr("xl/_rels/workbook.xml.rels", _XML_HEAD + _relationships(
            [(f"{_OFFICE_DOCUMENT}/relationships/worksheet", f"worksheets/sheet{i}.xml") for i in sheet_parts]
            + [(f"{_OFFICE_DOCUMENT}/relationships/styles", "styles.xml")]))
        book.writestr("xl/styles.xml", _XML_HEAD + (  # style 0 plain, style 1 bold (the header)
            f'<styleSheet xmlns="{_SPREADSHEETML_MAIN}">'
            '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
            '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
            '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'))


_XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_SPREADSHEETML = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_SPREADSHEETML_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_OFFICE_DOCUMENT = "http://schemas.openxmlformats.org/officeDocument/2006"
_NO_ROW = object()
#: Characters XML 1.0 cannot hold (nor so a workbook); tab, line feed and carriage return it can.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _relationships(targets: list[tuple[str, str]]) -> str:
    """A relationships part: each (type, target) as ``rId1``, ``rId2``, ..."""
    return ('<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + "".join(f'<Relationship Id="rId{i}" Type="{kind}" Target="{target}"/>'
                      for i, (kind, target) in enumerate(targets, start=1))
            + "</Relationships>")


def _xml_text(value: Any) -> str:
    """Text as a workbook holds it: escaped for XML, without the characters XML cannot
    hold, and within the 32,767 characters an Excel cell holds."""
    from xml.sax.saxutils import escape

    text = str(value).encode("utf-8", "backslashreplace").decode("utf-8")  # as write_json: a name not UTF-8
    return escape(_XML_ILLEGAL.sub("", text)[:EXCEL_CELL_CHARS], {'"': "&quot;", "\r": "&#13;"})


def _write_sheet_xml(fh: BinaryIO, columns: list[str], rows: Iterable[dict[str, Any]]) -> None:
    """Write one worksheet part: a bold header kept in view, then ``rows``, a row each."""
    letters = [_column_letters(i) for i in range(len(columns))]
    widths = "".join(f'<col min="{i}" max="{i}" width="{max(10, len(c) + 2)}" customWidth="1"/>'
                     for i, c in enumerate(columns, start=1))
    fh.write((_XML_HEAD + f'<worksheet xmlns="{_SPREADSHEETML_MAIN}"><sheetViews><sheetView workbookViewId="0">'
              '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
              '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
              f'<cols>{widths}</cols><sheetData><row r="1">'
              + "".join(f'<c r="{x}1" s="1" t="inlineStr"><is><t xml:space="preserve">{_xml_text(c)}</t></is></c>'
                        for x, c in zip(letters, columns))
              + "</row>").encode())
    lines = []
    for r, row in enumerate(rows, start=2):
        lines.append(f'<row r="{r}">' + "".join(_xlsx_cell(f"{x}{r}", row.get(c)) for x, c in zip(letters, columns))
                     + "</row>")
        if len(lines) == 1000:
            fh.write("".join(lines).encode())
            lines.clear()
    fh.write(("".join(lines) + "</sheetData></worksheet>").encode())


def _column_letters(index: int) -> str:
    """A column's letters from its index: 0 is A, 25 Z, 26 AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _xlsx_cell(ref: str, value: Any) -> str:
    """A cell of a worksheet part: numbers as numbers, text as text (never a formula),
    nothing for missing ones."""
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return f'<c r="{ref}"><v>{float(value)!r}</v></c>' if math.isfinite(value) else ""
    if isinstance(value, (bool, np.bool_)):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, (int, np.integer)):
        return f'<c r="{ref}"><v>{int(value)}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{_xml_text(value)}</t></is></c>'


#: A size distribution whose D90 is this many times its D10 or more is drawn on a
#: logarithmic axis, its bars of equal width there: on a linear one its small particles
#: crowd into the first tenth of the axis, their D-values written over each other (a
#: log-normal of geometric SD 2.3: D90 / D10 = 9). Log-normal spheres of geometric SD 1.9
#: and more are drawn so; the bundled samples (D90 / D10 = 3.3) on a linear axis.
LOG_AXIS_SPAN = 5.0


def _log_size_axis(axis: Any) -> None:
    """A logarithmic size axis read as plain numbers, ticks at 1, 2 and 5 of each decade."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_xscale("log")
    axis.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    axis.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.xaxis.set_minor_formatter(NullFormatter())


def draw_size_distribution(
    diameters: np.ndarray,
    stats: dict[str, Any],
    *,
    unit: str,
    title: str,
    weights: np.ndarray | None = None,
    ax: Any = None,
) -> Any:
    """Draw the histogram and cumulative curve of particle sizes, with D10/D50/D90 (the
    D50's 95 % confidence interval shaded) and the log-normal fit: the ``_psd.png`` that
    ``ddcsem analyze`` writes, in a notebook or a figure of one's own.

    Parameters
    ----------
    diameters : ndarray, shape (K,)
        Equivalent circle diameters, in ``unit``; NaN (a blank) leaves a particle out, as
        :func:`ddcsem.size_distribution` does.
    stats : dict
        From :func:`ddcsem.size_distribution` of the same diameters (and weights).
    unit : str
        Unit of the diameters, for the axis label.
    title : str
        Plot title (the image id); the particle count is added.
    weights : ndarray, shape (K,), optional
        Miles-Lantuejoul edge weights (NaN counts as 1): the bars and the cumulative
        curve count each particle with its weight, and the axis says so (unless all are
        NaN: edge particles kept).
    ax : matplotlib Axes, optional
        Where to draw; a new pyplot figure when not given.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn in.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from ddcsem.measure import size_distribution
    >>> d = np.random.default_rng(0).lognormal(0, 0.4, 300)
    >>> ax = Figure().subplots()
    >>> fig = draw_size_distribution(d, size_distribution(d), unit="µm", title="demo", ax=ax)
    >>> ax.get_title(), ax.get_xlabel()
    ('demo: n = 300', 'equivalent circle diameter (µm)')
    """
    from .measure import _counted, _kept

    d = np.asarray(diameters, dtype=float)
    w = np.ones_like(d) if weights is None else _counted(weights)
    kept = _kept(d, w)  # as the statistics count them (matplotlib's histogram refused a NaN)
    d, w = d[kept], w[kept]
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)[1]
    fig = ax.figure
    if d.size:
        d10, d90 = stats.get("d10", np.nan), stats.get("d90", np.nan)
        logarithmic = bool(d10 is not None and d90 is not None and d10 > 0 and d90 >= LOG_AXIS_SPAN * d10)
        scale = np.log if logarithmic else (lambda v: v)  # the axis's variable: bars of equal width in it
        edges = np.histogram_bin_edges(scale(d), bins="auto" if d.size > 10 else 5)
        bins = np.exp(edges) if logarithmic else edges
        ax.hist(d, bins=bins, weights=w, color="#e69f00", edgecolor="white", label="particles")
        if np.isfinite(stats.get("lognorm_median", np.nan)) and stats.get("lognorm_gsd", 0) > 1:
            x = (np.geomspace if logarithmic else np.linspace)(max(bins[0], 1e-9), bins[-1], 300)
            mu, sigma = np.log(stats["lognorm_median"]), np.log(stats["lognorm_gsd"])
            pdf = np.exp(-((np.log(x) - mu) ** 2) / (2 * sigma**2)) / (x * sigma * np.sqrt(2 * np.pi))
            # particles per bar: the density in the axis's variable (per unit of ln d: d x pdf) x the bar width
            ax.plot(x, pdf * (x if logarithmic else 1.0) * w.sum() * np.diff(edges).mean(), color="#0072b2",
                    label=f"log-normal: median {stats['lognorm_median']:.3g}, GSD {stats['lognorm_gsd']:.3g}")
        if logarithmic:
            _log_size_axis(ax)
        cdf = ax.twinx()
        order = np.argsort(d)
        cdf.plot(d[order], np.cumsum(w[order]) / w.sum() * 100, color="#333333", lw=1.2)
        cdf.set_ylim(0, 100)
        cdf.set_ylabel("cumulative number (%)")
        for key in ("d10", "d50", "d90"):
            value = stats.get(key)
            if value is not None and np.isfinite(value):
                ax.axvline(value, color="#009e73", ls="--", lw=1)
                # on the CDF's axes, which are drawn last: the label stays above the curve
                cdf.text(value, 97, f" {key.upper()} {value:.3g}", rotation=90,
                        va="top", ha="right", fontsize=8, color="#009e73",
                        bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1})
        low, high = stats.get("d50_ci_low", np.nan), stats.get("d50_ci_high", np.nan)
        if np.isfinite(low) and np.isfinite(high):
            ax.axvspan(low, high, color="#009e73", alpha=0.15, lw=0,
                       label=f"D50 95 % CI {low:.3g}–{high:.3g}")
        # below the axes, clear of the bars and of the D-value labels along the top
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8, frameon=False)
    else:
        ax.text(0.5, 0.5, "no particles", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(f"equivalent circle diameter ({unit})")
    weighted = weights is not None and bool(np.isfinite(weights).any())
    ax.set_ylabel("number of particles" + (" (edge-weighted)" if weighted else ""))
    ax.set_title(f"{_short_title(title)}: n = {stats.get('count', 0)}", fontsize=10)
    if stats.get("warning"):  # one line, under the axis' label: a long one ran off the figure (the tables hold it)
        note = f"(warning: {stats['warning']})"
        fig.text(0.01, 0.01, note if len(note) <= NOTE_CHARACTERS else f"{note[:NOTE_CHARACTERS - 1]}…", fontsize=7,
                 color="#aa0000")
    return fig


#: A size plot's warning is cut to this many characters, what a line under its axis holds.
NOTE_CHARACTERS = 120


def _short_title(title: str, most: int = 60) -> str:
    """``title``, its middle left out beyond ``most`` characters: a long file name's id
    ran off the figure, its distinct end (see ``distinct_ids``) with it.

    Examples
    --------
    >>> _short_title("valve_02"), _short_title("field-" + "x" * 185 + "_d0965085")
    ('valve_02', 'field-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…xxxxxx_d0965085')
    """
    return title if len(title) <= most else f"{title[:most - 16]}…{title[-15:]}"


def plot_size_distribution(
    path: str | PathLike,
    diameters: np.ndarray,
    stats: dict[str, Any],
    *,
    unit: str,
    title: str,
    weights: np.ndarray | None = None,
) -> None:
    """Write :func:`draw_size_distribution`'s plot as PNG, atomically.

    Examples
    --------
    >>> import tempfile, os
    >>> from ddcsem.measure import size_distribution
    >>> d = np.random.default_rng(0).lognormal(0, 0.4, 300)
    >>> path = os.path.join(tempfile.mkdtemp(), "psd.png")
    >>> plot_size_distribution(path, d, size_distribution(d), unit="µm", title="demo")
    >>> open(path, "rb").read(4)
    b'\\x89PNG'
    """
    from matplotlib.figure import Figure

    ax = Figure(figsize=(6.4, 4.2), dpi=120).subplots()
    save_figure(draw_size_distribution(diameters, stats, unit=unit, title=title, weights=weights, ax=ax), path)


def plot_analysis(result: Any) -> Any:
    """Show one image's analysis: its DDC image with the particles outlined and a scale
    bar, beside its size distribution, as ``ddcsem analyze`` writes them
    (``_overlay.png``, ``_psd.png``).

    Parameters
    ----------
    result : ImageAnalysis
        From :func:`ddcsem.analyze_pair`, :func:`ddcsem.analyze_single` or
        :func:`ddcsem.analyze_composite`.

    Returns
    -------
    matplotlib.figure.Figure
        A new pyplot figure: a notebook shows it under the cell.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from ddcsem.analyze import analyze_pair
    >>> from ddcsem.pair import SEMPair
    >>> from ddcsem.read import PixelSize, SEMImage
    >>> from ddcsem.synthetic import make_pair
    >>> syn, size = make_pair(shape=(200, 200), n_particles=20, seed=1), PixelSize(20.0, "argument")
    >>> result = analyze_pair(SEMPair("f", SEMImage(syn.se, size), SEMImage(syn.bse, size), size))
    >>> fig = plot_analysis(result)
    >>> [ax.get_title().split(":")[0] for ax in fig.axes[:2]]
    ['f', 'f']
    >>> plt.close(fig)
    """
    import matplotlib.pyplot as plt

    from .analyze import ImageAnalysis

    if not isinstance(result, ImageAnalysis):  # an image failed on its first attribute
        raise ParameterError(f"plot_analysis shows an ImageAnalysis, not {type(result).__name__}",
                             hint="give what analyze_pair, analyze_single or analyze_composite returns")
    nm = result.pixel_size.nm
    fig, (image, psd) = plt.subplots(1, 2, figsize=(12, 5.2), dpi=100, width_ratios=[1, 1.1])
    image.imshow(with_scale_bar(outlined(result.ddc, result.labels, region=result.region, markers=result.markers),
                                pixel_size_nm=nm))
    calibration = calibration_text({"pixel_size_nm": nm, "pixel_size_source": result.pixel_size.source})
    image.set_title(f"{_short_title(result.image_id)}: {len(result.table['label'])} particles, {calibration}",
                    fontsize=10)
    image.axis("off")
    draw_size_distribution(result.table["ecd_um" if nm else "ecd_px"], result.distribution,
                           unit="µm" if nm else "px", title=result.image_id,
                           weights=result.table["edge_weight"], ax=psd)
    fig.tight_layout()
    return fig


#: Columns of ``particles.csv`` (µm columns are empty for uncalibrated images).
PARTICLE_COLUMNS = [
    "image_id", "label", "centroid_x_px", "centroid_y_px", "centroid_x_um", "centroid_y_um",
    "area_px2", "area_um2", "ecd_px", "ecd_um", "feret_max_px", "feret_max_um", "feret_min_px",
    "feret_min_um", "feret_angle_deg", "perimeter_px", "perimeter_um", "major_px", "major_um", "minor_px",
    "minor_um", "ellipse_angle_deg", "circularity", "roundness",
    "aspect_ratio", "solidity", "bse_mean", "se_mean", "touches_edge", "edge_weight", "calibrated",
]

_STATS = [("d10", "d10"), ("d50", "d50"), ("d50_ci_low", "d50_ci_low"), ("d50_ci_high", "d50_ci_high"),
          ("d90", "d90"), ("mean", "mean_ecd"), ("sd", "sd_ecd"), ("d32", "d32"), ("d43", "d43"),
          ("d50_volume", "d50_volume"), ("lognorm_median", "lognorm_median")]

#: The shape measures whose medians over an image's particles ``images.csv`` gives.
SHAPES = ("circularity", "roundness", "aspect_ratio", "solidity")

#: Columns of ``images.csv``.
IMAGE_COLUMNS = [
    "image_id", "kind", "split", "profile", "se_path", "bse_path", "image_path", "labels_path", "region_path",
    "markers_path", "pixel_size_nm",
    "pixel_size_source",
    "calibrated", "beam_kv", "n_particles", "mineral_area_fraction", "field_area_um2", "field_area_px2",
    "particles_per_um2", "particles_per_px2",
    *[f"{name}_um" for _, name in _STATS], "lognorm_gsd",
    *[f"{name}_px" for _, name in _STATS], *[f"{name}_median" for name in SHAPES],
    "shift_y_px", "shift_x_px", "tile_of", "tile_origin_x_px", "tile_origin_y_px", "warning", "status", "error",
]


#: The warning of an image without a pixel size.
UNCALIBRATED = ("uncalibrated: no pixel size in the file's metadata or ImageJ tags, so sizes are "
                "in pixels (the _px columns); give the pixel size (--pixel-size, e.g. 12nm)")


def image_warnings(summary: dict[str, Any]) -> list[str]:
    """The warnings of one image: those raised while it was analysed (recorded in
    ``summary["warnings"]``), a missing calibration and its size distribution's."""
    found = list(summary.get("warnings") or ())
    extra = [(summary.get("distribution") or {}).get("warning")]
    if summary.get("calibrated") is False:
        extra.insert(0, UNCALIBRATED)
    found += [w for w in extra if w and w not in found]
    return found


def calibration_text(summary: dict[str, Any]) -> str:
    """An image's pixel size and where it came from, e.g. ``"12 nm/px (imagej:resolution+unit)"``,
    or ``"uncalibrated"``."""
    size = summary.get("pixel_size_nm")
    return f"{size:.6g} nm/px ({summary.get('pixel_size_source')})" if size else "uncalibrated"


def image_row(summary: dict[str, Any]) -> dict[str, Any]:
    """One ``images.csv`` row from a per-image summary (see :func:`write_image_results`)."""
    row = {k: summary.get(k) for k in ("image_id", "kind", "split", "profile", "pixel_size_nm",
                                        "pixel_size_source", "calibrated", "beam_kv", "n_particles",
                                        "mineral_area_fraction", "status", "error")}
    if row["status"] == "skipped":  # results of an earlier run with the same parameters
        row["status"] = "ok"
    sources = summary.get("sources") or {}
    row.update(se_path=sources.get("se"), bse_path=sources.get("bse"), image_path=sources.get("image"),
               labels_path=sources.get("labels"), region_path=sources.get("region"),
               markers_path=sources.get("markers"))
    dist = summary.get("distribution") or {}
    row["warning"] = "; ".join(image_warnings(summary)) or None
    row["lognorm_gsd"] = dist.get("lognorm_gsd")
    um_per_px = summary["pixel_size_nm"] / 1000 if summary.get("calibrated") else None
    area, density = summary.get("field_area"), summary.get("number_density")
    if area is not None:  # in µm² when calibrated, else px²: as the distribution's sizes
        scale = um_per_px * um_per_px if um_per_px else 1.0
        row["field_area_px2"], row["particles_per_px2"] = area / scale, density * scale
        if um_per_px:
            row["field_area_um2"], row["particles_per_um2"] = area, density
    for key, name in _STATS:
        value = dist.get(key)
        if value is None:
            continue
        if um_per_px:
            row[f"{name}_um"], row[f"{name}_px"] = value, value / um_per_px
        else:
            row[f"{name}_px"] = value
    row.update({f"{name}_median": value for name, value in (summary.get("shape_medians") or {}).items()})
    shift = summary.get("shift_px") or [None, None]
    row["shift_y_px"], row["shift_x_px"] = shift
    tile = summary.get("tile")
    if tile:  # where the tile lies in its image: add to its particles' centroids to place them there
        row["tile_of"], (row["tile_origin_y_px"], row["tile_origin_x_px"]) = tile["of"], tile["origin_px"]
    return row


def write_image_results(result: Any, folder: str | PathLike, *, params_hash: str,
                        tile: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write one image's results into ``folder`` and return its summary.

    ``tile``, for a tile of a larger image (:func:`ddcsem.analyze.tiles`): ``of`` (that
    image's id), ``name`` and ``origin_px`` (its top-left pixel there, row and column).

    Files: ``<id>_ddc.tif``, ``<id>_labels.tif`` (both calibrated), ``<id>_rois.zip`` (the
    particle outlines for Fiji's ROI Manager), ``<id>_overlay.png``, ``<id>_psd.png``,
    ``<id>_particles.csv`` and, last, ``<id>_summary.json`` (written only when everything
    else is, so its presence marks the image as done).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from ddcsem.analyze import analyze_single
    >>> from ddcsem.read import PixelSize, SEMImage
    >>> from ddcsem.synthetic import make_pair
    >>> syn = make_pair(shape=(96, 96), n_particles=6, clustered_fraction=0, seed=1)
    >>> result = analyze_single(SEMImage(syn.bse, PixelSize(20.0, "argument")), image_id="x")
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "x"
    >>> summary = write_image_results(result, folder, params_hash="demo")
    >>> sorted(p.name for p in folder.iterdir())  # doctest: +NORMALIZE_WHITESPACE
    ['x_ddc.tif', 'x_labels.tif', 'x_overlay.png', 'x_particles.csv', 'x_psd.png', 'x_rois.zip',
     'x_summary.json']
    """
    from concurrent.futures import ThreadPoolExecutor

    import numba

    folder = Path(folder)
    image_id = result.image_id
    nm = result.pixel_size.nm
    n = len(result.table["label"])
    # the overlay's PNG encoding (a third of a second of a 4096² image) releases the GIL: it
    # runs beside the other files' writing, on the threads this one's kernels may take (a
    # batch worker's share of the cores: numba counts threads per thread)
    with ThreadPoolExecutor(1) as beside:
        overlay = beside.submit(write_overlay_png, folder / f"{image_id}_overlay.png", result.ddc, result.labels,
                                pixel_size_nm=nm, region=result.region, markers=result.markers,
                                threads=numba.get_num_threads())
        write_tiff(folder / f"{image_id}_ddc.tif", result.ddc, pixel_size_nm=nm)
        write_tiff(folder / f"{image_id}_labels.tif", result.labels, pixel_size_nm=nm)
        write_imagej_rois(folder / f"{image_id}_rois.zip", result.labels)
        unit = "um" if nm else "px"
        ecd = result.table[f"ecd_{unit}"]
        plot_size_distribution(folder / f"{image_id}_psd.png", ecd, result.distribution,
                               unit="µm" if nm else "px", title=image_id, weights=result.table["edge_weight"])
        columns = {k: np.asarray(v).tolist() for k, v in result.table.items()}  # Python numbers format faster
        rows = [{"image_id": image_id, "calibrated": bool(nm), **{k: v[i] for k, v in columns.items()}}
                for i in range(n)]
        write_csv(folder / f"{image_id}_particles.csv", PARTICLE_COLUMNS, rows)
        overlay.result()  # its error, if any, as the others'
    summary = {
        "image_id": image_id, "kind": result.kind, "split": result.split, "profile": result.profile,
        "sources": result.sources,
        "pixel_size_nm": nm, "pixel_size_source": result.pixel_size.source,
        "calibrated": bool(nm), "beam_kv": result.beam_kv, "n_particles": n,
        "mineral_area_fraction": result.mineral_area_fraction,
        "field_area": result.field_area, "number_density": result.number_density,
        "smallest_ecd": result.smallest_ecd,
        "distribution": {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                         for k, v in result.distribution.items()},
        "shape_medians": {name: float(np.median(result.table[name])) if n else None for name in SHAPES},
        "shift_px": [round(float(v), 3) for v in result.shift_px],
        "timings_s": {k: round(v, 4) for k, v in result.timings.items()},
        "tile": tile, "params_hash": params_hash, "status": "ok", "error": None,
    }
    write_json(folder / f"{image_id}_summary.json", summary)
    return summary


#: Columns of ``samples.csv``: the calibrated images of each sample pooled (µm).
SAMPLE_COLUMNS = [
    "sample", "n_images", "n_particles", "field_area_um2", "mineral_area_fraction", "particles_per_um2",
    *[f"{name}_um" for _, name in _STATS], "lognorm_gsd", *[f"{name}_median" for name in SHAPES],
    "d50_field_sd_um", "mineral_area_fraction_field_sd", "particles_per_um2_field_sd", "warning", "image_ids",
]

#: The name of the row of ``samples.csv`` that pools every calibrated image.
ALL_SAMPLES = "all"

#: Fields whose smallest particles kept differ more than this many times are warned
#: about when pooled: their size distributions are cut at different sizes.
UNEVEN_CUT = 1.25


def _pooled_row(name: str, members: list[dict[str, Any]], sizes: dict[str, tuple[np.ndarray, np.ndarray]],
                uncalibrated: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """One ``samples.csv`` row, and the statistics it holds: the calibrated images
    ``members`` pooled by :func:`ddcsem.measure.pool_fields`, with their particles' ECDs
    (µm) and edge weights (``sizes``, by image id)."""
    from .measure import pool_fields

    areas = [m.get("field_area") for m in members]
    known = None not in areas  # summaries of an earlier version may lack the area
    stats = pool_fields([sizes[m["image_id"]][0] for m in members], weights=[sizes[m["image_id"]][1] for m in members],
                        field_areas=areas if known else None,
                        mineral_area_fractions=[m["mineral_area_fraction"] for m in members] if known else None)
    row: dict[str, Any] = {"sample": name, "n_images": len(members), "n_particles": stats["count"],
                           "lognorm_gsd": stats["lognorm_gsd"], "field_area_um2": stats.get("field_area"),
                           "mineral_area_fraction": stats.get("mineral_area_fraction"),
                           "particles_per_um2": stats.get("number_density"),
                           "d50_field_sd_um": stats["d50_field_sd"],
                           "mineral_area_fraction_field_sd": stats.get("mineral_area_fraction_field_sd"),
                           "particles_per_um2_field_sd": stats.get("number_density_field_sd"),
                           "image_ids": ";".join(m["image_id"] for m in members)}
    row.update({f"{column}_um": stats[key] for key, column in _STATS})
    notes = [stats["warning"]] if stats["warning"] else []
    cuts = [m.get("smallest_ecd") for m in members]
    cuts = [c for c in cuts if c]
    if cuts and max(cuts) > UNEVEN_CUT * min(cuts):  # fields at other magnifications, cut in pixels
        notes.append(f"one of its fields keeps particles from {min(cuts) * 1000:.3g} nm up, another only from "
                     f"{max(cuts) * 1000:.3g} nm (the size filter is in pixels, and their pixel sizes differ), so the "
                     f"pooled distribution's small end is cut unevenly; give --min-diameter {max(cuts) * 1000:.3g}nm "
                     "to cut them alike")
    if uncalibrated:
        notes.append(f"{format_count(uncalibrated, 'uncalibrated image')} left out (sizes in pixels cannot be "
                     "pooled; give the pixel size, --pixel-size)")
    row["warning"] = "; ".join(notes) or None
    return row, stats


#: Samples that :func:`plot_samples` tells apart by colour; more are drawn in grey (their
#: D50s stay named, a row each): colours repeated, and a legend of 200 samples drew a
#: cumulative plot 8,500 px tall.
SAMPLE_COLOURS = 10


def plot_samples(path: str | PathLike, rows: list[dict[str, Any]],
                 sizes: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Compare samples: their cumulative size distributions on one axis, and their D50s
    with 95 % confidence intervals, saved as PNG. Up to ``SAMPLE_COLOURS`` samples are told
    apart by colour; more are drawn in grey, the distributions above their D50s.

    Parameters
    ----------
    path : str or PathLike
        PNG file to write (atomically).
    rows : list of dict
        The samples' ``samples.csv`` rows (``sample``, ``n_particles``, ``d50_um``,
        ``d50_ci_low_um``, ``d50_ci_high_um``), in the order to show them; those without
        particles are left out.
    sizes : list of (ndarray, ndarray)
        For each row, its particles' equivalent circle diameters (µm) and edge weights
        (NaN counts as 1).

    Examples
    --------
    >>> import tempfile, os
    >>> from ddcsem.measure import size_distribution
    >>> rng = np.random.default_rng(0)
    >>> sizes = [(rng.lognormal(0, 0.3, 200), np.ones(200)), (rng.lognormal(0.3, 0.3, 150), np.ones(150))]
    >>> rows = [{"sample": name, "n_particles": len(d),
    ...          **{f"{key}_um": v for key, v in size_distribution(d).items() if key.startswith("d50")}}
    ...         for name, (d, w) in zip("ab", sizes)]
    >>> path = os.path.join(tempfile.mkdtemp(), "samples.png")
    >>> plot_samples(path, rows, sizes)
    >>> open(path, "rb").read(4)
    b'\\x89PNG'
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    from .measure import _counted

    # a sample without particles (its images uncalibrated) has nothing to show: samples.csv says why
    kept = [i for i, row in enumerate(rows) if row["n_particles"]]
    rows, sizes = [rows[i] for i in kept], [sizes[i] for i in kept]
    many = sum(row["sample"] != ALL_SAMPLES for row in rows) > SAMPLE_COLOURS
    if many:  # the curves in grey below, at a curve's height; the D50s each on a row of their own
        fig = Figure(figsize=(10, 5 + 0.25 * len(rows)), dpi=120)
        cdf, d50 = fig.subplots(2, 1, gridspec_kw={"height_ratios": [4.5, 0.25 * len(rows)]})
    else:
        fig = Figure(figsize=(10, 0.5 + max(3.5, 0.35 * len(rows))), dpi=120)
        cdf, d50 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    for i, (row, (d, w)) in enumerate(zip(rows, sizes)):
        pooled = row["sample"] == ALL_SAMPLES and i == len(rows) - 1  # every sample's, drawn in black
        colour = "black" if pooled else "0.45" if many else colormaps["tab10"](i)
        w = _counted(w)
        order = np.argsort(d)
        label = f"{row['sample']} (n = {row['n_particles']})"
        if many and not pooled:
            label = f"each of {len(rows) - 1} samples" if i == 0 else "_nolegend_"
        if d.size:
            cdf.step(d[order], np.cumsum(w[order]) / w.sum() * 100, where="post", color=colour,
                     ls="--" if pooled else "-", lw=0.7 if many and not pooled else 1.5, label=label)
        value, low, high = (row.get(k) for k in ("d50_um", "d50_ci_low_um", "d50_ci_high_um"))
        if value is not None and np.isfinite(value):
            interval = (low is not None and np.isfinite(low) and high is not None and np.isfinite(high))
            d50.errorbar([value], [i], xerr=[[value - low], [high - value]] if interval else None,
                         fmt="o", color=colour, capsize=3)
    _log_size_axis(cdf)
    cdf.set_ylim(0, 100)
    cdf.set_xlabel("equivalent circle diameter (µm)")
    cdf.set_ylabel("cumulative number (%, edge-weighted)")
    cdf.grid(True, which="both", alpha=0.3)
    cdf.legend(fontsize=8, loc="lower right")
    d50.set_yticks(range(len(rows)), [row["sample"] for row in rows], fontsize=8)
    d50.set_ylim(len(rows) - 0.5, -0.5)
    d50.set_xlabel("D50 (µm), with its 95 % confidence interval")
    d50.tick_params(axis="x", labeltop=many)  # a long list read from its top too
    d50.grid(True, axis="x", alpha=0.3)
    save_figure(fig, path)


#: The kinds of file a figure is written as, by the path's ending.
FIGURE_FORMATS = ("png", "svg", "pdf")


def save_figure(fig: Any, path: str | PathLike) -> None:
    """Lay out a matplotlib figure and write it as PNG (or, by the path's ending, SVG or
    PDF), atomically.

    The figures ddcsem writes are made without pyplot (``matplotlib.figure.Figure``), so
    writing them neither switches a notebook's backend (after which its inline plots no
    longer showed) nor leaves figures open.

    Examples
    --------
    >>> import tempfile, os
    >>> from matplotlib.figure import Figure
    >>> fig = Figure(); _ = fig.subplots().plot([1, 2])
    >>> path = os.path.join(tempfile.mkdtemp(), "f.png")
    >>> save_figure(fig, path)
    >>> open(path, "rb").read(4)
    b'\\x89PNG'
    >>> save_figure(fig, path[:-3] + "svg"); open(path[:-3] + "svg", "rb").read(5)
    b'<?xml'
    """
    kind = figure_format(path)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=kind)


def figure_format(path: str | PathLike) -> str:
    """The kind of file a figure at ``path`` is written as (``FIGURE_FORMATS``), by its
    ending: a PNG named ``.txt`` or ``.svg`` opened as neither.

    Examples
    --------
    >>> figure_format("psd.SVG")
    'svg'
    >>> figure_format("psd.txt")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ddcsem.errors.ParameterError: psd.txt: a figure is written as PNG, SVG or PDF (end its name in ...)
    """
    kind = Path(path).suffix.lower().lstrip(".")
    if kind not in FIGURE_FORMATS:
        raise ParameterError(f"{path}: a figure is written as PNG, SVG or PDF",
                             hint="end its name in .png, .svg or .pdf")
    return kind


def write_batch_tables(out: str | PathLike, summaries: list[dict[str, Any]], *,
                       samples: dict[str, str | None] | None = None, xlsx: bool = False) -> None:
    """Rebuild ``particles.csv``, ``images.csv``, ``samples.csv``, (when an image is
    calibrated) ``psd_all.png``, (for several samples) ``samples.png`` and (with ``xlsx``)
    ``results.xlsx`` from per-image results.

    Per-particle rows are read back from each image's ``<id>_particles.csv``, so the
    pooled tables always agree with the per-image files, whatever run wrote them.
    ``samples.csv`` has a row for each sample (the calibrated images that ``samples``
    gives the same name, pooled) when there are several, and one, ``all``, for every
    calibrated image: the particles taken together with their edge weights, the
    mineral area fraction and the particles per µm² over the images' summed area.

    Parameters
    ----------
    out : str or PathLike
        The output folder, holding a folder of results per image.
    summaries : list of dict
        Per-image summaries (:func:`write_image_results`; failed images with their
        ``status`` and ``error``).
    samples : dict, optional
        The sample each image id belongs to (None: to none but ``all``).
    xlsx : bool, optional
        Also write the three tables as the sheets of ``results.xlsx``
        (:func:`write_xlsx`), with the particles' numbers as numbers; without, an
        earlier run's workbook is removed, as it would no longer match the tables (a
        file of that name that ddcsem did not write stays).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> write_batch_tables(out, [{"image_id": "x", "kind": "pair", "status": "failed",
    ...                           "error": "x_SE.tif: file is empty", "sources": {}}])
    >>> row = (out / "images.csv").read_text().splitlines()[1]
    >>> row.startswith("x,pair,") and row.endswith("failed,x_SE.tif: file is empty")
    True
    """
    out = Path(out)
    samples = samples or {}
    particles: list[list[str]] = []  # every image's rows, as text in PARTICLE_COLUMNS' order
    sizes: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # ECD (µm) and edge weights (NaN: none)
    shapes: dict[str, dict[str, list[float]]] = {}  # SHAPES of each calibrated image's particles
    done = [s for s in summaries if s.get("status") in ("ok", "skipped")]  # skipped: by an earlier run
    for summary in done:
        image_id = summary["image_id"]
        rows = _particle_rows(out / image_id / f"{image_id}_particles.csv")
        particles += rows
        if summary["calibrated"]:
            def column(name: str) -> list[str]:
                i = PARTICLE_COLUMNS.index(name)
                return [r[i] for r in rows]

            sizes[image_id] = (np.array([float(v) for v in column("ecd_um")]),
                               np.array([float(v or "nan") for v in column("edge_weight")]))
            shapes[image_id] = {name: [float(v) for v in column(name) if v] for name in SHAPES}
    image_rows = [image_row(s) for s in summaries]
    _write_csv_cells(out / "particles.csv", PARTICLE_COLUMNS, particles)
    write_csv(out / "images.csv", IMAGE_COLUMNS, image_rows)
    groups: dict[str, list[dict[str, Any]]] = {}
    for summary in done:
        name = samples.get(summary["image_id"])
        if name is not None:
            groups.setdefault(name, []).append(summary)
    rows, pooled = [], []
    everything = len(groups) == 1 and len(next(iter(groups.values()))) == len(done)  # one sample: "all"
    for name, members in [*(() if everything else groups.items()), (ALL_SAMPLES, done)]:
        calibrated = [m for m in members if m["calibrated"]]
        row, stats = _pooled_row(name, calibrated, sizes, len(members) - len(calibrated))
        for shape in SHAPES:  # the medians over the particles taken together, as images.csv's over one image's
            taken = [v for m in calibrated for v in shapes[m["image_id"]][shape]]
            row[f"{shape}_median"] = float(np.median(taken)) if taken else None
        rows.append(row)
        pooled.append(tuple(np.concatenate([sizes[m["image_id"]][i] for m in calibrated] or [np.empty(0)])
                            for i in (0, 1)))
    write_csv(out / "samples.csv", SAMPLE_COLUMNS, rows)
    if xlsx:
        write_xlsx(out / "results.xlsx", [("images", IMAGE_COLUMNS, image_rows),
                                          ("particles", PARTICLE_COLUMNS,
                                           (_particle_values(dict(zip(PARTICLE_COLUMNS, r))) for r in particles)),
                                          ("samples", SAMPLE_COLUMNS, rows)])
    elif _written_by_ddcsem(out / "results.xlsx"):  # another's file of that name stays
        (out / "results.xlsx").unlink()
    values, weights = pooled[-1]  # all, weighted as each image's own is (``stats``: the last row's)
    if any(m["calibrated"] for m in done):
        plot_size_distribution(out / "psd_all.png", values, stats, unit="µm", title="all calibrated images",
                               weights=weights)
    else:  # none to pool: "no particles" would belie the images' own, sized in pixels
        (out / "psd_all.png").unlink(missing_ok=True)
    if sum(row["sample"] != ALL_SAMPLES and row["n_particles"] > 0 for row in rows) > 1:
        plot_samples(out / "samples.png", rows, pooled)
    else:  # nothing to compare; an earlier run's comparison would no longer match samples.csv
        (out / "samples.png").unlink(missing_ok=True)


def _particle_rows(path: Path) -> list[list[str]]:
    """The rows of an image's ``particles.csv`` as text, a cell per column of
    ``PARTICLE_COLUMNS`` (empty where the file has none, as a file of an earlier version
    may lack a column); as the file holds them where its columns are those."""
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        rows = [row for row in reader if row]  # blank lines hold no particle
    n = len(PARTICLE_COLUMNS)
    if header == PARTICLE_COLUMNS and all(len(row) == n for row in rows):
        return rows
    where = {name: i for i, name in enumerate(header)}
    at = [where.get(name, -1) for name in PARTICLE_COLUMNS]
    return [[row[i] if 0 <= i < len(row) else "" for i in at] for row in rows]


def _particle_values(row: dict[str, str]) -> dict[str, Any]:
    """A row of ``particles.csv`` as read back (text) in the values it was written from."""
    def value(column: str, text: str) -> Any:
        if column == "image_id" or not text:
            return text or None
        if column in ("touches_edge", "calibrated"):
            return text == "1"
        return int(text) if column == "label" else float(text)

    return {column: value(column, text) for column, text in row.items()}


def _thumbnail(image: np.ndarray, width: int = 480) -> str:
    """A JPEG data URI of ``image`` scaled to ``width`` pixels wide."""
    import base64
    import io

    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
    if im.width > width:  # binned first, then Lanczos: a 4096² image in a third of the time
        im = im.resize((width, max(1, round(im.height * width / im.width))), Image.Resampling.LANCZOS,
                       reducing_gap=3.0)
    buffer = io.BytesIO()
    im.convert("RGB").save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _png_uri(path: Path) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


#: The most images whose pictures ``report.html`` embeds. A larger batch's page links each
#: image's outline overlay and size distribution where they lie instead: embedded, a
#: batch of 40 fields of 512² made a page of 9.6 MB, so a thousand would make one of about
#: 240 MB, which a browser stalls on, written after minutes of reading every image back.
HTML_EMBEDDED = 50


def write_html_report(out: str | PathLike, summaries: list[dict[str, Any]], *, title: str = "ddcsem analysis") -> None:
    """Write ``OUT/report.html``: one page of the batch.

    Per image the DDC thumbnail, the outline overlay, count, D10/D50/D90 (the D50 with its
    95 % confidence interval) and mineral fraction, with links to the per-image files; the
    pooled size distribution; the samples of ``samples.csv`` and their comparison
    (``samples.png``), when :func:`write_batch_tables` wrote them; failed inputs with
    their errors. Pictures are embedded, so the page can be mailed on its own, for up to
    ``HTML_EMBEDDED`` images; a larger batch's page shows each image's outline overlay and
    size distribution from the files beside it (as they scroll into view).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> write_html_report(out, [{"image_id": "bad", "status": "failed", "error": "x.tif: empty",
    ...                          "sources": {"image": "x.tif"}}])
    >>> "Failed inputs" in (out / "report.html").read_text()
    True
    """
    import html
    from urllib.parse import quote

    import tifffile

    from .read import _open_pil

    out = Path(out)
    esc = html.escape
    rows, cards, failures = [], [], []
    embedded = sum(s.get("status") in ("ok", "skipped") for s in summaries) <= HTML_EMBEDDED
    lazy = "" if embedded else " loading='lazy'"  # a linked picture is fetched as it scrolls into view
    for s in summaries:
        image_id = s["image_id"]
        if s.get("status") not in ("ok", "skipped"):
            sources = ", ".join(str(v) for v in (s.get("sources") or {}).values())
            failures.append(f"<li><b>{esc(image_id)}</b> ({esc(sources)}): {esc(str(s.get('error')))}</li>")
            continue
        folder = out / image_id
        unit = "µm" if s.get("calibrated") else "px"
        row = image_row(s)
        suffix = "um" if s.get("calibrated") else "px"
        d = {k: row.get(f"{k}_{suffix}") for k in ("d10", "d50", "d50_ci_low", "d50_ci_high", "d90")}
        fmt = {k: ("" if v is None or not np.isfinite(v) else f"{v:.3g}") for k, v in d.items()}
        interval = f"{fmt['d50_ci_low']}–{fmt['d50_ci_high']}" if fmt["d50_ci_low"] else ""
        fraction = s.get("mineral_area_fraction")
        rows.append(
            f"<tr><td><a href='#{esc(quote(image_id))}'>{esc(image_id)}</a></td><td>{s.get('n_particles')}</td>"
            f"<td>{fmt['d10']}</td><td>{fmt['d50']}</td><td>{interval}</td><td>{fmt['d90']}</td><td>{unit}</td>"
            f"<td>{'' if fraction is None else f'{fraction:.3f}'}</td>"
            f"<td>{esc(calibration_text(s))}</td><td>"
            + " · ".join(f"<a href='{esc(quote(f'{image_id}/{image_id}_{name}'))}'>{name}</a>"
                         for name in ("particles.csv", "labels.tif", "rois.zip", "ddc.tif"))
            + "</td></tr>"
        )
        if embedded:
            ddc = tifffile.imread(folder / f"{image_id}_ddc.tif")
            with _open_pil(folder / f"{image_id}_overlay.png") as im:
                overlay = np.asarray(im.convert("RGB"))
            pictures = [("DDC image", _thumbnail(ddc)), ("particle outlines", _thumbnail(overlay)),
                        ("size distribution", _png_uri(folder / f"{image_id}_psd.png"))]
        else:
            pictures = [(caption, esc(quote(f"{image_id}/{image_id}_{name}")))
                        for caption, name in (("particle outlines", "overlay.png"), ("size distribution", "psd.png"))]
        notes = image_warnings(s)
        cards.append(
            f"<section id='{esc(quote(image_id))}'><h2>{esc(image_id)}</h2>"
            f"<p>{format_count(s.get('n_particles'), 'particle')}"
            f" · D10 {fmt['d10']} · D50 {fmt['d50']}"
            f"{f' (95 % CI {interval})' if interval else ''} · D90 {fmt['d90']} {unit}"
            f" · mineral area fraction {'' if fraction is None else f'{fraction:.3f}'}"
            f" · pixel size {esc(calibration_text(s))}"
            + (f" · {s['beam_kv']:g} kV" if s.get("beam_kv") else "")
            + "".join(f" · {kind} {esc(Path(path).name)}" for kind in ("region", "markers")
                      if (path := (s.get("sources") or {}).get(kind)))
            + "</p>"
            + "".join(f"<p class='warn'>{esc(w)}</p>" for w in notes)
            + "<div class='pics'>"
            + "".join(f"<figure><img alt='{caption} of {esc(image_id)}' src='{source}'{lazy}>"
                      f"<figcaption>{caption}</figcaption></figure>" for caption, source in pictures)
            + "</div></section>"
        )
    pooled = out / "psd_all.png"
    samples = ""
    if (out / "samples.csv").is_file():
        import csv

        with open(out / "samples.csv", newline="", encoding="utf-8") as fh:
            table = list(csv.DictReader(fh))
        cells = ("n_images", "n_particles", "d10_um", "d50_um", "d90_um", "mineral_area_fraction", "particles_per_um2")

        def num(text: str) -> str:  # three digits, as in the images' table
            return f"{float(text):.3g}" if text else ""

        samples = ("<h2>Samples (calibrated images pooled)</h2><table><thead><tr><th>sample</th><th>images</th>"
                   "<th>particles</th><th>D10 (µm)</th><th>D50 (µm)</th><th>D50 95 % CI</th><th>D90 (µm)</th>"
                   "<th>mineral fraction</th><th>particles per µm²</th><th>warning</th></tr></thead><tbody>"
                   + "".join(f"<tr><td>{esc(r['sample'])}</td>"
                             + "".join(f"<td>{num(r[c])}</td>" for c in cells[:4])
                             + (f"<td>{num(r['d50_ci_low_um'])}–{num(r['d50_ci_high_um'])}</td>"
                                if r["d50_ci_low_um"] else "<td></td>")
                             + "".join(f"<td>{num(r[c])}</td>" for c in cells[4:])
                             + f"<td class='warn'>{esc(r['warning'])}</td></tr>" for r in table)
                   + "</tbody></table>")
        if (out / "samples.png").is_file():
            samples += f'<img style="max-width: 960px" alt="the samples compared" src="{_png_uri(out / "samples.png")}">'
    figures = []  # the map of each image analysed in tiles (the cli's ``<id>_tiles.png``)
    for of in dict.fromkeys(s["tile"]["of"] for s in summaries if s.get("tile")):
        path = out / of / f"{of}_tiles.png"
        if path.is_file():
            with _open_pil(path) as im:
                picture = _thumbnail(np.asarray(im.convert("RGB")), 960)
            figures.append(f"<figure><img style='max-width: 960px' alt='the tiles of {esc(of)}' src='{picture}'>"
                           f"<figcaption>{esc(of)}: each tile's name and particle count "
                           f"(<a href='{esc(quote(f'{of}/{of}_tiles.png'))}'>full size</a>)</figcaption></figure>")
    maps = f"<h2>Images analysed in tiles</h2>{''.join(figures)}" if figures else ""
    linked = ("" if embedded else f"Each image's pictures are shown from its folder (more than {HTML_EMBEDDED} "
              "images are too many to embed): open this page where it was written.")
    config = ('; to repeat them, <a href="config.toml">config.toml</a> (<code>--config</code>)'
              if (out / "config.toml").is_file() else "")
    workbook = (', <a href="results.xlsx">results.xlsx</a> (all three, for Excel)'
                if (out / "results.xlsx").is_file() else "")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
td:first-child, h2 {{ overflow-wrap: anywhere; }} td:first-child {{ max-width: 24em; }}
.pics {{ display: flex; gap: 1em; flex-wrap: wrap; }} figure {{ margin: 0; }}
img {{ max-width: 480px; border: 1px solid #ddd; }} .warn {{ color: #a40; }}
</style></head><body>
<h1>{esc(title)}</h1>
<p>{format_count(len(rows), 'image')} analysed, {len(failures)} failed. Tables: <a href="images.csv">images.csv</a>,
<a href="particles.csv">particles.csv</a>{workbook}; parameters and versions: <a href="manifest.json">manifest.json</a>{config}.
{linked}</p>
<table><thead><tr><th>image</th><th>particles</th><th>D10</th><th>D50</th><th>D50 95 % CI</th><th>D90</th><th>unit</th>
<th>mineral fraction</th><th>calibration</th><th>files</th></tr></thead><tbody>
{''.join(rows)}
</tbody></table>
{f'<h2>Pooled size distribution</h2><img alt="pooled size distribution" src="{_png_uri(pooled)}">' if pooled.exists() else ''}
{samples}
{maps}
{('<h2>Failed inputs</h2><ul>' + ''.join(failures) + '</ul>') if failures else ''}
{''.join(cards)}
<p><small>Made by ddcsem. Method: Bertazzo et al., Nature Materials 12, 576–583 (2013).</small></p>
</body></html>
"""
    with atomic_path(out / "report.html") as tmp:
        tmp.write_text(page, encoding="utf-8", errors="backslashreplace")  # as write_json
