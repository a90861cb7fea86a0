"""Writers: atomic, calibrated for Fiji, previews with a correct scale bar."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from PIL import Image

from ddcsem.errors import OutputError, ParameterError
from ddcsem.read import read_sem
from ddcsem.report import _adler32_joined, _write_png, atomic_path, scale_bar_length, write_json, write_preview_png, write_tiff


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_unwritable_folder_is_an_output_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write"):
        write_json(blocker / "sub" / "m.json", {})


def test_a_table_open_in_excel_is_named_as_the_cause(tmp_path, monkeypatch):
    """On Windows a file open in Excel cannot be replaced ("being used by another
    process"), the commonest reason a rerun cannot write its tables; the error said to
    check disk space. It now says to close it; the old file stays and no temporary one."""
    import os

    target = tmp_path / "particles.csv"
    target.write_text("old")

    def locked(src, dst):
        raise PermissionError(32, "The process cannot access the file because it is being used by another process")

    monkeypatch.setattr(os, "replace", locked)
    with pytest.raises(OutputError, match="being used by another process .close it where it is open .Excel"):
        write_json(target, {})
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["particles.csv"]


def test_rgb_tiff_is_calibrated_and_reads_back(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    write_tiff(tmp_path / "x.tif", rgb, pixel_size_nm=25.0)
    with tifffile.TiffFile(tmp_path / "x.tif") as tif:
        np.testing.assert_array_equal(tif.asarray(), rgb)
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.RGB
        assert tif.imagej_metadata["unit"] == "micron"
        num, den = tif.pages[0].tags["XResolution"].value
        assert den / num == pytest.approx(0.025)  # µm per pixel


def test_uncalibrated_tiff_has_no_unit(tmp_path):
    write_tiff(tmp_path / "x.tif", np.zeros((4, 4, 3), np.uint8), pixel_size_nm=None)
    with tifffile.TiffFile(tmp_path / "x.tif") as tif:
        assert not tif.is_imagej


@pytest.mark.parametrize(("width_nm", "bar"), [(10_240, 2000), (1000, 200), (4500, 500), (52_000, 10_000)])
def test_scale_bar_length(width_nm, bar):
    assert scale_bar_length(width_nm) == bar


def test_preview_scale_bar_has_the_right_length(tmp_path):
    rgb = np.zeros((200, 400, 3), np.uint8)
    write_preview_png(tmp_path / "p.png", rgb, pixel_size_nm=10.0)  # field 4 µm -> 500 nm bar
    img = np.asarray(Image.open(tmp_path / "p.png"))
    white = np.all(img == 255, axis=-1)
    row = white.sum(axis=1).argmax()
    assert white[row].sum() == pytest.approx(50, abs=1)  # 500 nm at 10 nm/px
    assert row > 150  # bottom of the frame


@pytest.mark.parametrize("length, drawn", [(1.0, None), (50.0, None), (190.0, None), (200.0, 10), (210.0, 10),
                                           (1000.0, 50)])
def test_a_scale_bar_is_drawn_true_to_its_length_or_refused(length, drawn):
    """Drawn in whole pixels, a bar of 1 nm on 20 nm pixels was one pixel labelled "1 nm",
    20 times too short a bar; one of 10 px or more is always within 5 % of its length."""
    from ddcsem.report import with_scale_bar

    blank = np.zeros((100, 160, 3), np.uint8)
    if drawn is None:
        with pytest.raises(ParameterError, match=f"^a scale bar of {length:g} nm is .* px long: drawn in whole "
                                                 r"pixels, \d+ px, it would show .*give one of 200 nm or more"):
            with_scale_bar(blank, pixel_size_nm=20.0, scale_bar=length)
    else:
        white = np.all(with_scale_bar(blank, pixel_size_nm=20.0, scale_bar=length) == 255, axis=-1)
        assert white.sum(axis=1).max() == drawn


@pytest.mark.parametrize("width", [7, 8, 9, 16])
def test_automatic_scale_bar_is_left_out_where_it_has_no_room(width):
    # an image under 9 px across leaves no room between the bar's 4 px margins: its
    # automatic bar is left out (its analysis had failed on the overlay); from 9 px one fits
    from ddcsem.report import with_scale_bar

    barred = with_scale_bar(np.zeros((12, width, 3), np.uint8), pixel_size_nm=10.0)
    assert bool(barred.any()) == (width >= 9)
    if width < 13:  # a length asked for that does not fit is refused
        with pytest.raises(ParameterError, match="scale bar of 50 nm is 5 px long"):
            with_scale_bar(np.zeros((12, width, 3), np.uint8), pixel_size_nm=10.0, scale_bar=50.0)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 1), (600, 333), (1031, 64)])
@pytest.mark.parametrize("threads", [1, 2, 4])
def test_png_reads_back_as_written(shape, threads, monkeypatch):
    # random pixels: every byte difference between rows wraps around 256 somewhere; on 2 and
    # 4 threads 600 rows are deflated in two bands and 1031 in two and four, which must join
    # into one stream; IDAT chunks of 40 kB, as a large image's of 16 MiB, part it
    import io
    import zlib

    import imagecodecs

    from ddcsem import report

    monkeypatch.setattr(report, "_PNG_CHUNK_BYTES", 40_000)
    rgb = np.random.default_rng(shape[0]).integers(0, 256, (*shape, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    _write_png(buffer, rgb, threads=threads)
    png = buffer.getvalue()
    back = Image.open(io.BytesIO(png))
    assert back.mode == "RGB" and back.size == shape[::-1]
    np.testing.assert_array_equal(np.asarray(back), rgb)  # Pillow checks every chunk's CRC
    np.testing.assert_array_equal(imagecodecs.png_decode(png), rgb)  # and libpng, a second decoder
    # no stray bytes after the stream's end: zlib reads the IDAT data to its checksum exactly
    idat, at, kinds, sizes = b"", 8, [], []
    while at < len(png):
        size = int.from_bytes(png[at:at + 4], "big")
        kinds.append(png[at + 4:at + 8])
        if kinds[-1] == b"IDAT":
            idat += png[at + 8:at + 8 + size]
            sizes.append(size)
        at += 12 + size
    assert kinds == [b"IHDR", *[b"IDAT"] * len(sizes), b"IEND"] and max(sizes) <= 40_000
    unpacker = zlib.decompressobj()  # it checks the Adler-32 joined from the bands'
    assert len(unpacker.decompress(idat)) == shape[0] * (1 + 3 * shape[1])
    assert unpacker.eof and unpacker.unused_data == b""


def test_adler32_of_parts_joins_into_the_whole():
    import zlib

    data = np.random.default_rng(3).integers(0, 256, 300_000, dtype=np.uint8).tobytes() + b"\xff" * 70_000
    for cut in (0, 1, 65_521, 123_457, len(data)):
        first, second = data[:cut], data[cut:]
        assert _adler32_joined(zlib.adler32(first), zlib.adler32(second), len(second)) == zlib.adler32(data)


def test_json_is_utf8(tmp_path):
    write_json(tmp_path / "m.json", {"unit": "µm"})
    assert json.loads((tmp_path / "m.json").read_text(encoding="utf-8")) == {"unit": "µm"}


def test_ddcsem_reads_its_own_output_calibration(tmp_path):
    write_tiff(tmp_path / "x.tif", np.dstack([np.arange(64, dtype=np.uint8).reshape(8, 8)] * 3),
                   pixel_size_nm=12.5)
    assert read_sem(tmp_path / "x.tif").pixel_size.nm == pytest.approx(12.5)


def test_imagej_rois_outline_every_particle(tmp_path):
    """Each ROI is ImageJ's traced outline: filled by ImageJ's rule (pixel centres inside
    the polygon) it gives back exactly the particle's pixels, for a disc, an L, two pixels
    touching only at a corner (8-connected: one ROI) and a label in two pieces (two ROIs);
    only the turning points are stored, as ImageJ stores traced outlines."""
    from matplotlib.path import Path as Polygon
    from roifile import ROI_TYPE, roiread

    from ddcsem.report import write_imagej_rois

    labels = np.zeros((40, 60), np.int32)
    yy, xx = np.mgrid[0:40, 0:60]
    labels[(yy - 12) ** 2 + (xx - 12) ** 2 <= 49] = 1
    labels[5:20, 30:34] = 2
    labels[16:20, 30:45] = 2
    labels[30, 5], labels[31, 6] = 3, 3
    labels[28:32, 20:24], labels[33:36, 40:50] = 4, 4
    path = tmp_path / "rois.zip"
    assert write_imagej_rois(path, labels) == 5
    rois = roiread(path)
    assert [roi.name for roi in rois] == ["0001", "0002", "0003", "0004-1", "0004-2"]
    centres = np.column_stack([xx.ravel() + 0.5, yy.ravel() + 0.5])
    filled = {}
    for roi in rois:
        assert roi.roitype == ROI_TYPE.TRACED
        inside = Polygon(roi.coordinates()).contains_points(centres).reshape(labels.shape)
        label = int(roi.name[:4])
        assert not (filled.get(label, np.zeros_like(inside)) & inside).any()
        filled[label] = filled.get(label, np.zeros_like(inside)) | inside
    for label, inside in filled.items():
        np.testing.assert_array_equal(inside, labels == label)
    assert len(rois[1].coordinates()) == 6  # the L's corners
    assert write_imagej_rois(tmp_path / "none.zip", np.zeros((5, 5), np.int32)) == 0


def test_outlines_are_scikit_images_boundaries():
    # the overlay's outlines and a region's edge, drawn as find_boundaries draws them
    # (inner and thick modes), which took 0.7 s of a 4096² overlay
    from skimage.segmentation import find_boundaries

    from ddcsem.report import _boundaries
    from ddcsem.synthetic import make_pair

    rng = np.random.default_rng(2)
    touching = make_pair((300, 340), n_particles=150, clustered_fraction=0.8, seed=4).labels
    for labels in (touching, rng.integers(0, 4, (60, 70)), rng.random((50, 50)) > 0.5, np.zeros((6, 6), int),
                   np.ones((1, 9), int)):
        for mode, inner in (("inner", True), ("thick", False)):
            expected = find_boundaries(labels, mode=mode)
            assert expected.any() or not np.any(labels) or labels.min() == labels.max()
            np.testing.assert_array_equal(_boundaries(labels, inner=inner), expected)


def test_pooled_distribution_is_edge_weighted_like_each_image(tmp_path, monkeypatch):
    """psd_all.png pools the images' particles with their Miles-Lantuejoul weights, as
    each image's own distribution does, and counts unweighted ones (empty) as 1."""
    import ddcsem.report as report
    from ddcsem.measure import size_distribution

    plotted = {}
    monkeypatch.setattr(report, "plot_size_distribution",
                        lambda path, values, stats, **kw: plotted.update(values=values, stats=stats, **kw))
    per_image = {"a": [(1.0, "1.0"), (2.0, "1.0"), (9.0, "8.0")], "b": [(1.5, ""), (3.0, "1.2")]}
    summaries = []
    for image_id, rows in per_image.items():
        (tmp_path / image_id).mkdir()
        report.write_csv(tmp_path / image_id / f"{image_id}_particles.csv", report.PARTICLE_COLUMNS,
                         [{"image_id": image_id, "label": i + 1, "ecd_um": d, "edge_weight": w}
                          for i, (d, w) in enumerate(rows)])
        summaries.append({"image_id": image_id, "status": "ok", "calibrated": True, "pixel_size_nm": 10.0})
    report.write_batch_tables(tmp_path, summaries)
    weights = np.array([1.0, 1.0, 8.0, 1.0, 1.2])
    np.testing.assert_array_equal(plotted["values"], [1.0, 2.0, 9.0, 1.5, 3.0])
    assert plotted["stats"]["d50"] == size_distribution(plotted["values"], weights=weights)["d50"]
    assert plotted["stats"]["d50"] > size_distribution(plotted["values"])["d50"]  # the large one counts 8 times


def test_pooled_tables_take_each_images_table_as_it_stands(tmp_path):
    """particles.csv and results.xlsx pool the per-image tables by column name: a table of an
    earlier version lacks a column (its cells are empty), one edited in Excel may have a
    column of its own (left out: as text it failed the workbook with 'could not convert
    string to float') and blank lines; a table as ddcsem writes it is copied as it is."""
    import csv

    from openpyxl import load_workbook

    import ddcsem.report as report

    columns = report.PARTICLE_COLUMNS
    (tmp_path / "a").mkdir()
    report.write_csv(tmp_path / "a" / "a_particles.csv", columns,
                     [{"image_id": "a", "label": 1, "ecd_um": 0.5, "circularity": 0.91, "touches_edge": False}])
    (tmp_path / "b").mkdir()
    older = [c for c in columns if c != "circularity"] + ["note"]
    with open(tmp_path / "b" / "b_particles.csv", "w", newline="", encoding="utf-8") as fh:
        fh.write(",".join(older) + "\r\n\r\n")
        fh.write(",".join({"image_id": "b", "label": "7", "ecd_um": "0.25", "note": "odd one"}.get(c, "")
                          for c in older) + "\r\n")
    summaries = [{"image_id": i, "status": "ok", "calibrated": True, "pixel_size_nm": 10.0} for i in "ab"]
    report.write_batch_tables(tmp_path, summaries, xlsx=True)
    with open(tmp_path / "particles.csv", newline="", encoding="utf-8") as fh:
        pooled = list(csv.DictReader(fh))
    assert [(r["image_id"], r["label"], r["ecd_um"], r["circularity"]) for r in pooled] == [
        ("a", "1", "0.5", "0.91"), ("b", "7", "0.25", "")]
    assert list(pooled[0]) == columns
    own = (tmp_path / "a" / "a_particles.csv").read_text(encoding="utf-8").splitlines()[1]
    assert (tmp_path / "particles.csv").read_text(encoding="utf-8").splitlines()[1] == own
    sheet = load_workbook(tmp_path / "results.xlsx")["particles"]
    got = [dict(zip(columns, row)) for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert [(r["image_id"], r["label"], r["ecd_um"], r["circularity"], r["touches_edge"]) for r in got] == [
        ("a", 1, 0.5, 0.91, False), ("b", 7, 0.25, None, None)]


def test_writing_plots_leaves_a_notebooks_matplotlib_as_it_was(tmp_path, monkeypatch):
    """Each plot written switched matplotlib to Agg: in a notebook, the inline plots of every
    later cell stopped showing. They are now drawn without pyplot, and nothing stays open."""
    import matplotlib
    import matplotlib.pyplot as plt

    from ddcsem.bench import kernel_cases, plot
    from ddcsem.measure import size_distribution
    from ddcsem.report import plot_samples, plot_size_distribution

    def refuse(*args, **kwargs):
        raise AssertionError("matplotlib.use was called")

    monkeypatch.setattr(matplotlib, "use", refuse)
    open_before = plt.get_fignums()
    d = np.random.default_rng(0).lognormal(0, 0.4, 300)
    stats = size_distribution(d)
    plot_size_distribution(tmp_path / "psd.png", d, stats, unit="µm", title="a")
    plot_samples(tmp_path / "samples.png", [{"sample": "a", "n_particles": d.size, "d50_um": stats["d50"]}],
                 [(d, np.ones_like(d))])
    plot(kernel_cases([32], ["uint8"], [1], repeat=1), tmp_path / "bench.png", title="b")
    assert plt.get_fignums() == open_before
    for name in ("psd", "samples", "bench"):
        assert Image.open(tmp_path / f"{name}.png").size[0] > 600


def test_a_size_plot_is_written_as_its_name_says(tmp_path):
    """``plot_size_distribution("psd.svg", ...)`` wrote a PNG into psd.svg, which opened as
    neither; SVG and PDF are written as such, and other endings refused before anything is."""
    from ddcsem.measure import size_distribution
    from ddcsem.report import plot_size_distribution

    d = np.random.default_rng(0).lognormal(0, 0.4, 200)
    stats = size_distribution(d)
    for name, head in (("psd.svg", b"<?xml"), ("psd.PDF", b"%PDF-"), ("psd.png", b"\x89PNG\r")):
        plot_size_distribution(tmp_path / name, d, stats, unit="µm", title="a")
        assert (tmp_path / name).read_bytes()[:5] == head
    with pytest.raises(ParameterError, match=r"psd.txt: a figure is written as PNG, SVG or PDF \(end its name in "
                                             r"\.png, \.svg or \.pdf\)"):
        plot_size_distribution(tmp_path / "psd.txt", d, stats, unit="µm", title="a")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["psd.PDF", "psd.png", "psd.svg"]


@pytest.mark.parametrize("sigma, logarithmic", [(0.3, False), (0.6, False), (0.9, True)])
def test_a_wide_size_distribution_is_drawn_on_a_log_axis_with_its_fit_to_scale(sigma, logarithmic):
    """D90 / D10 of a log-normal is exp(2 x 1.2816 sigma): 2.2, 4.7 and 10. The wide one's
    particles had crowded into the first tenth of a linear axis. On either axis the bars
    are of equal width in its variable, and the log-normal fit, evaluated at their middles,
    counts the particles they hold."""
    from matplotlib.figure import Figure

    from ddcsem.measure import size_distribution
    from ddcsem.report import draw_size_distribution

    d = np.random.default_rng(2).lognormal(np.log(0.3), sigma, 4000)
    stats = size_distribution(d)
    ax = Figure().subplots()
    draw_size_distribution(d, stats, unit="µm", title="t", ax=ax)
    assert ax.get_xscale() == ("log" if logarithmic else "linear")
    bars = ax.containers[0]
    left = np.array([bar.get_x() for bar in bars])
    right = left + np.array([bar.get_width() for bar in bars])
    widths = np.diff(np.log(np.r_[left, right[-1]])) if logarithmic else right - left
    np.testing.assert_allclose(widths, widths[0], rtol=1e-6)
    assert sum(bar.get_height() for bar in bars) == d.size
    x, y = ax.lines[0].get_data()  # the fit
    middles = np.sqrt(left * right) if logarithmic else (left + right) / 2
    assert np.interp(middles, x, y).sum() == pytest.approx(d.size, rel=0.03)


def test_blank_diameters_are_left_out_of_the_plot_as_of_the_statistics():
    """A table column with blanks (NaN), which size_distribution leaves out: matplotlib's
    histogram raised "autodetected range of [nan, nan] is not finite"."""
    from matplotlib.figure import Figure

    from ddcsem.measure import size_distribution
    from ddcsem.report import draw_size_distribution

    d = np.r_[np.random.default_rng(3).lognormal(0, 0.3, 200), np.nan, np.nan]
    weights = np.r_[np.full(199, np.nan), 0.0, 2.0, 2.0]  # NaN counts 1; 0 leaves one out
    ax = Figure().subplots()
    draw_size_distribution(d, size_distribution(d, weights=weights), unit="µm", title="t", weights=weights, ax=ax)
    assert sum(bar.get_height() for bar in ax.containers[0]) == 199
    assert ax.get_title() == "t: n = 199"


def test_a_long_title_and_warning_stay_within_the_size_plot():
    """A long file name's id and a long warning ran off the plot's edges, the id's distinct
    end with them: the title leaves out its middle, the warning its end (the tables hold it
    whole)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ddcsem.measure import size_distribution
    from ddcsem.report import draw_size_distribution

    d = np.random.default_rng(3).lognormal(0, 0.3, 40)
    stats = size_distribution(d)
    stats["warning"] += "; no particles away from the border: every one found touches it; keep_edge_particles=True"
    title = "field-" + "x" * 185 + "_d0965085"
    ax = Figure(figsize=(6.4, 4.2), dpi=120).subplots()  # as plot_size_distribution draws it
    fig = draw_size_distribution(d, stats, unit="µm", title=title, ax=ax)
    renderer = FigureCanvasAgg(fig).get_renderer()
    (note,) = fig.texts
    assert ax.get_title().startswith("field-xxx") and ax.get_title().endswith("…xxxxxx_d0965085: n = 40")
    assert note.get_text().endswith("…") and stats["warning"].startswith(note.get_text()[10:-1])
    for text in (ax.title, note):
        box = text.get_window_extent(renderer)
        assert 0 <= box.x0 and box.x1 <= fig.bbox.x1  # drawn whole


def test_plot_analysis_takes_an_analysis_only():
    # an image given raised "'numpy.ndarray' object has no attribute 'pixel_size'"
    from ddcsem.errors import ParameterError
    from ddcsem.report import plot_analysis

    with pytest.raises(ParameterError, match="plot_analysis shows an ImageAnalysis, not ndarray"):
        plot_analysis(np.zeros((8, 8)))


def test_a_notebook_draws_what_analyze_writes(tmp_path):
    """plot_analysis shows the overlay and the size distribution that write_image_results
    writes: the overlay's pixels are the PNG's, and the plot's bars count the particles."""
    import matplotlib.pyplot as plt

    from ddcsem.analyze import analyze_pair
    from ddcsem.pair import SEMPair
    from ddcsem.read import PixelSize, SEMImage
    from ddcsem.report import outlined, plot_analysis, with_scale_bar, write_image_results
    from ddcsem.synthetic import make_pair

    syn, size = make_pair(shape=(256, 256), n_particles=30, seed=4), PixelSize(20.0, "argument")
    result = analyze_pair(SEMPair("f", SEMImage(syn.se, size), SEMImage(syn.bse, size), size))
    summary = write_image_results(result, tmp_path, params_hash="t")
    # arrays have no file: their sources are blank, as a single image's were ("None", a file's name)
    assert result.sources == summary["sources"] == {"se": "", "bse": ""}
    shown = with_scale_bar(outlined(result.ddc, result.labels), pixel_size_nm=20.0)
    np.testing.assert_array_equal(shown, np.asarray(Image.open(tmp_path / "f_overlay.png")))
    assert not np.array_equal(shown, result.ddc) and shown.flags.writeable
    fig = plot_analysis(result)
    try:
        image, psd = fig.axes[:2]
        n = len(result.table["label"])
        assert image.get_title() == f"f: {n} particles, 20 nm/px (argument)"
        np.testing.assert_array_equal(image.get_images()[0].get_array(), shown)
        bars = sum(bar.get_height() for bar in psd.containers[0])  # the histogram
        assert bars == pytest.approx(result.table["edge_weight"].sum())
        assert psd.get_title() == f"f: n = {n}" and psd.get_xlabel() == "equivalent circle diameter (µm)"
    finally:
        plt.close(fig)


def test_xlsx_sheets_go_on_past_excels_rows_and_keep_text_as_text(tmp_path, monkeypatch):
    """A table longer than a sheet goes on in the next; text that looks like a formula stays
    text; characters a workbook cannot hold are left out, and text longer than a cell holds
    cut, rather than failing the run or making Excel repair the file."""
    from openpyxl import load_workbook

    from ddcsem import report

    monkeypatch.setattr(report, "EXCEL_ROWS", 3)  # a header and two rows a sheet
    rows = [{"id": f"f{i}", "value": i / 4} for i in range(5)]
    rows[1]["value"], rows[2]["id"] = float("nan"), "=SUM(A1:A9)"
    rows[3]["id"] = "bad\x01name"
    rows[4]["id"] = "x" * 40_000
    report.write_xlsx(tmp_path / "t.xlsx", [("particles", ["id", "value"], rows), ("samples", ["sample"], [])])
    book = load_workbook(tmp_path / "t.xlsx")
    assert book.sheetnames == ["particles", "particles (2)", "particles (3)", "samples"]
    values = [list(r) for name in book.sheetnames[:3] for r in book[name].iter_rows(values_only=True)]
    assert values == [["id", "value"], ["f0", 0.0], ["f1", None],
                      ["id", "value"], ["=SUM(A1:A9)", 0.5], ["badname", 0.75],
                      ["id", "value"], ["x" * 32_767, 1.0]]
    assert book["particles"]["A2"].data_type == "s" and book["particles (2)"]["A2"].data_type == "s"
    assert [list(r) for r in book["samples"].iter_rows(values_only=True)] == [["sample"]]


def test_an_image_whose_overlay_fails_is_not_marked_done(tmp_path, monkeypatch):
    """The overlay is written beside the other files (on a thread of its own): its error
    still fails the image, and no summary marks it done for --skip-existing."""
    from ddcsem import report
    from ddcsem.analyze import analyze_single
    from ddcsem.read import SEMImage
    from ddcsem.synthetic import make_pair

    result = analyze_single(SEMImage(make_pair(shape=(128, 128), n_particles=8, seed=2).bse, 20), image_id="f")

    def fail(path, *args, **kwargs):
        raise OutputError("disk full", path=path)

    monkeypatch.setattr(report, "write_overlay_png", fail)
    with pytest.raises(OutputError, match="f_overlay.png: disk full"):
        report.write_image_results(result, tmp_path / "f", params_hash="t")
    written = sorted(p.name for p in (tmp_path / "f").iterdir())
    assert "f_particles.csv" in written and "f_summary.json" not in written


def test_many_samples_are_compared_in_grey_under_a_curve_of_a_curves_height(tmp_path, monkeypatch):
    """Past SAMPLE_COLOURS samples the colours repeated, and 200 samples stretched the
    cumulative plot with their legend to 8,500 px tall."""
    from ddcsem import report

    drawn = {}
    monkeypatch.setattr(report, "save_figure", lambda fig, path: drawn.update(fig=fig))
    rng = np.random.default_rng(0)
    sizes = [(rng.lognormal(0, 0.3, 50), np.ones(50)) for _ in range(201)]
    rows = [{"sample": f"s{i}", "n_particles": 50, "d50_um": 1.0, "d50_ci_low_um": 0.9, "d50_ci_high_um": 1.1}
            for i in range(200)] + [{"sample": "all", "n_particles": 10050, "d50_um": 1.0}]
    report.plot_samples(tmp_path / "samples.png", rows, sizes)
    cdf, d50 = drawn["fig"].axes
    assert [t.get_text() for t in cdf.get_legend().get_texts()] == ["each of 200 samples", "all (n = 10050)"]
    colours = {line.get_color() for line in cdf.get_lines()[:200]}
    assert colours == {"0.45"} and cdf.get_lines()[200].get_color() == "black"
    height = cdf.get_position().height * drawn["fig"].get_figheight()
    assert 3 < height < 5  # inches, as for a few samples
    assert len(d50.get_yticklabels()) == 201  # every D50 still named
    few = rows[:3] + rows[-1:]
    report.plot_samples(tmp_path / "samples.png", few, sizes[:3] + sizes[-1:])
    cdf = drawn["fig"].axes[0]
    assert [t.get_text() for t in cdf.get_legend().get_texts()][:3] == ["s0 (n = 50)", "s1 (n = 50)", "s2 (n = 50)"]
    assert len({line.get_color() for line in cdf.get_lines()[:3]}) == 3


def test_samples_without_particles_are_not_compared(tmp_path, monkeypatch):
    """A sample of uncalibrated images has no particles to pool: it was drawn as an empty
    row, and beside one calibrated sample the comparison was of that sample with itself."""
    import tifffile

    from ddcsem import report
    from ddcsem.cli import main
    from ddcsem.synthetic import make_pair

    drawn = {}
    monkeypatch.setattr(report, "save_figure", lambda fig, path: drawn.update(fig=fig))
    rng = np.random.default_rng(1)
    sizes = [(rng.lognormal(0, 0.3, 40), np.ones(40)), (np.zeros(0), np.zeros(0)),
             (rng.lognormal(0.2, 0.3, 40), np.ones(40)), (np.zeros(0), np.zeros(0))]
    rows = [{"sample": "a", "n_particles": 40, "d50_um": 1.0}, {"sample": "uncalibrated", "n_particles": 0},
            {"sample": "b", "n_particles": 40, "d50_um": 1.2}, {"sample": "all", "n_particles": 80, "d50_um": 1.1}]
    report.plot_samples(tmp_path / "samples.png", rows, sizes)
    assert [t.get_text() for t in drawn["fig"].axes[1].get_yticklabels()] == ["a", "b", "all"]
    monkeypatch.undo()
    # from the command line: one calibrated sample beside an uncalibrated one, nothing to compare
    syn = make_pair((128, 128), n_particles=10, seed=3)
    for folder, unit in (("cal", {"resolution": (50, 50), "imagej": True, "metadata": {"unit": "micron"}}),
                         ("raw", {})):
        (tmp_path / folder).mkdir()
        tifffile.imwrite(tmp_path / folder / "x_BSE.tif", syn.bse, **unit)
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "cal"), str(tmp_path / "raw"), "--single", "-o", str(out), "-q"]) == 0
    assert (out / "samples.csv").is_file() and not (out / "samples.png").exists()


@pytest.mark.skipif(__import__("numba").config.NUMBA_NUM_THREADS < 2, reason="needs two cores for numba")
def test_the_overlay_is_encoded_on_the_writers_share_of_threads(tmp_path, monkeypatch):
    """A batch worker runs numba's kernels on its share of the cores; numba counts threads per
    thread, so the overlay's own thread would take all of them unless told."""
    import numba

    from ddcsem import report
    from ddcsem.analyze import analyze_single
    from ddcsem.read import SEMImage
    from ddcsem.synthetic import make_pair

    result = analyze_single(SEMImage(make_pair(shape=(128, 128), n_particles=8, seed=2).bse, 20), image_id="f")
    seen = []
    encode = report._write_png
    monkeypatch.setattr(report, "_write_png",
                        lambda out, rgb, *, threads: seen.append(threads) or encode(out, rgb, threads=threads))
    numba.set_num_threads(1)
    try:
        report.write_image_results(result, tmp_path / "f", params_hash="t")
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert seen == [1]
    assert np.asarray(Image.open(tmp_path / "f" / "f_overlay.png")).shape == (128, 128, 3)


def test_xlsx_is_open_xml_that_keeps_every_value(tmp_path):
    """The workbook is written as Office Open XML by ddcsem itself: every part is well-formed
    XML, each sheet has its content type, and the values come back as given: floats to the
    last bit, integers, booleans (numpy's too), text with XML's special characters and its
    spaces and line breaks, and empty cells for None, NaN and infinities. The header is
    bold and frozen, and the workbook names ddcsem as its author."""
    import xml.etree.ElementTree as ET
    import zipfile

    from openpyxl import load_workbook

    from ddcsem import report

    values = [0.1 + 0.2, 1e-300, -123456.789e10, np.float32(0.3), 7, np.int64(2**40), True,
              np.bool_(False), ' a <b> & "c" \r\n', "3-12", None, float("nan"), float("inf")]
    columns = [f"c{i}" for i in range(len(values))]
    report.write_xlsx(tmp_path / "t.xlsx", [("one", columns, [dict(zip(columns, values))]), ("two", ["x"], [])])
    with zipfile.ZipFile(tmp_path / "t.xlsx") as book:
        parts = {name: ET.fromstring(book.read(name)) for name in book.namelist()}
    types = {o.get("PartName") for o in parts["[Content_Types].xml"]}
    assert {"/xl/worksheets/sheet1.xml", "/xl/worksheets/sheet2.xml", "/xl/workbook.xml"} <= types
    assert report._written_by_ddcsem(tmp_path / "t.xlsx")
    book = load_workbook(tmp_path / "t.xlsx")
    assert book.sheetnames == ["one", "two"]
    header, row = book["one"].iter_rows(values_only=True)
    assert list(header) == columns
    expected = [0.1 + 0.2, 1e-300, -123456.789e10, float(np.float32(0.3)), 7, 2**40, True, False,
                ' a <b> & "c" \r\n', "3-12", None, None, None]
    assert list(row) == expected
    assert [type(v) for v in row[4:8]] == [int, int, bool, bool]
    assert book["one"].freeze_panes == "A2" and book["one"]["A1"].font.b and not book["one"]["A2"].font.b
    assert [list(r) for r in book["two"].iter_rows(values_only=True)] == [["x"]]


@pytest.mark.parametrize("names", [["particles", "Particles"], [""], ["a" * 32], ["a/b"], ["x[1]"]])
def test_xlsx_refuses_sheet_names_excel_cannot_hold(tmp_path, names):
    """A sheet name Excel would refuse (or repair the file over) is refused by name, and no
    workbook is left behind."""
    from ddcsem import report

    with pytest.raises(ValueError, match="sheet name"):
        report.write_xlsx(tmp_path / "t.xlsx", [(name, ["a"], [{"a": 1}]) for name in names])
    assert list(tmp_path.iterdir()) == []
