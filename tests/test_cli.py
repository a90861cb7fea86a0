"""ddcsem info / colorize end to end on the bundled samples."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from conftest import digest

from ddcsem import __version__
from ddcsem.cli import main

KEYS = ["aorta_01", "drusen_03", "valve_02"]


def test_version_via_python_m():
    out = subprocess.run([sys.executable, "-m", "ddcsem", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"ddcsem {__version__}"


def test_british_spellings_run_the_commands(samples, tmp_path):
    assert main(["colourise", str(samples), "-o", str(tmp_path / "c"), "-q"]) == 0
    assert json.loads((tmp_path / "c" / "manifest.json").read_text())["command"] == "colorize"
    assert main(["analyse", str(samples / "valve_02_EsB.tif"), "--single", "-o", str(tmp_path / "a"), "-q"]) == 0
    assert json.loads((tmp_path / "a" / "manifest.json").read_text())["command"] == "analyze"


def test_crop_databar_option_overrides_the_bar(samples, tmp_path, capsys):
    """The bar's detection is a heuristic: where it errs either way, --crop-databar says."""
    fei = samples / "aorta_01_CBS.tif"  # 485 rows, a 37-row bar by its metadata
    for crop, rows in (("auto", 448), ("off", 485), ("20", 465)):
        assert main(["info", "--json", str(fei), "--crop-databar", crop]) == 0
        assert json.loads(capsys.readouterr().out)[0]["shape"] == [rows, 512]
        out = tmp_path / f"c{crop}"
        assert main(["colorize", str(samples), "-o", str(out), "-q", "--crop-databar", crop]) == 0
        assert tifffile.imread(out / "aorta_01_ddc.tif").shape == (rows, 512, 3)
        assert json.loads((out / "manifest.json").read_text())["parameters"]["crop_databar"] == (
            int(crop) if crop.isdigit() else crop)
    assert main(["analyze", str(fei), str(samples / "aorta_01_ETD.tif"), "-o", str(tmp_path / "a"), "-q",
                 "--crop-databar", "off"]) == 0
    assert tifffile.imread(tmp_path / "a" / "aorta_01" / "aorta_01_labels.tif").shape == (485, 512)
    assert main(["info", str(fei), "--crop-databar", "-3"]) == 2
    assert "is not auto, off or a number of rows" in capsys.readouterr().err


def test_one_output_folder_holds_one_command_s_results(samples, tmp_path, capsys):
    """analyze into colorize's folder replaced its manifest.json, the record of its run."""
    out = tmp_path / "out"
    assert main(["colorize", str(samples), "-o", str(out), "-q"]) == 0
    before = (out / "manifest.json").read_text()
    assert main(["analyse", str(samples), "-o", str(out), "-q"]) == 2
    assert "holds the results of 'ddcsem colorize'" in capsys.readouterr().err
    assert (out / "manifest.json").read_text() == before and not (out / "images.csv").exists()
    assert main(["analyze", str(samples), "-o", str(out / "analyze"), "-q"]) == 0  # as the error suggests
    assert main(["colorize", str(samples), "-o", str(out), "-q", "--overwrite"]) == 0  # its own folder: as before
    assert main(["colorize", str(samples), "-o", str(out / "analyze"), "-q"]) == 2


def test_info_gives_the_role_a_detector_folder_gives(samples, tmp_path, capsys):
    (tmp_path / "BSE").mkdir()
    shutil.copy(samples / "valve_02_EsB.tif", tmp_path / "BSE" / "img001.tif")  # no detector in name or tags
    assert main(["info", str(tmp_path / "BSE")]) == 0
    assert "detector unknown [BSE by its folder]" in capsys.readouterr().out
    assert main(["info", "--json", str(tmp_path / "BSE" / "img001.tif")]) == 0
    assert json.loads(capsys.readouterr().out)[0]["role"] == "BSE"


def test_info_describes_a_pair_in_two_pages(tmp_path, capsys):
    """A Fiji Merge Channels composite (two channels, red and green) was 'holds 2 images'."""
    from ddcsem.synthetic import make_pair

    syn = make_pair(shape=(64, 64), n_particles=4, seed=1)
    red, green = np.zeros((3, 256), np.uint8), np.zeros((3, 256), np.uint8)
    red[0] = green[1] = np.arange(256)
    tifffile.imwrite(tmp_path / "merge.tif", np.stack([syn.bse, syn.se]), imagej=True,
                     metadata={"axes": "CYX", "mode": "composite", "LUTs": [red, green]})
    assert main(["info", str(tmp_path / "merge.tif")]) == 0
    assert "SE/BSE pair (SE page 1, BSE page 0), 64x64 uint8" in capsys.readouterr().out
    assert main(["info", "--json", str(tmp_path / "merge.tif")]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert (record["kind"], record["pages"]) == ("pair", {"se": 1, "bse": 0})


def test_info_reports_a_stack_of_unnamed_pages_as_an_error_not_a_crash(tmp_path, capsys):
    """Pages without names have no roles; sorting them raised TypeError."""
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((2, 32, 32), np.uint8))
    assert main(["info", str(tmp_path / "stack.tif")]) == 1
    err = capsys.readouterr().err
    assert "stack.tif: holds 2 images" in err and "Set Label" in err


@pytest.mark.parametrize("raised", [KeyboardInterrupt(), "kernel"])
def test_ctrl_c_ends_a_run_with_130_even_within_a_numba_kernel(monkeypatch, samples, tmp_path, capsys, raised):
    """Interrupted within a kernel, numba raises SystemError from the KeyboardInterrupt:
    that was a traceback and exit status 1."""
    import ddcsem.cli as cli

    def interrupted(*args, **kwargs):
        if raised == "kernel":
            raise SystemError("CPUDispatcher(<function f>) returned a result with an exception set") \
                from KeyboardInterrupt()
        raise raised

    monkeypatch.setattr(cli, "_analyze", interrupted)
    assert main(["analyze", str(samples), "-o", str(tmp_path / "out")]) == 130
    assert capsys.readouterr().err == "interrupted\n"
    monkeypatch.setattr(cli, "_analyze", lambda *a: (_ for _ in ()).throw(SystemError("a bug")))
    with pytest.raises(SystemError, match="a bug"):  # any other SystemError is not hidden
        main(["analyze", str(samples), "-o", str(tmp_path / "out")])


def test_info_json_records(samples, capsys):
    assert main(["info", "--json", str(samples / "aorta_01_CBS.tif"), str(samples / "drusen_03_SEI.tif")]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [set(r) >= {"path", "vendor", "detector", "pixel_size_nm", "pixel_size_source", "shape",
                       "databar_rows", "dtype"} for r in records] == [True, True]
    fei, jeol = records
    assert (fei["vendor"], fei["detector"], fei["pixel_size_nm"], fei["databar_rows"]) == ("fei", "CBS (BSE)", 25.0, 37)
    assert fei["shape"] == [448, 512]
    assert (jeol["vendor"], jeol["pixel_size_nm"], jeol["databar_rows"]) == ("jeol", 40.0, 32)
    assert (fei["role"], jeol["detector"], jeol["role"]) == ("BSE", "SEI", "SE")  # as pairing reads them


def test_info_says_what_reading_a_file_warned_about(tmp_path, capsys):
    """Under its line on stdout, on stderr; in the JSON record. A tilted stage's
    foreshortening, which reading an FEI file finds in its metadata."""
    ini = "[Scan]\nPixelWidth=5e-09\n[Stage]\nStageT=0.5235987756\n[EBeam]\nTiltCorrectionIsOn=no\n"
    tifffile.imwrite(tmp_path / "tilted.tif", np.random.default_rng(0).integers(0, 255, (64, 80), dtype=np.uint8),
                     extratags=[(34682, "s", 0, ini, True)])
    assert main(["info", str(tmp_path / "tilted.tif")]) == 0
    out = capsys.readouterr()
    assert "tilted.tif: fei, " in out.out and "5 nm/px" in out.out and "warning" not in out.out
    assert out.err.startswith("  warning: ") and "stage tilted 30°" in out.err and "13% small" in out.err
    assert main(["info", "--json", str(tmp_path / "tilted.tif")]) == 0
    record, = json.loads(capsys.readouterr().out)
    assert len(record["warnings"]) == 1 and "stage tilted 30°" in record["warnings"][0]


def test_info_bad_file_exit_1_but_others_reported(samples, tmp_path, capsys):
    bad = tmp_path / "bad.tif"
    bad.write_text("nope")
    assert main(["info", str(bad), str(samples / "valve_02_EsB.tif")]) == 1
    out = capsys.readouterr()
    assert "bad.tif" in out.err and "not a TIFF" in out.err
    assert "valve_02_EsB.tif: imagej, detector EsB [BSE], 400x400 uint16" in out.out


def test_info_describes_a_ddc_composite_with_its_calibration(samples, tmp_path, capsys):
    assert main(["colorize", str(samples), "-o", str(tmp_path / "c"), "--png", "-q"]) == 0
    capsys.readouterr()
    assert main(["info", str(tmp_path / "c" / "valve_02_ddc.tif"), str(tmp_path / "c" / "valve_02_ddc.png")]) == 0
    tif, png = capsys.readouterr().out.splitlines()
    assert tif.endswith("valve_02_ddc.tif: imagej, DDC composite, 400x400 uint8, 12 nm/px (imagej:resolution+unit), "
                        "data bar 0 rows")
    assert "DDC composite, 400x400 uint8, uncalibrated" in png
    assert main(["info", "--json", str(tmp_path / "c" / "valve_02_ddc.tif"), str(samples / "valve_02_EsB.tif")]) == 0
    assert [r["kind"] for r in json.loads(capsys.readouterr().out)] == ["composite", "grey"]


def test_info_names_a_binary_mask(tmp_path, capsys):
    """A mask (Fiji's 0 and 255, numpy's 0 and 1) is measured as drawn by analyze --single:
    info says which files are masks, as a folder of micrographs may hold some."""
    mask = np.zeros((40, 50), np.uint8)
    mask[10:20, 10:25] = 255
    tifffile.imwrite(tmp_path / "a_mask.tif", mask)
    tifffile.imwrite(tmp_path / "b_mask.tif", mask // 255)
    tifffile.imwrite(tmp_path / "c.tif", mask // 2 + 20)  # two grey levels, not 0: an image
    assert main(["info", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[1].split(",")[1].strip() for line in lines] == [
        "binary mask (measured as drawn)", "binary mask (measured as drawn)", "detector unknown [role unknown]"]
    assert main(["info", "--json", str(tmp_path)]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["kind"] for r in records] == ["mask", "mask", "grey"]
    assert not any(r["warnings"] for r in records)
    # black particles on white (a PNG of a Fiji mask without Black background): its 0s are
    # the particles, and info says so, as analyze and --labels read it
    tifffile.imwrite(tmp_path / "d_mask.tif", 255 - mask)
    assert main(["info", "--json", str(tmp_path / "d_mask.tif")]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["kind"] == "mask" and record["warnings"] == [
        f"{tmp_path / 'd_mask.tif'}: its 255s cover 92% of the field in one piece that reaches every side, so "
        "they are read as the background and its 0s as the particles (a mask of black particles on white)"]


def test_info_on_folders_lists_their_images_and_flags_an_empty_one(samples, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["info", "--json", str(samples), str(tmp_path / "empty")]) == 1
    records = json.loads(capsys.readouterr().out)
    assert [Path(r["path"]).name for r in records[:-1]] == sorted(p.name for p in samples.glob("*.tif"))
    assert all("error" not in r for r in records[:-1])
    assert records[-1]["error"].endswith(
        "empty: no images (.tif, .tiff, .png, .jpg, .jpeg, .bmp, .gif, .webp) in this folder")
    assert main(["info", str(samples)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 6


def test_colorize_batch(samples, tmp_path, capsys):
    before = digest(samples)
    out = tmp_path / "out"
    assert main(["colorize", str(samples), "-o", str(out), "--png", "-q"]) == 0
    assert digest(samples) == before  # inputs untouched
    manifest = json.loads((out / "manifest.json").read_text())
    assert [p["key"] for p in manifest["pairs"]] == KEYS
    for record in manifest["pairs"]:
        assert record["status"] == "ok" and record["error"] is None
        assert set(record) >= {"key", "se", "bse", "pixel_size_nm", "pixel_size_source", "shift_px",
                               "status", "error"}
        assert abs(record["shift_px"][0]) < 0.5 and abs(record["shift_px"][1]) < 0.5
        assert not any("uncalibrated" in w for w in record["warnings"])
    sources = {p["key"]: (p["pixel_size_nm"], p["pixel_size_source"]) for p in manifest["pairs"]}
    assert sources == {"aorta_01": (25.0, "fei:[Scan]PixelWidth"),
                       "drusen_03": (40.0, "jeol-sidecar:MICRON_MARKER/MICRON_BAR"),
                       "valve_02": (pytest.approx(12.0), "imagej:resolution+unit")}
    assert manifest["versions"]["ddcsem"] == __version__ and "numba" in manifest["versions"]
    assert manifest["arguments"]["mode"] == "overlay"
    for key in KEYS:
        assert (out / f"{key}_ddc.png").exists()
    # the TIFF is calibrated so that Fiji reads µm
    with tifffile.TiffFile(out / "aorta_01_ddc.tif") as tif:
        assert tif.asarray().shape == (448, 512, 3)  # data bar cropped
        num, den = tif.pages[0].tags["XResolution"].value
        assert den / num == pytest.approx(0.025) and tif.imagej_metadata["unit"] == "micron"


def test_colorize_colours_a_padded_pair_by_its_field_as_analyze_does(tmp_path):
    """A black margin around a pair (a mosaic's padding) had set the stretch of the colours
    ``ddcsem colorize`` made: its field came out 55 levels brighter on average than the
    same pair unpadded, and unlike the DDC image ``ddcsem analyze`` wrote of it."""
    from ddcsem.synthetic import make_pair

    syn = make_pair(shape=(400, 400), seed=3)
    for name, pad in (("plain", 0), ("padded", 60)):
        tifffile.imwrite(tmp_path / f"{name}_SE.tif", np.pad(syn.se, pad))
        tifffile.imwrite(tmp_path / f"{name}_BSE.tif", np.pad(syn.bse, pad))
    assert main(["colorize", str(tmp_path), "-o", str(tmp_path / "col"), "--pixel-size", "20nm", "-q"]) == 0
    assert main(["analyze", str(tmp_path), "-o", str(tmp_path / "an"), "--pixel-size", "20nm", "-q"]) == 0
    plain, padded = (tifffile.imread(tmp_path / "col" / f"{name}_ddc.tif").astype(int) for name in ("plain", "padded"))
    assert np.abs(padded[60:-60, 60:-60] - plain).mean() < 2
    assert not padded[:60].any() and not padded[:, -60:].any()  # the padding black, as it was
    assert np.array_equal(padded, tifffile.imread(tmp_path / "an" / "padded" / "padded_ddc.tif"))


def test_a_pair_turned_with_nan_padding_is_analysed_as_with_black(tmp_path):
    """A pair turned in floating point with NaN for padding had both files refused; it
    gives the particles of the same pair turned with black padding."""
    from scipy import ndimage

    from ddcsem.synthetic import make_pair

    syn = make_pair(shape=(400, 400), seed=3)
    for name, cval in (("nan", np.nan), ("black", 0.0)):
        for role, image in (("SE", syn.se), ("BSE", syn.bse)):
            tifffile.imwrite(tmp_path / f"{name}_{role}.tif",
                             ndimage.rotate(image.astype(np.float32), 7, reshape=True, order=1, cval=cval))
    assert main(["analyze", str(tmp_path), "-o", str(tmp_path / "out"), "--pixel-size", "20nm", "-q"]) == 0
    with open(tmp_path / "out" / "images.csv", newline="", encoding="utf-8") as f:
        found = {row["image_id"]: int(row["n_particles"]) for row in csv.DictReader(f)}
    assert found["nan"] == found["black"] > 30


def test_a_mosaic_stitched_with_nan_or_black_seams_is_analysed_without_them(tmp_path):
    """A float mosaic whose gaps between tiles are NaN is read with them black, and black
    seams are no part of the field: the spheres they cut are left out as those on the
    border are (their halves had been particles beside them), both mosaics give the same
    particles, and the DDC image leaves the seams black."""
    from scipy import ndimage

    from ddcsem.synthetic import make_pair

    syn = make_pair(shape=(512, 640), seed=6)
    seams = np.zeros(syn.se.shape, bool)
    seams[:, 300:302] = seams[250:253, :320] = True
    for name, gap in (("nan", np.nan), ("black", 0.0)):
        for role, image in (("SE", syn.se), ("BSE", syn.bse)):
            tifffile.imwrite(tmp_path / f"{name}_{role}.tif", np.where(seams, gap, image.astype(np.float32) / 255))
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path), "-o", str(out), "--pixel-size", "20nm", "-q"]) == 0
    with open(out / "images.csv", newline="", encoding="utf-8") as f:
        found = {row["image_id"]: int(row["n_particles"]) for row in csv.DictReader(f)}
    assert found["nan"] == found["black"] > 30
    for name in ("nan", "black"):
        # (the field's border lies 3 px from a seam: it is widened by 2 px for its edges)
        assert not tifffile.imread(out / name / f"{name}_labels.tif")[ndimage.binary_dilation(seams, iterations=3)].any()
        assert not tifffile.imread(out / name / f"{name}_ddc.tif")[seams].any()


def test_an_image_given_twice_under_two_names_is_said_to_count_twice(tmp_path, capsys):
    """A copy of an image beside it ("image (1).tif") was analysed as a field of its own
    without a word: its particles counted twice in the pooled tables."""
    from ddcsem.synthetic import make_pair

    one, other = make_pair(shape=(128, 128), seed=1), make_pair(shape=(128, 128), seed=2)
    tifffile.imwrite(tmp_path / "a.tif", one.bse)
    shutil.copy(tmp_path / "a.tif", tmp_path / "a (1).tif")
    tifffile.imwrite(tmp_path / "b.tif", other.bse)  # as large, and its first bytes the same
    assert (tmp_path / "b.tif").stat().st_size == (tmp_path / "a.tif").stat().st_size
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path), "--single", "--pixel-size", "20nm", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert ("warning: a (1): its files are byte for byte those of a (a copy under another name?): the same field "
            "twice, whose particles count twice in the pooled tables") in err
    assert "of a (a copy" in err and err.count("byte for byte") == 1
    warned = {r["image_id"]: r["warnings"] for r in json.loads((out / "manifest.json").read_text())["images"]}
    assert [i for i, w in warned.items() if any("byte for byte" in x for x in w)] == ["a (1)"]


def white_bar_px(png: Path) -> int:
    """The length of the longest white run along the bottom rows of a preview: its scale bar."""
    from PIL import Image

    rows = np.asarray(Image.open(png).convert("RGB"))[-30:]
    white = np.all(rows == 255, axis=-1)
    best = 0
    for row in white:
        edges = np.flatnonzero(np.diff(np.r_[0, row.astype(int), 0]))
        best = max([best, *(edges[1::2] - edges[::2])])
    return best


def test_a_scale_bar_of_the_length_given(samples, tmp_path, capsys):
    # aorta_01: 25 nm per pixel, 512 px wide; a figure's panels want the same bar
    out = tmp_path / "out"
    assert main(["colorize", "--se", str(samples / "aorta_01_ETD.tif"), "--bse", str(samples / "aorta_01_CBS.tif"),
                 "-o", str(out), "--png", "--scale-bar", "2um", "-q"]) == 0
    assert white_bar_px(out / "aorta_01_ddc.png") == 80
    assert json.loads((out / "manifest.json").read_text())["parameters"]["scale_bar"] == 2000.0
    assert main(["colorize", "--se", str(samples / "aorta_01_ETD.tif"), "--bse", str(samples / "aorta_01_CBS.tif"),
                 "-o", str(tmp_path / "off"), "--png", "--scale-bar", "off", "-q"]) == 0
    assert white_bar_px(tmp_path / "off" / "aorta_01_ddc.png") < 20  # no bar: what white the image has
    # longer than the image is wide: the pair fails, named, and nothing marks it done
    capsys.readouterr()
    assert main(["colorize", "--se", str(samples / "aorta_01_ETD.tif"), "--bse", str(samples / "aorta_01_CBS.tif"),
                 "-o", str(tmp_path / "long"), "--png", "--scale-bar", "20um", "-q"]) == 1
    assert "a scale bar of 20 µm is 800 px long" in capsys.readouterr().err
    assert not (tmp_path / "long" / "aorta_01_ddc.tif").exists()
    for options, message in ((["--scale-bar", "2um"], "give --png too"),
                             (["--png", "--scale-bar", "12px"], "neither auto, off nor a length")):
        assert main(["colorize", str(samples), "-o", str(tmp_path / "x"), *options]) == 2
        assert message in capsys.readouterr().err


def test_uncalibrated_pair_is_warned_about(tmp_path, capsys):
    from ddcsem.synthetic import make_pair

    syn = make_pair(shape=(96, 96), n_particles=4, seed=1)
    tifffile.imwrite(tmp_path / "a_SE.tif", syn.se)  # no calibration anywhere
    tifffile.imwrite(tmp_path / "a_BSE.tif", syn.bse)
    assert main(["colorize", str(tmp_path), "-o", str(tmp_path / "out")]) == 0
    (record,) = json.loads((tmp_path / "out" / "manifest.json").read_text())["pairs"]
    assert record["pixel_size_nm"] is None and record["pixel_size_source"] == "none"
    (warning,) = record["warnings"]
    assert warning.startswith("uncalibrated: ") and "--pixel-size" in warning
    assert f"warning: a: {warning}" in capsys.readouterr().err
    # -v says so too, and gives a pixel size given on the command line with its source
    assert main(["colorize", str(tmp_path), "-o", str(tmp_path / "out"), "--overwrite", "-v"]) == 0
    assert capsys.readouterr().out.startswith("a: uncalibrated, shift ")  # it printed "None nm/px (none)"
    assert main(["colorize", str(tmp_path), "-o", str(tmp_path / "out"), "--overwrite", "-v", "--pixel-size", "7nm"]) == 0
    assert capsys.readouterr().out.startswith("a: 7 nm/px (argument), shift ")


def test_refuses_to_overwrite_then_skip_and_overwrite(samples, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["colorize", str(samples), "-o", str(out), "-q"]) == 0
    first = (out / "valve_02_ddc.tif").read_bytes()
    assert main(["colorize", str(samples), "-o", str(out), "-q"]) == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert {p["status"] for p in manifest["pairs"]} == {"failed"}
    assert all("--overwrite" in p["error"] for p in manifest["pairs"])
    assert (out / "valve_02_ddc.tif").read_bytes() == first
    assert main(["colorize", str(samples), "-o", str(out), "-q", "--skip-existing"]) == 0
    assert {p["status"] for p in json.loads((out / "manifest.json").read_text())["pairs"]} == {"skipped"}
    assert main(["colorize", str(samples), "-o", str(out), "-q", "--overwrite", "--mode", "density"]) == 0
    assert (out / "valve_02_ddc.tif").read_bytes() != first


def test_output_inside_input_is_not_taken_as_input(samples, capsys):
    out = samples / "results"
    assert main(["colorize", str(samples), "-o", str(out), "-q"]) == 0
    assert main(["colorize", str(samples), "-o", str(out), "-q", "--overwrite"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["unpaired"] == [] and len(manifest["pairs"]) == 3


@pytest.mark.parametrize("command", ["colorize", "analyze"])
def test_the_same_glob_run_again_passes_over_its_own_output_folder(samples, command, capsys):
    """``ddcsem analyze session/* -o session/out`` run again: the shell's ``*`` names
    ``session/out`` among the micrographs, which was refused as an input in the output
    folder; it is the run's own, passed over as a folder's search passes over it."""
    out = samples / "out"
    named = [str(p) for p in sorted(samples.iterdir())]
    assert main([command, *named, "-o", str(out), "-q"]) == 0
    named = [str(p) for p in sorted(samples.iterdir())]
    assert str(out) in named
    assert main([command, *named, "-o", str(out), "-q", "--overwrite"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["pairs" if command == "colorize" else "images"]) == 3
    assert main([command, str(out), "-o", str(out)]) == 2  # named alone, it is no run's micrographs
    assert f"input {out} is the output folder" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["colorize", "analyze"])
def test_input_in_the_output_folder_is_refused_before_anything_is_written(samples, command, capsys):
    # the output folder is never searched: this run would have found "no images" in it
    before = sorted(p.name for p in samples.iterdir())
    assert main([command, str(samples), "-o", str(samples)]) == 2
    err = capsys.readouterr().err
    assert f"input {samples} is the output folder {samples} or lies in it" in err
    assert f"-o {samples / 'results'}" in err
    assert main([command, str(samples / "valve_02_EsB.tif"), "-o", str(samples.parent)]) == 2
    assert "valve_02_EsB.tif is the output folder" in capsys.readouterr().err
    assert sorted(p.name for p in samples.iterdir()) == before  # no manifest among the micrographs


def test_bad_pair_recorded_and_batch_goes_on(samples, tmp_path, capsys):
    (samples / "broken_SE.tif").write_bytes(b"II*\x00garbage")
    shutil.copy(samples / "valve_02_EsB.tif", samples / "broken_BSE.tif")
    (samples / "lonely_EsB.tif").write_bytes(b"")
    out = tmp_path / "out"
    assert main(["colorize", str(samples), "-o", str(out)]) == 1
    manifest = json.loads((out / "manifest.json").read_text())
    status = {p["key"]: p["status"] for p in manifest["pairs"]}
    assert status == {"aorta_01": "ok", "broken": "failed", "drusen_03": "ok", "valve_02": "ok"}
    broken = next(p for p in manifest["pairs"] if p["key"] == "broken")
    assert "broken_SE.tif" in broken["error"]
    assert manifest["unpaired"] == [str(samples / "lonely_EsB.tif")]
    err = capsys.readouterr().err
    assert "failed: broken" in err and "lonely_EsB.tif: no partner" in err


def test_failed_pair_names_its_files_once(tmp_path, capsys):
    image = np.zeros((40, 40), np.uint8)
    image[10:20, 10:20] = 200
    tifffile.imwrite(tmp_path / "a_SE.tif", image)
    tifffile.imwrite(tmp_path / "a_BSE.tif", image[:30])
    assert main(["colorize", str(tmp_path), "-o", str(tmp_path / "out"), "-q"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("failed: a: SE and BSE differ in shape")
    assert line.count("a_SE.tif") == line.count("a_BSE.tif") == 1


def test_macos_companion_files_in_a_folder_are_passed_over(samples, tmp_path, capsys):
    """A Mac writes ._<name> beside each file on a shared or USB drive: the pair
    '._valve_02' failed and the run exited 1."""
    for name in ("valve_02_InLens.tif", "valve_02_EsB.tif"):
        shutil.copy(samples / name, tmp_path / name)
        (tmp_path / f"._{name}").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
    assert main(["colorize", str(tmp_path), "-o", str(tmp_path / "out"), "-q"]) == 0
    assert [p["key"] for p in json.loads((tmp_path / "out" / "manifest.json").read_text())["pairs"]] == ["valve_02"]
    assert main(["colorize", "--se", str(tmp_path / "._valve_02_InLens.tif"), "--bse", str(tmp_path / "valve_02_EsB.tif"),
                 "-o", str(tmp_path / "out2")]) == 1  # named as a file, it is read, and refused
    assert "not a TIFF" in capsys.readouterr().err


def test_nothing_to_do_fails(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["colorize", str(tmp_path / "empty"), "-o", str(tmp_path / "out"), "-q"]) == 1
    assert "nothing to do: no images (.tif," in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing written


def test_a_run_with_nothing_to_do_leaves_an_earlier_runs_results_as_they_were(samples, tmp_path, capsys):
    # a slip of the folder name (or a folder without partners) replaced the tables of the
    # run before with empty ones
    (tmp_path / "empty").mkdir()
    shutil.copy(samples / "valve_02_EsB.tif", tmp_path / "empty" / "valve_02_EsB.tif")  # no partner
    for command, tables in (("analyze", {"particles.csv", "images.csv", "report.html"}), ("colorize", set())):
        out = tmp_path / command
        assert main([command, str(samples), "-o", str(out), "-q"]) == 0
        before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
        assert {"manifest.json", *tables} <= set(before)
        assert main([command, str(tmp_path / "empty"), "-o", str(out), "-q"]) == 1
        said = capsys.readouterr().err
        assert "nothing to do: 1 image found (" in said
        assert ("--single analyses grey images" if command == "analyze" else  # with what would do
                "each field needs an SE and a BSE image, their detectors named in their file names") in said
        assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_a_folder_of_session_folders_is_answered_with_them(samples, tmp_path, capsys):
    """Folders are listed, not searched inside: 'no images' alone left the user guessing."""
    for session in ("s1", "s2"):
        (tmp_path / "data" / session).mkdir(parents=True)
        shutil.copy(samples / "valve_02_EsB.tif", tmp_path / "data" / session / "a_BSE.tif")
    (tmp_path / "data" / "notes").mkdir()
    assert main(["analyze", str(tmp_path / "data"), "-o", str(tmp_path / "out"), "-q"]) == 1
    hint = f"folders are not searched inside, and its folders s1, s2 hold images: give them, e.g. {tmp_path / 'data' / '*'}"
    assert hint in capsys.readouterr().err
    assert main(["info", str(tmp_path / "data")]) == 1
    assert hint in capsys.readouterr().err
    # given with the sessions (a shell's data/*), a folder without images is named, not passed over
    capsys.readouterr()
    assert main(["analyze", *(str(tmp_path / "data" / f) for f in ("notes", "s1", "s2")), "-o",
                 str(tmp_path / "out2"), "--single"]) == 0
    assert f"warning: {tmp_path / 'data' / 'notes'}: no images in this folder\n" in capsys.readouterr().err


def test_a_folder_of_packed_images_is_answered_with_them(samples, tmp_path, capsys):
    """A folder of gzip-compressed TIFFs (as a data repository serves them) or of archives
    holds no images to read: the run says which files to unpack; other files are no hint."""
    import gzip

    packed = tmp_path / "packed"
    packed.mkdir()
    (packed / "a_BSE.tif.gz").write_bytes(gzip.compress((samples / "valve_02_EsB.tif").read_bytes()))
    (packed / "session.zip").write_bytes(b"PK\x03\x04" + bytes(40))
    (packed / "notes.txt.gz").write_bytes(gzip.compress(b"notes"))
    assert main(["analyze", str(packed), "-o", str(tmp_path / "out"), "--single"]) == 1
    assert ("(it holds packed files, a_BSE.tif.gz, session.zip: decompress or extract their images first)"
            in capsys.readouterr().err)
    assert main(["info", str(packed)]) == 1
    assert "a_BSE.tif.gz, session.zip: decompress" in capsys.readouterr().err


def test_explicit_pair_pixel_size_and_jobs(samples, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["colorize", "--se", str(samples / "valve_02_InLens.tif"), "--bse",
                 str(samples / "valve_02_EsB.tif"), "-o", str(out), "--pixel-size", "0.02um", "-q"])
    assert code == 0
    (record,) = json.loads((out / "manifest.json").read_text())["pairs"]
    assert (record["key"], record["pixel_size_nm"], record["pixel_size_source"]) == ("valve_02", 20.0, "argument")
    assert main(["colorize", str(samples), "-o", str(tmp_path / "par"), "--jobs", "2", "-q"]) == 0
    a = tifffile.imread(tmp_path / "par" / "valve_02_ddc.tif")
    b = tifffile.imread(out / "valve_02_ddc.tif")
    np.testing.assert_array_equal(a, b)


def test_same_named_pairs_in_two_folders_are_both_coloured(samples, tmp_path, capsys):
    for session in ("p1", "p2"):
        (tmp_path / session).mkdir()
        for name in ("valve_02_InLens.tif", "valve_02_EsB.tif"):
            shutil.copy(samples / name, tmp_path / session)
    out = tmp_path / "out"
    assert main(["colorize", str(tmp_path / "p1"), str(tmp_path / "p2"), "-o", str(out), "-q"]) == 0
    pairs = json.loads((out / "manifest.json").read_text())["pairs"]
    assert [(p["key"], Path(p["se"]).parent.name, p["status"]) for p in pairs] == [
        ("p1_valve_02", "p1", "ok"), ("p2_valve_02", "p2", "ok")]
    assert main(["colorize", str(samples), "-o", str(tmp_path / "one"), "-q"]) == 0
    alone = tifffile.imread(tmp_path / "one" / "valve_02_ddc.tif")
    for key in ("p1_valve_02", "p2_valve_02"):
        np.testing.assert_array_equal(tifffile.imread(out / f"{key}_ddc.tif"), alone)
    # the dry run shows the names the run gives, an explicit pair's too
    assert main(["colorize", str(tmp_path / "p1"), "--se", str(tmp_path / "p2" / "valve_02_InLens.tif"),
                 "--bse", str(tmp_path / "p2" / "valve_02_EsB.tif"), "-o", str(out), "--dry-run"]) == 0
    assert [row.split()[0] for row in capsys.readouterr().out.splitlines()[1:]] == ["p1_valve_02", "p2_valve_02"]


def test_one_file_as_both_sides_of_a_pair_is_a_usage_error(samples, tmp_path, capsys):
    se = samples / "valve_02_InLens.tif"
    assert main(["colorize", "--se", str(se), "--bse", str(samples / ".." / samples.name / se.name),
                 "-o", str(tmp_path / "out")]) == 2
    assert f"--se and --bse name the same file, {se}: a pair is two images of one field" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_explicit_pair_takes_its_files_from_the_folders_pairs(samples, tmp_path, capsys):
    se, bse = samples / "valve_02_InLens.tif", samples / "valve_02_EsB.tif"
    out = tmp_path / "out"
    assert main(["colorize", str(samples), "--se", str(se), "--bse", str(bse), "-o", str(out), "-q"]) == 0
    pairs = json.loads((out / "manifest.json").read_text())["pairs"]
    assert [(p["key"], p["status"]) for p in pairs] == [(k, "ok") for k in KEYS]  # valve_02 once
    # paired otherwise, the folder's partners of its files are left without one
    assert main(["colorize", str(samples), "--se", str(se), "--bse", str(samples / "aorta_01_CBS.tif"),
                 "-o", str(out), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:3]] == ["drusen_03", "valve_02"]
    assert [Path(line.split()[1]).name for line in lines[3:]] == ["aorta_01_ETD.tif", "valve_02_EsB.tif"]


def test_a_pair_table_pairs_files_that_names_do_not(samples, tmp_path, capsys):
    """Numbered exports (img_0001 SE, img_0002 BSE) pair only by a table; its files are
    not left unpaired from a folder given beside it; a bad table stops the run."""
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(samples / "valve_02_InLens.tif", raw / "img_0001.tif")
    shutil.copy(samples / "valve_02_EsB.tif", raw / "img_0002.tif")
    shutil.copy(samples / "aorta_01_CBS.tif", raw / "img_0003.tif")  # listed nowhere
    table = tmp_path / "pairs.csv"
    table.write_text("id;se;bse\nvalve;raw/img_0001.tif;raw/img_0002.tif\n")
    out = tmp_path / "out"
    assert main(["colorize", str(raw), "--pairs", str(table), "-o", str(out), "-q"]) == 0
    (record,) = json.loads((out / "manifest.json").read_text())["pairs"]
    assert (record["key"], record["status"], Path(record["bse"]).name) == ("valve", "ok", "img_0002.tif")
    assert [Path(p).name for p in json.loads((out / "manifest.json").read_text())["unpaired"]] == ["img_0003.tif"]
    assert main(["colorize", "--pairs", str(table), "-o", str(out), "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[1].endswith("img_0002.tif")
    # a row's pixel size wins over --pixel-size, which calibrates the rows without one
    table.write_text("id;se;bse;pixel_size\nvalve;raw/img_0001.tif;raw/img_0002.tif;8 nm\n"
                     "again;raw/img_0001.tif;raw/img_0002.tif;\n")
    assert main(["analyze", "--pairs", str(table), "-o", str(tmp_path / "a"), "-q", "--pixel-size", "5nm"]) == 0
    rows = {r["image_id"]: r for r in csv.DictReader(open(tmp_path / "a" / "images.csv", encoding="utf-8"))}
    assert (rows["valve"]["pixel_size_nm"], rows["valve"]["pixel_size_source"]) == ("8", "pair table")
    assert (rows["again"]["pixel_size_nm"], rows["again"]["pixel_size_source"]) == ("5", "argument")
    assert main(["analyze", "--pairs", str(table), "-o", str(tmp_path / "a"), "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[1].endswith("img_0002.tif (8 nm/px, pair table)")
    table.write_text("se,bse\nraw/img_0001.tif,\n")
    assert main(["colorize", "--pairs", str(table), "-o", str(tmp_path / "b")]) == 2
    assert "pairs.csv: row 2 lacks its bse file" in capsys.readouterr().err and not (tmp_path / "b").exists()


def test_extra_tokens(tmp_path, capsys):
    for name in ("s1_chanA.tif", "s1_chanB.tif"):
        (tmp_path / name).write_bytes(b"")
    assert main(["colorize", str(tmp_path), "-o", str(tmp_path / "o"), "--dry-run",
                 "--se-tokens", "chanA", "--bse-tokens", "chanB"]) == 0
    assert "s1_chanA.tif  ->  " in capsys.readouterr().out


def test_inputs_may_follow_options(tmp_path, capsys):
    for name in ("a_SE.tif", "a_BSE.tif", "b_SE.tif", "b_BSE.tif"):
        (tmp_path / name).write_bytes(b"")
    assert main(["colorize", str(tmp_path / "a_SE.tif"), "-o", str(tmp_path / "o"), "--dry-run",
                 str(tmp_path / "a_BSE.tif"), str(tmp_path / "b_SE.tif"), "-q",
                 str(tmp_path / "b_BSE.tif")]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [(r.split()[0], Path(r.split()[1]).name, Path(r.split()[3]).name) for r in rows] == [
        ("a", "a_SE.tif", "a_BSE.tif"), ("b", "b_SE.tif", "b_BSE.tif")]


def test_dry_run_prints_pairing_table(samples, tmp_path, capsys):
    assert main(["colorize", str(samples), "-o", str(tmp_path / "out"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    for key in KEYS:
        assert key in out
    assert "valve_02_InLens.tif  ->  " in out
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("options", "message"), [
    (["--clip", "99", "1"], "--clip: clip percentiles must satisfy 0 <= low < high <= 100, got [99.0, 1.0]"),
    (["--clip", "50", "50"], "got [50.0, 50.0]"),
    (["--green-gain", "-1"], "argument --green-gain: the gain must be a number of at least 0, not -1"),
    (["--green-gain", "nan"], "not nan"),
])
def test_bad_colouring_options_stop_the_run_before_any_image(samples, tmp_path, options, message, capsys):
    # not one failure per image, each with the same message
    for command in (["colorize"], ["analyze"]) if options[0] == "--clip" else (["colorize"],):
        assert main([*command, str(samples), "-o", str(tmp_path / "out"), *options]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "argv",
    [["colorize", "x", "-o", "o", "--pixel-size", "3 furlongs"],
     ["analyze", "x", "-o", "o", "--pixel-size", "0.02"],  # 0.02 nm: meant in µm
     ["colorize", "x", "-o", "o", "--clip", "5", "200"],
     ["colorize", "-o", "o"],
     ["colorize", "x", "-o", "o", "--se", "a.tif"],
     ["colorize", "x", "-o", "o", "--jobs", "0"],
     ["analyze", "x", "-o", "o", "-j", "many"],
     ["colorize", "x"],
     ["colorize", "x", "-o", "o", "--colour", "y"],  # a misspelt option is not an input
     ["bench", "x"],
     ["frobnicate"]],
)
def test_usage_errors_exit_2(argv, capsys):
    """With what is wrong and where the options are read, not argparse's usage first (20
    lines for analyze, above the one that mattered)."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("ddcsem") and ": error: " in err and "usage:" not in err
    command = "" if argv[0] == "frobnicate" else f" {argv[0]}"  # the command's options, checks of its own too
    assert err.endswith(f"(the options: ddcsem{command} --help)\n") and err.count("\n") <= 3, err


@pytest.mark.parametrize(("argv", "message"), [
    (["bench", "--repeat", "0"], "argument --repeat: must be at least 1, not 0"),  # was a bare "error:" line
    (["bench", "--repeat", "x"], "argument --repeat: 'x' is not a whole number"),
    (["bench", "--sizes", "a"], "argument --sizes: 'a' is not a comma-separated list of sizes"),
    (["bench", "--sizes", "8"], "argument --sizes: sizes must be at least 16"),
    (["bench", "--dtypes", "int8"], "argument --dtypes: pixel types are uint8, uint16 and float32"),
    (["bench", "--threads", "0"], "argument --threads: thread counts are 1.."),
    (["colorize", "x", "-o", "o", "--green-gain", "abc"], "argument --green-gain: 'abc' is not a number"),
    (["analyze", "x", "-o", "o", "--se-tokens", ","], "argument --se-tokens: give comma-separated detector tokens"),
    (["analyze", "x", "-o", "o", "--tile", "3"], "argument --tile: tiles must be at least 64 px across, not 3"),
    (["analyze", "x", "-o", "o", "--tile", "3 furlongs"], "argument --tile: unknown length unit 'furlongs'"),
    (["analyze", "x", "-o", "o", "--tile", "5e1"], "argument --tile: tiles must be at least 64 px across, not 50"),
    (["analyze", "x", "-o", "o", "--threshold", "1.5"], "or a density in [0, 1], not 1.5"),
    (["analyze", "x", "-o", "o", "--basis", "1,2", "#ff8800"], "argument --basis: '1,2' is not a colour"),
    (["analyze", "x", "-o", "o", "--basis", "#zz8800", "#ff8800"], "'#zz8800' is not a colour"),
    # a negative length, which argparse took for an option ("expected one argument")
    (["analyze", "x", "-o", "o", "--pixel-size", "-3nm"], "argument --pixel-size: length '-3nm' must be positive"),
    (["analyze", "x", "-o", "o", "--min-diameter", "-.5um"], "argument --min-diameter: length '-.5um' must be"),
    (["colorize", "x", "-o", "o", "--png", "--scale-bar", "-2um"], "argument --scale-bar: '-2um' is neither auto"),
])
def test_each_checked_option_says_what_is_wrong(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ddcsem {argv[0]}: error: ") and message in err, err
    assert err.endswith(f"(the options: ddcsem {argv[0]} --help)\n")


def test_the_command_alone_lists_the_commands(capsys):
    # it said only "the following arguments are required: COMMAND", naming none
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: ddcsem")
    assert all(command in err for command in ("info", "colorize", "analyze", "bench"))


def test_missing_input_folder_exit_2(tmp_path, capsys):
    assert main(["colorize", str(tmp_path / "nowhere"), "-o", str(tmp_path / "o")]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_skip_existing_only_trusts_results_made_with_the_same_parameters(samples, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert main(["colorize", str(samples), "-o", str(out), "-q"]) == 0
    first = (out / "valve_02_ddc.tif").read_bytes()
    assert main(["colorize", str(samples), "-o", str(out), "-q", "--skip-existing", "--mode", "density"]) == 0
    pairs = json.loads((out / "manifest.json").read_text())["pairs"]
    assert {p["status"] for p in pairs} == {"ok"}  # other parameters: coloured again
    assert (out / "valve_02_ddc.tif").read_bytes() != first
    (out / "manifest.json").unlink()  # the parameters are recorded in each result itself
    assert main(["colorize", str(samples), "-o", str(out), "-q", "--skip-existing", "--mode", "density"]) == 0
    assert {p["status"] for p in json.loads((out / "manifest.json").read_text())["pairs"]} == {"skipped"}
    # ... and so are its input files: one exported again, or its sidecar changed, is redone
    exported = samples / "valve_02_EsB.tif"  # the same pixels, written again a second later
    os.utime(exported, ns=(exported.stat().st_atime_ns, exported.stat().st_mtime_ns + 10**9))
    with open(samples / "drusen_03_SEI.txt", "a") as sidecar:
        sidecar.write("\n")
    assert main(["colorize", str(samples), "-o", str(out), "-q", "--skip-existing", "--mode", "density"]) == 0
    pairs = json.loads((out / "manifest.json").read_text())["pairs"]
    assert {p["key"]: p["status"] for p in pairs} == {"aorta_01": "skipped", "drusen_03": "ok", "valve_02": "ok"}
    monkeypatch.setattr("ddcsem.cli.__version__", "0.0.1")  # results of another version are not trusted
    assert main(["colorize", str(samples), "-o", str(out), "-q", "--skip-existing", "--mode", "density"]) == 0
    assert {p["status"] for p in json.loads((out / "manifest.json").read_text())["pairs"]} == {"ok"}


@pytest.mark.parametrize("kernel", [False, True])
def test_ctrl_c_keeps_the_images_done_and_says_how_to_go_on(samples, tmp_path, monkeypatch, capsys, kernel):
    """Ctrl-C in a batch (within a numba kernel too) lost the tables and the manifest of
    every image done before it. Now they are written for those, the manifest counts the
    rest, the exit code is 130, and --skip-existing does the rest."""
    from ddcsem import cli

    analyze_one, calls = cli._analyze_one, []

    def interrupted_at_the_second(item, job):
        calls.append(item)
        if len(calls) == 2 and kernel:
            raise SystemError("CPUDispatcher(<function f>) returned a result with an exception set") \
                from KeyboardInterrupt()
        if len(calls) == 2:
            raise KeyboardInterrupt
        return analyze_one(item, job)

    monkeypatch.setattr(cli, "_analyze_one", interrupted_at_the_second)
    out = tmp_path / "out"
    assert main(["analyze", str(samples), "-o", str(out)]) == 130
    err = capsys.readouterr().err
    assert "analysed images: 1, skipped 0, failed 0" in err
    assert "interrupted: 2 images not done, and not in the results. Run the same command with --skip-existing" in err
    with open(out / "images.csv", newline="", encoding="utf-8") as fh:
        assert [row["image_id"] for row in csv.DictReader(fh)] == ["aorta_01"]
    assert json.loads((out / "manifest.json").read_text())["undone"] == 2
    monkeypatch.setattr(cli, "_analyze_one", analyze_one)
    assert main(["analyze", str(samples), "-o", str(out), "--skip-existing"]) == 0
    err = capsys.readouterr().err
    with open(out / "particles.csv", newline="", encoding="utf-8") as fh:
        rows = len(list(csv.DictReader(fh)))
    assert f"analysed images: 2, skipped 1, failed 0 ({rows} particles in the tables); results in" in err
    assert json.loads((out / "manifest.json").read_text())["undone"] == 0


def napping_worker(seconds, job):
    """A batch's worker for the test below: it sleeps, then reports itself; before a long
    nap it leaves the file ``job``, the sign that the batch is under way."""
    import time

    if seconds > 1:
        Path(job).touch()
    time.sleep(seconds)
    return {"slept": seconds}


def test_ctrl_c_with_jobs_finishes_the_images_under_way_and_starts_no_more(capsys, tmp_path):
    """With --jobs, Ctrl-C reaches the workers too; they used to die with a traceback each.
    Now they ignore it: the main process lets the items under way finish, starts no more,
    and reports those done. Ctrl-C comes once the first long item is under way (not at a
    fixed 4 s, which a slow start of the workers may not reach), and is Python's
    KeyboardInterrupt even where the test runs in the background (as ``cmd &`` in a
    script), which starts Python with SIGINT ignored: every item had finished."""
    import argparse
    import signal
    import threading
    import time

    from ddcsem.cli import _run_batch

    items = [0.0, 0.0] + [2.0] * 8
    args = argparse.Namespace(jobs=2, quiet=True)
    started, sent, over = tmp_path / "napping", [], threading.Event()

    def ctrl_c():
        while not started.exists():
            if over.wait(0.02):  # the batch ended first: no Ctrl-C for a later test
                return
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Thread(target=ctrl_c, daemon=True).start()
        records, undone = _run_batch(napping_worker, items, started, args, "item", dict)
    finally:
        over.set()
        signal.signal(signal.SIGINT, previous)
    assert sent, "no long item was started"
    after = time.perf_counter() - sent[0]
    assert records[:2] == [{"slept": 0.0}] * 2 and 1 <= undone <= len(items) - 2
    assert len(records) + undone == len(items) and all(r == {"slept": 2.0} for r in records[2:])
    assert "finishing the" in capsys.readouterr().err
    # the items under way finish (up to five: two running, three queued to the workers:
    # 6 s), and nothing waits for the rest (undone above)
    assert after < 10


def killing_worker(item, job):
    """A batch's worker for the test below: ``("dies", path)`` is killed the first time (its
    marker file is not there yet), as a large image killed for want of memory beside
    another; ``"always"`` is killed each time, as one too large even alone."""
    import signal
    import time

    if item == "always" or (isinstance(item, tuple) and not item[1].exists()):
        if isinstance(item, tuple):
            item[1].touch()
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.1)
    return {"item": str(item)}


def test_a_worker_killed_for_want_of_memory_does_not_end_the_batch(tmp_path, capsys):
    """The system's killing a worker (out of memory: large images side by side) ended the
    batch with a BrokenProcessPool traceback, its tables unwritten. Now the items it took
    with it and those not started go on one at a time; one killed even alone is recorded
    as failed, with what to do."""
    import argparse

    from ddcsem.cli import _analyze_killed, _run_batch
    from ddcsem.report import image_row

    again = ("dies", tmp_path / "marker")
    items = ["a", "b", again, "c", "always", "d"]
    records, undone = _run_batch(killing_worker, items, None, argparse.Namespace(jobs=2, quiet=False), "image",
                                 lambda item: {"item": str(item), "killed": True})
    assert undone == 0
    assert records == [{"item": "a"}, {"item": "b"}, {"item": str(again)}, {"item": "c"},
                       {"item": "always", "killed": True}, {"item": "d"}]
    assert "a worker process was killed, likely for want of memory" in capsys.readouterr().err
    record = _analyze_killed(("single", tmp_path / "x_BSE.tif", "x_bse"))
    row = image_row(record)
    assert row["status"] == "failed" and row["image_path"] == str(tmp_path / "x_BSE.tif")
    assert "killed by the system" in row["error"] and "--tile auto" in row["error"]


def test_jobs_auto_takes_one_worker_per_core_it_may_use(samples, tmp_path, monkeypatch):
    """--jobs auto: one worker per core that the process may run on (a container's or a
    cluster job's share, not the machine's), and the results of --jobs 1."""
    from ddcsem import cli

    if hasattr(os, "sched_getaffinity"):
        assert cli._jobs("auto") == len(os.sched_getaffinity(0))
    monkeypatch.setattr(cli, "_usable_cores", lambda: 2)
    assert cli._jobs("auto") == 2 and cli._jobs("3") == 3
    assert main(["analyze", str(samples), "-o", str(tmp_path / "a"), "-j", "auto", "-q"]) == 0
    assert main(["analyze", str(samples), "-o", str(tmp_path / "b"), "-q"]) == 0
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["arguments"]["jobs"] == 2
    assert (tmp_path / "a" / "particles.csv").read_text() == (tmp_path / "b" / "particles.csv").read_text()


def test_images_that_warn_alike_are_one_line_on_the_terminal():
    """A batch of a hundred fields, each with too few particles for ISO 13322-1, printed a
    hundred such lines and hid the one warning that mattered. More than three images that
    warn alike (the same words, other figures) are one line; three or fewer keep theirs."""
    from ddcsem.cli import _warning_lines

    few = "only {} particles: too few for a stable size distribution (ISO 13322-1 asks for thousands)"
    records = [{"image_id": f"f{i}", "warnings": [few.format(40 + i)]} for i in range(5)]
    records[2]["warnings"].append("the particles found cover 97% of the field: if they are darker ...")
    lines = _warning_lines(records, "image_id")
    assert lines == [("5 images (f0, f1, f2, …)", few.format("40–44") + " (each image's own in images.csv)"),
                     ("f2", "the particles found cover 97% of the field: if they are darker ...")]
    assert _warning_lines(records[:3], "image_id")[:3] == [(f"f{i}", few.format(40 + i)) for i in range(2)] + [
        ("f2", few.format(42))]
    same = [{"image_id": f"f{i}", "warnings": ["uncalibrated: no pixel size"]} for i in range(4)]
    assert _warning_lines(same, "image_id") == [("4 images (f0, f1, f2, …)", "uncalibrated: no pixel size")]
    pairs = [{"key": f"p{i}", "warnings": [f"shift {i} px"]} for i in range(4)]  # colorize's records
    assert _warning_lines(pairs, "key", "pair") == [("4 pairs (p0, p1, p2, …)",
                                                     "shift 0–3 px (each pair's own in manifest.json)")]
    # figures of names and paths, and signed ones, are no range: the first's words, said to be its
    for text in ("{0}: mixing was on in v{1}_EsB.tif", "/data/{1}/x.tif: mixing was on", "shift -{1}.5 px"):
        named = [{"image_id": f"f{i}", "warnings": [text.format(7, 10 + i)]} for i in range(4)]
        assert _warning_lines(named, "image_id") == [("4 images (f0, f1, f2, …)", text.format(7, 10)
                                                      + " (in f0; each image's own in images.csv)")]


def test_an_image_that_runs_out_of_memory_fails_alone(samples, tmp_path, monkeypatch, capsys):
    """Where the system refuses memory (a ulimit or a cluster job's limit, Windows), numpy
    raises MemoryError: it ended the whole batch with a traceback, its tables unwritten.
    Now that image fails, with what to do, and the batch goes on."""
    from ddcsem import cli

    colorize_module = sys.modules["ddcsem.colorize"]  # ddcsem.colorize is the function
    analyze_field = cli._analyze_field

    def short_of_memory(kind, image, tile, field_id, *args, **kwargs):
        if field_id == "drusen_03":
            raise MemoryError
        return analyze_field(kind, image, tile, field_id, *args, **kwargs)

    monkeypatch.setattr(cli, "_analyze_field", short_of_memory)
    assert main(["analyze", str(samples), "-o", str(tmp_path / "a"), "-q"]) == 1
    assert "failed: drusen_03: " in capsys.readouterr().err
    with open(tmp_path / "a" / "images.csv", newline="", encoding="utf-8") as fh:
        rows = {row["image_id"]: row for row in csv.DictReader(fh)}
    assert [rows[k]["status"] for k in KEYS] == ["ok", "failed", "ok"]
    error = rows["drusen_03"]["error"]
    assert error.startswith(f"{samples / 'drusen_03_SEI.tif'} + {samples / 'drusen_03_BEI.tif'}: ran out of memory")
    assert error.endswith("(analyse it in tiles (--tile auto), or with fewer --jobs)")
    colorize = colorize_module.colorize
    monkeypatch.setattr(colorize_module, "colorize",
                        lambda se, bse, **kw: (_ for _ in ()).throw(MemoryError) if se.shape == (384, 448)
                        else colorize(se, bse, **kw))
    assert main(["colorize", str(samples), "-o", str(tmp_path / "c"), "-q"]) == 1
    pairs = json.loads((tmp_path / "c" / "manifest.json").read_text())["pairs"]
    assert [p["status"] for p in pairs] == ["ok", "failed", "ok"]
    assert "ran out of memory" in pairs[1]["error"] and "colour it with fewer --jobs" in pairs[1]["error"]


def test_a_batch_runs_numba_on_the_cores_it_may_use(samples, tmp_path, monkeypatch):
    """numba starts a thread per core of the machine, also where the process may use only
    a few (a cluster job's share of a node): the kernels' threads then slow each other
    down. A batch runs them on the cores it may use."""
    import numba

    from ddcsem import cli

    before = numba.get_num_threads()
    monkeypatch.setattr(cli, "_usable_cores", lambda: 1)
    try:
        assert main(["analyze", str(samples / "valve_02_EsB.tif"), "--single", "-o", str(tmp_path / "a"), "-q"]) == 0
        assert numba.get_num_threads() == 1
    finally:
        numba.set_num_threads(before)


@pytest.mark.parametrize(
    "particles, xlsx, quiet, said",
    [
        (400_000, False, False, "writing the tables of 400000 particles (particles.csv), about 14 s"),
        (200_000, True, False, "writing the tables of 200000 particles (particles.csv and results.xlsx), about 15 s"),
        (100_000, True, False, None),  # 7.5 s
        (3_000_000, True, False, "about 4 min"),
        (100_000, False, False, None),  # 3.5 s: no need
        (400_000, False, True, None),  # --quiet: errors only
    ],
)
def test_pooling_large_tables_is_announced(particles, xlsx, quiet, said, monkeypatch, capsys):
    # the terminal sat still for minutes after the last image while they were written
    import argparse

    from ddcsem import cli

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    records = [{"image_id": f"f{i}", "status": "ok", "n_particles": particles // 4} for i in range(4)]
    records.append({"image_id": "bad", "status": "failed", "n_particles": None})
    cli._announce_tables(records, argparse.Namespace(xlsx=xlsx, quiet=quiet))
    err = capsys.readouterr().err
    assert (said in err) if said else err == ""


def test_results_of_images_left_out_of_the_tables_are_warned_about(samples, tmp_path, capsys):
    # a second folder analysed into the first's output replaced its tables, which a user
    # took for the two together
    day1, day2 = tmp_path / "day1", tmp_path / "day2"
    for folder, stem in ((day1, "valve_02"), (day2, "aorta_01")):
        folder.mkdir()
        for path in samples.glob(f"{stem}_*"):
            shutil.copy(path, folder / path.name)
    out = tmp_path / "out"
    assert main(["analyze", str(day1), "-o", str(out)]) == 0
    assert "also holds" not in capsys.readouterr().err
    assert main(["analyze", str(day2), "-o", str(out)]) == 0
    said = capsys.readouterr().err
    assert f"warning: {out} also holds the results of 1 image that this run did not analyse (valve_02)" in said
    assert "--skip-existing" in said
    assert main(["analyze", str(day1), str(day2), "-o", str(out), "--skip-existing"]) == 0  # as it advises
    assert "also holds" not in capsys.readouterr().err
    with open(out / "images.csv", newline="", encoding="utf-8") as fh:
        assert sorted(r["image_id"] for r in csv.DictReader(fh)) == ["aorta_01", "valve_02"]


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="file names there are Unicode: no undecodable bytes")
def test_a_pair_of_long_file_names_is_analysed_and_coloured(tmp_path, capsys):
    """Files named at 240 characters (within a file system's 255 bytes) failed every
    output: "<name>_ddc.tif: cannot write here: File name too long (choose a writable output
    folder)". Their id is cut (see distinct_ids), and an atomic write's temporary name too."""
    from ddcsem.synthetic import make_pair

    syn, name = make_pair(shape=(96, 96), n_particles=6, seed=3), "field-" + "x" * 234
    for side, image in (("SE", syn.se), ("BSE", syn.bse)):
        tifffile.imwrite(tmp_path / f"{name}_{side}.tif", image)
    assert main(["analyze", str(tmp_path), "-o", str(tmp_path / "out"), "--pixel-size", "20nm", "-q"]) == 0
    with open(tmp_path / "out" / "images.csv", newline="", encoding="utf-8") as fh:
        (row,) = csv.DictReader(fh)
    assert row["status"] == "ok" and re.fullmatch(r"field-x{185}_[0-9a-f]{8}", row["image_id"])
    assert (tmp_path / "out" / row["image_id"] / f"{row['image_id']}_particles.csv").is_file()
    assert main(["colorize", str(tmp_path), "-o", str(tmp_path / "colour"), "--png", "-q"]) == 0
    assert (tmp_path / "colour" / f"{row['image_id']}_ddc.png").is_file()
    assert capsys.readouterr().err == ""


def test_file_names_that_are_not_utf8_are_analysed_and_named_readably(samples, tmp_path, capsys):
    # a zip made on Windows, unpacked on Linux, names a file b"caf\xe9_EsB.tif": the batch
    # crashed with a traceback (matplotlib could not draw the id, the manifest not hold it)
    folder = tmp_path / "latin1"
    folder.mkdir()
    for side in ("InLens", "EsB"):
        shutil.copy(samples / f"valve_02_{side}.tif", os.fsencode(folder) + f"/caf\xe9_{side}.tif".encode("latin-1"))
    out = tmp_path / "out"
    assert main(["analyze", str(folder), "-o", str(out), "--xlsx", "-q"]) == 0
    assert (out / "café" / "café_overlay.png").is_file()  # its bytes read as Windows-1252
    with open(out / "images.csv", newline="", encoding="utf-8") as fh:
        (row,) = csv.DictReader(fh)
    assert row["image_id"] == "café" and row["se_path"].endswith("caf\\udce9_InLens.tif")  # the path, escaped
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert Path(manifest["images"][0]["sources"]["se"]).exists()  # the escape reads back as the path
    assert main(["analyze", str(folder), "-o", str(out), "--xlsx", "--skip-existing", "-q"]) == 0
    rerun = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["images"]
    assert [r["status"] for r in rerun] == ["skipped"]  # its recorded sources are its files
    assert main(["colorize", str(folder), "-o", str(tmp_path / "colour"), "-q"]) == 0
    assert (tmp_path / "colour" / "café_ddc.tif").is_file()
    assert capsys.readouterr().err == ""
    # printed on a terminal of a UTF-8 locale (strict there, unlike C.UTF-8), where it raised
    run = subprocess.run([sys.executable, "-m", "ddcsem", "info", str(folder)], capture_output=True,
                         env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"}, timeout=120)
    assert run.returncode == 0, run.stderr.decode(errors="replace")[-2000:]
    assert b"caf\\udce9_EsB.tif: imagej, detector EsB [BSE]" in run.stdout


def test_a_pattern_no_shell_expanded_stands_for_its_matches(samples, tmp_path, capsys):
    # Windows' shells pass data\*.tif on as typed: it was "no such file or folder"
    (samples / "notes.txt").write_text("a sidecar-like file a pattern matches too")
    out = tmp_path / "out"
    assert main(["analyze", str(samples / "valve_02_*"), str(samples / "aorta_01_*.tif"), "-o", str(out), "-q"]) == 0
    with open(out / "images.csv", newline="", encoding="utf-8") as fh:
        assert sorted(r["image_id"] for r in csv.DictReader(fh)) == ["aorta_01", "valve_02"]
    assert main(["info", str(samples / "*_EsB.tif"), str(samples / "nothing_*.tif"), str(samples / "none.tif")]) == 1
    said = capsys.readouterr()
    assert said.out.startswith(f"{samples / 'valve_02_EsB.tif'}: imagej, detector EsB [BSE]")
    assert f"error: {samples / 'nothing_*.tif'}: matches no file or folder (check the pattern)" in said.err
    assert f"error: {samples / 'none.tif'}: no such file or folder (check the path)" in said.err
    assert main(["analyze", str(samples / "nothing_*.tif"), "-o", str(tmp_path / "o2"), "-q"]) == 2
    assert "matches no file or folder" in capsys.readouterr().err
    # files saved on Windows as .TIF, a pattern typed as *.tif on Linux: the names it missed are said
    windows = tmp_path / "windows"
    windows.mkdir()
    for name in ("VALVE_02_ESB.TIF", "valve_02_InLens.Tif"):
        shutil.copy(samples / name.lower().replace("esb", "EsB").replace("inlens", "InLens"), windows / name)
    assert main(["analyze", str(windows / "*.tif"), "-o", str(tmp_path / "o3"), "-q"]) == 2
    assert (f"{windows / '*.tif'}: matches no file or folder (a pattern matches names in their own case, and 2 "
            f"names there match it in another: VALVE_02_ESB.TIF, valve_02_InLens.Tif; give the folder, {windows}, "
            "or the pattern in their case)") in capsys.readouterr().err
    assert main(["analyze", str(windows), "-o", str(tmp_path / "o3"), "-q"]) == 0  # as the hint says


def test_info_piped_into_a_reader_that_stops_early_ends_without_a_traceback(samples):
    # `ddcsem info data | head` printed a BrokenPipeError traceback
    run = subprocess.Popen([sys.executable, "-m", "ddcsem", "info", *[str(samples)] * 300],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = run.stdout.readline()
    run.stdout.close()  # as head does after its lines
    err = run.stderr.read().decode()
    assert run.wait(timeout=120) == 1
    assert first.startswith(str(samples / "aorta_01_CBS.tif").encode()) and "Traceback" not in err, err[-2000:]


def test_prefer_takes_the_detector_named_where_a_field_has_several(samples, tmp_path, capsys):
    folder = tmp_path / "three"
    folder.mkdir()
    for name, source in (("valve_02_InLens.tif", "valve_02_InLens.tif"), ("valve_02_SE2.tif", "valve_02_InLens.tif"),
                         ("valve_02_EsB.tif", "valve_02_EsB.tif")):
        shutil.copy(samples / source, folder / name)
    assert main(["colorize", str(folder), "-o", str(tmp_path / "refused"), "-q"]) == 1
    assert "2 SE candidates for one partner" in capsys.readouterr().err
    refused = json.loads((tmp_path / "refused" / "manifest.json").read_text(encoding="utf-8"))["pairs"][0]["error"]
    assert "with --prefer, e.g. --prefer InLens" in refused
    assert main(["analyze", str(folder), "-o", str(tmp_path / "out"), "--prefer", "SE2", "-q"]) == 0
    with open(tmp_path / "out" / "images.csv", newline="", encoding="utf-8") as fh:
        (row,) = csv.DictReader(fh)
    assert Path(row["se_path"]).name == "valve_02_SE2.tif" and Path(row["bse_path"]).name == "valve_02_EsB.tif"


def test_ddcsems_own_results_given_as_input(samples, tmp_path, capsys):
    """colorize's folder: its PNG previews had been analysed beside the DDC TIFFs, each
    field twice in the tables; analyze's: its plots had been taken for composites."""
    colour, out = tmp_path / "colour", tmp_path / "out"
    assert main(["colorize", str(samples), "-o", str(colour), "--png", "-q"]) == 0
    capsys.readouterr()
    assert main(["analyze", str(colour), "-o", str(out)]) == 0
    assert "note: the 3 PNG previews of 'ddcsem colorize' (aorta_01_ddc.png, drusen_03_ddc.png, valve_02_ddc.png) " \
           "are left out" in capsys.readouterr().err
    with open(out / "images.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["image_id"] for r in rows) == ["aorta_01_ddc", "drusen_03_ddc", "valve_02_ddc"]
    assert {(r["kind"], r["pixel_size_source"]) for r in rows} == {("composite", "imagej:resolution+unit")}
    # named, a preview is taken as it is
    assert main(["analyze", str(colour / "valve_02_ddc.png"), "-o", str(tmp_path / "one"), "-q"]) == 0
    # analyze's results, or an image's folder of them, are no micrographs: said, before anything is written
    for given in (out, out / "valve_02_ddc"):
        assert main(["analyze", str(given), "-o", str(tmp_path / "again")]) == 2
        said = capsys.readouterr().err
        assert f"input {given} holds the results of 'ddcsem analyze'" in said
        assert f"give {out.resolve() if given != out else out} as --labels" in said
        assert not (tmp_path / "again").exists()
    # a folder of micrographs kept beside such results is one
    shutil.copytree(samples, out / "more")
    assert main(["analyze", str(out / "more"), "-o", str(tmp_path / "more"), "-q"]) == 0


@pytest.mark.parametrize("command", ["colorize", "analyze"])
def test_a_first_run_says_that_numba_compiles_the_kernels(command, samples, tmp_path, monkeypatch, capsys):
    # a fresh installation's first analyze sat at 0 % for a minute and a half, compiling
    from ddcsem import _kernels

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    asked = []
    monkeypatch.setattr(_kernels, "uncompiled", lambda *kernels: asked.extend(kernels) or ["histogram_pair"])
    args = [command, str(samples / "valve_02_EsB.tif"), str(samples / "valve_02_InLens.tif")]
    assert main(args + ["-o", str(tmp_path / "a")]) == 0
    assert "note: numba compiles ddcsem's kernels for this machine first" in capsys.readouterr().err
    assert asked and all(hasattr(k, "py_func") for k in asked)  # numba's functions, not their wrappers
    assert main(args + ["-o", str(tmp_path / "b"), "-q"]) == 0  # errors only
    assert "numba" not in capsys.readouterr().err
    monkeypatch.setattr(_kernels, "uncompiled", lambda *kernels: [])
    assert main(args + ["-o", str(tmp_path / "c")]) == 0
    assert "numba" not in capsys.readouterr().err



def test_warnings_for_programmers_are_not_reported_as_the_images(samples, tmp_path, monkeypatch, capsys):
    # numpy 2.5 deprecates what scikit-image 0.26 does in a function ddcsem calls: each run
    # printed "warning: valve_02: Setting the shape on a NumPy array has been deprecated ..."
    import warnings

    from ddcsem import analyze

    original = analyze.analyze_single

    def noisy(*args, **kwargs):
        warnings.warn("Setting the shape on a NumPy array has been deprecated", DeprecationWarning)
        warnings.warn("a keyword's default will change", FutureWarning)
        warnings.warn("the image is odd", UserWarning)
        return original(*args, **kwargs)

    monkeypatch.setattr(analyze, "analyze_single", noisy)
    assert main(["analyze", str(samples / "valve_02_EsB.tif"), "--single", "-o", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert "warning: valve_02_esb: the image is odd" in err
    assert "deprecated" not in err and "will change" not in err
    manifest = (tmp_path / "a" / "manifest.json").read_text()
    assert "the image is odd" in manifest and "deprecated" not in manifest


def test_sidecars_named_beside_their_images_are_read_with_them(samples, tmp_path, capsys):
    """A shell's ``session/*`` names the JEOL sidecars (``.txt``) beside the images: they were
    taken as images, so that each field had two SE candidates and failed to pair, and
    ``info`` failed on each. They are read with their images; one named alone is refused
    with its image to give. Windows' Thumbs.db among them is passed over, as in a folder,
    and so are the notes and tables kept beside them (the batch failed on each, exit 1)."""
    (samples / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0" + bytes(60))  # Windows' thumbnail cache, alike
    (samples / "drusen_03_notes.md").write_text("# session of 3 May\n")
    (samples / "drusen_03_results.xlsx").write_bytes(b"PK\x03\x04" + bytes(60))
    named = sorted(str(p) for p in samples.glob("drusen_03_*")) + [str(samples / "Thumbs.db")]
    assert sorted(Path(p).suffix for p in named) == [".db", ".md", ".tif", ".tif", ".txt", ".txt", ".xlsx"]
    assert main(["colorize", *named, "-o", str(tmp_path / "c"), "-q"]) == 0
    assert main(["analyze", *named, "-o", str(tmp_path / "a"), "-q"]) == 0
    assert (tmp_path / "c" / "drusen_03_ddc.tif").is_file()
    assert main(["info", *named]) == 0
    out, err = capsys.readouterr()
    assert out.count("40 nm/px (jeol-sidecar") == 2 and err == ""
    assert main(["info", str(samples / "drusen_03_BEI.txt")]) == 1
    assert "not an image (give the image, drusen_03_BEI.tif" in capsys.readouterr().err


def test_a_projects_readme_beside_its_session_folders_is_passed_over(samples, tmp_path, capsys):
    """A shell's ``project/*`` names the sessions' folders and the project's README and notes
    beside them: the README was taken for an image that found no partner (analyze and
    colorize) or could not be read (info, exit 1). Named alone, it is still refused."""
    project = tmp_path / "project"
    (project / "session_1").mkdir(parents=True)
    for name in ("valve_02_EsB.tif", "valve_02_InLens.tif"):
        (samples / name).rename(project / "session_1" / name)
    (project / "README.md").write_text("# calcified valves, 2026\n")
    (project / "doses.csv").write_text("sample,dose\nvalve_02,1\n")
    named = sorted(str(p) for p in project.iterdir())
    assert len(named) == 3
    assert main(["analyze", *named, "-o", str(tmp_path / "a"), "-q"]) == 0
    assert main(["colorize", *named, "-o", str(tmp_path / "c"), "-q"]) == 0
    assert (tmp_path / "c" / "valve_02_ddc.tif").is_file()
    assert main(["info", *named]) == 0
    out, err = capsys.readouterr()
    assert "README" not in out + err and out.count("valve_02_") == 2
    assert main(["info", str(project / "README.md")]) == 1
    assert "README.md: not a TIFF" in capsys.readouterr().err


@pytest.mark.parametrize("command, groups", [
    ("colorize", {"pairing SE with BSE images": ["--prefer", "--pairs"], "calibration and alignment": ["--pixel-size"],
                  "colouring": ["--mode", "--palette"], "PNG preview": ["--png", "--scale-bar"]}),
    ("analyze", {"the images analysed": ["--single", "--tile", "--basis"],
                 "segmentation": ["--threshold", "--split", "--min-distance"],
                 "particles kept": ["--min-diameter", "--circularity", "--keep-edge-particles"],
                 "particles, region and seeds drawn by hand": ["--labels", "--region", "--markers"],
                 "outputs": ["--mode", "--group-by", "--xlsx"]}),
])
def test_help_lists_the_options_under_headings(command, groups, capsys):
    """``analyze --help`` ran to 30 options in one list; they stand under headings, each
    option once, the batch's own (output, jobs, verbosity) first."""
    assert main([command, "--help"]) == 0
    text = capsys.readouterr().out
    sections = dict(re.findall(r"(?ms)^(\S[^\n]*):\n(.*?)(?=^\S|\Z)", text))
    assert "--jobs" in sections["options"] and "--dry-run" in sections["options"]
    for title, options in groups.items():
        for option in options:
            assert re.search(rf"^  {option}\b", sections[title], re.M), (title, option)
            assert sum(bool(re.search(rf"^  {option}\b", body, re.M)) for body in sections.values()) == 1


def test_a_second_run_into_a_folder_in_use_is_refused(samples, tmp_path, capsys):
    """Two runs into one output folder at once (two terminals, or a cluster's array of
    jobs given one -o) wrote each other's tables over. While one writes there, another is
    refused and writes nothing; the claim is let go when the run ends, and leaves no file."""
    from ddcsem.cli import CLAIM_NAME, _Claim

    out = tmp_path / "out"
    other = _Claim(out)
    other.take()  # a run under way
    assert main(["analyze", str(samples), "-o", str(out), "-q"]) == 2
    assert re.search(rf"out: another ddcsem run \(process {os.getpid()} on .+, since \d{{4}}-\d\d-\d\d \d\d:\d\d\) is "
                     r"writing its results into this folder \(let it finish, or give this run another output "
                     r"folder\)", capsys.readouterr().err)
    assert sorted(p.name for p in out.iterdir()) == [CLAIM_NAME]
    assert main(["colorize", str(samples), "-o", str(out), "-q"]) == 2
    other.close()
    assert main(["analyze", str(samples), "-o", str(out), "-q"]) == 0
    assert not (out / CLAIM_NAME).exists() and (out / "particles.csv").is_file()
    assert "claim" not in json.loads((out / "manifest.json").read_text())["arguments"]
    # a run that ended without letting go (killed) holds nothing: its lock went with it
    (out / CLAIM_NAME).write_text("")
    assert main(["analyze", str(samples), "-o", str(out), "-q", "--overwrite"]) == 0


def test_a_file_system_without_locks_runs_unclaimed(samples, tmp_path, monkeypatch):
    """Some network shares refuse locks (ENOLCK): that is no other run, and the batch goes on."""
    import errno

    from ddcsem import cli

    def refuse(handle):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(cli, "_lock", refuse)
    assert main(["analyze", str(samples), "-o", str(tmp_path / "out"), "-q"]) == 0
    assert (tmp_path / "out" / "particles.csv").is_file()
