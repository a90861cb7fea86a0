"""Pair SE with BSE micrographs of the same field, and register them.

Files are grouped by their name with the detector token removed (``aorta_InLens.tif`` and
``aorta_EsB.tif`` share the key ``aorta``); a file without a token is placed by the
detector named in its metadata; a two-page TIFF whose pages are named SE and BSE is a pair
by itself. A name found in several folders pairs within each folder first, and fields that
share a name are told apart by their folders (:func:`distinct_ids`). Pairs are checked
(same shape and pixel size) when read, and the BSE channel is shifted onto the SE channel
when the two are offset by more than half a pixel.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import warnings
from collections import defaultdict
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path
from typing import Iterable, Literal

import numpy as np

from ._repr import dataclass_repr
from .detectors import BSE_TOKENS, SE_TOKENS, detector_role, split_detector_token
from .errors import (CalibrationError, DDCSEMError, PairingError, ParameterError, ReadError, require_image,
                     require_switch)
from .read import (IMAGE_SUFFIXES, PixelSize, SEMImage, _as_pixel_size, _databar_choice, _decode_text, _sidecar_of,
                   _tiff_pages, _tifffile_notes, _warn_if_overridden, read_sem)
from .units import cut_to_bytes, format_count, parse_pixel_size

__all__ = [
    "IMAGE_SUFFIXES",
    "Pair",
    "PairingResult",
    "SEMPair",
    "collect_images",
    "distinct_ids",
    "estimate_shift",
    "find_pairs",
    "folder_role",
    "read_pair",
    "read_pair_table",
]

#: Pixel sizes of two channels may differ by this fraction before a pair is refused.
PIXEL_SIZE_TOLERANCE = 0.005


@dataclass(frozen=True)
class Pair:
    """An SE file and a BSE file of one field (possibly two pages of one file).

    Examples
    --------
    >>> from pathlib import Path
    >>> Pair("aorta", Path("aorta_InLens.tif"), Path("aorta_EsB.tif")).se_page is None
    True"""

    key: str
    se: Path
    bse: Path
    se_page: int | None = None  # None: the file holds one image
    bse_page: int | None = None
    pixel_size_nm: float | None = None  # given with the pair (a pair table's column)


@dataclass(frozen=True)
class PairingResult:
    """What :func:`find_pairs` found.

    Attributes
    ----------
    pairs : tuple of Pair
        Complete SE/BSE pairs, sorted by key.
    unpaired : tuple of Path
        Files with no partner (or no recognisable detector).
    problems : tuple of (str, str)
        ``(key, message)`` for groups that could not be paired unambiguously.

    Examples
    --------
    A field of two SE images for one BSE image, and a BSE image alone:

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ["x_InLens.tif", "x_SE2.tif", "x_EsB.tif", "y_EsB.tif"]:
    ...     _ = (d / name).write_bytes(b"")
    >>> result = find_pairs([d], use_metadata=False)
    >>> result.pairs, [p.name for p in result.unpaired], [key for key, _ in result.problems]
    ((), ['y_EsB.tif'], ['x'])
    """

    pairs: tuple[Pair, ...] = ()
    unpaired: tuple[Path, ...] = ()
    problems: tuple[tuple[str, str], ...] = field(default_factory=tuple)


@dataclass(frozen=True, eq=False)
class SEMPair:
    """Two registered channels of one field, ready to colour.

    Attributes
    ----------
    key : str
        Name of the field (file name without detector token).
    se, bse : SEMImage
        The channels; ``bse.data`` is already shifted onto ``se`` when ``shift`` was applied.
    pixel_size : PixelSize
        Calibration shared by both channels. Made by hand, a number (nm) or a length
        will do, as for :class:`~ddcsem.read.SEMImage`.
    shift : (float, float)
        (rows, cols) shift estimated from BSE to SE, in pixels.
    shift_applied : bool
        True when the shift exceeded half a pixel, the left and right halves of the field
        agreed on it (within half a pixel), and it was applied to the BSE channel.

    Examples
    --------
    :func:`read_pair` reads one from files. Channels held as arrays (already aligned)
    make one by hand, to analyse with :func:`ddcsem.analyze_pair`:

    >>> from ddcsem.synthetic import make_pair
    >>> syn = make_pair(shape=(128, 128), seed=3)
    >>> pixel = PixelSize(20.0, "argument")
    >>> pair = SEMPair("field_1", SEMImage(syn.se, pixel), SEMImage(syn.bse, pixel), pixel)
    >>> pair.key, pair.pixel_size.um, pair.shift_applied
    ('field_1', 0.02, False)
    """

    key: str
    se: SEMImage
    bse: SEMImage
    pixel_size: PixelSize
    shift: tuple[float, float] = (0.0, 0.0)
    shift_applied: bool = False

    __repr__ = dataclass_repr

    def __post_init__(self) -> None:
        object.__setattr__(self, "pixel_size", _as_pixel_size(self.pixel_size))  # SEMPair(..., 20)


def _listed(paths: str | PathLike | Iterable[str | PathLike]) -> list[str | PathLike]:
    """Paths (or detector tokens) given as a list, or as one: a string is one, not its
    letters (a folder given alone was read as the files ``d``, ``a``, ``t``, ``a``...;
    ``se_tokens="InLens"`` as the tokens ``I``, ``n``, ``L``...)."""
    return [paths] if isinstance(paths, (str, PathLike)) else list(paths)


def collect_images(
    inputs: str | PathLike | Iterable[str | PathLike], *, exclude: str | PathLike | Iterable[str | PathLike] = ()
) -> list[Path]:
    """Expand files and folders (not recursively) into a sorted list of image files.

    A folder stands for its images and those of its detector folders (``SE/``, ``BSE/``,
    ``InLens/``...: one session's channels, sorted by detector), no other folder inside it.
    A folder's hidden files (names starting with a dot, such as the ``._name.tif`` that
    macOS writes beside each file on a shared or USB drive) are passed over, as a shell's
    ``*`` passes over them; named as files, they are taken.

    Parameters
    ----------
    inputs : path-like or iterable of path-like
        Files and folders, or one; a pattern (``data/*.tif``) that names no file itself
        stands for the images and folders it matches.
    exclude : path-like or iterable of path-like, optional
        Folders whose contents are never taken (e.g. the output folder).

    Raises
    ------
    ReadError
        If an input does not exist, or a pattern matches nothing.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ["b.tif", "a.TIF", "notes.txt", "out/c.tif", "._b.tif"]:
    ...     (d / name).parent.mkdir(exist_ok=True); _ = (d / name).write_bytes(b"")
    >>> [p.name for p in collect_images([d], exclude=[d / "out"])]
    ['a.TIF', 'b.tif']
    >>> [p.name for p in collect_images([d, d / "b.tif", d / "out" / ".." / "a.TIF"], exclude=[d / "out"])]
    ['a.TIF', 'b.tif']
    >>> (d / "BSE").mkdir(); _ = (d / "BSE" / "b.tif").write_bytes(b"")
    >>> [str(p.relative_to(d)) for p in collect_images([d], exclude=[d / "out"])]
    ['BSE/b.tif', 'a.TIF', 'b.tif']
    >>> [p.name for p in collect_images(str(d / "[ab].*"))]  # a pattern no shell expanded (Windows')
    ['a.TIF', 'b.tif']
    """
    excluded = [Path(p).resolve() for p in _listed(exclude)]
    found: dict[Path, Path] = {}
    for path, matched in _patterns_expanded(_listed(inputs)):
        if path.is_dir():
            folders = [path] + [sub for sub in path.iterdir()
                                if sub.is_dir() and not sub.name.startswith(".") and detector_role(sub.name)]
            candidates = [p for folder in folders for p in folder.iterdir() if _an_image(p)]
        elif path.exists():  # named: taken as it is, but for what a shell's data/* names beside images
            candidates = [path] if (not matched or _an_image(path)) and not _beside_micrographs(path) else []
        else:
            raise ReadError("no such file or folder", path=path, hint="check the path")
        for p in candidates:
            resolved = p.resolve()
            if any(resolved.is_relative_to(e) for e in excluded):
                continue
            found.setdefault(resolved, p)  # one file named twice (a folder and its file) once
    return sorted(found.values())


#: Files that Windows and macOS write into folders of images (thumbnail caches, folder
#: settings): a shell's ``session/*`` names them among the micrographs, which failed on them.
SYSTEM_FILES = ("thumbs.db", "ehthumbs.db", "ehthumbs_vista.db", "desktop.ini", ".ds_store")


#: Files of these kinds that lie beside images (a session's notes, a lab's README, results
#: saved there, vendors' XML or HDR headers) are no micrographs: a shell's ``session/*``
#: named them among the images, and the batch failed on each, exiting 1.
DOCUMENT_SUFFIXES = (".md", ".txt", ".rtf", ".pdf", ".doc", ".docx", ".odt", ".csv", ".xls", ".xlsx", ".ods",
                     ".ppt", ".pptx", ".json", ".toml", ".yaml", ".yml", ".xml", ".hdr", ".html", ".htm", ".log",
                     ".zip", ".py", ".ipynb")


def _beside_micrographs(path: Path) -> bool:
    """Whether a named file is one that lies beside micrographs but is none: a sidecar
    beside its image (read with it), one of the ``SYSTEM_FILES``, or a document
    (``DOCUMENT_SUFFIXES``) in a folder that holds images, or folders of them (a project's
    ``README.md`` beside its sessions, named by the shell's ``project/*``)."""
    if _sidecar_of(path) is not None or path.name.lower() in SYSTEM_FILES:
        return True
    return path.suffix.lower() in DOCUMENT_SUFFIXES and any(
        _an_image(p) or (p.is_dir() and not p.name.startswith(".") and _holds_images(p))
        for p in path.parent.iterdir())


def _holds_images(folder: Path) -> bool:
    """Whether ``folder`` holds an image to take (False where it cannot be listed)."""
    try:
        return any(map(_an_image, folder.iterdir()))
    except OSError:
        return False


def _an_image(path: Path) -> bool:
    """Whether a file found in a folder (or by a pattern) is an image to take: not a
    sidecar, nor a hidden file."""
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _patterns_expanded(items: list[str | PathLike]) -> Iterable[tuple[Path, bool]]:
    """Each input as a path, and whether a pattern matched it: a pattern that names no file
    itself (``data\\*.tif``, which Windows' shells pass on as typed) stands for its matches."""
    import glob

    for item in items:
        path = Path(item)
        if path.exists() or not any(c in str(item) for c in "*?["):
            yield path, False
            continue
        matches = sorted(glob.glob(str(item)))
        if not matches:
            other = _matched_in_other_case(path)
            raise ReadError("matches no file or folder", path=path, hint=(
                f"a pattern matches names in their own case, and {format_count(len(other), 'name')} there "
                f"match it in another: {', '.join(other[:3])}{', ...' if len(other) > 3 else ''}; give the "
                f"folder, {path.parent}, or the pattern in their case") if other else "check the pattern")
        yield from ((Path(m), True) for m in matches)


def _matched_in_other_case(pattern: Path) -> list[str]:
    """The names in the folder of ``pattern`` (one named without wildcards) that its last
    part matches in any case: ``*.tif`` and files saved on Windows as ``.TIF``."""
    import fnmatch

    folder = pattern.parent
    if any(c in str(folder) for c in "*?[") or not folder.is_dir():
        return []
    wanted = pattern.name.lower()
    try:
        return sorted(p.name for p in folder.iterdir() if fnmatch.fnmatchcase(p.name.lower(), wanted))
    except OSError:  # a folder that cannot be listed
        return []


def _pair_pages(path: Path) -> tuple[int, int] | None:
    """The SE and BSE pages of a multi-page TIFF that holds a pair, else None.

    A page's role comes from its name or ImageJ label (a detector's name, or a file name
    with its token, as Fiji's *Merge Channels* keeps the source images' titles), else, for a
    two-channel ImageJ composite, from the channels' colours: the redder one is the BSE
    image, as in every DDC merge. One page of each role makes a pair."""
    if path.suffix.lower() not in (".tif", ".tiff"):
        return None
    import tifffile

    try:
        with _tifffile_notes(), tifffile.TiffFile(path) as tif:  # what it notes is said when the file is read
            if len(tif.pages) < 2:
                return None
            ij = (tif.imagej_metadata or {}) if tif.is_imagej else {}
            labels = ij.get("Labels")
            names = []
            for i, page in enumerate(_tiff_pages(tif)):
                tag = page.tags.get("PageName")
                if labels and i < len(labels):
                    names.append(str(labels[i]))
                else:
                    names.append(str(tag.value) if tag is not None else "")
            luts = ij.get("LUTs") if ij.get("channels") == len(tif.pages) == 2 else None
    except Exception:  # noqa: BLE001 - an unreadable file is reported when it is read
        return None
    roles = [_name_role(n) for n in names]
    if None in roles and luts is not None and len(luts) == 2:
        roles = _lut_roles(luts)
    if roles.count("SE") != 1 or roles.count("BSE") != 1:
        return None
    return roles.index("SE"), roles.index("BSE")


def _name_role(name: str) -> str | None:
    """The role a page's name gives: a detector's name, or a file name with its token."""
    found = split_detector_token(Path(name).stem) if name else None
    return detector_role(name) or (found[1] if found else None)


def _lut_roles(luts: list) -> list[str | None]:
    """Roles of a two-channel composite's channels by their lookup tables' top colours
    (shape (3, 256) each): the one with the larger share of red is the BSE image; two
    colours alike give none."""
    tops = [np.asarray(lut, dtype=np.float64).reshape(3, -1)[:, -1] for lut in luts]
    red = [top[0] / top.sum() if top.sum() else 0.0 for top in tops]
    if abs(red[0] - red[1]) < 0.25 or max(np.ptp(top) for top in tops) == 0:
        return [None, None]
    return ["BSE", "SE"] if red[0] > red[1] else ["SE", "BSE"]


def _metadata_role(path: Path) -> tuple[str | None, str | None]:
    """(role, detector) from a file's metadata; (None, None) when unreadable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = read_sem(path, crop_databar="off")
    except DDCSEMError:
        return None, None
    return image.role, image.detector


#: Characters that no output folder's name may hold (on Windows too).
_NOT_IN_NAMES = '/\\:*?"<>|'


def _table_path(folder: Path, cell: str) -> Path:
    """A pair table's path, relative to its ``folder``; one written on Windows
    (``raw\\img_0001.tif``) read where ``\\`` is no separator stands for the file it names."""
    given = folder / cell
    if "\\" in cell and os.sep != "\\" and not given.exists():
        return folder / cell.replace("\\", "/")
    return given


#: The columns a pair table takes (:func:`read_pair_table`), by their names as read
#: (lower case, µ as u, any other characters an underscore): what each stands for, and
#: the unit of a bare pixel size in it.
_TABLE_COLUMNS = {"id": ("id", None), "image_id": ("id", None), "se": ("se", None), "bse": ("bse", None),
                  "pixel_size": ("pixel_size", "nm"), "pixel_size_nm": ("pixel_size", "nm"),
                  "pixel_size_um": ("pixel_size", "um")}


def read_pair_table(path: str | PathLike) -> list[Pair]:
    """Read the pairs listed in a table, for files that neither names nor metadata pair.

    Parameters
    ----------
    path : path-like
        A CSV file (comma, semicolon or tab separated, UTF-8 or the Windows code page, as
        Excel saves it in any locale) with a header row naming the columns ``se`` and
        ``bse`` (the files; relative paths are taken from the table's folder) and,
        optionally, ``id`` (the field's name, else the SE file's without its detector
        token; or ``image_id``, as ddcsem's tables name it) and ``pixel_size`` (with its
        unit, e.g. ``12nm``; a bare number is in nm, or in µm in a column named
        ``pixel_size_um``), which :func:`read_pair` gives the pair unless told another.
        Names are read in any case, with spaces, hyphens or brackets for underscores
        (``Pixel size (nm)``); other columns are ignored, but for one named nearly as one
        of these (``pixelsize``), which is refused.

    Returns
    -------
    list of Pair
        One per row, in the table's order.

    Raises
    ------
    PairingError
        If the table lacks a column, or names one nearly as it should, a row lacks a
        file, names one file twice, gives a
        pixel size that no SEM gives, or two rows share an id; the message names the table
        and the row.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "pairs.csv").write_text("id,se,bse\\nvalve,img_0001.tif,img_0002.tif\\n")
    >>> [(p.key, p.se.name, p.bse.name) for p in read_pair_table(d / "pairs.csv")]
    [('valve', 'img_0001.tif', 'img_0002.tif')]
    """
    import csv

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PairingError(f"cannot read the pair table: {exc}", path=path) from None
    text = _decode_text(raw)  # Excel's "CSV UTF-8" or its plain "CSV", in the Windows code page
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count)
    rows = list(csv.reader(text.splitlines(), delimiter=delimiter))
    header = [re.sub(r"[^0-9a-z]+", "_", cell.lower().replace("µ", "u").replace("μ", "u")).strip("_")
              for cell in rows[0]] if rows else []
    for name in header:  # a column misspelt was ignored: "pixelsize" left every pair uncalibrated
        if name not in _TABLE_COLUMNS and (near := difflib.get_close_matches(name, _TABLE_COLUMNS, n=1, cutoff=0.8)):
            raise PairingError(f"the pair table's column {name!r} is none that it reads: did you mean {near[0]}?",
                               path=path, hint=f"its columns: {', '.join(_TABLE_COLUMNS)}; others are ignored")
    if "se" not in header or "bse" not in header:
        raise PairingError(f"the pair table needs a header naming the columns se and bse, not {header}",
                           path=path, hint="e.g. id,se,bse (then a row per pair)")
    col: dict[str, int] = {}
    for index, name in enumerate(header):  # the first column of each
        if name in _TABLE_COLUMNS:
            col.setdefault(_TABLE_COLUMNS[name][0], index)
    unit = _TABLE_COLUMNS[header[col["pixel_size"]]][1] if "pixel_size" in col else "nm"
    pairs: list[Pair] = []
    ids: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        cells = {name: (row[i].strip() if i < len(row) else "") for name, i in col.items()}
        if not any(row):
            continue
        if not cells["se"] or not cells["bse"]:
            raise PairingError(f"row {number} lacks its {'se' if not cells['se'] else 'bse'} file", path=path)
        se, bse = (_table_path(path.parent, cells[side]) for side in ("se", "bse"))
        if se.resolve() == bse.resolve():
            raise PairingError(f"row {number} names {cells['se']} as both images", path=path)
        key = cells.get("id") or ""
        only_dots = bool(key) and not key.strip(".")
        if only_dots or any(c in _NOT_IN_NAMES or ord(c) < 32 for c in key):
            raise PairingError(f"row {number}: the id {key!r} cannot name the pair's output folder",
                               path=path, hint=f"leave out {' '.join(_NOT_IN_NAMES)} and a name of dots")
        if not key:
            found = split_detector_token(se.stem)
            key = found[0] if found else se.stem.lower()
        if key in ids:
            raise PairingError(f"rows {ids[key]} and {number} share the id {key}", path=path,
                               hint="give each pair its own id")
        ids[key] = number
        try:
            nm = parse_pixel_size(cells["pixel_size"], default_unit=unit) if cells.get("pixel_size") else None
        except CalibrationError as exc:
            raise PairingError(f"row {number}: {exc}", path=path) from None
        pairs.append(Pair(key, se, bse, pixel_size_nm=nm))
    if not pairs:
        raise PairingError("the pair table lists no pairs", path=path)
    return pairs


def folder_role(
    path: str | PathLike, *, se_tokens: tuple[str, ...] = SE_TOKENS, bse_tokens: tuple[str, ...] = BSE_TOKENS
) -> str | None:
    """``"SE"`` or ``"BSE"`` when the folder of the file at ``path`` is named for a detector
    (``SE/img001.tif``), else None; :func:`find_pairs` places by it the files whose name and
    metadata name none.

    Parameters
    ----------
    path : path-like
        A file.
    se_tokens, bse_tokens : tuple of str, optional
        Detector names, as in :func:`find_pairs`.

    Returns
    -------
    str or None
        The role the folder's name gives.

    Examples
    --------
    >>> folder_role("scans/BSE/img001.tif"), folder_role("scans/InLens images/a.tif"), folder_role("scans/a.tif")
    ('BSE', 'SE', None)
    """
    return detector_role(Path(path).resolve().parent.name, se_tokens=se_tokens, bse_tokens=bse_tokens)


def find_pairs(
    paths: str | PathLike | Iterable[str | PathLike],
    *,
    se_tokens: tuple[str, ...] = SE_TOKENS,
    bse_tokens: tuple[str, ...] = BSE_TOKENS,
    use_metadata: bool = True,
    exclude: str | PathLike | Iterable[str | PathLike] = (),
    prefer: tuple[str, ...] = (),
) -> PairingResult:
    """Group micrograph files into SE/BSE pairs.

    Parameters
    ----------
    paths : path-like or iterable of path-like
        Files and/or folders (folders are listed, not searched recursively), or one.
    se_tokens, bse_tokens : tuple of str, optional
        Detector tokens (case-insensitive, delimited by ``_ - . space``) naming each side;
        a string is one token.
    use_metadata : bool, optional
        Place files without a token by the detector in their metadata, and take two-page
        TIFFs whose pages are named SE and BSE as pairs.
    exclude : path-like or iterable of path-like, optional
        Folders never searched (an output folder inside an input folder).
    prefer : tuple of str, optional
        Detectors (case-insensitive) to take where a field has images of several detectors
        of one side (``InLens`` beside ``SE2``); without, such a field is ambiguous.

    Returns
    -------
    PairingResult
        Pairs, files without partner, and ambiguous groups with a message naming the files.
        A name found in several folders is paired within each folder; what is left pairs
        across folders if it is one SE and one BSE file, else is ambiguous. A file whose
        name and metadata name no detector takes its folder's, when that folder is named
        as one (``SE/img001.tif`` pairs with ``BSE/img001.tif``; in several sessions'
        folders, within each session). Pairs that share a name are keyed apart by their
        folders (:func:`distinct_ids`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ["valve_InLens.tif", "valve_EsB.tif", "aorta_SE2.tif"]:
    ...     _ = (d / name).write_bytes(b"")
    >>> result = find_pairs([d], use_metadata=False)
    >>> [(p.key, p.se.name, p.bse.name) for p in result.pairs]
    [('valve', 'valve_InLens.tif', 'valve_EsB.tif')]
    >>> [p.name for p in result.unpaired]
    ['aorta_SE2.tif']
    >>> _ = (d / "valve_SE2.tif").write_bytes(b"")  # a third channel: which SE image?
    >>> find_pairs([d], use_metadata=False).problems[0][1][:31]
    '2 SE candidates for one partner'
    >>> [p.se.name for p in find_pairs([d], use_metadata=False, prefer=("InLens",)).pairs]
    ['valve_InLens.tif']
    """
    se_tokens, bse_tokens, prefer = (tuple(_listed(t)) for t in (se_tokens, bse_tokens, prefer))  # type: ignore
    use_metadata = require_switch(use_metadata, "use_metadata")
    files = collect_images(paths, exclude=exclude)
    groups: dict[str, dict[str, list[Path]]] = defaultdict(lambda: {"SE": [], "BSE": []})
    pairs: list[Pair] = []
    unpaired: list[Path] = []
    field: dict[Path, Path] = {}  # the folder of a file's field: its own, or above a detector's folder
    detector: dict[Path, str] = {}  # the detector a file's name or metadata names
    for path in files:
        field[path] = path.resolve().parent
        found = split_detector_token(path.stem, se_tokens=se_tokens, bse_tokens=bse_tokens)
        if found is not None:
            key, role, detector[path] = found
            groups[key][role].append(path)
            continue
        if use_metadata:
            pages = _pair_pages(path)
            if pages is not None:
                pairs.append(Pair(path.stem.lower(), path, path, *pages))
                continue
            role, named = _metadata_role(path)
            if role is not None:
                key = path.stem.lower()
                if named:
                    detector[path] = named
                    stripped = split_detector_token(path.stem, se_tokens=(named,), bse_tokens=())
                    key = stripped[0] if stripped else key
                groups[key][role].append(path)
                continue
        role = folder_role(path, se_tokens=se_tokens, bse_tokens=bse_tokens)
        if role is not None:  # SE/img001.tif beside BSE/img001.tif: the folder names the detector
            groups[path.stem.lower()][role].append(path)
            field[path] = path.resolve().parent.parent
            continue
        unpaired.append(path)

    wanted = {t.lower() for t in prefer}

    def preferred(side: list[Path]) -> list[Path]:  # in each field's folder, of several images the one wanted
        kept = []
        for folder in sorted({field[p] for p in side}):
            here = [p for p in side if field[p] == folder]
            chosen = [p for p in here if detector.get(p, "").lower() in wanted]
            kept += chosen if len(here) > 1 and len(chosen) == 1 else here
        return kept

    problems: list[tuple[str, str]] = []
    for key, sides in groups.items():
        se, bse = preferred(sides["SE"]), preferred(sides["BSE"])
        if len(se) > 1 or len(bse) > 1:  # one name in several folders: each folder's pair first
            left_se, left_bse = [], []
            for folder in sorted({field[p] for p in se + bse}):
                s = [p for p in se if field[p] == folder]
                b = [p for p in bse if field[p] == folder]
                if len(s) == 1 and len(b) == 1:
                    pairs.append(Pair(key, s[0], b[0]))
                else:
                    left_se += s
                    left_bse += b
            se, bse = left_se, left_bse
        if len(se) == 1 and len(bse) == 1:
            pairs.append(Pair(key, se[0], bse[0]))
        elif se and bse:
            many, candidates = ("SE", se) if len(se) > 1 else ("BSE", bse)
            problems.append((key, (
                f"{len(candidates)} {many} candidates for one partner: "
                + ", ".join(str(p) for p in se + bse)
                + " (choose a detector for every such field with --prefer, e.g. --prefer InLens, rename "
                "them, or give --se and --bse explicitly)"
            )))
        else:
            unpaired.extend(se + bse)
    keys = distinct_ids([p.key for p in pairs], [p.se for p in pairs])
    pairs = [replace(p, key=k) for p, k in zip(pairs, keys)]
    return PairingResult(
        tuple(sorted(pairs, key=lambda p: p.key)),
        tuple(sorted(unpaired)),
        tuple(sorted(problems)),
    )


#: A field's id, the start of its output files' names, is cut to at most this many bytes
#: (UTF-8) and ends in a hash of the whole, which keeps it distinct: the outputs add up to
#: 21 (``_r12c34_particles.csv``) to names that most file systems hold to 255 bytes. A
#: file named at 240 characters failed every output ("File name too long").
MAX_ID_BYTES = 200


def distinct_ids(names: list[str], paths: list[Path]) -> list[str]:
    """Names that tell apart the fields of a batch, which become their output folders and
    files: a name shared by files in different folders is prefixed with as many of the
    folder's last parts as part them (``p1_valve``, ``p2_valve``); in one folder (``x.tif``
    and ``x.png``), suffixed with the file's ending, else numbered. A name longer than
    ``MAX_ID_BYTES`` is cut, and ends in 8 hex digits of its hash (:func:`short_id`).

    Parameters
    ----------
    names : list of str
        The fields' names (a pair's key, a lone image's file name without ending).
    paths : list of Path
        A file of each field (a pair's SE file).

    Returns
    -------
    list of str
        ``names``, those that several fields share made distinct (in lower case, as keys
        are); a name whose bytes are not UTF-8 (a zip made on Windows, an old network
        share) read as Windows-1252, as it was most likely written: an undecodable name
        could not be put in a table, a title or a manifest.

    Examples
    --------
    >>> from pathlib import Path
    >>> distinct_ids(["valve", "valve", "aorta"],
    ...              [Path("/d/p1/valve_SE.tif"), Path("/d/p2/valve_SE.tif"), Path("/d/p1/aorta.tif")])
    ['p1_valve', 'p2_valve', 'aorta']
    >>> distinct_ids(["x", "x"], [Path("/d/x.tif"), Path("/d/x.png")])
    ['x_tif', 'x_png']
    >>> distinct_ids(["caf\\udce9"], [Path("/d/caf\\udce9_SE.tif")])  # the byte 0xE9 of b"caf\\xe9"
    ['café']
    """
    names = [_readable(name) for name in names]  # before they are made distinct: two spellings, one name
    out = list(names)
    shared: dict[str, list[int]] = defaultdict(list)
    for i, name in enumerate(names):
        shared[name].append(i)
    for name, members in shared.items():
        if len(members) < 2:
            continue
        folders = [paths[i].resolve().parent.parts[1:] for i in members]  # without the root
        for depth in range(1, max(len(f) for f in folders) + 1):
            tried = [_readable("_".join(f[-depth:] + (name,)).lower()) for f in folders]
            if len(set(tried)) == len(tried):
                break
        else:
            tried = [f"{name}_{paths[i].suffix.lstrip('.').lower()}" for i in members]
        if len(set(tried)) < len(tried):
            tried = [f"{name}_{k}" for k in range(1, len(members) + 1)]
        for i, new in zip(members, tried):
            out[i] = new
    taken = {name for name, members in shared.items() if len(members) == 1}
    for i, name in enumerate(out):  # a made name that is another field's own: numbered on
        if name != names[i] and name in taken:
            k = 2
            while f"{name}_{k}" in taken:
                k += 1
            out[i] = f"{name}_{k}"
        taken.add(out[i])
    return [short_id(name) for name in out]


def short_id(name: str) -> str:
    """``name`` as a field's id: cut to ``MAX_ID_BYTES``, ending in 8 hex digits of its
    hash, where it is longer (the same name, the same id, run after run).

    Examples
    --------
    >>> short_id("valve_02"), len(short_id("x" * 240)), short_id("x" * 240)[-9:]
    ('valve_02', 200, '_d0965085')
    """
    if len(raw := name.encode("utf-8", "surrogateescape")) <= MAX_ID_BYTES:
        return name
    return f"{cut_to_bytes(name, MAX_ID_BYTES - 9)}_{hashlib.sha1(raw).hexdigest()[:8]}"


def _readable(name: str) -> str:
    """``name``, whose bytes that were not UTF-8 Python holds as lone surrogates, read
    as Windows-1252 if they are not UTF-8."""
    raw = name.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def _binomial(x: np.ndarray, axis: int) -> np.ndarray:
    """[1, 4, 6, 4, 1] / 16 along ``axis`` (close to a Gaussian of sigma 1), edges reflected."""
    p = np.pad(x, [(2, 2) if a == axis else (0, 0) for a in range(x.ndim)], mode="reflect")
    n = x.shape[axis]

    def tap(k: int) -> np.ndarray:
        return p[(slice(None),) * axis + (slice(k, k + n),)]

    # in place: each image-sized temporary costs its page faults (1024²: 9 -> 2-3 ms)
    out = np.add(tap(0), tap(4))
    inner = np.add(tap(1), tap(3))
    inner *= 4
    out += inner
    out += np.multiply(tap(2), 6, out=inner)
    out /= 16
    return out


def _gradient(image: np.ndarray) -> np.ndarray:
    """Square root of the gradient magnitude of the lightly smoothed image, mean removed.

    numpy only: registration runs on every pair, and scipy.ndimage costs half a second to
    import.
    """
    x = _binomial(_binomial(image.astype(np.float32), 0), 1)
    p = np.pad(x, 1, mode="edge")
    g = np.subtract(p[2:, 1:-1], p[:-2, 1:-1], out=x)  # x is no longer needed
    g *= g
    gx = p[1:-1, 2:] - p[1:-1, :-2]
    gx *= gx
    g += gx
    # the fourth root (square root of the magnitude) tames the bright SE rims, which
    # otherwise dominate the correlation
    np.sqrt(np.sqrt(g, out=g), out=g)
    g -= g.mean()
    return g


def _subpixel(c_minus: float, c0: float, c_plus: float) -> float:
    """Offset of the vertex of the parabola through three samples at -1, 0, +1."""
    denominator = c_minus - 2.0 * c0 + c_plus
    if denominator >= 0:  # not a maximum: stay on the sample
        return 0.0
    return float(np.clip(0.5 * (c_minus - c_plus) / denominator, -0.5, 0.5))


def estimate_shift(reference: np.ndarray, moving: np.ndarray) -> tuple[float, float]:
    """Sub-pixel shift that registers ``moving`` onto ``reference``.

    The two detectors see different contrast (a particle is bright in BSE, rimmed in SE),
    so the images are compared by their gradient magnitudes, which both channels share:
    their circular cross-correlation (by FFT; plain, not phase-normalised, which whitens
    the noise and was several times less accurate on synthetic pairs) peaks at the shift,
    refined to a fraction of a pixel by a parabola through the peak and its neighbours.

    Parameters
    ----------
    reference, moving : ndarray, shape (M, N)
        Images of one field.

    Returns
    -------
    (float, float)
        ``(rows, cols)``: ``scipy.ndimage.shift(moving, shift)`` lines up with ``reference``.

    Examples
    --------
    >>> from scipy import ndimage
    >>> rng = np.random.default_rng(0)
    >>> ref = ndimage.gaussian_filter(rng.random((128, 128)), 3)
    >>> moved = ndimage.shift(ref, (2.5, -4.0), mode="wrap")
    >>> [round(v) for v in estimate_shift(ref, moved)]
    [-2, 4]
    """
    reference, moving = require_image(reference, "reference"), require_image(moving, "moving")
    if reference.shape != moving.shape:
        raise PairingError(f"cannot register images of shapes {reference.shape} and {moving.shape}")
    return _correlation_peak(_gradient(reference), _gradient(moving))


def _correlation_peak(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Sub-pixel peak of the circular cross-correlation of two zero-mean images."""
    corr = np.fft.irfft2(np.fft.rfft2(a) * np.conj(np.fft.rfft2(b)), s=a.shape)
    peak = np.unravel_index(int(np.argmax(corr)), corr.shape)
    shift = []
    for axis, size in enumerate(corr.shape):
        index = list(peak)
        samples = []
        for step in (-1, 0, 1):
            index[axis] = (peak[axis] + step) % size
            samples.append(float(corr[tuple(index)]))
        position = peak[axis] + _subpixel(*samples)
        shift.append(position - size if position > size / 2 else position)
    return float(shift[0]), float(shift[1])


#: Registration looks at most at this central window (rows, cols): plenty of features,
#: and the FFTs stay cheap on 8k frames.
REGISTRATION_WINDOW = 1024


def _window_gradients(se: np.ndarray, bse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient images (:func:`_gradient`) of the central registration window of a pair."""
    rows, cols = se.shape
    r0 = max(0, (rows - REGISTRATION_WINDOW) // 2)
    c0 = max(0, (cols - REGISTRATION_WINDOW) // 2)
    window = (slice(r0, r0 + REGISTRATION_WINDOW), slice(c0, c0 + REGISTRATION_WINDOW))
    return _gradient(se[window]), _gradient(bse[window])


def _halves_agree(a: np.ndarray, b: np.ndarray, shift: tuple[float, float]) -> bool:
    """Whether the left and right halves of two gradient images each find ``shift``."""
    half = a.shape[1] // 2
    if half < 16:
        return False
    left, right = (_correlation_peak(a[:, part] - a[:, part].mean(), b[:, part] - b[:, part].mean())
                   for part in (slice(None, half), slice(half, None)))
    return all(abs(p - q) <= 0.5 for part in (left, right) for p, q in zip(part, shift))


#: A pair's images that differ in shape by at most this share of their rows and of their
#: columns are one field cropped, not stored at two resolutions (exports at 0.5 or 0.75).
MAX_TRIM = 0.02


def _shape_hint(se: SEMImage, bse: SEMImage) -> str:
    """What to do about a pair whose images differ in shape: one cropped a little, the
    field stored at two resolutions, or frames of two sizes."""
    (r1, c1), (r2, c2) = se.data.shape[:2], bse.data.shape[:2]
    if abs(r1 - r2) <= MAX_TRIM * max(r1, r2) and abs(c1 - c2) <= MAX_TRIM * max(c1, c2):
        by = " and ".join(format_count(n, unit) for n, unit in ((abs(r1 - r2), "row"), (abs(c1 - c2), "column")) if n)
        return (f"they differ by {by}: one was cropped, or trimmed where it was registered; crop both to the field "
                "they share (Fiji: Image > Crop)")
    if abs(r1 * c2 - r2 * c1) <= max(r1, r2, c1, c2):  # one aspect: the field at two resolutions
        low, high = ("SE", "BSE") if c1 < c2 else ("BSE", "SE")
        return (f"the {low} image may hold the field at {min(c1, c2) / max(c1, c2):.3g} of the {high} image's "
                "resolution: export both at one resolution, or scale one to the size of the other "
                "(Fiji: Image > Scale...)")
    return "pair images of the same frame size"


def _one_databar(se: SEMImage, bse: SEMImage) -> tuple[SEMImage, SEMImage]:
    """The two images of one frame cropped alike, where a data bar was found in one of them
    only, or a taller one (by its metadata, or detected where the other's bar holds a photo
    of the sample or a busy line of text): the bar is in both, so the taller is cropped from
    both, with a warning."""
    (r1, c1), (r2, c2) = se.data.shape[:2], bse.data.shape[:2]
    if c1 != c2 or r1 == r2 or r1 + se.databar_rows != r2 + bse.databar_rows:
        return se, bse
    found, other = (se, bse) if r1 < r2 else (bse, se)
    rows = found.data.shape[0]
    elsewhere = f"of {other.databar_rows} in" if other.databar_rows else "not in"
    warnings.warn(f"{found.path}: a data bar of {found.databar_rows} rows was found in it, {elsewhere} {other.path}, "
                  f"which shows the same frame: {found.databar_rows} cropped from both", stacklevel=3)
    cropped = replace(other, data=other.data[:rows], databar_rows=found.databar_rows,
                      marks=None if other.marks is None or not other.marks[:rows].any() else other.marks[:rows])
    return (found, cropped) if found is se else (cropped, found)


def _named(image: SEMImage, role: str) -> str:
    """The image's file, or (an array of one's own) its role."""
    return str(image.path) if image.path is not None else f"the {role} image"


def _agree(se: SEMImage, bse: SEMImage) -> PixelSize:
    names = f"{_named(se, 'SE')} and {_named(bse, 'BSE')}"
    if se.data.shape != bse.data.shape:
        cropped = " after data-bar cropping" if se.databar_rows or bse.databar_rows else ""
        raise PairingError(
            f"SE and BSE differ in shape{cropped}: {se.data.shape} vs {bse.data.shape} ({names})",
            hint=_shape_hint(se, bse),
        )
    # two detectors never record the same pixels (a blank image's are, and are refused as such)
    if np.array_equal(se.data, bse.data) and se.data.min() < se.data.max():
        raise PairingError(f"SE and BSE hold the same pixels ({names}): one image given as both",
                           hint="give the field's other detector's image as its partner")
    a, b = se.pixel_size, bse.pixel_size
    if a.calibrated and b.calibrated:
        if abs(a.nm - b.nm) > PIXEL_SIZE_TOLERANCE * max(a.nm, b.nm):
            raise PairingError(
                f"SE and BSE pixel sizes disagree: {a.nm:.4g} nm ({a.source}) vs "
                f"{b.nm:.4g} nm ({b.source}) ({names})",
                hint="pair images taken at the same magnification, or set --pixel-size",
            )
        return a
    return a if a.calibrated else b


#: Shifts between the channels up to this many pixels are recorded but not applied.
MAX_SHIFT = 0.5


def read_pair(
    se: str | PathLike | Pair,
    bse: str | PathLike | None = None,
    *,
    pixel_size: float | str | None = None,
    crop_databar: Literal["auto", "off"] | int = "auto",
    register: bool = True,
    max_shift: float = MAX_SHIFT,
) -> SEMPair:
    """Read, check and register an SE/BSE pair.

    Parameters
    ----------
    se : path-like or Pair
        SE file, or a :class:`Pair` (then ``bse`` is omitted).
    bse : path-like, optional
        BSE file.
    pixel_size : float or str, optional
        Pixel size overriding the metadata (nm, or a string with unit); without it, a
        :class:`Pair`'s own ``pixel_size_nm`` (from a pair table) does, recorded as
        ``pair table``.
    crop_databar : {"auto", "off"} or int, optional
        As in :func:`ddcsem.read_sem`.
    register : bool, optional
        Estimate the shift between the channels.
    max_shift : float, optional
        Shifts up to this many pixels are recorded but not applied. Larger shifts are
        applied when the left and right halves of the field agree on them; otherwise
        they are recorded with a warning (a field with few features).

    Returns
    -------
    SEMPair

    Raises
    ------
    PairingError
        If shapes or pixel sizes disagree (the message names both files).
    ReadError
        If a file cannot be read.

    Examples
    --------
    >>> import tempfile, os, tifffile
    >>> from ddcsem.synthetic import make_pair
    >>> syn = make_pair(shape=(128, 128), seed=3)
    >>> d = tempfile.mkdtemp()
    >>> tifffile.imwrite(os.path.join(d, "a_SE.tif"), syn.se)
    >>> tifffile.imwrite(os.path.join(d, "a_BSE.tif"), syn.bse)
    >>> pair = read_pair(os.path.join(d, "a_SE.tif"), os.path.join(d, "a_BSE.tif"), pixel_size="20nm")
    >>> pair.key, pair.pixel_size.nm, pair.shift_applied
    ('a', 20.0, False)
    """
    if isinstance(se, Pair):
        spec = se
    else:
        if any(isinstance(image, (SEMImage, np.ndarray)) for image in (se, bse)):
            raise ParameterError("read_pair reads files: se and bse are images already",
                                 hint="analyse them as they are, ddcsem.analyze_pair(se, bse), or colour them, "
                                 "ddcsem.colorize(se, bse)")
        if bse is None:
            raise PairingError("read_pair needs a BSE file or a Pair")
        spec = Pair(_pair_key(se), Path(se), Path(bse))
    se_img = read_sem(spec.se, pixel_size=pixel_size, crop_databar=crop_databar, page=spec.se_page)
    bse_img = read_sem(spec.bse, pixel_size=pixel_size, crop_databar=crop_databar, page=spec.bse_page)
    if _databar_choice(crop_databar) == "auto":
        se_img, bse_img = _one_databar(se_img, bse_img)
    if pixel_size is None and spec.pixel_size_nm is not None:  # given with the pair
        given = PixelSize(spec.pixel_size_nm, "pair table")
        for image in (se_img, bse_img):
            _warn_if_overridden(image.path, given, image.pixel_size, stacklevel=3)
        se_img, bse_img = replace(se_img, pixel_size=given), replace(bse_img, pixel_size=given)
    return _pair_images(spec.key, se_img, bse_img, register=register, max_shift=max_shift)


def _pair_key(path: str | PathLike | None) -> str:
    """A field's name: the name of its file (the SE image's, as read_pair gives it) without
    the detector token (``pair`` without a file)."""
    if path is None:
        return "pair"
    found = split_detector_token(Path(path).stem)
    return short_id(found[0] if found else Path(path).stem.lower())


def _pair_images(key: str, se: SEMImage, bse: SEMImage, *, register: bool = True,
                max_shift: float = MAX_SHIFT) -> SEMPair:
    """The two images of a field as an :class:`SEMPair`, checked and registered as
    :func:`read_pair` does it (the images read, or arrays of one's own)."""
    register = require_switch(register, "register")
    for image, want in ((se, "SE"), (bse, "BSE")):
        require_image(image.data, want.lower())  # (an array of one's own may be none: empty, in colour)
        if image.role is not None and image.role != want:
            warnings.warn(
                f"{_named(image, want)}: used as the {want} channel, but its detector "
                f"{image.detector!r} records {image.role}",
                stacklevel=3,
            )
    pixel = _agree(se, bse)
    shift, applied = (0.0, 0.0), False
    if register:
        a, b = _window_gradients(se.data, bse.data)
        shift = _correlation_peak(a, b)
        # the halves are correlated only for a shift to apply: most pairs need none, and the
        # halves were a third of the FFT work
        if max(abs(shift[0]), abs(shift[1])) > max_shift:
            if _halves_agree(a, b, shift):
                from scipy import ndimage

                moved = ndimage.shift(bse.data.astype(np.float32), shift, order=1, mode="nearest")
                marks = None if bse.marks is None else ndimage.shift(bse.marks, shift, order=0) > 0
                bse = replace(bse, data=moved, marks=marks)
                applied = True
            else:
                warnings.warn(
                    f"{_named(se, 'SE')} / {_named(bse, 'BSE')}: the channels look shifted by ({shift[0]:.2f}, "
                    f"{shift[1]:.2f}) px (rows, columns), but the two halves of the field disagree, "
                    "so the shift was not applied (--no-register turns the check off)",
                    stacklevel=3,
                )
    return SEMPair(key, se, bse, pixel, shift, applied)
