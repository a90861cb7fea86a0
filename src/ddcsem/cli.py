"""Command-line interface: ``ddcsem info`` and ``ddcsem colorize``.

A thin layer over the public API. Exit codes: 0 all good, 1 some inputs failed (each is
recorded with its error and the batch goes on), 2 usage error.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import multiprocessing
import os
import platform
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ._version import __version__
from .errors import DDCSEMError
from .units import parse_length

__all__ = ["main", "run"]


def _length(text: str) -> float:
    try:
        return parse_length(text, default_unit="nm")
    except DDCSEMError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentile") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"percentile {value} is outside 0-100")
    return value


def _tokens(text: str) -> tuple[str, ...]:
    tokens = tuple(t.strip() for t in text.split(",") if t.strip())
    if not tokens:
        raise argparse.ArgumentTypeError("give comma-separated detector tokens, e.g. chA,Signal1")
    return tokens


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ddcsem",
        description="Density-dependent colour SEM: colour SE/BSE pairs and read SEM calibration.",
    )
    parser.add_argument("--version", action="version", version=f"ddcsem {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    info = sub.add_parser("info", help="show calibration, detector and data bar of SEM files")
    info.add_argument("files", nargs="+", metavar="FILE")
    info.add_argument("--json", action="store_true", help="print one JSON list of records")
    info.add_argument("--pixel-size", type=_length, metavar="SIZE",
                      help="override the pixel size, e.g. 3.2nm or 0.05um")

    col = sub.add_parser("colorize", help="colour SE/BSE pairs into DDC-SEM images")
    col.add_argument("inputs", nargs="*", metavar="INPUT", help="files and/or folders")
    col.add_argument("-o", "--output", required=True, type=Path, metavar="OUT", help="output folder")
    col.add_argument("--se-tokens", type=_tokens, default=(), metavar="A,B",
                     help="extra file-name tokens that mark an SE image")
    col.add_argument("--bse-tokens", type=_tokens, default=(), metavar="A,B",
                     help="extra file-name tokens that mark a BSE image")
    col.add_argument("--se", type=Path, help="SE file of an explicit pair (with --bse)")
    col.add_argument("--bse", type=Path, help="BSE file of an explicit pair (with --se)")
    col.add_argument("--mode", choices=("overlay", "density"), default="overlay")
    col.add_argument("--clip", nargs=2, type=_percent, default=(0.5, 99.5), metavar=("LO", "HI"),
                     help="stretch each channel between these percentiles (default 0.5 99.5)")
    col.add_argument("--green-gain", type=float, default=1.0, help="scale the SE (green) channel")
    col.add_argument("--palette", choices=("green-orange", "blue-orange"), default="green-orange",
                     help="density-mode hues; blue-orange is colour-blind safe")
    col.add_argument("--pixel-size", type=_length, metavar="SIZE",
                     help="override the pixel size, e.g. 3.2nm or 0.05um")
    col.add_argument("--no-register", action="store_true", help="do not align BSE onto SE")
    col.add_argument("--png", action="store_true", help="also write a PNG preview with scale bar")
    col.add_argument("-j", "--jobs", type=int, default=1, help="pairs processed in parallel")
    exists = col.add_mutually_exclusive_group()
    exists.add_argument("--skip-existing", action="store_true", help="skip pairs already coloured")
    exists.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    col.add_argument("--dry-run", action="store_true", help="print the pairing table and stop")
    verbosity = col.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true")
    verbosity.add_argument("-v", "--verbose", action="store_true")
    return parser


# ------------------------------------------------------------------------------ info


def _info(args: argparse.Namespace) -> int:
    from .read import read_sem

    records, failed = [], 0
    for name in args.files:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                record = read_sem(name, pixel_size=args.pixel_size).to_record()
            record["warnings"] = [str(w.message) for w in caught]
        except DDCSEMError as exc:
            failed += 1
            record = {"path": name, "error": str(exc)}
            if not args.json:
                print(f"error: {exc}", file=sys.stderr)
                continue
        records.append(record)
        if not args.json:
            size = "uncalibrated" if record["pixel_size_nm"] is None else (
                f"{record['pixel_size_nm']:.6g} nm/px ({record['pixel_size_source']})")
            print(f"{record['path']}: {record['vendor']}, detector {record['detector']}, "
                  f"{record['shape'][0]}x{record['shape'][1]} {record['dtype']}, {size}, "
                  f"data bar {record['databar_rows']} rows")
            for w in record["warnings"]:
                print(f"  warning: {w}", file=sys.stderr)
    if args.json:
        print(json.dumps(records, indent=2, ensure_ascii=False))
    return 1 if failed else 0


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


def _colorize_one(pair: Any, job: _ColorizeJob) -> dict[str, Any]:
    """Colour one pair; never raises for bad input: the error goes into the record."""
    from .colorize import colorize
    from .errors import OutputError
    from .pair import read_pair
    from .report import write_preview_png, write_rgb_tiff

    target = job.output / f"{pair.key}_ddc.tif"
    record: dict[str, Any] = {
        "key": pair.key, "se": str(pair.se), "bse": str(pair.bse),
        "pixel_size_nm": None, "pixel_size_source": None, "shift_px": None,
        "shift_applied": False, "status": "failed", "error": None, "warnings": [],
        "outputs": [],
    }
    if target.exists() and job.skip_existing:
        record["status"] = "skipped"
        return record
    try:
        if target.exists() and not job.overwrite:
            raise OutputError("exists already", path=target,
                              hint="use --overwrite to replace it or --skip-existing to keep it")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            images = read_pair(pair, pixel_size=job.pixel_size, register=job.register)
            rgb = colorize(images.se.data, images.bse.data, mode=job.mode, clip=job.clip,
                           green_gain=job.green_gain, palette=job.palette)
        record["warnings"] = [str(w.message) for w in caught]
        record.update(
            pixel_size_nm=images.pixel_size.nm,
            pixel_size_source=images.pixel_size.source,
            shift_px=[round(images.shift[0], 3), round(images.shift[1], 3)],
            shift_applied=images.shift_applied,
        )
        write_rgb_tiff(target, rgb, pixel_size_nm=images.pixel_size.nm)
        record["outputs"].append(str(target))
        if job.png:
            preview = target.with_suffix(".png")
            write_preview_png(preview, rgb, pixel_size_nm=images.pixel_size.nm)
            record["outputs"].append(str(preview))
        record["status"] = "ok"
    except DDCSEMError as exc:
        record["error"] = str(exc)
    return record


def _init_worker(threads: int) -> None:
    """Share the cores among worker processes instead of oversubscribing them."""
    import numba

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"ddcsem": __version__, "python": platform.python_version()}
    for name in ("numpy", "numba", "scipy", "scikit-image", "tifffile"):
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
            print(f"{p.key:<{width}}  {p.se}  ->  {p.bse}{pages}")
    else:
        print("no SE/BSE pairs found")
    for path in unpaired:
        print(f"unpaired: {path}")
    for key, message in problems:
        print(f"not paired ({key}): {message}")


def _colorize(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from tqdm import tqdm

    from .pair import Pair, find_pairs
    from .report import write_json

    if (args.se is None) != (args.bse is None):
        parser.error("--se and --bse go together")
    if not args.inputs and args.se is None:
        parser.error("give input files or folders, or --se and --bse")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    output = args.output
    if output.exists() and not output.is_dir():
        parser.error(f"output {output} exists and is not a folder")

    from .detectors import BSE_TOKENS, SE_TOKENS

    result = find_pairs(args.inputs, exclude=[output], se_tokens=SE_TOKENS + args.se_tokens,
                        bse_tokens=BSE_TOKENS + args.bse_tokens) if args.inputs else None
    pairs = list(result.pairs) if result else []
    unpaired = list(result.unpaired) if result else []
    problems = list(result.problems) if result else []
    if args.se is not None:
        from .detectors import split_detector_token

        found = split_detector_token(args.se.stem)
        pairs.append(Pair(found[0] if found else args.se.stem.lower(), args.se, args.bse))

    if args.dry_run:
        _print_table(pairs, unpaired, problems)
        return 0
    if not args.quiet:
        for path in unpaired:
            print(f"warning: {path}: no partner found; not coloured", file=sys.stderr)

    job = _ColorizeJob(output, args.mode, tuple(args.clip), args.green_gain, args.palette,
                       args.pixel_size, not args.no_register, args.png, args.skip_existing,
                       args.overwrite)
    records: list[dict[str, Any]] = []
    bar = tqdm(total=len(pairs), unit="pair", disable=args.quiet or not sys.stderr.isatty())
    if args.jobs > 1 and len(pairs) > 1:
        # spawn, not fork: numba's thread pool in this process does not survive a fork
        context = multiprocessing.get_context("spawn")
        threads = max(1, (os.cpu_count() or 1) // args.jobs)
        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=context,
                                 initializer=_init_worker, initargs=(threads,)) as pool:
            for record in pool.map(_colorize_one, pairs, [job] * len(pairs)):
                records.append(record)
                bar.update()
    else:
        for pair in pairs:
            records.append(_colorize_one(pair, job))
            bar.update()
    bar.close()
    for key, message in problems:
        records.append({"key": key, "se": None, "bse": None, "status": "failed", "error": message})

    manifest = {
        "command": "colorize",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
        "arguments": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "pairs": records,
        "unpaired": [str(p) for p in unpaired],
    }
    try:
        write_json(output / "manifest.json", manifest)
    except DDCSEMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    failed = [r for r in records if r["status"] == "failed"]
    done = sum(r["status"] == "ok" for r in records)
    skipped = sum(r["status"] == "skipped" for r in records)
    if not args.quiet:
        for r in records:
            for w in r.get("warnings") or ():
                print(f"warning: {w}", file=sys.stderr)
            if args.verbose and r["status"] == "ok":
                print(f"{r['key']}: {r['pixel_size_nm']} nm/px ({r['pixel_size_source']}), "
                      f"shift {r['shift_px']} px -> {', '.join(r['outputs'])}")
        print(f"coloured {done} pair(s), skipped {skipped}, failed {len(failed)}; "
              f"results in {output}", file=sys.stderr)
        for r in failed:
            print(f"failed: {r['key']}: {r['error']}", file=sys.stderr)
    return 1 if failed else 0


# ------------------------------------------------------------------------------ main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    Examples
    --------
    >>> main(["colorize", "--clip", "5", "200", "-o", "out", "x.tif"])  # a usage error
    2
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help/--version, 2 for usage errors
        return int(exc.code or 0)
    try:
        if args.command == "info":
            return _info(args)
        return _colorize(args, parser)
    except SystemExit as exc:
        return int(exc.code or 0)
    except DDCSEMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
