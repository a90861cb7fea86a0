"""The benchmark suite runs, measures what it says, and compares with earlier results."""

from __future__ import annotations

import json

import pytest

from ddcsem import bench
from ddcsem.cli import main


def test_kernel_cases_have_all_baselines():
    results = bench.kernel_cases([64], ["uint8"], [1], repeat=1)
    cases = {r["case"] for r in results}
    assert cases == {"colorize overlay", "colorize density", "numpy reference", "memory-copy floor"}
    overlay = next(r for r in results if r["case"] == "colorize overlay")
    assert overlay["min_s"] <= overlay["median_s"]
    assert overlay["x_floor"] == overlay["median_s"] / overlay["floor_s"]
    assert overlay["speedup_vs_numpy"] > 0 and overlay["mpx_s"] == 64 * 64 / overlay["median_s"] / 1e6


def test_cli_json_compare_and_plot(tmp_path, capsys):
    first, second, png = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "p.png"
    args = ["bench", "--sizes", "32,64", "--dtypes", "uint16", "--threads", "1", "--repeat", "1", "--no-jit-time"]
    assert main([*args, "--json", str(first)]) == 0
    report = json.loads(first.read_text())
    assert report["machine"]["cores"] >= 1 and report["machine"]["numba"]
    assert main([*args, "--json", str(second), "--compare", str(first), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "memory-copy floor" in out and "change" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the plot's kind is its name's: a PNG had been written into p.svg
    assert main([*args, "--plot", str(tmp_path / "p.svg")]) == 0
    assert (tmp_path / "p.svg").read_bytes()[:5] == b"<?xml"
    capsys.readouterr()
    assert main([*args, "--plot", str(tmp_path / "p.txt")]) == 2  # before the runs, not after them
    assert "argument --plot: " in capsys.readouterr().err and not (tmp_path / "p.txt").exists()


def test_bad_bench_arguments(capsys):
    assert main(["bench", "--sizes", "8"]) == 2
    assert main(["bench", "--dtypes", "int64"]) == 2
    assert main(["bench", "--threads", "999"]) == 2


def test_sizes_beyond_memory_are_refused_before_anything_runs(monkeypatch, capsys):
    from ddcsem import resources

    # 2 GiB free: 4096^2 (150 bytes a pixel, 2.3 GiB) does not fit, and no case is run
    monkeypatch.setattr(resources, "available_memory", lambda: 2 << 30)
    monkeypatch.setattr(bench, "kernel_cases", lambda *a, **k: pytest.fail("a case ran"))
    assert main(["bench", "--sizes", "1024,4096", "--no-jit-time"]) == 2
    err = capsys.readouterr().err
    assert "benchmarking 4096 x 4096 images needs about 2.3 GiB of memory, 2.0 GiB is available" in err
    assert "(give smaller --sizes)" in err


def test_the_tiny_fields_floor_fits_a_sphere_it_renders():
    """benchmarks/tiny_floor.py's fit finds the radius of a sphere drawn by its own model,
    without noise, off-centre and from a guess 15 % off: so the error it reports on the
    tiny field is the noise's, not the fit's."""
    import sys
    from pathlib import Path

    import numpy as np

    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    try:
        import tiny_floor
    finally:
        sys.path.pop(0)
    window = 40 + 100 * tiny_floor.sphere_signal(2.9, (8.3, 7.6), (17, 17), 2.6)
    for range_px in (2.6, None):
        assert tiny_floor.fitted_radius(window, (8.0, 8.0), 2.9 * 1.15, range_px) == pytest.approx(2.9, rel=0.005)
    assert np.ptp(window) > 50  # a sphere, not a flat window
