"""Read SEM micrographs: grey pixels, calibration, detector and data bar.

The reader knows the conventions of the common vendors:

========== ======================================== ====================================
vendor     pixel size                               detector
========== ======================================== ====================================
Zeiss      tag 34118 ``ap_image_pixel_size``, else  ``dp_detector_channel`` (Signal A)
           header value [3] x 1024 / width
FEI/Thermo tags 34680/34682 ``[Scan] PixelWidth``   ``[Detectors] Name`` / ``Mode``
TESCAN     tag 50431 INI ``PixelSizeX``             ``Detector``
ImageJ     resolution tags + ``unit``               --
JEOL       ``.txt`` sidecar ``$$SM_MICRON_MARKER``  ``$CM_SIGNAL_NAME``
           / ``$$SM_MICRON_BAR``
Hitachi    ``.txt`` sidecar ``PixelSize`` (nm)      ``SignalName``
========== ======================================== ====================================
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import threading
import warnings
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np

from ._repr import dataclass_repr
from .detectors import detector_role, split_detector_token
from .errors import (CalibrationError, ParameterError, ReadError, UnsupportedFormatError, require_choice,
                     require_finite, require_image)
from .units import (_sem_pixel, _sem_range, format_count, format_length, parse_length, parse_pixel_size,
                    require_pixel_size, unit_to_nm)

__all__ = ["PixelSize", "SEMImage", "read_sem", "read_composite", "read_labels", "read_region",
           "read_markers", "detect_databar", "MixedDetectorWarning", "OverriddenCalibrationWarning"]

#: Pixels whose height differs from their width by more than this fraction are warned
#: about: every measurement takes them as square.
MAX_PIXEL_ASPECT = 0.01

#: A stage tilted this many degrees or more, with the microscope's tilt correction off, is
#: warned about: a flat sample's image is foreshortened across the tilt axis by the cosine
#: of the tilt (1.5 % at 10°, 6 % at 20°, 38 % at 52°, a FIB's cross-section angle), and
#: every measurement takes its pixels as square.
TILT_WARN_DEG = 10.0

#: File endings taken as micrographs when a folder is given.
IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")

#: Largest decoded image ddcsem will allocate, in bytes (refused before reading).
MAX_IMAGE_BYTES = 4 * 1024**3

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_OTHER_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpeg",
    b"BM": "bmp",
    b"GIF87a": "gif",
    b"GIF89a": "gif",
}
#: Files that hold a micrograph but are no image themselves (compressed, archived, or in a
#: vendor's own format), by their first bytes: what they are, and what to do.
_CONTAINERS = {
    b"\x1f\x8b": ("a gzip-compressed file", "decompress it first: gunzip, or 7-Zip on Windows"),
    b"PK\x03\x04": ("a zip archive", "extract its images first, then give them or their folder"),
    b"AAMVHFSS": ("a Bruker Esprit file (.bcf)",
                  "export its images as TIFF from Esprit, or save them as TIFF with RosettaSciIO or HyperSpy"),
    b"\x89HDF\r\n\x1a\n": ("an HDF5 file (such as Velox's .emd)", "export the micrograph as TIFF"),
    b"ZISRAWFILE": ("a Zeiss CZI file", "export the micrograph as TIFF: ZEN's File > Export"),
}


class MixedDetectorWarning(UserWarning):
    """A Zeiss image was stored with detector mixing on: it blends two signals."""


class OverriddenCalibrationWarning(UserWarning):
    """A pixel size was given for a file whose metadata gives another (by more than
    ``MAX_OVERRIDE``): one ``--pixel-size`` for a folder of several magnifications sizes
    all but one of them wrong."""


#: A given pixel size that differs from the file's own by more than this fraction is
#: warned about (:class:`OverriddenCalibrationWarning`).
MAX_OVERRIDE = 0.02


@dataclass(frozen=True)
class PixelSize:
    """Size of one pixel and where that number came from.

    Attributes
    ----------
    nm : float or None
        Pixel size in nanometres; None when the image is uncalibrated.
    source : str
        Where it came from, e.g. ``"zeiss:ap_image_pixel_size"``, ``"argument"``, ``"none"``.

    Examples
    --------
    >>> p = PixelSize(12.5, "imagej:resolution+unit")
    >>> p.calibrated, p.um
    (True, 0.0125)
    >>> PixelSize(None, "none").calibrated
    False
    """

    nm: float | None
    source: str

    @property
    def calibrated(self) -> bool:
        """True when a physical pixel size is known."""
        return self.nm is not None

    @property
    def um(self) -> float | None:
        """Pixel size in micrometres (None when uncalibrated)."""
        return None if self.nm is None else self.nm / 1000.0


UNCALIBRATED = PixelSize(None, "none")


def _given_pixel_size(given: float | str | PixelSize | None) -> PixelSize | None:
    """A pixel size someone gives, checked as :func:`parse_pixel_size` checks one: a number
    (nm) or a length, its source ``argument``, or a :class:`PixelSize`, which keeps its
    own (its ``nm`` checked as a function's ``pixel_size_nm`` is); None for none."""
    if isinstance(given, PixelSize):
        return None if given.nm is None else PixelSize(require_pixel_size(given.nm, "PixelSize.nm"), given.source)
    return None if given is None else PixelSize(parse_pixel_size(given), "argument")


def _as_pixel_size(given: float | str | PixelSize | None) -> PixelSize:
    """The calibration of an image or a pair made by hand: a size as
    :func:`_given_pixel_size` takes it (a ``PixelSize(2e-8, ...)`` checked as a file's own
    size is), a PixelSize without a size as it is, None uncalibrated."""
    if isinstance(given, PixelSize) and given.nm is None:
        return given
    return _given_pixel_size(given) or UNCALIBRATED


@dataclass(frozen=True, eq=False)
class SEMImage:
    """One grey micrograph with its calibration and provenance.

    Attributes
    ----------
    data : ndarray, shape (M, N)
        Grey pixels after palette mapping and data-bar cropping (uint8, uint16 or float);
        (M, N, 3) uint8 for a colour composite read by :func:`read_composite`.
    pixel_size : PixelSize
        Calibration and its source. Made by hand, a number (nm) or a length as
        ``--pixel-size`` takes it (``"20nm"``, ``"12 nm/px"``) will do: its source is
        ``argument``. A size outside what an SEM gives is refused, a PixelSize's too.
    detector : str or None
        Detector name from metadata or, failing that, from the file name.
    vendor : str
        ``zeiss``, ``fei``, ``tescan``, ``jeol``, ``hitachi``, ``imagej``, ``ome`` or
        ``generic``.
    metadata : dict
        The raw vendor metadata as parsed, by vendor, and ``pixel_height_nm``: the pixel's
        height where the file gives one apart from its width (ImageJ, FEI), else None.
    databar_rows : int
        How many rows were cropped from the bottom.
    path : Path or None
        The file read.
    mixing : bool
        True for a Zeiss image stored with detector mixing on (a blend of two signals).
    marks : ndarray of bool, shape (M, N), or None
        What was drawn into the micrograph: coloured marks on a grey one saved in colour (a
        scale bar, lettering, arrows: Fiji's *Flatten*, a figure panel), and a white scale
        bar with its label in an 8-bit one (see ``BAR_MIN_LENGTH``). No part of
        the field, so the analysis masks them. None where there are none.

    Examples
    --------
    An array of one's own, with the pixel size one knows:

    >>> image = SEMImage(np.zeros((64, 64), np.uint8), "20nm")
    >>> image.pixel_size, image.shape
    (PixelSize(nm=20.0, source='argument'), (64, 64))
    """

    data: np.ndarray
    pixel_size: PixelSize = UNCALIBRATED
    detector: str | None = None
    vendor: str = "generic"
    metadata: dict[str, Any] = field(default_factory=dict)
    databar_rows: int = 0
    path: Path | None = None
    mixing: bool = False
    marks: np.ndarray | None = None

    __repr__ = dataclass_repr

    def __post_init__(self) -> None:
        object.__setattr__(self, "pixel_size", _as_pixel_size(self.pixel_size))  # SEMImage(array, 20)
        if isinstance(self.data, (list, tuple)):  # nested lists of pixels, as an array takes them
            object.__setattr__(self, "data", np.asarray(self.data))
        if np.asarray(self.data).dtype == bool:  # a mask: 0 and 255, as read_sem reads a 1-bit file
            object.__setattr__(self, "data", np.asarray(self.data, dtype=np.uint8) * np.uint8(255))
        elif np.asarray(self.data).dtype == np.float16:  # numba has no half floats; float32 holds them exactly
            object.__setattr__(self, "data", np.asarray(self.data, dtype=np.float32))
        if self.marks is not None and np.shape(self.marks) != np.shape(self.data)[:2]:
            raise ParameterError(f"marks must have the image's shape {np.shape(self.data)[:2]}, not "
                                 f"{np.shape(self.marks)}")

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """Its pixels, so that an SEMImage serves wherever an image array does."""
        return np.array(self.data, dtype=dtype, copy=copy)

    @property
    def role(self) -> Literal["SE", "BSE"] | None:
        """``"SE"`` or ``"BSE"`` as the detector name says, else None."""
        return detector_role(self.detector)

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of the (cropped) image, (rows, cols)."""
        return self.data.shape  # type: ignore[return-value]

    @property
    def beam_kv(self) -> float | None:
        """The accelerating voltage the image was taken at, in kV, as its metadata records
        it (Zeiss EHT, FEI/Thermo and TESCAN HV, JEOL and Hitachi sidecars), else None.
        Under beam deceleration the electrons land with less."""
        return _beam_kv(self.metadata)

    def to_record(self) -> dict[str, Any]:
        """The summary ``ddcsem info`` prints: JSON-ready plain values."""
        return {
            "path": None if self.path is None else str(self.path),
            "vendor": self.vendor,
            "detector": self.detector,
            "role": self.role,
            "pixel_size_nm": self.pixel_size.nm,
            "pixel_size_source": self.pixel_size.source,
            "shape": [int(s) for s in self.data.shape],
            "databar_rows": int(self.databar_rows),
            "dtype": str(self.data.dtype),
            "beam_kv": self.beam_kv,
            "marks_px": 0 if self.marks is None else int(np.count_nonzero(self.marks)),
            "scale_bar_px": [] if self.marks is None else _scale_bars(self.marks, self.data),
        }


# --------------------------------------------------------------------------- pixels


def _luminance(rgb: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """ITU-R 601 luma of the last axis (float64, or ``dtype``)."""
    return rgb[..., 0] * dtype(0.299) + rgb[..., 1] * dtype(0.587) + rgb[..., 2] * dtype(0.114)


#: A palette whose entries are mostly coloured, nine in ten of whose steps from one entry to
#: the next are at most ``LUT_STEP`` of full scale, is a display lookup table: an 8-bit
#: micrograph that Fiji shows through one of its LUTs (Fire, Green, Spectrum, 16 colors)
#: and saves as a palette TIFF or PNG. Its indices are the measured intensities, the
#: colours only how it was shown: through Fire's colours a BSE image had read with a tenth
#: less mineral (its brightness stands still over a quarter of the scale), and as a PNG it
#: was taken for a DDC composite, or refused as one without orange and green. Those LUTs,
#: and matplotlib's, step at most 0.03 there (16 colors: 0, in bands); the palettes of DDC
#: composites reduced to 64 or 256 colours (median cut, octree, maximum coverage) step 0.09
#: or more, and are read through their colours, as is a grey palette (Zeiss's, with a few
#: entries kept for the colours of its annotations).
LUT_STEP = 0.05


def _palette_lut(palette: np.ndarray) -> bool:
    """Whether a palette, (K, 3) in [0, 1], is a display lookup table (see ``LUT_STEP``)."""
    coloured = np.ptp(palette, axis=1) > COLOUR_SPREAD
    steps = np.abs(np.diff(palette, axis=0)).max(axis=1)
    return len(palette) > 2 and coloured.mean() > 0.5 and float(np.percentile(steps, 90)) <= LUT_STEP


def _palette_pixels(index: np.ndarray, colormap: np.ndarray) -> np.ndarray:
    """The pixels of a palette TIFF, its indices ``index`` and its ``colormap`` (3, K) of
    uint16: the indices of a display lookup table (:func:`_palette_lut`), else the
    colours, (M, N, 3) uint8 (Zeiss's palettes keep some entries for annotation colours:
    never the raw indices there)."""
    palette = colormap.T.astype(np.float64)
    palette /= 65535.0 if colormap.max() > 255 else 255.0  # TIFF colormaps are 16-bit
    if index.max(initial=0) >= len(palette):
        raise ReadError("palette image uses indices beyond its colormap")
    if _palette_lut(palette):
        return index
    return np.clip(np.rint(palette * 255), 0, 255).astype(np.uint8)[index]


def _shown_grey(raw: np.ndarray, bits: int) -> np.ndarray:
    """Pixels of a WhiteIsZero TIFF as every viewer shows them: the scale reversed.

    0 is white there, so a BSE image saved so would otherwise read as its negative:
    particles dark, the density map inverted.
    """
    if raw.dtype == bool:
        return ~raw
    if raw.dtype.kind == "u":
        return np.asarray((1 << bits) - 1, raw.dtype) - raw  # 12-bit data: 4095 is black
    wide = raw.astype(np.float64)
    return (wide.max() + wide.min() - wide).astype(raw.dtype)  # signed or float: its range reversed


#: A pixel of an RGB image is coloured where its channels spread by more than this share of
#: full scale (JPEG's chroma subsampling leaves a few levels of spread even in grey content).
COLOUR_SPREAD = 0.03
#: An RGB image of which at most this share of pixels is coloured is a grey micrograph with
#: coloured marks burned in (a scale bar, lettering, arrows: Fiji's *Flatten*, a figure
#: panel), not a DDC composite, which is coloured nearly everywhere. A yellow scale bar and
#: its label on a 400x400 BSE image are 0.9 % of it; read as a composite, it gave 12
#: particles for 91.
MARKED_GREY_SHARE = 0.05
#: ... and its marks are the coloured places of at least this many pixels (8-connected):
#: fewer is colour noise, not a mark.
MARK_MIN_PX = 8


def _brightest(channels: np.ndarray) -> np.ndarray:
    """Each pixel's largest of its ``channels`` (the last axis), in their type, taken channel
    by channel: ``max(axis=-1)`` took ten times as long, 0.4 s of a 4096² composite."""
    return functools.reduce(np.maximum, (channels[..., k] for k in range(channels.shape[-1])))


def _darkest(channels: np.ndarray) -> np.ndarray:
    """Each pixel's smallest of its ``channels``, as :func:`_brightest` takes the largest."""
    return functools.reduce(np.minimum, (channels[..., k] for k in range(channels.shape[-1])))


def _coloured(rgb: np.ndarray) -> np.ndarray:
    """Which pixels of an RGB array are coloured (see ``COLOUR_SPREAD``), bool (M, N)."""
    rgb = rgb[..., :3]
    full = float(np.iinfo(rgb.dtype).max) if rgb.dtype.kind in "ui" else 1.0
    low, high = _darkest(rgb), _brightest(rgb)  # in their own type, where max - min cannot overflow
    spread = high - low if rgb.dtype.kind in "uf" else high.astype(np.int64) - low
    return spread > COLOUR_SPREAD * full


#: An RGB image whose colours are one hue at many brightnesses is a tinted grey micrograph
#: (a channel that Fiji showed red or green and exported as RGB, a sepia scan), read as its
#: brightest channel, where it had been taken for a DDC composite, which mixes two hues: the
#: second singular value of its colours over the first is at most ``TINT_RATIO``, and so is
#: the spread of its colours across the first principal axis over the spread along it,
#: ``TINT_SPREAD``. Red, green, magenta, orange, cyan and sepia tints of synthetic and BAM
#: micrographs, as JPEGs of quality 20-95, reach 0.115 and 0.186. Red-green and
#: magenta-green merges of synthetic SE and BSE images as they are (Fiji's *Merge
#: Channels*, made RGB) reach down to 0.044 in the first, which alone had refused them as
#: tinted, and to 0.21 in the second (0.19 as magenta-green JPEGs of quality 30, refused
#: still); the composites of ``colorize``, to 0.17 and 0.29.
TINT_RATIO = 0.1
TINT_SPREAD = 0.2


def _content(rgb: np.ndarray) -> tuple[Literal["grey", "tinted", "colour"], np.ndarray, float]:
    """What an RGB array shows: ``grey`` (coloured marks at most, see
    ``MARKED_GREY_SHARE``), ``tinted`` (one hue, see ``TINT_RATIO``) or ``colour``; with
    its coloured pixels (:func:`_coloured`) and their share. The grey reader and the
    composite reader tell them apart alike."""
    coloured = _coloured(rgb)
    share = float(coloured.mean())
    if share <= MARKED_GREY_SHARE:
        return "grey", coloured, share
    x = rgb[..., :3].reshape(-1, 3)
    x = x[:: max(1, len(x) // 100_000)].astype(np.float64)  # a sample serves
    s = np.linalg.svd(x, compute_uv=False)
    spread = np.linalg.eigvalsh(np.cov(x.T))  # ascending
    tinted = s[1] <= TINT_RATIO * s[0] and spread[1] <= TINT_SPREAD**2 * spread[2]
    return ("tinted" if tinted else "colour"), coloured, share


def _grey_from_rgb(rgb: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Grey pixels of an RGB(A) array whose content is grey, and its coloured marks (see
    ``MARKED_GREY_SHARE``; None if it has none), or of a tinted one (see ``TINT_RATIO``),
    else raise."""
    rgb = rgb[..., :3]
    kind, coloured, share = _content(rgb)
    if kind == "tinted":
        return _brightest(rgb), None
    if kind == "colour":
        raise UnsupportedFormatError(
            f"colour image ({share:.1%} of pixels are coloured) where a grey "
            "micrograph was expected",
            path=path,
            hint="give the single-detector grey image; a DDC composite is read by "
            "`ddcsem analyze` as a composite",
        )
    marks = None
    if share:
        from scipy import ndimage

        rows, cols = np.flatnonzero(coloured.any(axis=1)), np.flatnonzero(coloured.any(axis=0))
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))  # labels for it alone
        spots, _ = ndimage.label(coloured[box], structure=np.ones((3, 3), bool))
        size = np.bincount(spots.ravel())
        size[0] = 0
        marks = np.zeros(coloured.shape, bool)
        marks[box] = (size >= MARK_MIN_PX)[spots]
        marks = marks if marks.any() else None
    full = float(np.iinfo(rgb.dtype).max) if rgb.dtype.kind in "ui" else 1.0
    grey = _luminance(rgb.astype(np.float64))
    return (np.clip(np.rint(grey), 0, full).astype(rgb.dtype) if rgb.dtype.kind in "ui" else grey.astype(
        np.float32)), marks


#: A scale bar drawn into an 8-bit grey image (Fiji's *Scale Bar*, burned in, or flattened
#: as a PNG or JPEG is saved; white, its default): a filled white rectangle, its pixels
#: within ``BAR_TOLERANCE`` levels of full scale, ``BAR_FILL`` of its rectangle (JPEG's
#: ringing, at quality 90, dims its corners to 243), lying level, clear of the image's edges,
#: at least ``BAR_MIN_LENGTH`` px long and ``BAR_MIN_ASPECT`` times as long as it is thick.
#: Its label is the white near it (within half its length, or ``BAR_LABEL_REACH`` times its
#: thickness, above or below), in strokes no thicker than the bar of ``BAR_LABEL_MIN_PX``
#: or more (a full stop of two by two; a white pixel alone is noise), that stands out of its
#: surroundings as the bar does: two pixels off, darker than halfway between white and what
#: lies along the bar (a bright particle's white specks do not, a saturated one is
#: thicker). No particle is such a rectangle (a saturated one is round): none was found in
#: 288 synthetic images saturated at 0.5-20 %, nor in the real files of the reference set
#: outside their data bars.
BAR_TOLERANCE = 16
BAR_FILL = 0.98
BAR_MIN_LENGTH = 20
BAR_MIN_ASPECT = 4
BAR_LABEL_REACH = 10
BAR_LABEL_MIN_PX = 4
#: ... and it is drawn: at most this share of the rows along it, and of the columns at its
#: ends, is white.
BAR_EDGE_SHARE = 0.25
#: A legend box, white, with a dark scale bar and label in it, is found with them: a white
#: area that fills ``BAR_FILL`` of its rectangle once its dark marks are filled in, holds
#: some (under ``BAR_TOLERANCE`` levels of black), is at least ``BOX_MIN_SIDE`` px across
#: both ways, and is drawn as the bar is. Such a box, 140 x 50 px, was measured as a particle
#: of 1.7 µm. No particle is so square-cornered, nor holds black marks.
BOX_MIN_SIDE = 10
#: Images larger than this are not searched: a scale bar is drawn into a figure's image, and
#: the search of a montage of a billion pixels would take gigabytes (labels of 4 bytes a pixel).
BAR_MAX_IMAGE_PX = 8192 * 8192


def _sharp(level: np.ndarray, top: int, left: int, thick: int, long: int) -> bool:
    """Whether the rectangle of ``level`` at (``top``, ``left``), ``thick`` x ``long``,
    is drawn: the rows along it and the columns at its ends hardly share its level (a
    bright particle's rows of one width, cut out of it, do)."""
    rows, cols = level.shape
    if top == 0 or left == 0 or top + thick == rows or left + long == cols:
        return False
    sides = (level[top - 1, left:left + long], level[top + thick, left:left + long],
             level[top:top + thick, left - 1], level[top:top + thick, left + long])
    return max(float(np.mean(side)) for side in sides) <= BAR_EDGE_SHARE


def _scale_bar_marks(grey: np.ndarray) -> np.ndarray | None:
    """The scale bar drawn into an 8-bit grey image, and its label (see
    ``BAR_MIN_LENGTH``), or a white legend box with the dark ones in it (see
    ``BOX_MIN_SIDE``), bool (M, N); None if it has none."""
    if grey.dtype != np.uint8 or min(grey.shape) < 3 or grey.size > BAR_MAX_IMAGE_PX:
        return None
    from scipy import ndimage

    rows, cols = grey.shape
    marks = np.zeros(grey.shape, bool)
    level = grey >= 255 - BAR_TOLERANCE
    # where a bar's top edge could be: half its least length of white pixels in a row, with
    # none above them (found at once, where taking every bright particle apart took seconds)
    edge = (level[1:] & ~level[:-1]).view(np.uint8)
    lines = np.flatnonzero(np.count_nonzero(edge, axis=1) >= BAR_MIN_LENGTH // 2) + 1
    starts = ndimage.minimum_filter1d(edge[lines - 1], BAR_MIN_LENGTH // 2, axis=1) > 0
    if not starts.any():
        return None
    spots, _ = ndimage.label(level)
    boxes = ndimage.find_objects(spots)
    for index in np.unique(spots[lines][starts]):
        box = boxes[index - 1]
        if (box[0].start == 0 or box[1].start == 0 or box[0].stop == rows or box[1].stop == cols
                or spots[box].size > MARKED_GREY_SHARE * grey.size):  # a twentieth of the image: no bar
            continue
        white = spots[box] == index
        filled = ndimage.binary_fill_holes(white)
        if (min(filled.shape) >= BOX_MIN_SIDE and np.count_nonzero(filled) >= BAR_FILL * filled.size
                and np.any(grey[box][filled & ~white] < BAR_TOLERANCE)
                and _sharp(level, box[0].start, box[1].start, *filled.shape)):
            marks[box] |= filled  # a legend box, with what is drawn in it
            continue
        # the bar without what touches it at its level (noise, the edge of a bright particle)
        core = ndimage.binary_opening(white, structure=np.ones((2, BAR_MIN_LENGTH), bool))
        parts, _ = ndimage.label(core)
        for number, part in enumerate(ndimage.find_objects(parts), start=1):
            thick, long = part[0].stop - part[0].start, part[1].stop - part[1].start
            top, left = box[0].start + part[0].start, box[1].start + part[1].start
            filled = np.count_nonzero(parts[part] == number)
            if _bar_shaped(thick, long, filled) and _sharp(level, top, left, thick, long):
                marks[top:top + thick, left:left + long] = True
                _add_label(marks, grey, spots, boxes, (top, left, thick, long))
    return marks if marks.any() else None


def _scale_bars(hidden: np.ndarray, picture: np.ndarray) -> list[int]:
    """The lengths, px, each once and shortest first, of the scale bars among the
    annotations ``hidden`` drawn into ``picture`` (grey, or RGB: its luma): white or
    black parts of a bar's shape (:func:`_bar_shaped`, as :func:`_scale_bar_marks` takes
    them), their pixels within ``BAR_TOLERANCE`` levels of full scale or of 0, alone or in
    a box."""
    from scipy import ndimage

    grey = _luminance(picture) if picture.ndim == 3 else picture
    full = float(np.iinfo(picture.dtype).max) if picture.dtype.kind in "ui" else float(np.max(picture))
    tolerance = BAR_TOLERANCE / 255 * full
    found = []
    areas, _ = ndimage.label(hidden)
    for i, area in enumerate(ndimage.find_objects(areas), start=1):
        inside = areas[area] == i
        for level in (grey[area] >= full - tolerance, grey[area] <= tolerance):
            parts, _ = ndimage.label(level & inside)
            for j, box in enumerate(ndimage.find_objects(parts), start=1):
                thick, long = box[0].stop - box[0].start, box[1].stop - box[1].start
                if _bar_shaped(thick, long, np.count_nonzero(parts[box] == j)):
                    found.append(long)
    return sorted(set(found))


def _bar_shaped(thick: int, long: int, filled: int) -> bool:
    """Whether a level part ``thick`` x ``long`` px with ``filled`` of its pixels set is a
    scale bar's shape: ``BAR_MIN_LENGTH`` px long or more, ``BAR_MIN_ASPECT`` times as long
    as thick, and filled (``BAR_FILL``)."""
    return long >= max(BAR_MIN_LENGTH, BAR_MIN_ASPECT * thick) and filled >= BAR_FILL * thick * long


def _add_label(marks: np.ndarray, grey: np.ndarray, spots: np.ndarray, boxes: list,
               bar: tuple[int, int, int, int]) -> None:
    """Add to ``marks`` the label of the scale ``bar`` (top, left, thickness, length): the
    white ``spots`` near it that are strokes standing out of their surroundings (see
    ``BAR_LABEL_REACH``)."""
    from scipy import ndimage

    top, left, thick, long = bar
    around = float(np.median(np.concatenate([grey[max(0, top - 3), left:left + long],
                                             grey[min(grey.shape[0] - 1, top + thick + 2), left:left + long]])))
    reach = max(long // 2, BAR_LABEL_REACH * thick)
    rows, cols = (max(0, top - reach), top + thick + reach), (max(0, left - long // 2), left + long + long // 2)
    for index, box in enumerate(boxes, start=1):
        if box is None or not (rows[0] <= box[0].start and box[0].stop <= rows[1]
                               and cols[0] <= box[1].start and box[1].stop <= cols[1]):
            continue
        pad = tuple(slice(max(0, axis.start - 2), axis.stop + 2) for axis in box)
        glyph = spots[pad] == index
        ring = ndimage.binary_dilation(glyph, iterations=2) & ~ndimage.binary_dilation(glyph)
        if (np.count_nonzero(glyph) >= BAR_LABEL_MIN_PX and np.median(grey[pad][ring]) <= (around + 255) / 2
                and ndimage.distance_transform_edt(glyph).max() <= thick):
            marks[pad] |= glyph


def _padding_filled(arr: np.ndarray, path: Path) -> np.ndarray:
    """A grey float image whose NaN or infinite pixels each reach its edge (the padding
    that a rotation, a registration or a stitching in floating point leaves), with them
    set to its lowest finite value: black, as such padding is found and left out of the
    field (see ``separate._plain_area``), with a warning. Any other image, as it is."""
    if arr.ndim != 2 or arr.dtype.kind != "f" or (finite := np.isfinite(arr)).all() or not finite.any():
        return arr
    from scipy import ndimage

    parts, n = ndimage.label(~finite)
    edge = np.unique(np.concatenate([parts[0], parts[-1], parts[:, 0], parts[:, -1]]))
    if np.count_nonzero(edge) < n:  # (a part within the field)
        return arr
    bad = np.count_nonzero(~finite)
    warnings.warn(f"{path}: {format_count(bad, 'NaN or infinite pixel')}, each reaching the image's edge (a rotated, "
                  "registered or stitched image's padding): read as black, its lowest level", stacklevel=4)
    return np.where(finite, arr, np.min(arr[finite]))


def _as_grey(arr: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate and normalise decoded pixels to a 2-D grey array, with the coloured marks
    of an RGB one (:func:`_grey_from_rgb`)."""
    arr, marks = np.asarray(arr), None
    arr = _padding_filled(arr, path)
    require_finite(arr, "the image", path=path, error=ReadError)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        arr, marks = _grey_from_rgb(arr, path)
    arr = np.squeeze(arr) if arr.ndim > 2 else arr
    if arr.ndim != 2:
        raise UnsupportedFormatError(
            f"expected one 2-D image, found an array of shape {arr.shape}",
            path=path,
            hint="save each channel or slice as its own file, or choose a page",
        )
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype.kind == "i" and arr.dtype.itemsize <= 2:
        arr = (arr.astype(np.int32) - np.iinfo(arr.dtype).min).astype(
            np.uint8 if arr.dtype.itemsize == 1 else np.uint16
        )
    elif arr.dtype.kind in "iu" and arr.dtype.itemsize > 2:
        arr = arr.astype(np.float64)
    elif arr.dtype.kind == "f" and arr.dtype != np.float32:
        arr = arr.astype(np.float64)
    elif arr.dtype.kind not in "uf":
        raise UnsupportedFormatError(f"pixel type {arr.dtype} is not supported", path=path,
                                     hint="save the micrograph as 8- or 16-bit integers or 32-bit floats")
    if min(arr.shape) < 2:
        raise ReadError(f"image of shape {arr.shape} is too small to analyse", path=path)
    return arr, marks


def _check_size(shape: tuple[int, ...], itemsize: int, path: Path) -> None:
    nbytes = int(np.prod(shape, dtype=np.float64)) * itemsize
    if nbytes > MAX_IMAGE_BYTES:
        raise UnsupportedFormatError(
            f"image claims {nbytes / 1024**3:.1f} GiB ({'x'.join(map(str, shape))}), "
            f"more than the {MAX_IMAGE_BYTES / 1024**3:.0f} GiB ddcsem reads at once",
            path=path,
            hint="crop or bin the image first",
        )


def _tiff_pages(tif: Any) -> list:
    """The pages of an open ``tifffile.TiffFile``, each once.

    Iterating ``tif.pages`` never ends when a corrupt file's chain of image directories
    comes back on itself; its length stops at the first page seen twice.
    """
    return [tif.pages[k] for k in range(len(tif.pages))]


def _check_segments(page: Any, path: Path) -> None:
    """Refuse a TIFF page whose strips or tiles are not all in the file.

    tifffile reads a missing strip (no offset or no byte count) as zeros, with only a log
    message, so a damaged header would give an image of black rows. A corrupt header can
    also claim millions of rows that the file never held.
    """
    import math

    expected = math.prod(page.chunked)
    present = sum(1 for offset, count in zip(page.dataoffsets, page.databytecounts) if offset > 0 and count > 0)
    if present < expected:
        raise ReadError(
            f"pixel data incomplete: the header lists {expected} strips or tiles for "
            f"{' x '.join(map(str, page.shape))} px, the file holds {present}",
            path=path,
            hint="the TIFF is truncated or corrupt; re-export it from the microscope",
        )


# ------------------------------------------------------------------------- metadata


def _parse_ini(text: str) -> dict[str, dict[str, str]]:
    """Parse ``[Section]`` / ``key=value`` text (TESCAN, Hitachi); keys keep their case."""
    out: dict[str, dict[str, str]] = {}
    section = out.setdefault("", {})
    for raw in text.splitlines():
        line = raw.strip().strip("\x00")
        if not line or line.startswith((";", "#")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = out.setdefault(line[1:-1].strip(), {})
        elif "=" in line:
            key, value = line.split("=", 1)
            section[key.strip()] = value.strip()
    return out


def _ini_get(ini: dict[str, dict[str, str]], key: str) -> str | None:
    for section in ini.values():
        if key in section:
            return section[key]
    return None


def _positive(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) and v > 0 else None


def _zeiss(sem: dict[str, Any], width: int) -> tuple[PixelSize | None, str | None, bool]:
    pixel = None
    entry = sem.get("ap_image_pixel_size")
    if isinstance(entry, tuple) and len(entry) >= 3 and _positive(entry[1]):
        pixel = PixelSize(float(entry[1]) * unit_to_nm(str(entry[2])), "zeiss:ap_image_pixel_size")
    else:
        header = sem.get("")
        try:
            ref = _positive(header[3])  # metres per pixel of a 1024-wide reference frame
        except (TypeError, IndexError, KeyError):
            ref = None
        if ref:
            pixel = PixelSize(ref * 1e9 * 1024.0 / width, "zeiss:header[3]*1024/width")
    detector = None
    for key in ("dp_detector_channel", "dp_detector_type"):
        entry = sem.get(key)
        if isinstance(entry, tuple) and len(entry) >= 2 and str(entry[1]).strip():
            detector = str(entry[1]).strip()
            break
    mixing = sem.get("dp_mixing")
    mixed = bool(isinstance(mixing, tuple) and len(mixing) >= 2 and mixing[1] in (True, "On", "Yes"))
    return pixel, detector, mixed


def _fei(fei: dict[str, Any]) -> tuple[PixelSize | None, str | None, int | None]:
    scan = fei.get("Scan", {}) or {}
    width = _positive(scan.get("PixelWidth"))
    pixel = PixelSize(width * 1e9, "fei:[Scan]PixelWidth") if width else None
    det = fei.get("Detectors", {}) or {}
    name = str(det.get("Name", "") or "").strip()
    mode = str(det.get("Mode", "") or "").strip()
    # the mode says which signal a multi-purpose detector (ETD, TLD) recorded
    detector = (f"{name} ({mode})" if name and mode else name or mode) or None
    rows = (fei.get("Image", {}) or {}).get("ResolutionY")
    image_rows = int(rows) if _positive(rows) else None
    return pixel, detector, image_rows


def _tescan(text: str) -> tuple[PixelSize | None, str | None, dict[str, Any]]:
    ini = _parse_ini(text)
    size = _positive(_ini_get(ini, "PixelSizeX"))
    pixel = PixelSize(size * 1e9, "tescan:PixelSizeX") if size else None
    detector = _ini_get(ini, "Detector") or _ini_get(ini, "Detector0")
    return pixel, detector, ini


def _beam_kv(metadata: dict[str, Any]) -> float | None:
    """The accelerating voltage (kV) in a file's parsed vendor metadata, else None."""
    zeiss = metadata.get("CZ_SEM") or {}
    for key in ("ap_actualkv", "ap_manualkv"):  # the EHT, then its target
        entry = zeiss.get(key)
        if isinstance(entry, tuple) and len(entry) >= 3 and _positive(entry[1]):
            return float(entry[1]) * (1e-3 if str(entry[2]).strip().lower() == "v" else 1.0)
    fei = metadata.get("FEI") or {}
    for section in ("Beam", "EBeam"):
        volts = _positive((fei.get(section) or {}).get("HV"))
        if volts:
            return volts / 1000
    volts = _positive(_ini_get(metadata.get("TESCAN") or {}, "HV"))
    if volts:
        return volts / 1000
    kv = _positive((metadata.get("JEOL") or {}).get("$CM_ACCEL_VOLT"))
    if kv:
        return kv
    text = _ini_get(metadata.get("HITACHI") or {}, "AcceleratingVoltage")  # "15000 Volt"
    match = re.match(r"\s*([\d.]+)\s*(kv|v)?", text or "", re.IGNORECASE)
    value = _positive(match.group(1)) if match else None
    if value is None:
        return None
    unit = (match.group(2) or ("v" if value > 100 else "kv")).lower()  # a bare number: volts or kV by its size
    return value * (1.0 if unit == "kv" else 1e-3)


def _stage_tilt(metadata: dict[str, Any]) -> tuple[float | None, bool]:
    """The stage tilt (degrees) in a file's parsed vendor metadata (Zeiss's *Stage at T*,
    FEI/Thermo's [Stage] StageT in radians), else None, and whether the microscope
    corrected the image for it (Zeiss's *Tilt Corrn.*, Thermo's TiltCorrectionIsOn)."""
    zeiss = metadata.get("CZ_SEM") or {}
    entry = zeiss.get("ap_stage_at_t")
    if isinstance(entry, tuple) and len(entry) >= 2 and isinstance(entry[1], (int, float)):
        corrected = zeiss.get("dp_tilt_correction")
        return float(entry[1]), isinstance(corrected, tuple) and len(corrected) >= 2 and corrected[1] is True
    fei = metadata.get("FEI") or {}
    try:
        radians = float((fei.get("Stage") or {}).get("StageT"))
    except (TypeError, ValueError):
        return None, False
    corrected = str((fei.get("EBeam") or {}).get("TiltCorrectionIsOn", "")).strip().lower() in ("yes", "true", "1")
    return float(np.degrees(radians)), corrected


def _imagej_pixel(tif: Any) -> PixelSize | None:
    ij = tif.imagej_metadata or {}
    unit = ij.get("unit")
    if not unit:
        return None
    unit = str(unit).replace("\\u00B5", "µ").replace("\\u00b5", "µ")
    try:
        nm_per_unit = unit_to_nm(unit)
    except CalibrationError:
        return None  # "pixel", "inch" and the like: not a physical calibration
    if nm_per_unit == unit_to_nm("cm"):  # a print resolution (300 dpi is 118 px/cm), which Fiji takes for
        return None  # a scale, as it takes one in inches: 85 µm pixels; no SEM is calibrated in cm
    tag = tif.pages[0].tags.get("XResolution")
    if tag is None:
        return None
    num, den = tag.value
    if not num or not den:
        return None
    return PixelSize(nm_per_unit * den / num, "imagej:resolution+unit")


def _ome_sizes(tif: Any) -> tuple[float | None, float | None]:
    """A pixel's width and height (nm) in an OME-TIFF's XML: its first image's
    ``PhysicalSizeX``/``Y`` in their units (µm unless given), as Bio-Formats, QuPath or
    napari write them; None where absent or in a unit that is no length."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(tif.ome_metadata or "")
    except ET.ParseError:
        return None, None
    pixels = next((el for el in root.iter() if el.tag.rpartition("}")[2] == "Pixels"), None)

    def size(axis: str) -> float | None:
        value = None if pixels is None else _positive(pixels.get(f"PhysicalSize{axis}"))
        try:
            return value * unit_to_nm(pixels.get(f"PhysicalSize{axis}Unit", "µm")) if value else None
        except CalibrationError:  # "pixel", "reference frame": no length
            return None

    return size("X"), size("Y")


def _pixel_height_nm(tif: Any, pixel: PixelSize) -> float | None:
    """The height of a pixel where the file gives one apart from its width (ImageJ's
    YResolution, FEI's PixelHeight, OME's PhysicalSizeY), in nm, for a ``pixel`` read
    from that file."""
    if pixel.source.startswith("ome"):
        return _ome_sizes(tif)[1]
    if pixel.source.startswith("imagej"):
        tag = tif.pages[0].tags.get("YResolution")
        width = tif.pages[0].tags["XResolution"].value
        if tag is not None and tag.value[0] and tag.value[1]:
            return pixel.nm * (width[0] / width[1]) / (tag.value[0] / tag.value[1])
    elif pixel.source.startswith("fei"):
        scan = (tif.fei_metadata or {}).get("Scan", {}) or {}
        height = _positive(scan.get("PixelHeight"))
        return height * 1e9 if height else None
    return None


def _decode_text(raw: bytes) -> str:
    """Text written on a lab's PC: UTF-8 (with or without a byte-order mark), UTF-16 with
    one (Excel's *Unicode Text*), else the Windows code page, in which instrument software
    and Excel write ``µ`` and umlauts.

    Examples
    --------
    >>> [_decode_text("2µm".encode(code)) for code in ("utf-8", "cp1252", "utf-16")]
    ['2µm', '2µm', '2µm']
    """
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16's byte-order marks
        return raw.decode("utf-16", errors="replace")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _read_sidecar(path: Path) -> tuple[str, dict[str, Any]] | None:
    """Read a JEOL (``$KEY value``) or Hitachi (INI) ``.txt`` sidecar, if one exists."""
    for candidate in (path.with_suffix(".txt"), path.with_suffix(".TXT")):
        if candidate.is_file():
            break
    else:
        return None
    try:
        text = _decode_text(candidate.read_bytes())
    except OSError:
        return None
    if "$CM_FORMAT" in text or "$$SM_MICRON_BAR" in text or "$SEM_DATA_VERSION" in text:
        fields: dict[str, str] = {}
        for line in text.splitlines():
            if line.startswith("$"):
                key, _, value = line.partition(" ")
                fields[key] = value.strip()
        return "jeol", fields
    if "[SemImageFile]" in text or "[TemImageFile]" in text:
        return "hitachi", _parse_ini(text)
    return None


def _jeol(fields: dict[str, str]) -> tuple[PixelSize | None, str | None, int | None]:
    pixel = None
    bar = _positive(fields.get("$$SM_MICRON_BAR") or fields.get("$SM_MICRON_BAR"))
    marker = fields.get("$$SM_MICRON_MARKER") or fields.get("$SM_MICRON_MARKER")
    if bar and marker:
        try:
            pixel = PixelSize(parse_length(marker) / bar, "jeol-sidecar:MICRON_MARKER/MICRON_BAR")
        except CalibrationError:
            pixel = None
    detector = fields.get("$CM_SIGNAL_NAME") or fields.get("$CM_SIGNAL") or None
    rows = None
    full = fields.get("$CM_FULL_SIZE", "").split()
    if len(full) == 2 and _positive(full[1]):
        rows = int(float(full[1]))
    return pixel, detector, rows


def _hitachi(ini: dict[str, dict[str, str]]) -> tuple[PixelSize | None, str | None, int | None]:
    size = _positive(_ini_get(ini, "PixelSize"))
    pixel = PixelSize(size, "hitachi-sidecar:PixelSize") if size else None
    detector = _ini_get(ini, "SignalName") or None
    rows = None
    data_size = _ini_get(ini, "DataSize")
    if data_size and "x" in data_size.lower():
        rows_text = data_size.lower().split("x")[1]
        rows = int(rows_text) if rows_text.strip().isdigit() else None
    return pixel, detector, rows


# ------------------------------------------------------------------------- data bar


def _is_bar_row(row: np.ndarray, min_flat: float) -> bool:
    _, counts = np.unique(row, return_counts=True)
    return counts.max() >= min_flat * row.size


#: A run of flat rows at the bottom is no bar when more than this fraction of the rows
#: above it is flat too (sampled at about ``BAR_CHECK_ROWS`` rows): a BSE image exported
#: with its matrix clipped to black has mostly flat rows, and 5 of 48 such synthetic
#: fields (matrix at the 50th-85th percentile clipped) lost 24-112 of their 512 rows as
#: a "bar". Micrographs' rows are noisy: of the image rows of the bundled samples and the
#: real files in the reference set, at most 0.9 % are flat (blank frames aside), and
#: every bar among them is still found.
MAX_FLAT_IMAGE_ROWS = 0.05
BAR_CHECK_ROWS = 256


def detect_databar(image: np.ndarray, *, min_flat: float = 0.5) -> int:
    """Count the rows of an information bar burned into the bottom of a micrograph.

    A bar is a flat panel (one grey level in most of each row) carrying text and a scale
    bar; image rows are noisy and never mostly one level. The bar is the run of such flat
    rows at the bottom, which takes in the one-pixel separator line Zeiss draws above its
    panel; up to two noisy rows below the panel (Zeiss stores some) belong to the bar. A
    run is accepted only when it is 3-25 % of the frame, the row above it looks like
    image and so do nearly all rows above (``MAX_FLAT_IMAGE_ROWS``), so a frame without a
    bar, a blank frame, or a dark field whose rows are mostly black is never cropped.

    Parameters
    ----------
    image : ndarray, shape (M, N) or (M, N, 3)
        Micrograph as stored, grey, or in colour (a composite; its luma is looked at).
    min_flat : float, optional
        Least fraction of a bar row's pixels that share one grey level.

    Returns
    -------
    int
        Rows to crop from the bottom (0 when no bar is found).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> frame = rng.integers(0, 256, (100, 120), dtype=np.uint8)
    >>> frame[88:] = 255; frame[88] = 0; frame[94:97, 10:40] = 0   # panel, line, text
    >>> detect_databar(frame)
    12
    >>> detect_databar(frame[:88])
    0
    >>> detect_databar(np.dstack([frame] * 3))   # in colour
    12
    """
    if np.ndim(image) == 3 and np.shape(image)[-1] == 3:  # a composite: its data bar is grey
        image = _luminance(np.asarray(image))
    image = require_image(image, "image", kind="grey image (or an RGB one)")
    rows = image.shape[0]
    limit = int(rows * 0.25)
    candidates = min(rows, limit + 1)  # rows examined, from the bottom up, only as needed

    def flat(k: int) -> bool:
        return _is_bar_row(image[rows - 1 - k], min_flat)

    skip = 0
    while skip < 2 and skip < candidates and not flat(skip):
        skip += 1
    run = 0
    while skip + run < candidates and flat(skip + run):
        run += 1
    height = skip + run
    if run == 0 or height < max(1, int(np.ceil(rows * 0.03))) or height > limit:
        return 0
    above = image[: rows - height][:: max(1, (rows - height) // BAR_CHECK_ROWS)]
    if np.mean([_is_bar_row(row, min_flat) for row in above]) > MAX_FLAT_IMAGE_ROWS:
        return 0  # the image's own rows are flat too: a dark (or bright) field, not a bar
    return height


# ---------------------------------------------------------------------------- read


def _databar_choice(crop_databar: object) -> str | int:
    """``crop_databar`` as ``"auto"`` or ``"off"`` (in any case; True and False name them)
    or a row count, else a :class:`ParameterError` (an array by its shape)."""
    if isinstance(crop_databar, (bool, np.bool_)):
        return "auto" if crop_databar else "off"
    if isinstance(crop_databar, (int, np.integer)):
        return int(crop_databar)
    return require_choice(crop_databar, "crop_databar", ("auto", "off"), or_="a row count")


def _sidecar_of(path: Path) -> Path | None:
    """The image whose JEOL or Hitachi ``.txt`` sidecar ``path`` is (an image file of the
    same name beside it), or None."""
    if path.suffix.lower() != ".txt":
        return None
    return next((image for suffix in IMAGE_SUFFIXES for case in (suffix, suffix.upper())
                 if (image := path.with_suffix(case)).is_file()), None)


def _sniff(path: Path) -> str:
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(12)
    except FileNotFoundError:
        raise ReadError("file not found", path=path, hint="check the path") from None
    except IsADirectoryError:
        raise ReadError("is a folder, not an image", path=path) from None
    except OSError as exc:
        raise ReadError(f"cannot open file: {exc.strerror or exc}", path=path,
                        hint="check that it exists and is readable") from None
    if size == 0:
        raise ReadError("file is empty", path=path, hint="re-export it from the microscope")
    if head[:4] in _TIFF_MAGIC:
        return "tiff"
    for magic, kind in _OTHER_MAGIC.items():
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":  # as a browser saves a journal's figure
        return "webp"
    for magic, (what, hint) in _CONTAINERS.items():
        if head.startswith(magic):
            raise UnsupportedFormatError(f"{what}, not an image", path=path, hint=hint)
    image = _sidecar_of(path)
    if image is not None:  # given for its image
        raise UnsupportedFormatError("the text file that JEOL and Hitachi software write beside an image (its "
                                     "calibration), not an image", path=path,
                                     hint=f"give the image, {image.name}: its calibration is read from here")
    raise UnsupportedFormatError(
        "not a TIFF, PNG, JPEG, BMP, GIF or WebP image",
        path=path,
        hint="export the micrograph as TIFF",
    )


@contextlib.contextmanager
def _tifffile_notes(path: Path | None = None) -> Iterator[None]:
    """What tifffile logs in this thread within the block, its warnings and errors each
    once, said as warnings naming ``path`` when the block ends well, from the line that
    called the public function two frames above the block (read_sem, read_labels); left
    to the error the file raises, if any, and unsaid without a ``path``. Left to Python,
    tifffile's lines were printed bare on the terminal, without the file's name
    ("<tifffile.TiffPages @8> invalid page offset 100000000"). The object's name that
    tifffile puts first is left out."""
    notes: list[str] = []
    thread = threading.get_ident()

    class Notes(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.thread != thread:  # another thread's file
                return
            note = re.sub(r"^<tifffile\.[^>]*>\s*", "", record.getMessage())
            if note not in notes:
                notes.append(note)

    logger, handler = logging.getLogger("tifffile"), Notes(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    # stacklevel: past this generator, contextlib's exit, the block's function and the public one
    for note in notes if path is not None else ():
        warnings.warn(f"{path}: tifffile: {note}", stacklevel=5)


def _read_tiff(path: Path, page: int | None) -> tuple[np.ndarray, str, PixelSize | None, str | None, dict, int | None, bool]:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if not tif.pages:
            raise ReadError("holds no image: the TIFF is truncated or corrupt", path=path,
                            hint="re-export it from the microscope")
        if page is None:
            # a reduced-resolution copy (a thumbnail, NewSubfileType 1) is no second image
            full = [k for k, pg in enumerate(_tiff_pages(tif)) if not pg.is_reduced] or [0]
            if len(full) == 1:
                page = full[0]
            else:
                raise UnsupportedFormatError(
                    f"holds {len(full)} images (a stack or several channels), where one "
                    "micrograph was expected",
                    path=path,
                    hint="save each image as its own file, or label two pages SE and BSE to pair "
                    "them (Fiji: Image > Stacks > Set Label...); in Python, read_sem(path, page=N) "
                    "reads one page",
                )
        if page >= len(tif.pages):
            raise UnsupportedFormatError(
                f"page {page} asked for, but the file has {len(tif.pages)}", path=path
            )
        pg = tif.pages[page]
        _check_size(pg.shape, pg.dtype.itemsize if pg.dtype is not None else 8, path)
        _check_segments(pg, path)
        raw = pg.asarray()
        colour = (tifffile.PHOTOMETRIC.RGB, tifffile.PHOTOMETRIC.SEPARATED)
        if pg.planarconfig == tifffile.PLANARCONFIG.SEPARATE and pg.photometric in colour:
            raw = np.moveaxis(raw, 0, -1)  # stored channel by channel (Photoshop's "per channel")
        if pg.photometric == tifffile.PHOTOMETRIC.SEPARATED and raw.ndim == 3 and raw.shape[-1] >= 4:
            raw = _cmyk_to_rgb(raw)  # a figure made for print
        if pg.photometric == tifffile.PHOTOMETRIC.PALETTE and pg.colormap is not None:
            raw = _palette_pixels(raw, np.asarray(pg.colormap))
        grey = (tifffile.PHOTOMETRIC.MINISBLACK, tifffile.PHOTOMETRIC.MINISWHITE)
        alpha = (tifffile.EXTRASAMPLE.ASSOCALPHA, tifffile.EXTRASAMPLE.UNASSALPHA)
        if (pg.photometric in grey and tuple(pg.extrasamples) in ((a,) for a in alpha) and raw.ndim == 3
                and raw.shape[-1] == 2):
            raw = raw[..., 0]  # grey with alpha, as GIMP exports a layer: the alpha is no second image
        if pg.photometric == tifffile.PHOTOMETRIC.MINISWHITE:
            raw = _shown_grey(raw, int(pg.bitspersample))
        width = raw.shape[1] if raw.ndim >= 2 else 1
        vendor, pixel, detector, image_rows, mixing = "generic", None, None, None, False
        metadata: dict[str, Any] = {}
        if tif.is_sem:
            sem = tif.sem_metadata or {}
            metadata["CZ_SEM"] = sem
            vendor = "zeiss"
            pixel, detector, mixing = _zeiss(sem, width)
        if tif.is_fei:
            fei = tif.fei_metadata or {}
            metadata["FEI"] = fei
            vendor = "fei"
            fpixel, fdet, image_rows = _fei(fei)
            pixel, detector = pixel or fpixel, detector or fdet
        tescan = pg.tags.get(50431)
        if tescan is not None:
            value = tescan.value
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            tpixel, tdet, ini = _tescan(text)
            metadata["TESCAN"] = ini
            vendor = vendor if vendor != "generic" else "tescan"
            pixel, detector = pixel or tpixel, detector or tdet
        if pixel is None and tif.is_imagej:
            pixel = _imagej_pixel(tif)
            metadata["ImageJ"] = dict(tif.imagej_metadata or {})
            if pixel is not None and vendor == "generic":
                vendor = "imagej"
        if pixel is None and tif.is_ome:
            nm = _ome_sizes(tif)[0]
            pixel = PixelSize(nm, "ome:PhysicalSizeX") if nm else None
            vendor = "ome" if pixel is not None and vendor == "generic" else vendor
        if pixel is not None:
            metadata["pixel_height_nm"] = _pixel_height_nm(tif, pixel)
    return raw, vendor, pixel, detector, metadata, image_rows, mixing


def _cmyk_to_rgb(cmyk: np.ndarray) -> np.ndarray:
    """RGB of a CMYK image (its first four channels), in its own type.

    Examples
    --------
    >>> _cmyk_to_rgb(np.array([[[0, 255, 255, 0], [0, 0, 0, 255]]], np.uint8))
    array([[[255,   0,   0],
            [  0,   0,   0]]], dtype=uint8)
    """
    top = float(np.iinfo(cmyk.dtype).max) if cmyk.dtype.kind in "ui" else 1.0
    ink = cmyk[..., :4].astype(np.float64) / top
    rgb = (1.0 - ink[..., :3]) * (1.0 - ink[..., 3:4]) * top
    return np.rint(rgb).astype(cmyk.dtype) if cmyk.dtype.kind in "ui" else rgb.astype(cmyk.dtype)


def _open_pil(path: Path) -> Any:
    """``PIL.Image.open``, without its warning of a large image (ddcsem's own size limit
    guards the memory) and with a clear error over the pixels Pillow opens at all."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path)
    except Image.DecompressionBombError:
        raise UnsupportedFormatError(
            f"holds more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels, more than Pillow opens in this format",
            path=path,
            hint=f"save it as TIFF, which ddcsem reads up to {MAX_IMAGE_BYTES / 1024**3:.0f} GiB",
        ) from None


def _read_other(path: Path) -> np.ndarray:
    with _open_pil(path) as im:
        _check_size((im.height, im.width, len(im.getbands())), 2, path)
        if getattr(im, "n_frames", 1) > 1:  # an animated GIF or WebP
            raise UnsupportedFormatError(f"holds {im.n_frames} frames, where one micrograph was expected",
                                         path=path, hint="save the frame to analyse as its own file")
        if im.mode == "P" and _palette_lut(np.reshape(im.getpalette() or [0, 0, 0], (-1, 3)) / 255.0):
            return np.asarray(im)  # a micrograph shown through a lookup table: its indices
        if im.mode in ("P", "CMYK"):  # a palette, or a figure made for print
            im = im.convert("RGB")
        elif im.mode in ("LA", "PA"):
            im = im.convert("L")
        return np.asarray(im)


def read_sem(
    path: str | PathLike,
    *,
    pixel_size: float | str | PixelSize | None = None,
    crop_databar: Literal["auto", "off"] | int = "auto",
    page: int | None = None,
) -> SEMImage:
    """Read one SEM micrograph with its calibration, detector and data bar.

    Parameters
    ----------
    path : path-like
        TIFF (8/16/32-bit, float, palette, grey-content RGB), PNG, JPEG, BMP, GIF or WebP file.
        JEOL and Hitachi calibration is read from a ``.txt`` sidecar of the same name.
    pixel_size : float, str or PixelSize, optional
        Pixel size overriding the metadata: a number in nm or a string with a unit
        (``"3.2nm"``, ``"0.05 µm"``), or a :class:`PixelSize`, which keeps its source.
    crop_databar : {"auto", "off"} or int, optional
        ``"auto"`` crops the vendor's information bar exactly from metadata (FEI/Thermo
        ``[Image] ResolutionY``, JEOL ``$CM_FULL_SIZE``, Hitachi ``DataSize``) or, without
        such metadata, detects it from its few grey levels. ``"off"`` keeps every row; an
        int crops that many rows.
    page : int, optional
        Page of a multi-page TIFF; without it a file must hold exactly one image.

    Returns
    -------
    SEMImage
        Grey pixels with calibration (``pixel_size.source`` says where it came from;
        ``"none"`` when uncalibrated), detector, vendor, metadata and rows cropped.

    Raises
    ------
    ReadError
        If the file is missing, empty, truncated, colour, or holds NaN/inf pixels.
    UnsupportedFormatError
        If it is not a readable image or holds a stack where one image is expected.
    CalibrationError
        If ``pixel_size`` cannot be read as a length.

    Warns
    -----
    MixedDetectorWarning
        For a Zeiss image stored with detector mixing on.

    Examples
    --------
    >>> import tifffile, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "cells_InLens.tif")
    >>> tifffile.imwrite(path, np.arange(64 * 64, dtype=np.uint16).reshape(64, 64),
    ...                  imagej=True, resolution=(1 / 0.0125, 1 / 0.0125),
    ...                  metadata={"unit": "um"})
    >>> img = read_sem(path)
    >>> round(img.pixel_size.nm, 3), img.pixel_size.source, img.detector, img.role
    (12.5, 'imagej:resolution+unit', 'InLens', 'SE')
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as said:  # a size other than the file's own
    ...     read_sem(path, pixel_size="3.2nm").pixel_size
    PixelSize(nm=3.2, source='argument')
    >>> type(said[0].message).__name__
    'OverriddenCalibrationWarning'
    """
    image = _read(path, pixel_size=pixel_size, crop_databar=crop_databar, page=page, colour=False)
    if image.mixing:
        warnings.warn(
            f"{image.path}: Zeiss detector mixing was on ({image.detector}): the image blends two "
            "signals and is not a pure SE or BSE channel",
            MixedDetectorWarning,
            stacklevel=2,
        )
    return image


def read_composite(
    path: str | PathLike,
    *,
    pixel_size: float | str | PixelSize | None = None,
    crop_databar: Literal["auto", "off"] | int = "auto",
) -> SEMImage:
    """Read an existing colour DDC composite (Photoshop, Fiji, ``ddcsem colorize``).

    Calibration and data-bar cropping work as in :func:`read_sem`.

    Parameters
    ----------
    path : path-like
        Colour TIFF (any pixel type, its channels interleaved or stored one by one),
        PNG, JPEG, BMP, GIF or WebP file; an alpha channel is dropped.
    pixel_size : float, str or PixelSize, optional
        Pixel size overriding the metadata: a number in nm or a string with a unit
        (``"20nm"``), or a :class:`PixelSize`; a figure exported from Photoshop has none
        of its own.
    crop_databar : {"auto", "off"} or int, optional
        As in :func:`read_sem`.

    Returns
    -------
    SEMImage
        ``data`` is the (M, N, 3) uint8 colour image, with its calibration and source.

    Raises
    ------
    ReadError
        If the file is not a colour image, or is a grey one with coloured marks burned in
        (see ``MARKED_GREY_SHARE``) or a tinted one (see ``TINT_RATIO``): a grey
        micrograph is read by :func:`read_sem`.

    Warns
    -----
    UserWarning
        When it is a JPEG whose colours are stored at half resolution (chroma subsampling,
        4:2:0 or 4:2:2: most software's default), which the colour unmixing then sees:
        small and touching particles are found less well.

    Examples
    --------
    >>> import tempfile, os, tifffile
    >>> path = os.path.join(tempfile.mkdtemp(), "fig2.tif")
    >>> rgb = np.zeros((40, 50, 3), np.uint8); rgb[..., 1] = 120; rgb[10:20, 10:20] = (250, 150, 0)
    >>> tifffile.imwrite(path, rgb, photometric="rgb")
    >>> img = read_composite(path, pixel_size="20nm")
    >>> img.data.shape, img.pixel_size.nm
    ((40, 50, 3), 20.0)
    """
    image = _read(path, pixel_size=pixel_size, crop_databar=crop_databar, page=None, colour=True)
    if _sniff(Path(path)) == "jpeg":
        from PIL import JpegImagePlugin

        with _open_pil(Path(path)) as im:
            sampling = {1: "4:2:2", 2: "4:2:0"}.get(JpegImagePlugin.get_sampling(im))
        if sampling:
            warnings.warn(
                f"{path}: a JPEG whose colours are kept at half resolution ({sampling} chroma subsampling), "
                "which blurs the orange and green apart: small and touching particles are found less well "
                "(synthetic crowded field: F1 0.98 as PNG, 0.96 as such a JPEG at quality 95); export the "
                "composite as PNG or TIFF, or as JPEG without subsampling (4:4:4)", stacklevel=2)
    return image


def read_labels(path: str | PathLike, *, shape: tuple[int, int]) -> np.ndarray:
    """Read particles drawn or corrected by hand: a label image, or a set of ImageJ ROIs.

    So a segmentation edited in Fiji (in the ROI Manager, on the ``<id>_rois.zip`` that
    ``ddcsem analyze`` writes, or on its ``<id>_labels.tif``) can be measured again.

    Parameters
    ----------
    path : path-like
        A TIFF or PNG label image (0 the background; integer pixels, or whole numbers in a
        float image, as Fiji saves a 32-bit one), a binary mask (one value, as Fiji's
        *Convert to Mask* saves it: each of its 8-connected spots is a particle, as *Analyze
        Particles* traces them; a mask of black particles on white, whose set value covers
        most of the field in one piece that reaches every side, is read as its 0s, with a
        warning), or an ImageJ ROI set (``.zip``) or ROI (``.roi``): each
        area ROI (traced, polygon, freehand, rectangle, oval, composite) is one particle,
        its pixels those whose centres it encloses (a composite's holes left out, as Fiji
        measures it); where ROIs overlap the later one takes the pixels.
    shape : (int, int)
        The shape of the image the particles belong to (after its data bar is cropped; a
        label image drawn on the image with its bar is cropped to it where the bar's rows
        hold no particle); a colour composite's ``(M, N, 3)`` will do.

    Returns
    -------
    ndarray of int32, shape ``shape``
        The particles numbered 1..K (in the order of their ids, of a mask's spots in raster
        order, or of the ROIs).

    Raises
    ------
    ReadError
        If the file is not a label image or ROI set, its shape is not ``shape``, or it
        holds no areas.

    Warns
    -----
    UserWarning
        When a mask is read as black particles on white (its 0s).

    Examples
    --------
    >>> import tempfile, os, zipfile
    >>> from roifile import ImagejRoi
    >>> path = os.path.join(tempfile.mkdtemp(), "rois.zip")
    >>> square = ImagejRoi.frompoints([[2, 1], [5, 1], [5, 4], [2, 4]])  # x, y of its corners
    >>> with zipfile.ZipFile(path, "w") as z:
    ...     z.writestr("a.roi", square.tobytes())
    >>> read_labels(path, shape=(6, 8))
    array([[0, 0, 0, 0, 0, 0, 0, 0],
           [0, 0, 1, 1, 1, 0, 0, 0],
           [0, 0, 1, 1, 1, 0, 0, 0],
           [0, 0, 1, 1, 1, 0, 0, 0],
           [0, 0, 0, 0, 0, 0, 0, 0],
           [0, 0, 0, 0, 0, 0, 0, 0]], dtype=int32)
    """
    from .measure import _compact

    areas = _read_areas(path, shape, "labels")
    if Path(path).suffix.lower() not in (".zip", ".roi") and _is_mask(areas):  # one ROI is one particle
        return _spots(_particles_set(areas, path))
    numbered, _ = _compact(areas)
    return numbered


def read_region(path: str | PathLike, *, shape: tuple[int, int]) -> np.ndarray:
    """Read the part of an image to analyse, drawn by hand: an ImageJ ROI or a mask.

    In Fiji: draw around the tissue (or the area to measure) on ``<id>_ddc.tif`` with any
    area tool, holes cut out with Alt held (a composite ROI), and save the selection
    (*File › Save As › Selection…*) as ``<id>_region.roi``; or save a mask.

    Parameters
    ----------
    path : path-like
        An ImageJ ROI (``.roi``) or ROI set (``.zip``: the union of its area ROIs; a
        composite ROI without its holes), or a TIFF or PNG mask (non-zero inside).
    shape : (int, int)
        The shape of the image (after its data bar is cropped); a colour composite's
        ``(M, N, 3)`` will do.

    Returns
    -------
    ndarray of bool, shape ``shape``
        True inside the region (pixels whose centres the ROI encloses).

    Raises
    ------
    ReadError
        If the file is not a ROI or mask, its shape is not ``shape``, or the region is
        empty.

    Examples
    --------
    >>> import tempfile, os
    >>> from roifile import ImagejRoi
    >>> path = os.path.join(tempfile.mkdtemp(), "x_region.roi")
    >>> ImagejRoi.frompoints([[0, 0], [4, 0], [4, 3], [0, 3]]).tofile(path)
    >>> read_region(path, shape=(4, 6)).astype(int)
    array([[1, 1, 1, 1, 0, 0],
           [1, 1, 1, 1, 0, 0],
           [1, 1, 1, 1, 0, 0],
           [0, 0, 0, 0, 0, 0]])
    """
    return _read_areas(path, shape, "region") > 0


def read_markers(path: str | PathLike, *, shape: tuple[int, int]) -> np.ndarray:
    """Read seeds for the split, marked by hand: an ImageJ multi-point selection, ROI set or
    seed image.

    In Fiji: click the particles' centres on ``<id>_ddc.tif`` with the multi-point tool and
    save the selection (*File › Save As › Selection…*) as ``<id>_markers.roi``. The
    segmentation then splits the clusters they fall in at these seeds and no others
    (:func:`ddcsem.segment_particles`'s ``markers``), placing their outlines itself.

    Parameters
    ----------
    path : path-like
        An ImageJ ROI (``.roi``) or ROI set (``.zip``): each point of a point or
        multi-point ROI is one seed (the pixel it lies in), each area ROI one seed region;
        or a TIFF or PNG seed image: a label image (one id per seed), or a mask whose
        connected spots are the seeds.
    shape : (int, int)
        The shape of the image (after its data bar is cropped); a colour composite's
        ``(M, N, 3)`` will do.

    Returns
    -------
    ndarray of int32, shape ``shape``
        The seeds numbered 1..K (0 elsewhere).

    Raises
    ------
    ReadError
        If the file is not a ROI, ROI set or image, its shape is not ``shape``, or it
        holds no seed within the image.

    Examples
    --------
    >>> import tempfile, os
    >>> from roifile import ROI_TYPE, ImagejRoi
    >>> path = os.path.join(tempfile.mkdtemp(), "x_markers.roi")
    >>> clicks = ImagejRoi.frompoints([[1, 0], [4.5, 2.5]])  # x, y, as Fiji saves them
    >>> clicks.roitype = ROI_TYPE.POINT
    >>> clicks.tofile(path)
    >>> read_markers(path, shape=(3, 6))
    array([[0, 1, 0, 0, 0, 0],
           [0, 0, 0, 0, 0, 0],
           [0, 0, 0, 0, 2, 0]], dtype=int32)
    """
    from .measure import _compact

    seeds = _read_areas(path, shape, "markers")
    if _is_mask(seeds):  # each of its spots is a seed
        return _spots(seeds if Path(path).suffix.lower() in (".zip", ".roi") else _particles_set(seeds, path))
    numbered, _ = _compact(seeds)
    return numbered


def _is_mask(areas: np.ndarray) -> bool:
    """Whether the set pixels of ``areas`` all hold one value: a binary mask, not labels."""
    values = areas[areas > 0]
    return bool(values.size) and bool(np.all(values == values[0]))


def _particles_set(mask: np.ndarray, path: str | PathLike) -> np.ndarray:
    """A binary ``mask`` (of the file ``path``) with its particles set: as it is, or
    inverted where its set pixels are the background, with a warning. Those cover more
    than half the field in one piece that reaches all four sides: the mask shows black
    particles on white, as Fiji saves a PNG of a mask made without *Black background*,
    and as other tools draw them."""
    from scipy import ndimage

    inverse = mask == 0
    if 2 * int(np.count_nonzero(mask)) <= mask.size or not inverse.any():
        return mask
    pieces, _ = ndimage.label(mask > 0, structure=np.ones((3, 3), bool))
    sides = [set(np.unique(side)) - {0} for side in (pieces[0], pieces[-1], pieces[:, 0], pieces[:, -1])]
    if not set.intersection(*sides):
        return mask
    value = int(mask.max())  # a 1-bit file's True is its 1
    share = int(100 * np.count_nonzero(mask) / mask.size)  # rounded down: most is not all
    warnings.warn(f"{path}: its {value}s cover {share}% of the field in one "
                  f"piece that reaches every side, so they are read as the background and its 0s as the "
                  f"particles (a mask of black particles on white)", stacklevel=3)
    return inverse


def _spots(mask: np.ndarray) -> np.ndarray:
    """The 8-connected spots of a ``mask``'s set pixels, numbered 1..K in raster order (int32)."""
    from scipy import ndimage

    return ndimage.label(mask > 0, structure=np.ones((3, 3), bool))[0].astype(np.int32)


def _field_shape(shape: Any) -> tuple[int, int]:
    """The rows and columns of an image's ``shape``: a colour image's ``(M, N, 3)`` gives
    its field's ``(M, N)``, as the hand-drawn areas on it have."""
    import operator

    try:
        rows, cols = (operator.index(n) for n in tuple(shape)[:2])
        ok = len(tuple(shape)) >= 2 and rows > 0 and cols > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ParameterError(f"shape must be the image's (rows, columns), as image.shape gives it, not {shape!r}")
    return rows, cols


def _read_areas(path: str | PathLike, shape: tuple[int, int], what: str) -> np.ndarray:
    """The areas of a label image, mask, ImageJ ROI or ROI set drawn on an image of
    ``shape`` (its pixel values, or the ROIs numbered 1..K; for ``markers``, each point of
    a point ROI too); ``what`` (``"labels"``, ``"region"`` or ``"markers"``) names them in
    errors."""
    are = "is" if what == "region" else "are"
    shape = _field_shape(shape)
    path = Path(path)
    if not path.is_file():
        raise ReadError("no such file", path=path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".zip", ".roi"):
            labels = _rasterize_rois(path, shape, what)
        elif suffix == ".png":  # 8 or 16 bits, as other tools export labels
            with _open_pil(path) as im:
                labels = np.asarray(im)
        else:
            import tifffile

            with _tifffile_notes(path):
                labels = np.squeeze(tifffile.imread(path))
    except (ReadError, Warning):  # a warning made an error (-W error) is not the file's fault
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a bad file
        raise ReadError(f"cannot read {what} ({type(exc).__name__}: {exc})", path=path,
                        hint="give a TIFF or PNG label image or mask, or an ImageJ ROI (.roi) or ROI set (.zip)") from None
    if labels.ndim == 3 and labels.shape[-1] in (3, 4):
        raise ReadError(f"the {what} {are} a colour image", path=path,
                        hint="save the label image or mask itself (8, 16 or 32-bit), not its rendering in colour")
    if (labels.ndim == 2 and labels.shape[1] == shape[1] and labels.shape[0] > shape[0]
            and not labels[shape[0]:].any()):
        labels = labels[: shape[0]]  # drawn on the image with its data bar, which holds none
    if labels.shape != tuple(shape):
        raise ReadError(f"the {what} {are} {labels.shape[0]} x {labels.shape[1]} px, the image "
                        f"{shape[0]} x {shape[1]} px" if labels.ndim == 2 else
                        f"a label image must be 2-D, not of shape {labels.shape}", path=path,
                        hint=f"give the {what} drawn on this image (without its data bar)")
    whole = labels.dtype.kind in "iub" or (labels.dtype.kind == "f" and bool(np.all(labels == np.round(labels))))
    if not whole or labels.min() < 0:
        raise ReadError("a label image or mask holds whole numbers from 0 (the background) up", path=path)
    if not labels.any():
        raise ReadError(f"the {what} {are} empty: no pixel is set", path=path)
    return labels


#: A particle drawn over this share of its pixels or more onto earlier ones, not wholly
#: inside one of them, is warned about (:func:`_rasterize_rois`). ddcsem's own ROI sets read
#: back exactly, yet hold a few such pixels: a neighbour's outline wraps a pixel that touches
#: its particle only at a corner (1 of 60 pixels, in one of 1618 particles of six crowded fields).
ROI_OVERLAP_SHARE = 0.1


def _rasterize_rois(path: Path, shape: tuple[int, int], what: str) -> np.ndarray:
    """The area ROIs of an ImageJ ROI file or set as labels 1..K, in their order; a
    composite ROI's pixels are those inside an odd number of its outlines (its holes
    left out, as ImageJ measures it). ROIs left out (no area, outside the image, or
    between pixel centres) are warned about by name, as are particles drawn across the
    edge of earlier ones (``ROI_OVERLAP_SHARE``), whose shared pixels go to the later (a
    label image holds one per pixel); one wholly inside an earlier one lies in its hole,
    as in the sets that ``ddcsem analyze`` writes, whose outlines have none."""
    from matplotlib.path import Path as Outline
    from roifile import ROI_SUBTYPE, ROI_TYPE, roiread

    rois = roiread(path)
    rois = rois if isinstance(rois, list) else [rois]
    areas = (ROI_TYPE.POLYGON, ROI_TYPE.FREEHAND, ROI_TYPE.TRACED, ROI_TYPE.RECT, ROI_TYPE.OVAL)
    labels = np.zeros(shape, np.int32)
    count = 0
    left_out: list[str] = []
    overlapping: list[str] = []
    for i, roi in enumerate(rois):
        name = roi.name or f"#{i + 1}"
        if roi.roitype == ROI_TYPE.POINT and what == "markers":  # each click a seed: the pixel it lies in
            cols, rows = np.floor(np.asarray(roi.coordinates(), dtype=np.float64).reshape(-1, 2)).astype(int).T
            inside = (rows >= 0) & (cols >= 0) & (rows < shape[0]) & (cols < shape[1])
            labels[rows[inside], cols[inside]] = np.arange(count + 1, count + 1 + inside.sum())
            count += int(inside.sum())
            if not inside.all():
                left_out.append(f"{format_count(int((~inside).sum()), 'point')} of {name} (outside the image)")
            continue
        # lines, points, angles, and text (Fiji's Text tool: a label in a rectangle) have no area
        kind = "text" if roi.subtype == ROI_SUBTYPE.TEXT else None if roi.roitype in areas or roi.composite \
            else roi.roitype.name.lower()
        outlines = [] if kind else [np.asarray(xy, dtype=np.float64) for xy in (
            roi.coordinates(multi=True) if roi.composite else [roi.coordinates()])]
        outlines = [xy for xy in outlines if len(xy) >= 3]
        if not outlines:
            left_out.append(f"{name} (a {kind}: no area)" if kind else f"{name} (no area: under 3 corners)")
            continue
        corners = np.concatenate(outlines)
        c0, r0 = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
        c1, r1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int), (shape[1], shape[0]))
        inside = np.zeros((max(r1 - r0, 0), max(c1 - c0, 0)), bool)
        if inside.size:
            rr, cc = np.mgrid[r0:r1, c0:c1]
            centres = np.c_[cc.ravel() + 0.5, rr.ravel() + 0.5]
            for xy in outlines:  # even-odd: a hole's outline lies inside the outer one
                inside ^= Outline(xy).contains_points(centres).reshape(inside.shape)
        if not inside.any():
            left_out.append(f"{name} ({'no pixel centre inside' if inside.size else 'outside the image'})")
            continue
        count += 1
        box = labels[r0:r1, c0:c1]
        under = box[inside]
        shared = np.count_nonzero(under)
        if (what == "labels" and shared >= ROI_OVERLAP_SHARE * under.size
                and not np.all(under == under[0])):  # wholly in one: in its hole
            overlapping.append(name)
        box[inside] = count
    if not count and what == "markers":
        raise ReadError("the ROI set holds no points or areas inside the image", path=path,
                        hint="mark the particles with the multi-point tool")
    if not count:
        raise ReadError("the ROI set holds no areas inside the image", path=path,
                        hint=f"draw the {'region' if what == 'region' else 'particles'} as areas "
                             "(polygon, freehand, oval, traced)")
    if left_out:  # stacklevel: the line that called read_labels, read_region or read_markers
        warnings.warn(f"{path}: left out of its {format_count(len(rois), 'ROI')}: {', '.join(left_out[:5])}"
                      f"{f' and {len(left_out) - 5} more' if len(left_out) > 5 else ''}", stacklevel=4)
    if overlapping:
        warnings.warn(f"{path}: {format_count(len(overlapping), 'ROI')} "
                      f"{'overlaps' if len(overlapping) == 1 else 'overlap'} ones before them "
                      f"({', '.join(overlapping[:5])}{', ...' if len(overlapping) > 5 else ''}): the pixels they "
                      f"share are the later one's, so the earlier are measured smaller than drawn (one particle "
                      f"per pixel)", stacklevel=4)
    return labels


def _as_colour(arr: np.ndarray, path: Path) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
        raise ReadError("not a colour image", path=path,
                        hint="a grey micrograph is analysed as a pair or with --single")
    rgb = arr[..., :3]
    require_finite(rgb, "the image", path=path, error=ReadError)
    if rgb.dtype != np.uint8:
        top = float(np.iinfo(rgb.dtype).max) if rgb.dtype.kind in "ui" else float(np.max(rgb)) or 1.0
        rgb = np.clip(np.rint(rgb.astype(np.float64) / top * 255), 0, 255).astype(np.uint8)
    kind, _, share = _content(rgb)
    if kind == "tinted":
        raise ReadError("the image is one colour at many brightnesses (a grey micrograph tinted, or shown "
                        "through a colour LUT), not a colour composite, which mixes two", path=path,
                        hint="a grey micrograph is analysed as a pair or with --single")
    if kind == "grey":
        raise ReadError("the image is grey, not a colour composite" if round(share, 3) == 0 else
                        f"the image is a grey micrograph with coloured marks on {share:.1%} of it (a scale bar, "
                        "lettering, arrows), not a colour composite",
                        path=path, hint="a grey micrograph is analysed as a pair or with --single")
    return rgb


def _warn_if_overridden(path: Path, given: PixelSize, own: PixelSize | None, *, stacklevel: int) -> None:
    """:class:`OverriddenCalibrationWarning` when the pixel size ``given`` for the file
    ``path`` differs from the ``own`` of its metadata by more than ``MAX_OVERRIDE``."""
    if own is not None and own.nm is not None and abs(given.nm / own.nm - 1) > MAX_OVERRIDE:
        warnings.warn(
            f"{path}: the pixel size given ({given.source}), {given.nm:.4g} nm, overrides the file's own, "
            f"{own.nm:.4g} nm ({own.source}): every size is {given.nm / own.nm:.3g} times what the metadata "
            "gives; leave out the pixel size where the metadata is right",
            OverriddenCalibrationWarning, stacklevel=stacklevel)


def _read(
    path: str | PathLike,
    *,
    pixel_size: float | str | PixelSize | None,
    crop_databar: Literal["auto", "off"] | int,
    page: int | None,
    colour: bool,
) -> SEMImage:
    if isinstance(path, bytes):  # as os.listdir(b".") gives names
        path = os.fsdecode(path)
    if not isinstance(path, (str, PathLike)):
        raise ParameterError(f"path must be a file's path (a str or a Path), not {type(path).__name__}",
                             hint="an image already read is given as SEMImage(array, pixel_size)"
                             if isinstance(path, np.ndarray) else None)
    path = Path(path)
    explicit = _given_pixel_size(pixel_size)
    if page is not None and (isinstance(page, bool) or not isinstance(page, (int, np.integer))):
        raise ParameterError(f"page must be a page number (0 the first), not {page!r}")  # was "cannot decode"
    kind = _sniff(path)
    try:
        if kind == "tiff":
            with _tifffile_notes(path):
                raw, vendor, pixel, detector, metadata, image_rows, mixing = _read_tiff(path, page)
        else:
            if page:
                raise UnsupportedFormatError(f"{kind.upper()} files have one page", path=path)
            raw, vendor, pixel, detector, metadata, image_rows, mixing = (
                _read_other(path), "generic", None, None, {}, None, False)
    except (ReadError, UnsupportedFormatError):
        raise
    except MemoryError:
        raise ReadError("not enough memory to decode the image", path=path) from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a bad file
        raise ReadError(
            f"cannot decode image ({type(exc).__name__}: {exc})",
            path=path,
            hint="the file may be truncated or corrupt; re-export it",
        ) from None
    data, marks = (_as_colour(raw, path), None) if colour else _as_grey(raw, path)

    sidecar = _read_sidecar(path)
    if sidecar is not None:
        kind_sc, fields = sidecar
        parse = _jeol if kind_sc == "jeol" else _hitachi
        spixel, sdet, srows = parse(fields)
        metadata[kind_sc.upper()] = fields
        if vendor in ("generic", "imagej", "ome"):
            vendor = kind_sc
        pixel = pixel or spixel
        detector = detector or sdet
        image_rows = image_rows or srows

    if detector is None:
        found = split_detector_token(path.stem)
        detector = found[2] if found else None

    crop_databar = _databar_choice(crop_databar)
    if crop_databar == "off":
        bar = 0
    elif crop_databar == "auto":
        if image_rows is not None:
            bar = max(0, data.shape[0] - image_rows) if image_rows < data.shape[0] else 0
        else:
            bar = detect_databar(data)
    else:
        bar = crop_databar
        if not 0 <= bar < data.shape[0] - 1:
            raise ReadError(f"cannot crop {bar} rows from an image of {data.shape[0]} rows", path=path)
    if bar:
        data = data[: data.shape[0] - bar]
        marks = None if marks is None or not marks[: data.shape[0]].any() else marks[: data.shape[0]]
    if not colour and (drawn := _scale_bar_marks(data)) is not None:
        marks = drawn if marks is None else marks | drawn
    if pixel is not None and pixel.nm is not None and not _sem_pixel(pixel.nm):
        if explicit is None:  # a unit lost, or a resolution tag of another meaning: no calibration
            warnings.warn(f"{path}: its metadata gives a pixel size of {format_length(pixel.nm)} ({pixel.source}), "
                          f"outside what an SEM gives {_sem_range()}: taken as "
                          "uncalibrated; give the pixel size (--pixel-size)", stacklevel=3)
        pixel = None
    if explicit is not None:
        _warn_if_overridden(path, explicit, pixel, stacklevel=4)
    height = metadata.get("pixel_height_nm")
    if explicit is None and pixel is not None and height and abs(height / pixel.nm - 1) > MAX_PIXEL_ASPECT:
        warnings.warn(
            f"{path}: its pixels are not square ({pixel.nm:.4g} nm wide, {height:.4g} nm high): ddcsem measures "
            f"them as {pixel.nm:.4g} nm squares, so areas are {abs(height / pixel.nm - 1):.0%} off and shapes "
            "stretched; resample the image to square pixels (Fiji: Image › Scale, to the height its pixel "
            "aspect gives) or give the pixel size (--pixel-size) to take them as square",
            stacklevel=3,
        )
    tilt, corrected = _stage_tilt(metadata)
    if tilt is not None and abs(tilt) >= TILT_WARN_DEG and not corrected:
        short = 1 - np.cos(np.radians(tilt))
        warnings.warn(
            f"{path}: taken with the stage tilted {tilt:.3g}° and the microscope's tilt correction off: a flat "
            f"sample's image is foreshortened across the tilt axis (the image's vertical, without scan rotation) "
            f"by cos {tilt:.3g}° = {1 - short:.3f}, so its particles' areas are measured {short:.0%} small and "
            "their shapes squeezed; image it with tilt correction on, or resample its height by 1 / cos of the "
            "tilt (Fiji: Image › Scale)",
            stacklevel=3,
        )

    return SEMImage(
        data=np.ascontiguousarray(data),
        pixel_size=explicit or pixel or UNCALIBRATED,
        detector=detector,
        vendor=vendor,
        metadata=metadata,
        databar_rows=bar,
        path=path,
        mixing=mixing,
        marks=marks,
    )
