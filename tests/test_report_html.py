"""report.html: self-contained, lists every image and failure, renders in a real browser."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tifffile

from ddcsem.cli import main

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "sample_micrographs"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("in")
    for path in SAMPLES.glob("*"):
        if path.suffix in (".tif", ".txt"):
            shutil.copy(path, folder / path.name)
    (folder / "broken_SE.tif").write_bytes(b"II*\x00broken")
    shutil.copy(SAMPLES / "valve_02_EsB.tif", folder / "broken_BSE.tif")
    out = tmp_path_factory.mktemp("out")
    assert main(["analyze", str(folder), "-o", str(out), "-q"]) == 1
    return out / "report.html"


def test_report_is_self_contained_and_complete(report):
    page = report.read_text(encoding="utf-8")
    for image_id in ("aorta_01", "drusen_03", "valve_02"):
        assert f"id='{image_id}'" in page and f"{image_id}/{image_id}_particles.csv" in page
    assert "Failed inputs" in page and "broken_SE.tif" in page
    assert "<p>3 images analysed, 1 failed." in page
    # each calibration, with its source, in the table and the card
    assert page.count("12 nm/px (imagej:resolution+unit)") == 2
    assert page.count("40 nm/px (jeol-sidecar:MICRON_MARKER/MICRON_BAR)") == 2
    sources = re.findall(r"src=['\"]([^'\"]+)['\"]", page)
    assert len(sources) >= 3 * 3 + 1  # DDC, outlines, distribution per image; pooled plot
    assert all(s.startswith("data:image/") for s in sources)  # nothing to fetch
    with open(report.parent / "images.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "ok"]
    assert len(rows) == 3
    for row in rows:  # each D50 with its confidence interval, in the table and the card
        interval = f"{float(row['d50_ci_low_um']):.3g}–{float(row['d50_ci_high_um']):.3g}"
        assert page.count(interval) == 2, interval


def test_report_links_reach_files_whose_names_need_quoting(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for side in ("InLens", "EsB"):  # a name with a space, a hash and a non-ASCII letter
        shutil.copy(SAMPLES / f"valve_02_{side}.tif", folder / f"valve #2 (µ)_{side}.tif")
    out = tmp_path / "out"
    assert main(["analyze", str(folder), "-o", str(out), "-q"]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    from urllib.parse import unquote, urlsplit

    # as a browser reads them: a bare "#" would start the fragment
    links = [unquote(urlsplit(h).path) for h in re.findall(r"href='([^'#][^']*)'", page) if "/" in h]
    assert len(links) == 4 and all((out / link).is_file() for link in links)
    anchors = re.findall(r"href='#([^']*)'", page)
    assert anchors and all(f"id='{a}'" in page for a in anchors)


def test_report_of_a_large_image_says_nothing_of_decompression_bombs(tmp_path, monkeypatch):
    """Pillow warns of "a decompression bomb DOS attack" when it opens an image over its
    limit (179 million pixels): the report opened each outline picture to embed it."""
    import warnings

    from PIL import Image

    folder = tmp_path / "in"
    folder.mkdir()
    for side in ("InLens", "EsB"):
        shutil.copy(SAMPLES / f"valve_02_{side}.tif", folder / f"valve_02_{side}.tif")
    out = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        limit = int(0.6 * tifffile.imread(folder / "valve_02_EsB.tif").size)  # the outlines' picture is over it
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
        assert main(["analyze", str(folder), "-o", str(out), "-q"]) == 0
    monkeypatch.undo()
    with Image.open(out / "valve_02" / "valve_02_overlay.png") as im:
        assert limit < im.width * im.height
    assert (out / "report.html").read_text(encoding="utf-8").count("data:image/") >= 3


def test_a_large_batch_links_its_pictures_instead_of_embedding_them(report, tmp_path, monkeypatch):
    import json

    from urllib.parse import unquote

    from ddcsem import report as report_module

    out = tmp_path / "out"
    shutil.copytree(report.parent, out)
    monkeypatch.setattr(report_module, "HTML_EMBEDDED", 2)  # three images analysed: too many now
    summaries = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["images"]
    report_module.write_html_report(out, summaries)
    page = (out / "report.html").read_text(encoding="utf-8")
    pictures = re.findall(r"<img alt='([^']+)' src='([^']+)' loading='lazy'>", page)
    assert sorted(alt for alt, _ in pictures) == sorted(
        f"{what} of {image_id}" for image_id in ("aorta_01", "drusen_03", "valve_02")
        for what in ("particle outlines", "size distribution"))
    assert all((out / unquote(src)).is_file() for _, src in pictures)  # each picture where it lies
    assert "more than 2 images are too many to embed" in page
    assert len(page) < len(report.read_text(encoding="utf-8")) / 5


def _browser() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(_browser() is None, reason="no Chromium on this machine (make test installs it where it can)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    from PIL import Image

    shot = tmp_path / "shot.png"
    run = subprocess.run(
        [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,2400", "--hide-scrollbars",
         f"--screenshot={shot}", report.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert shot.exists(), run.stderr[-2000:]
    assert "Uncaught" not in run.stderr and "ERR_FILE_NOT_FOUND" not in run.stderr
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    # the embedded micrographs paint orange mineral and green matrix: the page is not blank
    orange = (pixels[..., 0] > 150) & (pixels[..., 1] > 40) & (pixels[..., 1] < 160) & (pixels[..., 2] < 80)
    green = (pixels[..., 1] > 60) & (pixels[..., 0] < 60) & (pixels[..., 2] < 60)
    assert orange.sum() > 2000 and green.sum() > 2000


@pytest.mark.skipif(_browser() is None, reason="no Chromium on this machine (make test installs it where it can)")
def test_a_long_image_id_wraps_within_the_page(tmp_path):
    """An id of 200 characters without a space (a long file name's) made the table of
    images as wide as it, and the page scroll sideways; it wraps now, as a heading does."""
    from ddcsem.synthetic import make_pair

    folder, name = tmp_path / "in", "field-" + "x" * 234
    folder.mkdir()
    syn = make_pair(shape=(96, 96), n_particles=6, seed=3)
    for side, image in (("SE", syn.se), ("BSE", syn.bse)):
        tifffile.imwrite(folder / f"{name}_{side}.tif", image)
    out = tmp_path / "out"
    assert main(["analyze", str(folder), "-o", str(out), "--pixel-size", "20nm", "-q"]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    # the page measures itself once laid out: the width it would scroll to, in its body's data-width
    measured = tmp_path / "measured.html"
    measured.write_text(page.replace("</body>", "<script>document.body.dataset.width = "
                                                "document.documentElement.scrollWidth;</script></body>"),
                        encoding="utf-8")
    run = subprocess.run(
        [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,900", "--dump-dom", measured.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    width = re.search(r'data-width="(\d+)"', run.stdout)
    assert width, run.stderr[-2000:]
    assert int(width.group(1)) <= 1200  # it was 3040
