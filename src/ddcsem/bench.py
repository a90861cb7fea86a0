"""Benchmarks of the colouring kernel and the pipeline stages (``ddcsem bench``).

Every case is measured in the same run against two baselines:

* the plain-numpy reference implementation (:func:`ddcsem.colorize_reference`), and
* a **memory-copy floor**: ``numpy.copyto`` over as many bytes as the kernel must move
  (two input channels read, three output bytes per pixel written) — no colouring kernel
  can beat it.

Times are the median and minimum of ``repeat`` runs after a warm-up run; the JIT compile
time (first call in a fresh process with an empty numba cache) is reported apart.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["run", "textbook_labels", "time_call", "kernel_cases", "stage_cases", "machine_info", "format_table", "compare", "plot"]


def time_call(func: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """(median, min) seconds of ``repeat`` calls after one warm-up call.

    Examples
    --------
    >>> med, best = time_call(lambda: sum(range(100)), 3)
    >>> 0 <= best <= med
    True
    """
    func()
    times = []
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        func()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), float(np.min(times))


def machine_info() -> dict[str, Any]:
    """Core count, numba version, threading layer and threads, numpy and Python versions.

    Examples
    --------
    >>> info = machine_info()
    >>> info["cores"] >= 1 and info["max_threads"] >= 1
    True"""
    import numba

    from . import resources
    from .colorize import _full_counts

    _full_counts(np.zeros(8192, np.uint8), 256)  # start the thread pool
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "unknown"
    return {
        "cores": os.cpu_count(), "numba": numba.__version__, "threading_layer": layer,
        "max_threads": numba.config.NUMBA_NUM_THREADS, "numpy": np.__version__,
        "python": platform.python_version(), "machine": platform.machine(),
        "allocator": "freed blocks kept" if resources._REUSING else "default",
    }


def _pair(size: int, dtype: str):
    from .synthetic import make_pair

    # generate at most 2048^2 and tile: realistic content without minutes of set-up
    base = min(size, 2048)
    pair = make_pair((base, base), dtype=np.dtype(dtype), n_particles=max(1, base * base // 4000), seed=7)
    reps = -(-size // base)
    return (np.ascontiguousarray(np.tile(pair.se, (reps, reps))[:size, :size]),
            np.ascontiguousarray(np.tile(pair.bse, (reps, reps))[:size, :size]))


def jit_compile_seconds(dtype: str) -> float:
    """Seconds the first ``colorize`` call takes in a fresh process with an empty numba cache,
    less a warm call: the compile time a user would see without caching."""
    code = (
        "import time, numpy as np\n"
        "from ddcsem.colorize import colorize\n"
        f"x = (np.arange(256 * 256) % 251).astype('{dtype}').reshape(256, 256)\n"
        "t = time.perf_counter(); colorize(x, x[::-1].copy()); first = time.perf_counter() - t\n"
        "t = time.perf_counter(); colorize(x, x[::-1].copy()); warm = time.perf_counter() - t\n"
        "print(first - warm)\n"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def kernel_cases(sizes: list[int], dtypes: list[str], threads: list[int], repeat: int,
                 *, progress: Callable[[str], None] = lambda s: None) -> list[dict[str, Any]]:
    """Colouring kernel (both modes) vs numpy reference vs copy floor, per size/dtype/threads.

    Examples
    --------
    >>> rows = kernel_cases([32], ["uint8"], [1], repeat=1)
    >>> sorted({r["case"] for r in rows})
    ['colorize density', 'colorize overlay', 'memory-copy floor', 'numpy reference']"""
    import numba

    from .colorize import colorize, colorize_reference

    results = []
    for dtype in dtypes:
        for size in sizes:
            se, bse = _pair(size, dtype)
            pixels = size * size
            moved = 2 * se.nbytes + 3 * pixels  # read both channels, write RGB
            src, dst = np.empty(moved, np.uint8), np.empty(moved, np.uint8)
            src.fill(1)
            floor = time_call(lambda: np.copyto(dst, src), repeat)
            progress(f"{dtype} {size}^2: numpy reference")
            ref = time_call(lambda: colorize_reference(se, bse), max(1, min(repeat, 3)))
            for t in threads:
                numba.set_num_threads(t)
                for mode in ("overlay", "density"):
                    progress(f"{dtype} {size}^2 {mode} threads={t}")
                    med, best = time_call(lambda: colorize(se, bse, mode=mode), repeat)
                    results.append({
                        "case": f"colorize {mode}", "size": size, "dtype": dtype, "threads": t,
                        "median_s": med, "min_s": best, "mpx_s": pixels / med / 1e6,
                        "floor_s": floor[0], "x_floor": med / floor[0],
                        "numpy_s": ref[0] if mode == "overlay" else None,
                        "speedup_vs_numpy": ref[0] / med if mode == "overlay" else None,
                    })
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
            results.append({"case": "numpy reference", "size": size, "dtype": dtype, "threads": 1,
                            "median_s": ref[0], "min_s": ref[1], "mpx_s": pixels / ref[0] / 1e6,
                            "floor_s": floor[0], "x_floor": ref[0] / floor[0]})
            results.append({"case": "memory-copy floor", "size": size, "dtype": dtype, "threads": 1,
                            "median_s": floor[0], "min_s": floor[1], "mpx_s": pixels / floor[0] / 1e6,
                            "floor_s": floor[0], "x_floor": 1.0})
    return results


def textbook_labels(image: np.ndarray) -> np.ndarray:
    """The textbook scikit-image segmentation, the baseline ddcsem is measured against:
    Gaussian, Otsu, distance transform, ``peak_local_max``, watershed (border particles
    cleared, as ddcsem clears them).

    Examples
    --------
    >>> yy, xx = np.mgrid[0:60, 0:100]
    >>> two = ((yy - 30) ** 2 + (xx - 35) ** 2 < 15 ** 2) | ((yy - 30) ** 2 + (xx - 62) ** 2 < 15 ** 2)
    >>> int(textbook_labels(two.astype(float)).max())
    2
    """
    from scipy import ndimage
    from skimage.feature import peak_local_max
    from skimage.filters import gaussian, threshold_otsu
    from skimage.segmentation import clear_border, watershed

    smooth = gaussian(image.astype(float), sigma=1)
    mask = smooth > threshold_otsu(smooth)
    distance = ndimage.distance_transform_edt(mask)
    coords = peak_local_max(distance, min_distance=5, labels=ndimage.label(mask)[0])
    markers = np.zeros(mask.shape, dtype=np.int32)
    markers[tuple(coords.T)] = np.arange(1, len(coords) + 1)
    return clear_border(watershed(-distance, markers, mask=mask))


def _textbook(image: np.ndarray) -> int:
    """The textbook recipe's segmentation and its ``regionprops`` measurement."""
    from skimage.measure import regionprops

    props = [(p.area, p.perimeter, p.feret_diameter_max, p.solidity, p.intensity_mean)
             for p in regionprops(textbook_labels(image), intensity_image=image)]
    return len(props)


def stage_cases(sizes: list[int], repeat: int, *, progress: Callable[[str], None] = lambda s: None
                ) -> list[dict[str, Any]]:
    """Every pipeline stage on a uint16 pair, and the whole analysis against the textbook recipe.

    Examples
    --------
    >>> rows = stage_cases([64], repeat=1)
    >>> "speedup_vs_textbook" in next(r for r in rows if r["case"] == "analyze (whole image)")
    True"""
    import tifffile

    from .analyze import analyze_pair
    from .colorize import colorize
    from .measure import particle_table
    from .pair import SEMPair
    from .read import PixelSize, SEMImage, read_sem
    from .report import write_image_results, write_tiff
    from .segment import segment_particles
    from .separate import density_map

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            se, bse = _pair(size, "uint16")
            path = Path(tmp) / "x_BSE.tif"
            tifffile.imwrite(path, bse)
            pixel = PixelSize(20.0, "benchmark")
            pair = SEMPair("x", SEMImage(se, pixel), SEMImage(bse, pixel), pixel)
            density = density_map(bse)
            labels = segment_particles(density)
            rgb = colorize(se, bse)
            analysis = analyze_pair(pair)
            stages = [
                ("read", lambda: read_sem(path)),
                ("colorize overlay", lambda: colorize(se, bse)),
                ("colorize density", lambda: colorize(se, bse, mode="density")),
                ("density map", lambda: density_map(bse)),
                ("segment", lambda: segment_particles(density)),
                ("measure", lambda: particle_table(labels, pixel_size_nm=20.0, bse=bse, se=se)),
                ("write", lambda: write_tiff(Path(tmp) / "out.tif", rgb, pixel_size_nm=20.0)),
                ("analyze (whole image)", lambda: analyze_pair(pair)),
                # what ddcsem analyze writes of it: TIFFs, ROIs, overlay, plot, table, summary
                ("write results (every file)", lambda: write_image_results(analysis, Path(tmp) / "results",
                                                                           params_hash="bench")),
                ("textbook recipe (segment + measure)", lambda: _textbook(bse)),
            ]
            # large images: three runs per stage, the fewest that give a median (a run of the
            # textbook recipe alone varies by half on a shared machine: 6.7-9.7 s at 4096²)
            reps = repeat if size <= 2048 else max(1, min(repeat, 3))
            for name, func in stages:
                progress(f"stage {name} {size}^2")
                med, best = time_call(func, reps)
                results.append({"case": name, "size": size, "dtype": "uint16", "threads": None,
                                "median_s": med, "min_s": best, "mpx_s": size * size / med / 1e6})
            whole = next(r for r in results[::-1] if r["case"] == "analyze (whole image)")
            book = results[-1]
            whole["speedup_vs_textbook"] = book["median_s"] / whole["median_s"]
    return results


def format_table(results: list[dict[str, Any]]) -> str:
    """A plain-text table of results.

    Examples
    --------
    >>> print(format_table([{"case": "memory-copy floor", "size": 64, "dtype": "uint8", "threads": 1,
    ...                      "median_s": 1e-5, "min_s": 1e-5, "mpx_s": 409.6, "x_floor": 1.0}]))
    ... # doctest: +NORMALIZE_WHITESPACE
    case size dtype thr median ms min ms Mpx/s x floor vs numpy
    memory-copy floor 64² uint8 1 0.0 0.0 409.6 1.00"""
    lines = [f"{'case':<38} {'size':>6} {'dtype':>8} {'thr':>4} {'median ms':>10} {'min ms':>9} "
             f"{'Mpx/s':>8} {'x floor':>8} {'vs numpy':>9}"]
    for r in results:
        extra = r.get("speedup_vs_numpy") or r.get("speedup_vs_textbook")
        lines.append(
            f"{r['case']:<38} {r['size']:>5}² {r['dtype']:>8} {r['threads'] if r['threads'] else '-':>4} "
            f"{r['median_s'] * 1e3:>10.1f} {r['min_s'] * 1e3:>9.1f} {r['mpx_s']:>8.1f} "
            f"{(format(r['x_floor'], '.2f') if r.get('x_floor') else ''):>8} "
            f"{(f'{extra:.1f}x' if extra else ''):>9}"
        )
    return "\n".join(lines)


def _key(r: dict[str, Any]) -> tuple:
    return (r["case"], r["size"], r["dtype"], r["threads"])


def compare(new: list[dict[str, Any]], old: list[dict[str, Any]]) -> str:
    """Table of median-time changes against an earlier run's results.

    Examples
    --------
    >>> old = [{"case": "c", "size": 64, "dtype": "uint8", "threads": 1, "median_s": 0.002}]
    >>> new = [{"case": "c", "size": 64, "dtype": "uint8", "threads": 1, "median_s": 0.001}]
    >>> compare(new, old).splitlines()[1].split()[-1]
    '-50.0%'"""
    before = {_key(r): r for r in old}
    lines = [f"{'case':<38} {'size':>6} {'dtype':>8} {'thr':>4} {'old ms':>9} {'new ms':>9} {'change':>8}"]
    for r in new:
        o = before.get(_key(r))
        if o is None:
            continue
        change = r["median_s"] / o["median_s"] - 1
        lines.append(f"{r['case']:<38} {r['size']:>5}² {r['dtype']:>8} {r['threads'] or '-':>4} "
                     f"{o['median_s'] * 1e3:>9.1f} {r['median_s'] * 1e3:>9.1f} {change:>+8.1%}")
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], path: str | os.PathLike, *, title: str) -> None:
    """Throughput against image size for each implementation (log-log), saved as PNG (SVG
    or PDF by the path's ending).

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "bench.png")
    >>> plot(kernel_cases([32, 64], ["uint8"], [1], repeat=1), path, title="demo")
    >>> open(path, "rb").read(4)
    b'\\x89PNG'"""
    from matplotlib.figure import Figure

    from .report import save_figure

    fig = Figure(figsize=(7.5, 4.8), dpi=120)
    ax = fig.subplots()
    colours = {"uint8": "#0072b2", "uint16": "#d55e00", "float32": "#009e73"}
    styles = {"colorize overlay": "-", "colorize density": "-.", "numpy reference": ":",
              "memory-copy floor": "--"}
    series: dict[tuple, list[tuple[int, float]]] = {}
    for r in results:
        if r["case"] not in styles or r["dtype"] not in colours:
            continue
        series.setdefault((r["case"], r["dtype"], r["threads"]), []).append((r["size"] ** 2, r["mpx_s"]))
    top = max((k[2] or 1 for k in series), default=1)
    for (case, dtype, threads), points in sorted(series.items(), key=lambda kv: str(kv[0])):
        points.sort()
        label = f"{case} {dtype}" + (f", {threads} thr" if case.startswith("colorize") else "")
        ax.plot([p[0] / 1e6 for p in points], [p[1] for p in points], styles[case], color=colours[dtype],
                marker="s" if threads == top and case.startswith("colorize") else "o", markersize=4,
                alpha=1.0 if threads == top or not case.startswith("colorize") else 0.45, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("image size (Mpx)")
    ax.set_ylabel("throughput (Mpx/s)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=6, ncol=2)
    ax.grid(True, which="both", alpha=0.3)
    save_figure(fig, path)


def run(*, sizes: list[int], dtypes: list[str], threads: list[int], repeat: int, stages: bool,
        jit: bool, progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Run the suite; return machine info, JIT compile times and results.

    Examples
    --------
    >>> report = run(sizes=[32], dtypes=["uint8"], threads=[1], repeat=1, stages=False, jit=False)
    >>> sorted(report)
    ['jit_compile_s', 'machine', 'results']"""
    from .resources import BENCH_BYTES_PER_PIXEL, require_memory

    largest = max(sizes)  # refused before minutes of smaller sizes, not swapped to a halt
    require_memory(largest * largest * BENCH_BYTES_PER_PIXEL, what=f"benchmarking {largest} x {largest} images",
                   hint="give smaller --sizes")
    info = machine_info()
    compile_s = {d: jit_compile_seconds(d) for d in dtypes} if jit else {}
    results = kernel_cases(sizes, dtypes, threads, repeat, progress=progress)
    if stages:
        results += stage_cases(sizes, repeat, progress=progress)
    return {"machine": info, "jit_compile_s": compile_s, "results": results}


def _to_json(report: dict[str, Any]) -> str:
    """The report as JSON text."""
    return json.dumps(report, indent=2)
