"""Command-line interface: ``ddcsem info``, ``ddcsem colorize`` and ``ddcsem analyze``.

A thin layer over the public API. Exit codes: 0 all good, 1 some inputs failed (each is
recorded with its error and the batch goes on), 2 usage error.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import errno
import glob
import hashlib
import io
import json
import math
import multiprocessing
import os
import platform
import re
import signal
import sys
import threading
import warnings
from concurrent.futures import ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator, NoReturn, Sequence

from ._version import __version__
from .errors import DDCSEMError
from .units import format_count, format_length, parse_length, parse_pixel_size, parse_size

__all__ = ["main", "run"]

#: ``--split`` values: ``AnalysisOptions.split`` (kept here so that ``--help`` imports no numpy).
SPLITS = ("auto", "shape", "edm", "edges", "none")
#: ``--profile`` values: ``AnalysisOptions.profile``.
PROFILES = ("auto", "sphere", "flat")


def _argument(parse: Callable[..., Any]) -> Callable[[str], Any]:
    """An argparse type from a ``units`` parser: a bare number is in nm, errors are usage errors."""

    def convert(text: str) -> Any:
        try:
            return parse(text, default_unit="nm")
        except DDCSEMError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__  # argparse names the type in its messages
    return convert


_pixel_size = _argument(parse_pixel_size)
_PIXEL_SIZE_HELP = ("override the pixel size, e.g. 3.2nm, 0.05um, 3.2nm/px, as Fiji's Set Scale gives it, "
                    "312.5px/um, or as a scale bar reads, 5um/400px")
_size = _argument(parse_size)


#: Options of two numbers, LO HI, that take them in one word too: as ImageJ writes a range
#: (Analyze Particles' ``circularity=0.50-1.00``), or as a list is written (``0.5,99.5``).
_RANGE_OPTIONS = ("--circularity", "--clip")
_RANGE = re.compile(r"^\s*(\d*\.?\d+)\s*[-–,]\s*(\d*\.?\d+)\s*$")


def _ranges_split(argv: Sequence[str]) -> list[str]:
    """``argv`` with a range given in one word to an option of ``_RANGE_OPTIONS``
    (``--circularity 0.5-1``, ``--clip=1,99``) as its two numbers."""
    out: list[str] = []
    for k, word in enumerate(argv):
        name, equals, value = word.partition("=")
        if equals and name in _RANGE_OPTIONS and (found := _RANGE.match(value)):
            out += [name, *found.groups()]
        elif k and argv[k - 1] in _RANGE_OPTIONS and (found := _RANGE.match(word)):
            out += found.groups()
        else:
            out.append(word)
    return out


#: Options whose value is a length: a negative one given apart (``--pixel-size -3nm``)
#: is joined to its option (``--pixel-size=-3nm``) and refused as a length, where argparse
#: took it for an option ("expected one argument").
_LENGTH_OPTIONS = ("--pixel-size", "--min-diameter", "--max-diameter", "--min-distance", "--tile", "--scale-bar")


def _lengths_joined(argv: Sequence[str]) -> list[str]:
    """``argv`` with a negative length (``-3nm``) joined to the option of
    ``_LENGTH_OPTIONS`` before it."""
    out: list[str] = []
    for word in argv:
        if out and out[-1] in _LENGTH_OPTIONS and re.match(r"-\.?\d", word):
            out[-1] = f"{out[-1]}={word}"
        else:
            out.append(word)
    return out


def _float(text: str, what: str) -> float:
    """``text`` as a number, or the argparse error that it is not ``what``."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def _percent(text: str) -> float:
    value = _float(text, "a percentile")
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"percentile {value} is outside 0-100")
    return value


def _gain(text: str) -> float:
    value = _float(text, "a number")
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"the gain must be a number of at least 0, not {text}")
    return value


def _crop(text: str) -> str | int:
    """``--crop-databar``: ``auto``, ``off`` or a number of rows."""
    if text in ("auto", "off"):
        return text
    if text.isdigit():
        return int(text)
    raise argparse.ArgumentTypeError(f"{text!r} is not auto, off or a number of rows")


def _fraction(text: str) -> float:
    value = _float(text, "a number")
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"circularity {text} is outside 0-1")
    return value


def _colour(text: Any) -> tuple[float, float, float]:
    """An RGB colour from ``R,G,B`` (any scale), ``#rrggbb`` or a list of three numbers."""
    if isinstance(text, str) and text.startswith("#") and len(text) == 7:
        try:
            return tuple(float(int(text[i:i + 2], 16)) for i in (1, 3, 5))  # type: ignore[return-value]
        except ValueError:
            pass
    parts = text.split(",") if isinstance(text, str) else text
    try:
        colour = tuple(float(v) for v in parts)
    except (TypeError, ValueError):
        colour = ()
    if len(colour) != 3:
        raise argparse.ArgumentTypeError(f"{text!r} is not a colour: give R,G,B (e.g. 255,140,0) or #rrggbb")
    return colour  # type: ignore[return-value]


def _usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, as a container or a cluster's
    scheduler sets it), else all the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def _count(text: str, *, other: str = "") -> int:
    """A whole number of at least 1 (``--repeat``), or the argparse error that it is not;
    ``other`` names what else the option takes."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a number nor {other}" if other
                                         else f"{text!r} is not a whole number") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {count}")
    return count


def _jobs(text: str) -> int:
    """``--jobs``: a number of worker processes, at least 1, or ``auto``: one per core."""
    if text.strip() == "auto":
        return _usable_cores()
    return _count(text, other="auto")


def _tile(text: str) -> tuple[float, str]:
    """``--tile``: ``auto`` (``(0, "auto")``), a bare number in pixels, or a length or pixels
    as ``--min-diameter``."""
    from .analyze import MIN_TILE_PX

    if text.strip() == "auto":
        return 0.0, "auto"
    try:
        bare = re.fullmatch(r"\s*\d+(\.\d*)?([eE][+-]?\d+)?\s*", text)  # in exponent form too: 1e4 was 10 µm
        size, unit = (float(text), "px") if bare else parse_size(text)
    except DDCSEMError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if unit == "px" and size < MIN_TILE_PX:
        raise argparse.ArgumentTypeError(f"tiles must be at least {MIN_TILE_PX} px across, not {size:g}")
    return size, unit


def _basis(value: Any) -> tuple[tuple[float, float, float], tuple[float, float, float]] | None:
    """Two colours (BSE, then SE) from the command line or a config file, checked."""
    import numpy as np

    from .separate import _checked_basis

    if value is None:
        return None
    if isinstance(value, str) or len(value) != 2:
        raise ValueError("basis takes two colours, the BSE one and the SE one")
    colours = tuple(_colour(v) for v in value)
    _checked_basis(np.array(colours))
    return colours  # type: ignore[return-value]


def _group_by(text: str) -> str:
    if text not in ("folder", "none"):
        try:
            re.compile(text)
        except re.error as exc:
            raise argparse.ArgumentTypeError(f"{text!r} is neither folder, none nor a regular expression "
                                             f"({exc})") from None
    return text


def _figure(text: str) -> Path:
    """``--plot``: a file to draw a figure into, its kind by its ending (checked before the
    runs, which take minutes)."""
    from .report import figure_format

    try:
        figure_format(text)
    except DDCSEMError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return Path(text)


def _scale_bar(text: str) -> str | float:
    """``--scale-bar``: ``auto``, ``off`` or a length (in nm)."""
    if text in ("auto", "off"):
        return text
    try:
        return parse_length(text)
    except DDCSEMError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is neither auto, off nor a length such as 2um ({exc.reason})") \
            from None


def _tokens(text: str) -> tuple[str, ...]:
    tokens = tuple(t.strip() for t in text.split(",") if t.strip())
    if not tokens:
        raise argparse.ArgumentTypeError("give comma-separated detector tokens, e.g. chA,Signal1")
    return tokens


def _batch_options() -> argparse.ArgumentParser:
    """Options shared by the batch commands (inputs, pairing, outputs, parallelism)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("inputs", nargs="*", metavar="INPUT", help="files and/or folders")
    common.add_argument("-o", "--output", required=True, type=Path, metavar="OUT", help="output folder")
    common.add_argument("-j", "--jobs", type=_jobs, default=1, metavar="N|auto",
                        help="images processed in parallel (default 1; auto: one per core)")
    exists = common.add_mutually_exclusive_group()
    exists.add_argument("--skip-existing", action="store_true",
                        help="skip images whose results exist (made with the same parameters)")
    exists.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    common.add_argument("--dry-run", action="store_true", help="print the pairing table and stop")
    verbosity = common.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true",
                           help="print errors only (no progress bar, warnings or summary)")
    verbosity.add_argument("-v", "--verbose", action="store_true",
                           help="also print each image's results (analyze: count, D50, calibration; "
                                "colorize: calibration, shift and outputs)")
    pairing = common.add_argument_group("pairing SE with BSE images")
    pairing.add_argument("--se-tokens", type=_tokens, default=(), metavar="A,B",
                         help="extra file-name tokens that mark an SE image")
    pairing.add_argument("--bse-tokens", type=_tokens, default=(), metavar="A,B",
                         help="extra file-name tokens that mark a BSE image")
    pairing.add_argument("--prefer", type=_tokens, default=(), metavar="A,B",
                         help="the detectors to take where a field has images of several on one side, e.g. "
                              "InLens,EsB beside SE2 (without, such a field is refused as ambiguous)")
    pairing.add_argument("--se", type=Path, help="SE file of an explicit pair (with --bse)")
    pairing.add_argument("--bse", type=Path, help="BSE file of an explicit pair (with --se)")
    pairing.add_argument("--pairs", type=Path, metavar="TABLE.csv",
                         help="explicit pairs, a row each: a CSV with columns se, bse and optionally "
                              "id and pixel_size (paths relative to the table)")
    calibration = common.add_argument_group("calibration and alignment")
    calibration.add_argument("--pixel-size", type=_pixel_size, metavar="SIZE", help=_PIXEL_SIZE_HELP)
    calibration.add_argument("--no-register", action="store_true", help="do not align BSE onto SE")
    calibration.add_argument("--crop-databar", type=_crop, default="auto", metavar="auto|off|ROWS",
                             help="the information bar at the bottom: auto (default: from the metadata, "
                                  "else detected), off (keep every row), or the rows to crop")
    return common


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors are the error and where to read the options:
    the usage that argparse prints first runs to 20 lines for ``analyze``, above the one
    line that says what is wrong."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n(the options: {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ddcsem",
        description="Density-dependent colour SEM: colour SE/BSE pairs, segment and size particles.",
    )
    parser.add_argument("--version", action="version", version=f"ddcsem {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    info = sub.add_parser("info", help="show calibration, detector and data bar of SEM files")
    info.add_argument("files", nargs="+", metavar="FILE", help="files and/or folders (their images)")
    info.add_argument("--json", action="store_true", help="print one JSON list of records")
    info.add_argument("--pixel-size", type=_pixel_size, metavar="SIZE", help=_PIXEL_SIZE_HELP)
    info.add_argument("--crop-databar", type=_crop, default="auto", metavar="auto|off|ROWS",
                      help="the information bar: auto (default), off, or the rows to crop")

    common = _batch_options()
    col = sub.add_parser("colorize", parents=[common], aliases=["colourise"],
                         help="colour SE/BSE pairs into DDC-SEM images")
    colours = col.add_argument_group("colouring")
    colours.add_argument("--mode", type=str.lower, choices=("overlay", "density"), default="overlay",
                         help="overlay: BSE in red, SE in green (the published DDC-SEM merge, as Fiji's "
                              "Merge Channels); density: hue from the BSE density map, brightness from SE "
                              "(default overlay)")
    colours.add_argument("--clip", nargs=2, type=_percent, default=(0.5, 99.5), metavar=("LO", "HI"),
                         help="stretch each channel between these percentiles (default 0.5 99.5)")
    colours.add_argument("--green-gain", type=_gain, default=1.0, help="scale the SE (green) channel")
    colours.add_argument("--palette", type=str.lower, choices=("green-orange", "blue-orange"), default="green-orange",
                         help="density-mode hues; blue-orange is colour-blind safe")
    preview = col.add_argument_group("PNG preview")
    preview.add_argument("--png", action="store_true", help="also write a PNG preview with scale bar")
    preview.add_argument("--scale-bar", type=_scale_bar, default="auto", metavar="auto|off|LENGTH",
                         help="the PNG preview's scale bar: auto (default: a round length near a fifth of "
                              "the width), off, or a length, e.g. 2um, the same on every image of a figure")

    ana = sub.add_parser("analyze", parents=[common], aliases=["analyse"],
                         help="segment and measure particles (pairs, single images or composites)")
    images = ana.add_argument_group("the images analysed")
    splitting = ana.add_argument_group("segmentation")
    kept = ana.add_argument_group("particles kept")
    drawn = ana.add_argument_group("particles, region and seeds drawn by hand")
    outputs = ana.add_argument_group("outputs")
    ana.add_argument("--config", type=Path, metavar="FILE.toml",
                     help="analysis parameters; command-line options take precedence")
    images.add_argument("--single", action="store_true",
                        help="analyse grey images without a partner on their own (BSE alone, or "
                             "any image whose particles are brighter than their surroundings)")
    images.add_argument("--dark-particles", action="store_true", default=None,
                        help="the particles of single images are darker than their surroundings "
                             "(transmission or bright-field images): invert them first")
    images.add_argument("--tile", type=_tile, default=None, metavar="SIZE|auto",
                        help="analyse each image larger than SIZE (px, e.g. 4096, or a length, e.g. 200um) in "
                             "tiles at most SIZE across, each a field of its own, pooled in samples.csv: for "
                             "images too large to analyse whole; auto: those that do not fit in memory, in "
                             "tiles that do")
    images.add_argument("--keep-off-sample", action="store_true",
                        help="analyse an area off the sample (much darker than the matrix, with few "
                             "particles if any: the stub or tape beyond a section's edge) as part of the "
                             "field; by default it is found and left out, with a warning")
    images.add_argument("--basis", nargs=2, type=_colour, default=None, metavar=("BSE", "SE"),
                        help="colours of a composite's BSE and SE images, R,G,B or #rrggbb "
                             "(default: estimated from each composite)")
    splitting.add_argument("--threshold", type=_threshold, default=None,
                           help="auto (default: li for the edges split, else otsu), otsu, li, yen, "
                                "triangle, or a density value in [0, 1]")
    splitting.add_argument("--split", type=str.lower, choices=SPLITS, default=None,
                           help="splitting of touching particles (default auto: edges for a single SE "
                                "image of particles about 12 px across or more, else shape; "
                                "edm = ImageJ Watershed)")
    splitting.add_argument("--profile", type=str.lower, choices=PROFILES, default=None,
                           help="the particles' density profile, which places their edges: sphere "
                                "(partial-volume spheres, BSE at 10 keV and above) or flat (flat-topped: "
                                "opaque, or imaged at about 5 keV); default auto: flat with "
                                "--dark-particles, else sphere")
    splitting.add_argument("--min-distance", type=_size, default=None, metavar="SIZE",
                           help="smallest distance between particle centres, e.g. 100nm or 8px")
    splitting.add_argument("--no-se-rims", action="store_true",
                           help="segment without the SE image: its bright rims do not split touching "
                                "particles, nor does it corroborate dim ones (for SE images without "
                                "edge brightening)")
    kept.add_argument("--min-diameter", type=_size, default=None, metavar="SIZE",
                      help="smallest particle kept (equivalent diameter, e.g. 30nm, or 12px "
                           "for images without a calibration)")
    kept.add_argument("--max-diameter", type=_size, default=None, metavar="SIZE",
                      help="largest particle kept (equivalent diameter, e.g. 2um, or 80px), as "
                           "the upper end of ImageJ's Size range")
    kept.add_argument("--circularity", nargs=2, type=_fraction, default=None, metavar=("LO", "HI"),
                      help="keep particles of circularity (4 pi area / perimeter^2) LO to HI, as "
                           "ImageJ's Circularity range (default 0 1: all; 0.50-1.00 as ImageJ writes it will do)")
    kept.add_argument("--keep-edge-particles", action="store_true", default=None,
                      help="keep particles touching the border (marked; no edge weight)")
    drawn.add_argument("--labels", type=Path, default=None, metavar="FOLDER",
                       help="measure particles drawn or corrected by hand instead of segmenting: "
                            "each image's <id>_rois.zip (an ImageJ ROI set) or <id>_labels.tif/.png (a mask: its "
                            "spots), in FOLDER or FOLDER/<id> (an earlier run's output; there, Fiji's RoiSet.zip "
                            "too), the newest if several; for one image, the file itself will do")
    drawn.add_argument("--region", type=Path, default=None, metavar="FOLDER",
                       help="analyse only the part of each image drawn by hand (the tissue, say): its "
                            "<id>_region.roi (an ImageJ selection; .zip: the union of a set) or a mask "
                            "<id>_region.tif/.png, in FOLDER or FOLDER/<id> (the output folder will do), "
                            "the newest if several; for one image, the file itself will do")
    drawn.add_argument("--markers", type=Path, default=None, metavar="FOLDER",
                       help="split the clusters that hold seeds marked by hand at those seeds and "
                            "only there (the others as without): each image's <id>_markers.roi "
                            "(Fiji's multi-point selection; .zip: a set) or a seed image "
                            "<id>_markers.tif/.png, in FOLDER or FOLDER/<id> (the output folder will "
                            "do), the newest if several; an image without one is split as usual; for one "
                            "image, the file itself will do")
    outputs.add_argument("--mode", type=str.lower, choices=("overlay", "density"), default=None,
                         help="colouring of the DDC image written (default overlay)")
    outputs.add_argument("--clip", nargs=2, type=_percent, default=None, metavar=("LO", "HI"),
                         help="stretch each channel of the DDC image written between these "
                              "percentiles (default 0.5 99.5)")
    outputs.add_argument("--group-by", type=_group_by, default="folder", metavar="folder|none|REGEX",
                         help="the samples whose images samples.csv pools: folder (default: the folder "
                              "of each image, or of its detector folders), none (all images only), or "
                              "a regular expression whose match in the image id (its first group, if "
                              "it has one) names the sample, e.g. '^[^_]+'")
    outputs.add_argument("--xlsx", action="store_true",
                         help="also write the tables as the sheets of OUT/results.xlsx: it opens in Excel "
                              "in every locale, where a CSV may land in one column (decimal comma), and "
                              "keeps ids as text")
    bench = sub.add_parser("bench", help="benchmark the colouring kernel and the pipeline stages")
    bench.add_argument("--sizes", type=_int_list, default=[1024, 4096], metavar="N,N",
                       help="square image sizes (default 1024,4096)")
    bench.add_argument("--dtypes", type=_dtype_list, default=["uint8", "uint16", "float32"],
                       metavar="T,T", help="pixel types (default uint8,uint16,float32)")
    bench.add_argument("--threads", type=_thread_list, default=None, metavar="N,max",
                       help="numba thread counts (default 1,max)")
    bench.add_argument("--repeat", type=_count, default=5, help="timed runs per case (median and min)")
    bench.add_argument("--stages", action="store_true",
                       help="also time every pipeline stage and the whole analysis against the "
                            "textbook scikit-image recipe (slow)")
    bench.add_argument("--no-jit-time", action="store_true", help="skip measuring JIT compile time")
    bench.add_argument("--json", type=Path, metavar="FILE", help="save the results")
    bench.add_argument("--compare", type=Path, metavar="OLD.json", help="show changes against earlier results")
    bench.add_argument("--plot", type=_figure, metavar="FILE.png",
                       help="plot throughput against image size (.png, .svg or .pdf)")
    for name, command, listed in (("info", info, "files"), ("colorize", col, "inputs"), ("analyze", ana, "inputs"),
                                  ("bench", bench, None)):
        # where files given after options go (main); a British spelling runs the command as named
        command.set_defaults(listed=listed, command=name)
    return parser


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of sizes") from None
    if not values or min(values) < 16:
        raise argparse.ArgumentTypeError("sizes must be at least 16")
    return values


def _dtype_list(text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in values if v not in ("uint8", "uint16", "float32")]
    if not values or bad:
        raise argparse.ArgumentTypeError("pixel types are uint8, uint16 and float32")
    return values


def _thread_list(text: str) -> list[int]:
    import numba

    top = numba.config.NUMBA_NUM_THREADS
    out = []
    for v in text.split(","):
        v = v.strip()
        if v == "max":
            out.append(top)
        elif v.isdigit() and 1 <= int(v) <= top:
            out.append(int(v))
        else:
            raise argparse.ArgumentTypeError(f"thread counts are 1..{top} or max, not {v!r}")
    return out


def _bench(args: argparse.Namespace) -> int:
    import numba

    from . import bench

    old = None
    if args.compare is not None:
        try:
            old = json.loads(args.compare.read_text(encoding="utf-8"))["results"]
        except (OSError, ValueError, KeyError) as exc:
            raise DDCSEMError(f"cannot read earlier results: {exc}", path=args.compare) from None
    threads = args.threads or sorted({1, numba.config.NUMBA_NUM_THREADS})
    report = bench.run(sizes=args.sizes, dtypes=args.dtypes, threads=threads, repeat=args.repeat,
                       stages=args.stages, jit=not args.no_jit_time,
                       progress=lambda s: print(f"  {s}", file=sys.stderr, flush=True))
    m = report["machine"]
    print(f"ddcsem {__version__} | {m['cores']} cores | numba {m['numba']} ({m['threading_layer']}, "
          f"up to {m['max_threads']} threads) | numpy {m['numpy']} | Python {m['python']} | "
          f"allocator: {m['allocator']}")
    for dtype, seconds in report["jit_compile_s"].items():
        print(f"JIT compile, {dtype}: {seconds:.2f} s (first call without a cache; cached afterwards)")
    print(bench.format_table(report["results"]))
    if old is not None:
        print()
        print(bench.compare(report["results"], old))
    if args.json is not None:
        from .report import atomic_path

        with atomic_path(args.json) as tmp:
            tmp.write_text(bench._to_json(report), encoding="utf-8")
    if args.plot is not None:
        bench.plot(report["results"], args.plot, title=f"ddcsem colorize, {m['cores']} cores")
    return 0


def _threshold(text: str) -> str | float:
    """``--threshold``: a method's name or a density, checked as AnalysisOptions checks it."""
    from .analyze import _checked_threshold
    from .errors import ParameterError

    try:
        value: str | float = float(text)
    except ValueError:
        value = text
    try:
        return _checked_threshold(value)
    except ParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# ------------------------------------------------------------------------------ info


def _info(args: argparse.Namespace) -> int:
    from .errors import ReadError, UnsupportedFormatError
    from .pair import IMAGE_SUFFIXES, _beside_micrographs, _pair_pages, collect_images, folder_role
    from .read import _particles_set, read_composite, read_sem
    from .report import calibration_text
    from .separate import _is_binary

    records: list[dict[str, Any]] = []

    def failed(path: Any, exc: Exception) -> None:
        said = str(exc) if isinstance(exc, DDCSEMError) else f"{path}: {_internal_error(exc, 'the file')}"
        records.append({"path": str(path), "error": said})
        if not args.json:
            print(f"error: {said}", file=sys.stderr)

    for name in args.files:  # a folder stands for its images, a pattern for its matches, as in the batch commands
        if len(args.files) > 1 and _beside_micrographs(Path(name)):  # a shell's folder/*; named alone, it is said
            continue
        try:
            paths = [name] if Path(name).is_file() else collect_images([name])
        except DDCSEMError as exc:  # no such file, or a pattern that matches none
            failed(name, exc)
            continue
        if not paths:
            failed(name, ReadError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in this folder", path=name,
                                   hint=_empty_folder_hint([name])))
        for path in paths:
            with _recording_warnings() as caught:
                try:
                    try:
                        image = read_sem(path, pixel_size=args.pixel_size, crop_databar=args.crop_databar)
                        # a mask is measured as drawn (analyze --single), or gives the particles (--labels)
                        record = {**image.to_record(), "kind": "mask" if _is_binary(image.data) else "grey"}
                        if record["kind"] == "mask":
                            _particles_set(image.data, path)  # says so where its particles are its 0s
                    except UnsupportedFormatError as exc:  # a colour image: a DDC composite?
                        pages = _pair_pages(Path(path))  # or an SE/BSE pair in two pages
                        try:
                            if pages is None:
                                record = {**read_composite(path, pixel_size=args.pixel_size,
                                                           crop_databar=args.crop_databar).to_record(),
                                          "kind": "composite"}
                            else:
                                record = {**read_sem(path, pixel_size=args.pixel_size, crop_databar=args.crop_databar,
                                                     page=pages[1]).to_record(),
                                          "kind": "pair", "role": None, "pages": {"se": pages[0], "bse": pages[1]}}
                        except DDCSEMError:
                            raise exc from None
                except Exception as exc:  # noqa: BLE001 - one file's fault of ddcsem's ends no listing
                    failed(path, exc)
                    continue
            record["warnings"] = [str(w.message) for w in caught]
            role = folder_role(path) if record["kind"] in ("grey", "mask") and record["role"] is None else None
            by_folder = role is not None
            if by_folder:  # as pairing places it
                record["role"] = role
            records.append(record)
            if not args.json:
                shown = f"{record['role']} by its folder" if by_folder else record["role"] or "role unknown"
                detector = (
                    "DDC composite" if record["kind"] == "composite" else
                    "binary mask (measured as drawn)" if record["kind"] == "mask" else
                    f"SE/BSE pair (SE page {record['pages']['se']}, BSE page {record['pages']['bse']})"
                    if record["kind"] == "pair" else f"detector {record['detector'] or 'unknown'} [{shown}]")
                beam = f", {record['beam_kv']:g} kV" if record.get("beam_kv") else ""
                marks = f", marks drawn in {record['marks_px']} px" if record.get("marks_px") else ""
                for bar in record.get("scale_bar_px") or ():  # its label's length is the check of the calibration
                    size = record["pixel_size_nm"]
                    marks += f", a scale bar {bar} px long" + (f" ({format_length(bar * size)})" if size else "")
                print(f"{record['path']}: {record['vendor']}, {detector}, "
                      f"{record['shape'][0]}x{record['shape'][1]} {record['dtype']}, {calibration_text(record)}"
                      f"{beam}, data bar {record['databar_rows']} rows{marks}")
                for w in record["warnings"]:
                    print(f"  warning: {w}", file=sys.stderr)
    if args.json:
        print(json.dumps(records, indent=2, ensure_ascii=False))
    return 1 if any("error" in r for r in records) else 0


# -------------------------------------------------------------------------- colorize


@dataclass(frozen=True)
class _ColorizeJob:
    output: Path
    mode: str
    clip: tuple[float, float]
    green_gain: float
    palette: str
    pixel_size: float | None
    register: bool
    png: bool
    skip_existing: bool
    overwrite: bool
    params_hash: str = ""
    crop_databar: str | int = "auto"
    scale_bar: str | float = "auto"


def _params_hash(parameters: dict[str, Any]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(parameters, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _results_hash(params_hash: str, files: Sequence[Any]) -> str:
    """``params_hash`` joined with the input files as they are now (path, size and time of
    change, a JEOL or Hitachi ``.txt`` sidecar's too) and ddcsem's version: what a result is
    recorded with, so that ``--skip-existing`` redoes an image whose files changed since,
    or that another version analysed."""
    inputs = []
    for name in dict.fromkeys(files):  # a two-page pair is one file
        for path in (Path(name), Path(name).with_suffix(".txt"), Path(name).with_suffix(".TXT")):
            try:
                stat = path.stat()
            except OSError:
                continue
            inputs.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
    return _params_hash({"parameters": params_hash, "inputs": inputs, "version": __version__})


def _describe(exc: DDCSEMError, files: list[Any]) -> str:
    """The error message, naming the input files when the error itself does not."""
    if exc.path is not None or all(str(f) in str(exc) for f in files):
        return str(exc)
    return f"{' + '.join(str(f) for f in dict.fromkeys(files))}: {exc}"


def _out_of_memory(files: list[Any], fix: str) -> str:
    """The error of an input that ran out of memory: where a memory limit is set (ulimit,
    a cluster job's) or on Windows, the system refuses an allocation, and the MemoryError
    ended the whole batch, its tables unwritten."""
    from .errors import ResourceError
    from .resources import _gib, available_memory

    free = available_memory()
    return _describe(ResourceError("ran out of memory" + (f" ({_gib(free)} free now)" if free else ""), hint=fix),
                     files)


def _analyze_less() -> str:
    """What to do about an image that ran out of memory: tiles that fit where the memory
    available is known, else tiles of a size to try."""
    from .resources import available_memory

    tiles = "--tile auto" if available_memory() is not None else "--tile 4096, say"
    return f"analyse it in tiles ({tiles}), or with fewer --jobs"


def _colorize_record(pair: Any, error: str | None = None) -> dict[str, Any]:
    """A pair's record before it is coloured: failed, with ``error``."""
    return {"key": pair.key, "se": str(pair.se), "bse": str(pair.bse), "pixel_size_nm": None,
            "pixel_size_source": None, "shift_px": None, "shift_applied": False, "status": "failed",
            "error": error, "warnings": [], "outputs": []}


def _colorize_killed(pair: Any) -> dict[str, Any]:
    return _colorize_record(pair, "the process colouring it was killed by the system, likely for want of "
                                  "memory, with no other pair beside it: colour it on a machine with more memory")


def _traceback(exc: Exception) -> str | None:
    """The traceback of a fault of ddcsem's, for the manifest (a report needs it); None for
    the system's (see :func:`_internal_error`)."""
    import traceback

    return None if isinstance(exc, OSError) else "".join(traceback.format_exception(exc))


def _internal_error(exc: Exception, report: str = "the file and manifest.json (its traceback)") -> str:
    """What a record says of an exception that is no :class:`DDCSEMError` (nor a want of
    memory): a fault of ddcsem's, with where it arose and what to ``report`` it with, so
    that one image does not stop a batch and lose the others' results."""
    import traceback

    if isinstance(exc, OSError):  # the system's, not ddcsem's: a file gone, a disk full
        return f"the system refused to go on with it: {exc.strerror or exc}" + (
            f" ({exc.filename})" if exc.filename else "")
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" at {Path(where.filename).name}:{where.lineno}" if where else ""
    return (f"ddcsem failed on it with {type(exc).__name__}: {exc}{at}. This is a fault of ddcsem's, not "
            f"of the file: please report it, with {report}; the others went on without it")


def _colorize_one(pair: Any, job: _ColorizeJob) -> dict[str, Any]:
    """Colour one pair; never raises for bad input: the error goes into the record."""
    from .analyze import _pair_colours
    from .errors import OutputError
    from .pair import read_pair
    from .report import recorded_params_hash, write_preview_png, write_tiff
    from .resources import COLORIZE_BYTES_PER_PIXEL, require_memory

    target = job.output / f"{pair.key}_ddc.tif"
    record = _colorize_record(pair)
    made_with = _results_hash(job.params_hash, [pair.se, pair.bse])
    if target.exists() and job.skip_existing and recorded_params_hash(target) == made_with:
        record.update(status="skipped", params_hash=made_with)
        return record
    try:
        # with --skip-existing an output not recorded as made with these parameters and
        # these input files is redone
        if target.exists() and not job.overwrite and not job.skip_existing:
            raise OutputError("exists already", path=target,
                              hint="use --overwrite to replace it or --skip-existing to keep it")
        with _recording_warnings() as caught:
            images = read_pair(pair, pixel_size=_pixel_size_for(pair, job.pixel_size), register=job.register,
                               crop_databar=job.crop_databar)
            require_memory(images.se.data.size * COLORIZE_BYTES_PER_PIXEL,
                           what=f"colouring {pair.key}", path=pair.se)
            # its frame, a rotated image's padding, its annotations set no stretch, as analyze's
            rgb = _pair_colours(images, mode=job.mode, clip=job.clip, green_gain=job.green_gain,
                                palette=job.palette)[0]
        record["warnings"] = [str(w.message) for w in caught]
        if not images.pixel_size.calibrated:
            record["warnings"].append("uncalibrated: no pixel size in the files' metadata or ImageJ "
                                      "tags, so the DDC image carries none (and a PNG no scale bar); "
                                      "give the pixel size (--pixel-size, e.g. 12nm)")
        record.update(
            pixel_size_nm=images.pixel_size.nm,
            pixel_size_source=images.pixel_size.source,
            shift_px=[round(images.shift[0], 3), round(images.shift[1], 3)],
            shift_applied=images.shift_applied,
        )
        preview = target.with_suffix(".png")
        if job.png:  # before the TIFF, whose recorded parameters mark the pair as done
            write_preview_png(preview, rgb, pixel_size_nm=images.pixel_size.nm, scale_bar=job.scale_bar)
        write_tiff(target, rgb, pixel_size_nm=images.pixel_size.nm,
                   note=f"ddcsem {__version__} params_hash={made_with}")
        record["outputs"] += [str(target)] + ([str(preview)] if job.png else [])
        record.update(status="ok", params_hash=made_with)
    except DDCSEMError as exc:
        record["error"] = _describe(exc, [pair.se, pair.bse])
    except MemoryError:
        record["error"] = _out_of_memory([pair.se, pair.bse], "colour it with fewer --jobs, or on a machine with "
                                                              "more memory")
    except Exception as exc:  # noqa: BLE001 - a fault of ddcsem's fails this pair, not the batch
        record["error"] = _internal_error(exc)
        if trace := _traceback(exc):
            record["traceback"] = trace
    return record


def _init_worker(threads: int) -> None:
    """Share the cores among worker processes instead of oversubscribing them; keep freed
    memory for reuse within each image, as the main process does."""
    from .resources import reuse_freed_memory

    _use_threads(threads)
    reuse_freed_memory()


def _use_threads(threads: int) -> None:
    """Run numba's kernels on at most ``threads`` threads: numba starts one per core of the
    machine, also where the process may use fewer (a cluster job's share of a node), and
    more threads than cores slow each other down."""
    import numba

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


def _then_release(worker, item: Any, job: Any) -> Any:
    """``worker(item, job)``, then the memory it freed goes back to the system: kept
    within an image for speed, not held between images."""
    from .resources import release_freed_memory

    try:
        return worker(item, job)
    finally:
        release_freed_memory()


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"ddcsem": __version__, "python": platform.python_version()}
    for name in ("numpy", "numba", "scipy", "scikit-image", "tifffile", "roifile"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "missing"
    return out


def _print_table(pairs: Sequence[Any], unpaired: Sequence[Path], problems: Sequence[tuple[str, str]]) -> None:
    if pairs:
        width = max(len(p.key) for p in pairs)
        print(f"{'key':<{width}}  SE  ->  BSE")
        for p in pairs:
            pages = f" (pages {p.se_page}/{p.bse_page})" if p.se == p.bse else ""
            given = f" ({p.pixel_size_nm:g} nm/px, pair table)" if p.pixel_size_nm is not None else ""
            print(f"{p.key:<{width}}  {p.se}  ->  {p.bse}{pages}{given}")
    else:
        print("no SE/BSE pairs found")
    for path in unpaired:
        print(f"unpaired: {path}")
    for key, message in problems:
        print(f"not paired ({key}): {message}")


def _manifest_command(path: Path) -> str | None:
    """The command that wrote the manifest at ``path``; None if there is none (or it is
    unreadable: it is no record then)."""
    try:
        command = json.loads(path.read_text(encoding="utf-8")).get("command")
    except (OSError, ValueError, AttributeError):
        return None
    return command if isinstance(command, str) else None


def _collect(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[list, list, list]:
    """Validate batch arguments and pair the inputs: (pairs, unpaired files, problems)."""
    from .detectors import BSE_TOKENS, SE_TOKENS, split_detector_token
    from .pair import Pair, find_pairs, read_pair_table

    if (args.se is None) != (args.bse is None):
        parser.error("--se and --bse go together")
    if args.se is not None and args.se.resolve() == args.bse.resolve():
        parser.error(f"--se and --bse name the same file, {args.se}: a pair is two images of one field")
    if not args.inputs and args.se is None and args.pairs is None:
        parser.error("give input files or folders, --se and --bse, or --pairs")
    if args.output.exists() and not args.output.is_dir():
        parser.error(f"output {args.output} exists and is not a folder")
    out = args.output.resolve()
    if out.parent in {Path(item).resolve().parent for item in args.inputs if Path(item).resolve() != out}:
        # a shell's session/* names this run's own output folder beside the micrographs: the
        # same command given again is the same run, as a folder's search passes over it
        args.inputs = [item for item in args.inputs if Path(item).resolve() != out]
    for item in args.inputs:  # the output folder is never searched: its inputs would be lost
        if Path(item).resolve().is_relative_to(out):
            parser.error(f"input {item} is the output folder {args.output} or lies in it: the results would "
                         "be mixed with the micrographs (and the output folder is never searched for "
                         "inputs); write the results to a folder of their own, e.g. -o "
                         f"{Path(item) / 'results' if Path(item).is_dir() else Path(item).parent / 'results'}")
    results = {Path(item): _manifest_command(Path(item) / "manifest.json") for item in args.inputs
               if Path(item).is_dir()}
    for item, command in results.items():  # its PNGs are plots, its TIFFs DDC images and labels
        held = item if command == "analyze" else item.resolve().parent if (
            (item / f"{item.resolve().name}_summary.json").is_file()  # an image's folder of them
            and _manifest_command(item.resolve().parent / "manifest.json") == "analyze") else None
        if held is not None:
            parser.error(f"input {item} holds the results of 'ddcsem analyze' ({held / 'manifest.json'}), not "
                         "micrographs: give the folder of the micrographs they were made from; to measure the "
                         f"particles corrected there by hand, give {held} as --labels")
    other = _manifest_command(args.output / "manifest.json")
    if other not in (None, args.command):  # its manifest would be replaced, its record lost
        parser.error(f"{args.output} holds the results of 'ddcsem {other}' (its manifest.json): give "
                     f"'ddcsem {args.command}' a folder of its own, e.g. -o {args.output / args.command}")
    if args.output.is_dir() and not args.dry_run:
        from .report import remove_stale_parts

        remove_stale_parts(args.output)  # a killed run's temporary files
    pairs, unpaired, problems = [], [], []
    if args.inputs:
        result = find_pairs(args.inputs, exclude=[args.output], se_tokens=SE_TOKENS + args.se_tokens,
                            bse_tokens=BSE_TOKENS + args.bse_tokens, prefer=args.prefer)
        pairs, unpaired, problems = list(result.pairs), list(result.unpaired), list(result.problems)
        previews = {png for item, command in results.items() if command == "colorize"
                    for png in item.glob("*.png") if png.with_suffix(".tif").is_file()}
        if previews:  # the same fields as the DDC TIFFs beside them: each would be counted twice
            unpaired = [p for p in unpaired if p not in previews]
            if not args.quiet:
                print(f"note: the {format_count(len(previews), 'PNG preview')} of 'ddcsem colorize' "
                      f"({', '.join(sorted(p.name for p in previews)[:3])}{', …' if len(previews) > 3 else ''}) "
                      "are left out: they show the fields of the DDC TIFFs beside them, which carry the "
                      "calibration", file=sys.stderr)
    explicit = []
    if args.pairs is not None:
        try:
            explicit = read_pair_table(args.pairs)
        except DDCSEMError as exc:
            parser.error(str(exc))
    if args.se is not None:
        found = split_detector_token(args.se.stem)
        explicit.append(Pair(found[0] if found else args.se.stem.lower(), args.se, args.bse))
    if explicit:  # the explicit pairs' files are their own, whatever the folders pair them with
        mine = {f.resolve() for p in explicit for f in (p.se, p.bse)}
        broken = [p for p in pairs if mine & {p.se.resolve(), p.bse.resolve()}]
        pairs = [p for p in pairs if p not in broken]
        unpaired = sorted(p for p in unpaired + [f for b in broken for f in (b.se, b.bse)]
                          if p.resolve() not in mine)
        pairs = [pair for _, pair, _ in _with_ids([("pair", p) for p in pairs + explicit])]
    if (pairs or unpaired) and not args.quiet:  # (with none at all, the run ends saying so)
        from .pair import collect_images

        for item in args.inputs:
            if Path(item).is_dir() and not collect_images([item], exclude=[args.output]):
                hint = _empty_folder_hint([item])
                print(f"warning: {item}: no images in this folder{f' ({hint})' if hint else ''}", file=sys.stderr)
    return pairs, unpaired, problems


def _pixel_size_for(pair: Any, given: float | None) -> float | None:
    """``--pixel-size`` for ``pair``, unless a pair table gave the pair its own (which wins)."""
    return None if pair.pixel_size_nm is not None else given


def _with_ids(items: list[tuple[str, Any]]) -> list[tuple[str, Any, str]]:
    """``(kind, source, id)`` for a batch's pairs and lone images: their names (a pair's
    key, a file's name without ending), made distinct where two fields share one (same
    name in two folders), as their outputs would be; pairs are re-keyed to it."""
    from .pair import distinct_ids

    ids = distinct_ids([s.key if kind == "pair" else Path(s).stem.lower() for kind, s in items],
                       [s.se if kind == "pair" else Path(s) for kind, s in items])
    return [(kind, replace(s, key=i) if kind == "pair" else s, i) for (kind, s), i in zip(items, ids)]


def _samples(items: list[tuple[str, Any, str]], args: argparse.Namespace) -> dict[str, str | None]:
    """The sample of each image id, as ``--group-by`` says: the folder of its files (the
    one above, for files sorted into detector folders; folders of one name told apart
    by theirs), or the match of a regular expression in the id (None: no match)."""
    from .detectors import BSE_TOKENS, SE_TOKENS
    from .pair import distinct_ids, folder_role

    if args.group_by == "none":
        return {}
    if args.group_by != "folder":
        pattern = re.compile(args.group_by)
        found = {image_id: pattern.search(image_id) for _, _, image_id in items}
        return {k: (m.group(1) if pattern.groups else m.group(0)) if m else None for k, m in found.items()}
    roles = {"se_tokens": SE_TOKENS + args.se_tokens, "bse_tokens": BSE_TOKENS + args.bse_tokens}
    folders = {}
    for kind, source, image_id in items:
        path = source.se if kind == "pair" else Path(source)
        folder = path.resolve().parent
        folders[image_id] = folder.parent if folder_role(path, **roles) else folder
    unique = list(dict.fromkeys(folders.values()))
    names = dict(zip(unique, distinct_ids([f.name for f in unique], unique)))
    return {image_id: names[folder] for image_id, folder in folders.items()}


def _say_if_compiling(args: argparse.Namespace, kernels: Sequence[Any], how_long: str) -> None:
    """Say so, on a terminal, before the first item when numba has still to compile
    ``kernels`` (the ones every item uses) in this installation: ``how_long`` the first
    item then waits, with its progress bar standing at 0."""
    from ._kernels import uncompiled

    if not args.quiet and sys.stderr.isatty() and uncompiled(*kernels):
        print(f"note: numba compiles ddcsem's kernels for this machine first ({how_long}, once: "
              "they are cached for later runs)", file=sys.stderr, flush=True)


#: The file an ``analyze`` or ``colorize`` run holds locked in its output folder while it
#: writes there (:class:`_Claim`); hidden, so that no batch takes it for an input.
CLAIM_NAME = ".ddcsem-run"


#: The errors of a lock that another process holds (flock's EWOULDBLOCK; msvcrt's EACCES).
_HELD = {errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES, errno.EDEADLK}


def _lock(handle: Any) -> None:
    """Lock the open file ``handle`` for this process alone, or raise OSError at once."""
    if os.name == "nt":
        import msvcrt

        handle.seek(0)  # its first byte, whatever the file holds: where every run locks it
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


class _Claim:
    """An output folder's claim by one run, taken when its batch starts writing and let go
    when the run ends. Two runs into one folder at once (two terminals, or a cluster's
    array of jobs given one ``-o``) wrote each other's tables over: the second is refused
    instead. The claim is an OS lock on ``CLAIM_NAME``, which the system lets go of when the
    run dies: a run that was killed leaves none held."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.held = folder, None

    def take(self) -> None:
        from .errors import OutputError

        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / CLAIM_NAME
        for _ in range(3):  # once more where the run before removed the file between open and lock
            try:
                handle = open(path, "a+b")  # noqa: SIM115 - held open while the run writes
            except OSError:  # the run's own writes say why
                return
            try:
                _lock(handle)
            except OSError as exc:
                handle.close()
                if exc.errno in _HELD:
                    try:  # who: as the holder wrote it
                        holder = path.read_text(encoding="utf-8", errors="replace").strip()
                    except OSError:
                        holder = ""
                    raise OutputError("another ddcsem run" + (f" ({holder})" if holder else "") + " is writing "
                                      "its results into this folder", path=self.folder,
                                      hint="let it finish, or give this run another output folder") from None
                return  # a file system without locks (some network shares): the run goes on unclaimed
            try:  # the file locked is still the one of that name
                same = os.name == "nt" or os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
            except OSError:
                same = False
            if same:
                self.held = handle
                handle.truncate(0)  # who holds it, for the run refused
                handle.write(f"process {os.getpid()} on {platform.node() or 'this machine'}, since "
                             f"{_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}".encode())
                handle.flush()
                return
            handle.close()

    def close(self) -> None:
        if self.held is None:
            return
        if os.name != "nt":  # removed while locked, so that no run locks a file left behind
            self._remove()
        self.held.close()
        self.held = None
        if os.name == "nt":  # Windows removes no open file: after (another run may hold it by then)
            self._remove()

    def _remove(self) -> None:
        try:
            (self.folder / CLAIM_NAME).unlink()
        except OSError:
            pass


def _run_batch(worker, items: list, job: Any, args: argparse.Namespace, unit: str,
               killed: Callable[[Any], dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Run ``worker(item, job)`` over items, in worker processes with --jobs, with progress.

    Return the records, and how many items were left undone: Ctrl-C stops the batch, and
    the items done so far are reported as in a finished run (their tables and manifest
    written), not lost with it. The workers ignore Ctrl-C and are stopped by this process,
    so that their tracebacks do not cover the terminal.

    A worker killed by the system (for want of memory, when large images are analysed
    side by side) took the whole batch down. Its items and those not started go on one at
    a time; an item that is killed even alone gets the record ``killed(item)``."""
    from tqdm import tqdm

    if getattr(args, "claim", None) is not None:
        args.claim.take()
    results: list[Any] = [None] * len(items)  # a record each (analyze: a list, the image's or its tiles')
    bar = tqdm(total=len(items), unit=unit, disable=args.quiet or not sys.stderr.isatty())
    try:
        if args.jobs > 1 and len(items) > 1:
            left, jobs = list(range(len(items))), args.jobs
            while left:
                broken = _run_pool(worker, items, job, left, jobs, results, bar, unit)
                if broken and jobs == 1:  # the first was under way: it alone was killed
                    results[broken[0]] = killed(items[broken[0]])
                    bar.update()
                    broken = broken[1:]
                elif broken and not args.quiet:
                    print(f"\nwarning: a worker process was killed, likely for want of memory: the "
                          f"{format_count(len(broken), unit)} left go on one at a time", file=sys.stderr)
                left, jobs = broken, 1
        else:
            _use_threads(_usable_cores())
            for i, item in enumerate(items):
                results[i] = _then_release(worker, item, job)
                bar.update()
    except (KeyboardInterrupt, SystemError) as exc:
        if not _interrupted(exc):
            raise
    finally:
        bar.close()
    done = [result for result in results if result is not None]
    return [r for result in done for r in (result if isinstance(result, list) else [result])], \
        len(items) - len(done)


def _run_pool(worker, items: list, job: Any, indices: list[int], jobs: int, results: list[Any], bar: Any,
              unit: str) -> list[int]:
    """Run ``items[i]`` for each index in a pool of ``jobs`` worker processes, into
    ``results[i]``; return the indices whose worker was killed, in order (with one worker,
    the first is the one it was running, the others were waiting)."""
    from concurrent.futures.process import BrokenProcessPool

    # spawn, not fork: numba's thread pool in this process does not survive a fork
    context = multiprocessing.get_context("spawn")
    threads = max(1, _usable_cores() // jobs)
    broken = []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker,
                             initargs=(threads,)) as pool:
        # the workers, started by the first submissions, ignore Ctrl-C from their start (as an
        # ignored signal stays ignored in a new program): the main process handles it
        with _ctrl_c_ignored():
            futures = {i: pool.submit(_then_release, worker, items[i], job) for i in indices}
        try:
            for i, future in futures.items():
                try:
                    results[i] = future.result()
                    bar.update()
                except BrokenProcessPool:
                    broken.append(i)
        except BaseException as exc:
            for future in futures.values():  # those not started
                future.cancel()
            under_way = [f for f in futures.values() if not f.done()]
            if _interrupted(exc) and under_way:
                print(f"\ninterrupted: finishing the {format_count(len(under_way), unit)} under way "
                      "(Ctrl-C again to stop them)", file=sys.stderr)
                try:
                    wait(under_way)
                    under_way = []
                except KeyboardInterrupt:
                    pass
            for child in multiprocessing.active_children() if under_way else ():
                child.terminate()
            for i, f in futures.items():  # those done after the first unfinished one count too
                if f.done() and not f.cancelled() and f.exception() is None:
                    results[i] = f.result()
            raise
    return broken


@contextmanager
def _recording_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Record every warning given within, each time, for an image's record, but those for
    programmers (deprecations and future changes of ddcsem's dependencies, such as numpy
    2.5's in scikit-image 0.26, which a run printed as a warning about each image)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
            warnings.simplefilter("ignore", category)
        yield caught


@contextmanager
def _ctrl_c_ignored() -> Iterator[None]:
    """Ignore Ctrl-C (SIGINT) within the block, where the main thread can set signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _warn_of_other_results(records: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Warn when the output folder holds images' results that this run's tables leave out
    (an earlier run's, of other inputs): a second folder analysed into the first's output
    replaced its tables, which a user took for the two together."""
    ids = {r["image_id"] for r in records}
    other = sorted(p.parent.name for p in args.output.glob("*/*_summary.json")
                   if p.name == f"{p.parent.name}_summary.json" and p.parent.name not in ids)
    if other and not args.quiet:
        they, them = ("it is", "it") if len(other) == 1 else ("they are", "them")
        print(f"warning: {args.output} also holds the results of {format_count(len(other), 'image')} that this "
              f"run did not analyse ({', '.join(other[:3])}{', …' if len(other) > 3 else ''}): {they} not in its "
              f"tables; to have {them} there, give all the inputs in one run, with --skip-existing to keep what is "
              "done", file=sys.stderr)


#: Bytes read at a file's start, middle and end to tell apart files of one size (images of
#: one microscope and one format often are) before any is read whole.
_SAMPLE_BYTES = 1 << 16


def _digest(path: str, *, whole: bool) -> str:
    """A digest of the file at ``path``: of its bytes, or (not ``whole``) of three samples
    of them (see ``_SAMPLE_BYTES``)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        if whole:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        else:
            size = os.fstat(f.fileno()).st_size
            for at in (0, size // 2, max(0, size - _SAMPLE_BYTES)):
                f.seek(at)
                h.update(f.read(_SAMPLE_BYTES))
    return h.hexdigest()


def _twins(items: list[tuple[str, Any, str]]) -> dict[str, str]:
    """The images of a batch whose files are byte for byte another's (a copy under another
    name, "image (1).tif"), each with the id of the one of them named shortest. Files are
    read whole only where their sizes and samples of their bytes agree; one that cannot be
    read is left to the batch to fail."""
    groups = [items]
    for key in (lambda path: os.stat(path).st_size, lambda path: _digest(path, whole=False),
                lambda path: _digest(path, whole=True)):
        split: list[list[tuple[str, Any, str]]] = []
        for group in groups:
            by_key: dict[tuple, list[tuple[str, Any, str]]] = {}
            for item in group:
                try:
                    by_key.setdefault(tuple(key(path) for path in _sources(item).values()), []).append(item)
                except OSError:
                    continue
            split += [same for same in by_key.values() if len(same) > 1]
        groups = split
    # the copy's name is the longer one ("image - Copy.tif"), as a rule
    groups = [sorted(group, key=lambda item: (len(item[2]), item[2])) for group in groups]
    return {image_id: group[0][2] for group in groups for _, _, image_id in group[1:]}


def _warn_of_twins(records: list[dict[str, Any]], twins: dict[str, str]) -> None:
    """Add to the records of each image (or its tiles) whose files are another's (see
    :func:`_twins`) a warning that its particles count twice."""
    for r in records:
        first = twins.get(r.get("tile", {}).get("of") if r.get("tile") else r["image_id"])
        if first is not None and r.get("status") in ("ok", "skipped"):
            r.setdefault("warnings", []).append(
                f"its files are byte for byte those of {first} (a copy under another name?): the same field "
                "twice, whose particles count twice in the pooled tables (psd_all.png, samples.csv); give it once")


#: Seconds that the batch tables take per particle: read back and written to
#: particles.csv, and to results.xlsx besides (measured: 6,000 particles in 0.2 s, and
#: 100,000 in 3.8 s more with --xlsx).
_CSV_S, _XLSX_S = 35e-6, 40e-6


def _announce_tables(records: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Say so before pooling tables that take long, where the progress bar was shown:
    the terminal would otherwise sit still for minutes after the last image."""
    n = sum(r.get("n_particles") or 0 for r in records if r.get("status") in ("ok", "skipped"))
    seconds = n * (_CSV_S + (_XLSX_S if args.xlsx else 0.0))
    if seconds >= 10 and not args.quiet and sys.stderr.isatty():
        print(f"writing the tables of {format_count(n, 'particle')} "
              f"({'particles.csv and results.xlsx' if args.xlsx else 'particles.csv'}), about "
              f"{f'{seconds / 60:.0f} min' if seconds >= 90 else f'{seconds:.0f} s'}", file=sys.stderr)


def _interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is Ctrl-C: a KeyboardInterrupt, or within a numba kernel the
    SystemError it surfaces as."""
    return isinstance(exc, KeyboardInterrupt) or (isinstance(exc, SystemError)
                                                  and isinstance(exc.__cause__, KeyboardInterrupt))


def _nothing_to_do(args: argparse.Namespace, unpaired: list[Path], unpaired_hint: str = "") -> int:
    """Say why a run found nothing to do, and fail (a script must not take an empty run for
    a good one), before anything is written: an earlier run's tables in the output folder
    were replaced by empty ones."""
    from .pair import IMAGE_SUFFIXES

    hint = _empty_folder_hint(args.inputs)
    named = ", ".join(map(str, unpaired[:3])) + (", …" if len(unpaired) > 3 else "")
    found = (f"{format_count(len(unpaired), 'image')} found ({named}), none with a partner{unpaired_hint}"
             if unpaired
             else f"no images ({', '.join(IMAGE_SUFFIXES)}) in " + ", ".join(map(str, args.inputs))
             + (f" ({hint})" if hint else ""))
    print(f"error: nothing to do: {found}", file=sys.stderr)
    return 1


def _finish(args: argparse.Namespace, records: list[dict[str, Any]], unpaired: list[Path],
            *, list_name: str, id_key: str, done_verb: str, extra: dict[str, Any], undone: int = 0,
            found: str = "") -> int:
    """Write the manifest, summarise the run on stderr (``found``: what the results hold,
    after the counts), return the exit code: 130 if Ctrl-C left ``undone`` inputs undone,
    1 if an input failed."""
    from .report import write_json

    manifest = {
        "command": args.command,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
        "arguments": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "claim"},
        **extra,
        list_name: records,
        "unpaired": [str(p) for p in unpaired],
        "undone": undone,  # left by Ctrl-C
    }
    try:
        write_json(args.output / "manifest.json", manifest)
    except DDCSEMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    failed = [r for r in records if r["status"] == "failed"]
    if not args.quiet:
        for name, w in _warning_lines(records, id_key, list_name[:-1]):
            print(f"warning: {name}: {w}", file=sys.stderr)
        done = sum(r["status"] == "ok" for r in records)
        skipped = sum(r["status"] == "skipped" for r in records)
        print(f"{done_verb} {done}, skipped {skipped}, failed {len(failed)}{found}; "
              f"results in {args.output}", file=sys.stderr)
    for r in failed:  # errors show even under --quiet
        print(f"failed: {r[id_key]}: {r['error']}", file=sys.stderr)
    if undone:
        print(f"interrupted: {format_count(undone, list_name[:-1])} not done, and not in the results. Run the "
              "same command with --skip-existing to do them", file=sys.stderr)
        return 130
    return 1 if failed else 0


#: A warning that more images than this give alike (the same words, other figures) is
#: one line on the terminal, not one per image: a batch of a hundred fields each with
#: too few particles for ISO 13322-1 hid the one warning that mattered.
ALIKE_LINES = 3


def _warning_lines(records: list[dict[str, Any]], id_key: str, unit: str = "image") -> list[tuple[str, str]]:
    """(name, warning) for each record's warnings (not every message names its file); the
    tiles of an image that warn alike (the same words, other figures) are one line, and so
    are more than ``ALIKE_LINES`` images (or pairs: ``unit``) that do."""
    lines = [(name, w, _words(w)) for name, w in _tile_warning_lines(records, id_key)]
    alike: dict[str, list[tuple[str, str]]] = {}
    for name, w, words in lines:
        alike.setdefault(words, []).append((name, w))
    table = "images.csv" if id_key == "image_id" else "manifest.json"
    out = []
    for name, w, words in lines:
        found = alike[words]
        if len(found) <= ALIKE_LINES:
            out.append((name, w))
        elif found[0][0] == name:  # the group's line, where its first stood
            names = ", ".join(n for n, _ in found[:3]) + ", …"
            out.append((f"{format_count(len(found), unit)} ({names})",
                        _alike_text([text for _, text in found], name, f"each {unit}'s own in {table}")))
    return out


_FIGURE = re.compile(r"\d+(?:\.\d+)?")


def _words(warning: str) -> str:
    """A warning's words, its figures left out: warnings alike have the same."""
    return _FIGURE.sub("#", warning)


def _alike_text(texts: list[str], name: str, where: str) -> str:
    """One line for warnings alike (:func:`_words`): the first, each figure that differs
    between them given as their range (``only 6–92 particles``), and ``where`` their
    own are. Where a figure that differs is part of a name or path (``v10_EsB.tif``), or
    signed, the first as it is, said to be ``name``'s."""
    first = texts[0]
    columns = list(zip(*(_FIGURE.findall(t) for t in texts)))
    if all(len(set(column)) == 1 for column in columns):
        return first
    parts, end = [], 0
    for match, column in zip(_FIGURE.finditer(first), columns):
        if len(set(column)) == 1:
            continue
        start, stop = match.span()
        right = first.find(" ", stop)
        token = first[first.rfind(" ", 0, start) + 1: len(first) if right < 0 else right]  # its word
        if (start and first[start - 1] not in " (=[:,") or any(c in token for c in "/\\_"):
            return f"{first} (in {name}; {where})"
        low, high = min(column, key=float), max(column, key=float)
        parts += [first[end:start], f"{low}–{high}"]
        end = stop
    return "".join(parts) + first[end:] + f" ({where})"


def _tile_warning_lines(records: list[dict[str, Any]], id_key: str) -> list[tuple[str, str]]:
    """(name, warning) for each record's warnings, the tiles of an image that warn alike
    one line."""
    lines: dict[tuple[str, str], list[tuple[str, str]]] = {}
    tiles: dict[str, int] = {}
    for r in records:
        tile = r.get("tile")
        if tile:
            tiles[tile["of"]] = tiles.get(tile["of"], 0) + 1
        for w in r.get("warnings") or ():
            key = (tile["of"], _words(w)) if tile else (r.get(id_key), w)
            lines.setdefault(key, []).append((tile["name"] if tile else r.get(id_key), w))
    out = []
    for (name, _), found in lines.items():
        if name not in tiles or len(found) == 1 and tiles[name] == 1:
            out.append((name if name not in tiles else f"{name}_{found[0][0]}", found[0][1]))
            continue
        names = ", ".join(n for n, _ in found[:3]) + (", …" if len(found) > 3 else "")
        which = (f"all {len(found)} tiles" if len(found) == tiles[name]
                 else f"{len(found)} of its {tiles[name]} tiles: {names}")
        out.append((f"{name} ({which})", _alike_text([w for _, w in found], found[0][0], "each tile's in images.csv")))
    return out


#: Endings of packed files that a folder without images may hold instead of them.
PACKED_SUFFIXES = (".gz", ".bz2", ".xz", ".zip", ".7z")


def _empty_folder_hint(inputs: Sequence[Any]) -> str | None:
    """What to give instead of folders without images: their own folders that hold some
    (folders are listed, not searched inside), or the images packed in them (``x.tif.gz``,
    an archive) to unpack; None if neither."""
    from .pair import IMAGE_SUFFIXES, collect_images

    folders = [Path(item) for item in inputs if Path(item).is_dir()]
    inner = sorted(sub for folder in folders for sub in folder.iterdir()
                   if sub.is_dir() and not sub.name.startswith(".") and collect_images([sub]))
    if inner:
        names = ", ".join(sub.name for sub in inner[:4]) + (", ..." if len(inner) > 4 else "")
        return (f"folders are not searched inside, and its folders {names} hold images: give them, "
                f"e.g. {inner[0].parent / '*'}")
    packed = sorted(path.name for folder in folders for path in folder.iterdir() if path.is_file()
                    and path.suffix.lower() in PACKED_SUFFIXES
                    and (path.suffix.lower() in (".zip", ".7z") or Path(path.stem).suffix.lower() in IMAGE_SUFFIXES))
    if packed:
        names = ", ".join(packed[:3]) + (", ..." if len(packed) > 3 else "")
        return f"it holds packed files, {names}: decompress or extract their images first"
    return None


def _colorize(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.scale_bar != "auto" and not args.png:
        parser.error("--scale-bar draws on the PNG preview: give --png too")
    pairs, unpaired, problems = _collect(args, parser)
    if args.dry_run:
        _print_table(pairs, unpaired, problems)
        return 0
    if not pairs and not problems:
        return _nothing_to_do(args, unpaired, " (each field needs an SE and a BSE image, their detectors named in "
                                              "their file names, as x_SE.tif and x_BSE.tif, or metadata; or name "
                                              "the pairs: --se and --bse, or --pairs TABLE.csv)")
    if not args.quiet:
        for path in unpaired:
            print(f"warning: {path}: no partner found; not coloured", file=sys.stderr)
    parameters = {"mode": args.mode, "clip": list(args.clip), "green_gain": args.green_gain,
                   "palette": args.palette, "pixel_size_nm": args.pixel_size,
                   "register": not args.no_register, "png": args.png, "crop_databar": args.crop_databar,
                   "scale_bar": args.scale_bar}
    params_hash = _params_hash(parameters)
    job = _ColorizeJob(args.output, args.mode, tuple(args.clip), args.green_gain, args.palette,
                       args.pixel_size, not args.no_register, args.png, args.skip_existing,
                       args.overwrite, params_hash, args.crop_databar, args.scale_bar)
    from ._kernels import colorize as kernels

    _say_if_compiling(args, [kernels.histogram_pair, kernels.write_lut_packed], "about 10 s")
    records, undone = _run_batch(_colorize_one, pairs, job, args, "pair", _colorize_killed)
    for key, message in problems:
        records.append({"key": key, "se": None, "bse": None, "status": "failed", "error": message})
    if args.verbose and not args.quiet:
        from .report import calibration_text

        for r in records:
            if r["status"] == "ok":
                print(f"{r['key']}: {calibration_text(r)}, "
                      f"shift {r['shift_px']} px -> {', '.join(r['outputs'])}")
    return _finish(args, records, unpaired, list_name="pairs", id_key="key",
                   done_verb="coloured pairs:", undone=undone,
                   extra={"parameters": parameters, "params_hash": params_hash})


# --------------------------------------------------------------------------- analyze


@dataclass(frozen=True)
class _AnalyzeJob:
    output: Path
    options: Any  # AnalysisOptions
    pixel_size: float | None
    params_hash: str
    skip_existing: bool
    overwrite: bool
    labels: Path | None = None  # folder of particles drawn or corrected by hand
    crop_databar: str | int = "auto"
    region: Path | None = None  # folder of the regions to analyse, drawn by hand
    markers: Path | None = None  # folder of the seeds for the split, marked by hand
    tile: tuple[float, str] | None = None  # largest tile (--tile): in px or nm, or (0, "auto")
    progress: bool = False  # show a progress bar over an image's tiles
    jobs: int = 1  # images analysed at once (--jobs), which share the memory


#: What can be drawn or marked by hand for each image (``_drawn_file``), and given by folder.
_DRAWN = ("labels", "region", "markers")


#: The keys of a ``--config`` file, in the order ``config.toml`` gives them.
CONFIG_KEYS = ("mode", "clip", "threshold", "split", "profile", "min_diameter", "max_diameter", "min_area_px",
               "circularity", "min_distance", "keep_edge_particles", "register", "se_rims", "off_sample",
               "dark_particles", "basis", "pixel_size", "tile")
#: Those of :data:`CONFIG_KEYS` that are switches (TOML booleans).
CONFIG_SWITCHES = ("keep_edge_particles", "register", "se_rims", "off_sample", "dark_particles")


def _config_values(options: Any, pixel_size: float | None, tile: tuple[float, str] | None) -> dict[str, Any]:
    """The effective parameters as a ``--config`` file takes them (:data:`CONFIG_KEYS`; None
    where the default stands), so that ``OUT/config.toml`` gives a later run the same ones."""

    def length(key: str) -> str | None:
        nm, px = getattr(options, f"{key}_nm"), getattr(options, f"{key}_px")
        return f"{nm!r}nm" if nm is not None else f"{px!r}px" if px is not None else None

    values = {"mode": options.mode, "clip": list(options.clip), "threshold": options.threshold,
              "split": options.split, "profile": options.profile, "min_diameter": length("min_diameter"),
              "max_diameter": length("max_diameter"), "min_area_px": options.min_area_px,
              "circularity": list(options.circularity), "min_distance": length("min_distance"),
              "keep_edge_particles": options.keep_edge_particles, "register": options.register,
              "se_rims": options.se_rims, "off_sample": options.off_sample, "dark_particles": options.dark_particles,
              "basis": None if options.basis is None else [list(colour) for colour in options.basis],
              "pixel_size": None if pixel_size is None else f"{pixel_size!r}nm",
              "tile": None if tile is None else "auto" if tile[1] == "auto" else f"{tile[0]!r}{tile[1]}"}
    return {key: values[key] for key in CONFIG_KEYS}


def _analysis_options(args: argparse.Namespace) -> tuple[Any, float | None, tuple[float, str] | None]:
    """Effective AnalysisOptions, pixel size and tile size: command line over --config over defaults."""
    import tomllib

    from .analyze import AnalysisOptions
    from .colorize import _clip_percentiles
    from .errors import CalibrationError, ParameterError
    from .read import _decode_text

    config: dict[str, Any] = {}
    if args.config is not None:
        try:
            # as Notepad saves it too: UTF-8 with a byte-order mark (TOML's "Invalid statement" at
            # line 1), UTF-16 ("Unicode"), or the Windows code page ("ANSI": a µ in a length)
            config = tomllib.loads(_decode_text(args.config.read_bytes()))
        except OSError as exc:
            raise ParameterError(f"cannot read the config file: {exc}", path=args.config) from None
        except tomllib.TOMLDecodeError as exc:
            raise ParameterError(f"malformed TOML: {exc}", path=args.config,
                                 hint="see the README for the keys a config file takes") from None
        known = set(CONFIG_KEYS)
        unknown = sorted(set(config) - known)
        if unknown:
            from difflib import get_close_matches

            meant = {key: close[0] for key in unknown if (close := get_close_matches(key, known, 1))}
            guess = "; ".join(m if len(unknown) == 1 else f"{m} for {k}" for k, m in meant.items())
            # a table ([analyze]) holds keys that would be known at the top of the file
            tables = [key for key in unknown if isinstance(config[key], dict) and set(config[key]) & known]
            raise ParameterError(f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
                                 + (f" (did you mean {guess}?)" if meant else ""),
                                 path=args.config,
                                 hint=(f"a config file takes its keys at its top, not in a table: remove the line "
                                       f"[{tables[0]}]; " if tables else "") + f"known keys: {', '.join(sorted(known))}")
        # a switch written as text would pass bool(): "false" is a non-empty string, so True
        text = [f"{key} = {config[key]!r}" for key in CONFIG_SWITCHES if not isinstance(config.get(key, False), bool)]
        if text:
            raise ParameterError(f"{', '.join(text)}: a switch is true or false, unquoted", path=args.config,
                                 hint=f"write e.g. {text[0].split(' = ')[0]} = false")

    def pick(cli: Any, key: str, default: Any) -> Any:
        return cli if cli is not None else config.get(key, default)

    def size(key: str, cli: tuple[float, str] | None) -> dict[str, float | None]:
        """A length (``min_diameter``, ``max_diameter``, ``min_distance``) as the option in nm
        or the one in px."""
        value = pick(cli, key, None)
        number, unit = (None, None) if value is None else (
            value if isinstance(value, tuple) else parse_size(value, default_unit="nm"))
        return {f"{key}_nm": number if unit == "nm" else None, f"{key}_px": number if unit == "px" else None}

    try:
        options = AnalysisOptions(
            mode=pick(args.mode, "mode", "overlay"),
            clip=_clip_percentiles(pick(args.clip, "clip", (0.5, 99.5))),
            threshold=pick(args.threshold, "threshold", "auto"),
            split=pick(args.split, "split", "auto"),
            **size("min_diameter", args.min_diameter),
            min_area_px=config.get("min_area_px", 9.0),
            **size("max_diameter", args.max_diameter),
            circularity=pick(args.circularity, "circularity", (0.0, 1.0)),
            **size("min_distance", args.min_distance),
            keep_edge_particles=bool(pick(args.keep_edge_particles, "keep_edge_particles", False)),
            register=not args.no_register and bool(config.get("register", True)),
            se_rims=not args.no_se_rims and bool(config.get("se_rims", True)),
            off_sample=not args.keep_off_sample and bool(config.get("off_sample", True)),
            basis=_basis(pick(args.basis, "basis", None)),
            dark_particles=bool(pick(args.dark_particles, "dark_particles", False)),
            profile=pick(args.profile, "profile", "auto"),
        )
        pixel_size = pick(args.pixel_size, "pixel_size", None)
        pixel_size = None if pixel_size is None else parse_pixel_size(pixel_size)
        tile = pick(args.tile, "tile", None)
        tile = _tile(str(tile)) if tile is not None and not isinstance(tile, tuple) else tile
    except ParameterError as exc:  # AnalysisOptions' own checks, which say what is wrong
        raise ParameterError(exc.reason, path=args.config, hint=exc.hint) from None
    except (TypeError, ValueError, argparse.ArgumentTypeError) as exc:
        raise ParameterError(f"invalid value: {exc}", path=args.config) from None
    except CalibrationError as exc:  # a length the command line gave is parsed already: this is the file's
        raise CalibrationError(exc.reason, path=args.config, hint=exc.hint) from None
    return options, pixel_size, tile


def _sources(item: tuple[str, Any, str]) -> dict[str, str]:
    """The input paths of a batch item, by role: ``se`` and ``bse``, or ``image``."""
    kind, source, _ = item
    return {"se": str(source.se), "bse": str(source.bse)} if kind == "pair" else {"image": str(source)}


def _failed_field(item: tuple[str, Any, str], field_id: str, error: str | Exception) -> dict[str, Any]:
    """The record of a field (an image, or one of its tiles) that could not be analysed:
    ``error`` as it is said, or an exception said with the image's files (any other than
    ddcsem's own and a want of memory as a fault of ddcsem's)."""
    sources = _sources(item)
    trace = None
    if isinstance(error, MemoryError):
        error = _out_of_memory(list(sources.values()), _analyze_less())
    elif isinstance(error, DDCSEMError):
        error = _describe(error, list(sources.values()))
    elif isinstance(error, Exception):
        error, trace = _internal_error(error), _traceback(error)
    return {"image_id": field_id, "kind": item[0], "sources": sources, "status": "failed", "error": error,
            "warnings": [], **({"traceback": trace} if trace else {})}


def _analyze_killed(item: tuple[str, Any, str]) -> dict[str, Any]:
    return _failed_field(item, item[2], "the process analysing it was killed by the system, likely for want of "
                                        "memory, with no other image beside it: analyse it in tiles (--tile auto)")


def _analyze_one(item: tuple[str, Any, str], job: _AnalyzeJob) -> list[dict[str, Any]]:
    """Analyse one pair/single image/composite, or each of its tiles (``--tile``): a record
    for each; an error goes into the record."""
    from tqdm import tqdm

    from .analyze import tiles
    from .pair import read_pair
    from .read import read_composite, read_sem

    kind, source, image_id = item
    inputs = _sources(item)

    if job.tile is None:  # the results to skip are known before the image is read
        try:
            drawn = _drawn_sources(job, image_id, image_id)
            previous = _previous_results(job, image_id, {**inputs, **{k: str(p) for k, (p, _) in drawn.items()}})
        except DDCSEMError as exc:
            return [_failed_field(item, image_id, str(exc))]
        if previous is not None:
            return [previous]
    try:
        with _recording_warnings() as caught:
            if kind == "pair":
                image = read_pair(source, pixel_size=_pixel_size_for(source, job.pixel_size),
                                  register=job.options.register, crop_databar=job.crop_databar)
            else:
                read = read_composite if kind == "composite" else read_sem
                image = read(source, pixel_size=job.pixel_size, crop_databar=job.crop_databar)
            size = None if job.tile is None else _tile_px(job.tile, image, job.jobs)
            grid = [] if size is None else tiles(image, size=size)
            # an image that one tile holds is analysed whole, under its own name
            fields = [(image_id, None)] if len(grid) < 2 else [(f"{image_id}_{tile.name}", tile) for tile in grid]
    except Exception as exc:  # noqa: BLE001 - said by kind in the record; one image fails, not the batch
        return [_failed_field(item, image_id, exc)]
    read_warnings = [str(w.message) for w in caught]
    if len(grid) > 1 and job.options.keep_edge_particles:
        read_warnings.append("--keep-edge-particles keeps a particle that a tile's border cuts in each tile it "
                             "reaches, as smaller ones: this image's counts and sizes are biased; without it, the "
                             "tiles weight the particles they keep for those they leave out")
    blank = [tile.name for _, tile in fields if tile is not None and tile.blank]
    if blank and len(blank) < len(fields):  # a mosaic's padding; an image that is all padding fails
        fields = [(field_id, tile) for field_id, tile in fields if tile.name not in blank]
        listed = ", ".join(blank[:4]) + (", …" if len(blank) > 4 else "")
        read_warnings.append(f"{format_count(len(blank), 'tile')} ({listed}) hold one grey level only, as a "
                             "mosaic's padding: no field, passed over")
    whole: dict[str, Any] = {}  # what was drawn for the whole image, read once for its tiles
    records = []
    for field_id, tile in tqdm(fields, desc=image_id, unit="tile", leave=False,
                               disable=not job.progress or len(fields) < 2):
        try:
            record = _analyze_field(kind, image, tile, field_id, image_id, inputs, job, read_warnings, whole,
                                    checked=job.tile is None)
            if record is not None:
                records.append(record)
        except Exception as exc:  # noqa: BLE001 - as above
            records.append(_failed_field(item, field_id, exc))
    if len(grid) > 1 and records:
        try:
            _tile_overview(job, image_id, (image.se if kind == "pair" else image), fields, records)
        except (DDCSEMError, OSError) as exc:
            records[0]["warnings"].append(f"the map of its tiles could not be written: {exc}")
    return records


def _tile_overview(job: _AnalyzeJob, image_id: str, image: Any, fields: list[tuple[str, Any]],
                   records: list[dict[str, Any]]) -> None:
    """``OUT/<id>/<id>_tiles.png``: where each tile of an image lies, with its particle count."""
    from .report import write_tile_overview

    by_id = {r["image_id"]: r for r in records}
    shown = []
    for field_id, tile in fields:
        record = by_id.get(field_id)
        done = record is not None and record["status"] in ("ok", "skipped")
        caption = (f"{tile.name}: {record['n_particles']}" if done
                   else f"{tile.name}: {'failed' if record else 'outside the region'}")
        shown.append((tile.window, job.output / field_id / f"{field_id}_ddc.tif" if done else None, caption))
    pixel = image.pixel_size
    write_tile_overview(job.output / image_id / f"{image_id}_tiles.png", image.shape[:2], shown,
                        pixel_size_nm=pixel.nm if pixel.calibrated else None)


def _analyze_field(kind: str, image: Any, tile: Any, field_id: str, image_id: str, inputs: dict[str, str],
                   job: _AnalyzeJob, read_warnings: list[str], whole: dict[str, Any], *,
                   checked: bool) -> dict[str, Any] | None:
    """Analyse an image read (``tile`` None) or one of its tiles, write its results and
    return its summary, or the earlier one to skip to (unless ``checked`` before the image
    was read); None for a tile outside the image's region."""
    from .analyze import analyze_composite, analyze_pair, analyze_single
    from .read import read_labels, read_markers, read_region
    from .report import image_warnings, write_image_results

    drawn = _drawn_sources(job, field_id, image_id)
    sources = {**inputs, **{name: str(path) for name, (path, _) in drawn.items()}}
    if not checked:
        previous = _previous_results(job, field_id, sources)
        if previous is not None:
            return previous
    field = image if tile is None else tile.image
    shape = (field.se if kind == "pair" else field).shape[:2]
    readers = {"labels": read_labels, "region": read_region, "markers": read_markers}
    arrays: dict[str, Any] = {}
    with _recording_warnings() as caught:  # a drawn file's too (a mask of black particles)
        for name, (path, of_image) in drawn.items():
            if tile is not None and of_image:  # drawn on the whole image: its part in the tile
                if name not in whole:
                    whole[name] = readers[name](path, shape=(image.se if kind == "pair" else image).shape[:2])
                arrays[name] = whole[name][tile.window]
            else:
                arrays[name] = readers[name](path, shape=shape)
        if tile is not None and "region" in arrays and not arrays["region"].any():
            return None  # no part of the field analysed
        given = {"labels": arrays.get("labels"), "region": arrays.get("region"), "markers": arrays.get("markers")}
        if kind == "pair":
            result = analyze_pair(field, options=job.options, **given)
        else:
            analyse = analyze_composite if kind == "composite" else analyze_single
            result = analyse(field, image_id=field_id, options=job.options, **given)
        # where the particles measured, the region and the seeds came from
        result = replace(result, sources=sources)
        placed = None if tile is None else {"of": image_id, "name": tile.name, "origin_px": list(tile.origin)}
        summary = write_image_results(result, job.output / field_id, params_hash=_made_with(job, sources),
                                      tile=placed)
    found = read_warnings + [str(w.message) for w in caught]
    summary["warnings"] = image_warnings({**summary, "warnings": list(dict.fromkeys(found))})
    return summary


def _tile_px(tile: tuple[float, str], image: Any, job_count: int = 1) -> int | None:
    """``--tile`` in pixels of ``image`` (a length needs its calibration); ``auto``, the
    largest tile that the memory available now holds, shared by ``job_count`` analyses at
    once (None, the image whole, where that cannot be known)."""
    from .analyze import MIN_TILE_PX, fitting_tile_px
    from .errors import CalibrationError

    size, unit = tile
    if unit == "auto":  # too little memory for any tile: the image whole, which the memory check refuses
        fits = fitting_tile_px(sharing=job_count)
        return fits if fits and fits >= MIN_TILE_PX else None
    if unit == "px":
        return int(round(size))
    pixel = image.pixel_size
    if not pixel.calibrated:
        raise CalibrationError(f"tiles of {format_length(size)} need the image's pixel size, and it has none",
                               hint="give the tile size in pixels (e.g. --tile 4096), or the pixel size (--pixel-size)")
    return int(round(size / pixel.nm))


def _drawn_sources(job: _AnalyzeJob, field_id: str, image_id: str) -> dict[str, tuple[Path, bool]]:
    """The files drawn by hand for a field (``_drawn_file``), each with whether it was
    drawn on the whole image: a tile's own, else its image's."""
    found = {}
    for name in _DRAWN:
        folder = getattr(job, name)
        if folder is None:
            continue
        if folder.is_file():  # the one image's, drawn on the whole of it
            found[name] = (folder, field_id != image_id)
            continue
        # an image without clicks is split as without --markers: they mend the images that need it
        required = name != "markers"
        path = _drawn_file(folder, field_id, name, required=required and field_id == image_id)
        of_image = path is None and field_id != image_id
        if of_image:
            try:
                path = _drawn_file(folder, image_id, name, required=required)
            except DDCSEMError as exc:
                raise type(exc)(f"no {name} for {field_id} nor for its image {image_id}", path=folder,
                                hint=exc.hint) from None
        if path is not None:
            found[name] = (path, of_image)
    return found


def _made_with(job: _AnalyzeJob, sources: dict[str, str]) -> str:
    return _results_hash(job.params_hash, list(sources.values()))


def _previous_results(job: _AnalyzeJob, field_id: str, sources: dict[str, str]) -> dict[str, Any] | None:
    """The summary of a field's earlier results to skip to (``--skip-existing``, made with
    the same parameters from the same files), else None; OutputError if results exist and
    neither ``--skip-existing`` nor ``--overwrite`` was given."""
    from .errors import OutputError

    folder = job.output / field_id
    try:
        previous = json.loads((folder / f"{field_id}_summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # none, or an unreadable summary, which is not trusted: the field is analysed again
    if job.skip_existing and previous.get("params_hash") == _made_with(job, sources) \
            and previous.get("status") == "ok":
        return {**previous, "status": "skipped", "warnings": []}
    if not job.overwrite and not job.skip_existing:
        raise OutputError("results exist already", path=folder,
                          hint="use --overwrite to replace them or --skip-existing to keep them")
    return None


def _tiles_marked(folder: Path, image_id: str) -> bool:
    """Whether ``folder`` holds seeds marked on a tile of ``image_id`` (``<id>_r<i>c<j>_markers.*``,
    there or in the tile's folder)."""
    tile = re.compile(re.escape(image_id) + r"_r\d+c\d+_markers\.\w+")
    return any(tile.fullmatch(path.name) for path in [*folder.glob("*"), *folder.glob(f"{glob.escape(image_id)}_r*/*")])


def _drawn_file(folder: Path, image_id: str, kind: str, *, required: bool = True) -> Path | None:
    """What was drawn by hand for ``image_id`` in ``folder``, the newest: its particles
    (``kind`` ``labels``, ``--labels``: ``<id>_rois.zip`` or ``<id>_labels.tif``, and in
    its ``<id>`` folder Fiji's default name for a saved ROI set, ``RoiSet.zip``), its
    region (``region``, ``--region``: ``<id>_region.roi``, ``.zip``, ``.tif`` or ``.png``)
    or its seeds (``markers``, ``--markers``: ``<id>_markers`` with the same suffixes), in
    ``folder`` or in its ``<id>`` folder; None if there is none and it is not ``required``.
    A file given for ``folder`` is the one image's."""
    from .errors import ReadError

    if folder.is_file():
        return folder
    if kind == "labels":
        names, fiji = (f"{image_id}_rois.zip", *(f"{image_id}_labels{suffix}" for suffix in (".tif", ".tiff", ".png"))), \
            ("RoiSet.zip",)
    else:
        names, fiji = tuple(f"{image_id}_{kind}{suffix}" for suffix in (".roi", ".zip", ".tif", ".tiff", ".png")), ()
    places = [folder / image_id / name for name in (*names, *fiji)] + [folder / name for name in names]
    found = [path for path in places if path.is_file()]
    if not found:
        if not required:
            return None
        suffixes: dict[str, list[str]] = {}
        for name in names:
            stem, suffix = name.rsplit(".", 1)
            suffixes.setdefault(stem, []).append(suffix)
        looked = " or ".join(f"{stem}.{'/'.join(endings)}" for stem, endings in suffixes.items())
        # a name in another case, or with a hyphen or space for its underscore, is no match on Linux and macOS
        def loosely(name: str) -> str:
            return re.sub(r"[\s_-]+", "_", name.lower())

        loose = {loosely(name): name for name in (*names, *fiji)}
        near = [(path, loose[key]) for path in sorted((*folder.glob("*"), *(folder / image_id).glob("*")))
                if (key := loosely(path.name)) in loose and path.name != loose[key]]
        raise ReadError(f"no {kind} for {image_id}", path=folder,
                        hint=f"--{kind} looks for {looked} in that folder or in its {image_id} folder"
                             + (f"; {near[0][0].name} is there: name it {near[0][1]}" if near else ""))
    return max(found, key=lambda path: path.stat().st_mtime_ns)


def _result_line(summary: dict[str, Any]) -> str:
    """One image's results in a line: count, D50 with its interval, calibration."""
    from .report import calibration_text

    unit = "µm" if summary.get("calibrated") else "px"
    dist = summary.get("distribution") or {}
    d50 = dist.get("d50")
    n = summary["n_particles"]
    line = (f"{summary['image_id']} ({summary['kind']}, {summary['split']} split): "
            f"{format_count(n, 'particle')}")
    if d50 is not None and math.isfinite(d50):
        line += f", D50 {d50:.3g} {unit}"
        low, high = dist.get("d50_ci_low"), dist.get("d50_ci_high")
        if low is not None and math.isfinite(low) and math.isfinite(high):
            line += f" (95 % CI {low:.3g}–{high:.3g})"
    line += f"; {calibration_text(summary)}"
    return line + (" [kept from an earlier run]" if summary["status"] == "skipped" else "")


def _classify_unpaired(paths: list[Path], single: bool) -> tuple[list[tuple[str, Any]], list[Path]]:
    """Unpaired files: colour composites are analysed as such; grey ones with --single."""
    from .read import read_composite

    items, left = [], []
    for path in paths:
        try:
            with warnings.catch_warnings():  # the analysis reads it again, and warns there
                warnings.simplefilter("ignore")
                read_composite(path, crop_databar="off")
            items.append(("composite", path))
            continue
        except DDCSEMError:
            pass
        if single:
            items.append(("single", path))
        else:
            left.append(path)
    return items, left


def _analyze(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .errors import ParameterError
    from .report import write_batch_tables, write_html_report, write_toml

    if args.config is not None and not args.config.exists():  # as --labels and --region are
        parser.error(f"--config {args.config}: no such file")
    try:
        options, pixel_size, tile = _analysis_options(args)
    except ParameterError as exc:
        if args.config is not None:  # the file's values, or the two's together
            raise
        parser.error(str(exc))  # the command line's values together: --circularity 0.9 0.1
    if args.dark_particles and not args.single:  # a pair's BSE image has bright particles
        parser.error("--dark-particles is for the lone images that --single analyses: give --single too")
    for kind in _DRAWN:
        if getattr(args, kind) is not None and not getattr(args, kind).exists():
            parser.error(f"--{kind} {getattr(args, kind)}: no such folder or file")
    if args.labels is not None and args.markers is not None:
        parser.error("--markers seeds the segmentation, which --labels replaces: give one of them")
    if args.labels is not None:
        if args.labels.resolve().is_relative_to(args.output.resolve()):  # its labels would be replaced
            parser.error(f"--labels {args.labels} is the output folder or lies in it: this run would replace "
                         f"the labels it measures; write to another folder, e.g. -o {args.output / 'remeasured'}")
    pairs, unpaired, problems = _collect(args, parser)
    extra_items, unpaired = _classify_unpaired(unpaired, args.single)
    items = _with_ids([("pair", p) for p in pairs] + extra_items)
    for kind in _DRAWN:
        if getattr(args, kind) is not None and getattr(args, kind).is_file() and len(items) > 1:
            parser.error(f"--{kind} {getattr(args, kind)} is a file, which serves one image, and "
                         f"{len(items)} are analysed: give a folder holding each image's <id>_{kind} file "
                         f"(the first image's: {items[0][2]}_{'labels.tif' if kind == 'labels' else kind + '.roi'})")
    if args.markers is not None and items and not any(
            _drawn_file(args.markers, image_id, "markers", required=False)
            or (tile and _tiles_marked(args.markers, image_id)) for *_, image_id in items):
        parser.error(f"--markers {args.markers}: no <id>_markers file (.roi, .zip, .tif, .png) for any of "
                     f"the images, there or in their <id> folders (the first image's: {items[0][2]}_markers.roi)")
    samples = _samples(items, args)
    if args.dry_run:
        _print_table([source for kind, source, _ in items if kind == "pair"], unpaired, problems)
        for kind, path, image_id in items[len(pairs):]:
            print(f"{kind} {image_id}: {path}")
        for _, _, image_id in items if len(set(samples.values())) > 1 or args.group_by != "folder" else ():
            print(f"sample {image_id}: {samples[image_id] or 'none (in all only)'}")
        for kind in _DRAWN:
            folder_given = getattr(args, kind)
            for _, _, image_id in items if folder_given is not None else ():
                try:
                    print(f"{kind} {image_id}: {_drawn_file(folder_given, image_id, kind)}")
                except DDCSEMError as exc:
                    print(f"{kind} {image_id}: none ({'split as usual' if kind == 'markers' else exc.reason})")
        if tile is not None:
            if tile[1] == "auto":
                print("each image too large to analyse whole in tiles that fit in memory, named <id>_r<row>c<col>")
            else:
                across = f"{tile[0]:g} px" if tile[1] == "px" else format_length(tile[0])
                print(f"each image larger than a tile in tiles at most {across} across, named <id>_r<row>c<col>")
        return 0
    if not items and not problems:
        return _nothing_to_do(args, unpaired, " (--single analyses grey images on their own)")
    if not args.quiet:
        for path in unpaired:
            print(f"warning: {path}: no partner found; not analysed (use --single to analyse it "
                  "on its own)", file=sys.stderr)
        unmatched = [image_id for image_id, name in samples.items() if name is None]
        if unmatched and args.group_by != "none":
            print(f"warning: --group-by {args.group_by} does not match {format_count(len(unmatched), 'image id')} "
                  f"({', '.join(unmatched[:3])}{', …' if len(unmatched) > 3 else ''}): they count in "
                  "samples.csv's all row only", file=sys.stderr)
    effective = {**options.to_dict(), "pixel_size_nm": pixel_size,
                 **{kind: None if getattr(args, kind) is None else str(getattr(args, kind).resolve())
                    for kind in _DRAWN},
                 "crop_databar": args.crop_databar,
                 "tile": None if tile is None else "auto" if tile[1] == "auto" else f"{tile[0]:g}{tile[1]}"}
    params_hash = _params_hash(effective)
    job = _AnalyzeJob(args.output, options, pixel_size, params_hash, args.skip_existing, args.overwrite,
                      args.labels, args.crop_databar, args.region, args.markers, tile,
                      progress=args.jobs == 1 and not args.quiet and sys.stderr.isatty(),
                      jobs=min(args.jobs, max(1, len(items))))
    from ._kernels import filters, measure, segment

    _say_if_compiling(args, [filters.separable_filter, segment.label_components, segment.distance_transform,
                             measure.outlines], "a minute or two")
    records, undone = _run_batch(_analyze_one, items, job, args, "image", _analyze_killed)
    _warn_of_twins(records, _twins(items))
    if samples:  # an image's tiles are fields of its sample
        samples.update({r["image_id"]: samples.get(r["tile"]["of"]) for r in records if r.get("tile")})
    for key, message in problems:
        records.append({"image_id": key, "kind": "pair", "sources": {}, "status": "failed",
                        "error": message})
    _warn_of_other_results(records, args)
    _announce_tables(records, args)
    try:
        write_batch_tables(args.output, records, samples=samples, xlsx=args.xlsx)
        given = [f"--{kind.replace('_', '-')} {getattr(args, kind)}" for kind in (*_DRAWN, "crop_databar")
                 if getattr(args, kind) not in (None, "auto")]
        write_toml(args.output / "config.toml", _config_values(options, pixel_size, tile), comments=[
            f"The parameters of this analysis (ddcsem {__version__}), for a later run: --config config.toml",
            *([f"given on the command line too, which a config file does not take: {' '.join(given)}"]
              if given else [])])
        write_html_report(args.output, records)  # which links config.toml
    except DDCSEMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.verbose:
        for r in records:
            if r["status"] in ("ok", "skipped"):
                print(_result_line(r))
    images = [{k: r.get(k) for k in ("image_id", "kind", "split", "profile", "sources", "status", "error",
                                      "n_particles", "pixel_size_nm", "pixel_size_source", "timings_s",
                                      "tile", "warnings") + (("traceback",) if "traceback" in r else ())}
              for r in records]
    return _finish(args, images, unpaired, list_name="images", id_key="image_id",
                   done_verb=(f"analysed images and tiles (of {format_count(len(items), 'image')}):"
                              if any(r.get("tile") for r in records) else "analysed images:"),
                   undone=undone,
                   found=f" ({format_count(sum(r.get('n_particles') or 0 for r in records), 'particle')} "
                         "in the tables)",
                   extra={"parameters": effective, "params_hash": params_hash, "group_by": args.group_by,
                          "xlsx": args.xlsx, "config": None if args.config is None else str(args.config)})


# ------------------------------------------------------------------------------ main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    Examples
    --------
    >>> main(["colorize", "--clip", "5", "200", "-o", "out", "x.tif"])  # a usage error
    2
    """
    parser = _parser()
    argv = _lengths_joined(_ranges_split(sys.argv[1:] if argv is None else argv))
    if not argv:  # the command alone: its commands, not a usage error
        parser.print_help(sys.stderr)
        return 2
    try:
        args, extra = parser.parse_known_args(argv)
        # files may follow options too (ddcsem analyze a.tif -o out b.tif): argparse takes
        # the positionals before the first option and leaves the rest
        parser.prog = f"ddcsem {args.command}"  # its later usage errors are the command's
        if extra and (args.listed is None or any(a.startswith("-") for a in extra)):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        if extra:
            getattr(args, args.listed).extend(extra)
        if getattr(args, "clip", None) is not None:  # each percentile is checked, and their order
            from .colorize import _clip_percentiles

            try:
                _clip_percentiles(args.clip)
            except DDCSEMError as exc:
                parser.error(f"--clip: {exc}")
    except SystemExit as exc:  # argparse: 0 for --help/--version, 2 for usage errors
        return int(exc.code or 0)
    args.claim = _Claim(args.output) if args.command in ("analyze", "colorize") else None
    try:
        if args.command in ("analyze", "colorize", "bench"):
            from .resources import reuse_freed_memory

            reuse_freed_memory()  # a third of analyze is the kernel zeroing fresh pages
        if args.command == "info":
            return _info(args)
        if args.command == "analyze":
            return _analyze(args, parser)
        if args.command == "bench":
            return _bench(args)
        return _colorize(args, parser)
    except SystemExit as exc:
        return int(exc.code or 0)
    except DDCSEMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, SystemError) as exc:
        if not _interrupted(exc):
            raise
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if args.claim is not None:
            args.claim.close()


def run() -> None:
    """Console-script entry point.

    Examples
    --------
    >>> import sys
    >>> sys.argv = ["ddcsem", "--version"]
    >>> run()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    SystemExit: 0"""
    if isinstance(sys.stdout, io.TextIOWrapper):  # a file name that is not UTF-8 is printed escaped, as on
        sys.stdout.reconfigure(errors="backslashreplace")  # stderr, where it raised under a UTF-8 locale
    try:
        sys.exit(main())
    except BrokenPipeError:  # `ddcsem info data | head`: the reader has what it wanted, no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # (Python flushes stdout on exit)
        sys.exit(1)
