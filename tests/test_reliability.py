"""Bad input gets a clear DDCSEMError and the batch goes on; batches survive faults."""

from __future__ import annotations

import errno
import json
import os
import signal
import struct
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from conftest import noise_image, write_zeiss, zeiss_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ddcsem.cli import main
from ddcsem.errors import DDCSEMError, ReadError, ResourceError, UnsupportedFormatError
from ddcsem.pair import find_pairs
from ddcsem.read import read_sem
from ddcsem.synthetic import make_pair

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "sample_micrographs"


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def write_pair(folder: Path, key: str, se: np.ndarray, bse: np.ndarray, um: float | None = 0.02) -> None:
    kwargs = {} if um is None else dict(imagej=True, resolution=(1 / um, 1 / um), metadata={"unit": "micron"})
    tifffile.imwrite(folder / f"{key}_SE.tif", se, **kwargs)
    tifffile.imwrite(folder / f"{key}_BSE.tif", bse, **kwargs)


@pytest.fixture
def good(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    syn = make_pair((160, 160), n_particles=25, seed=41)
    write_pair(folder, "good", syn.se, syn.bse)
    return folder


# --------------------------------------------------------------------- bad files


def giant_tiff(path: Path, width: int = 200_000, height: int = 200_000) -> None:
    """A little-endian TIFF whose header claims a gigantic image but holds 16 bytes."""
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1),
               (262, 3, 1, 1), (273, 4, 1, 8), (278, 4, 1, height), (279, 4, 1, width * height % 2**32)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\0" * 4
    path.write_bytes(b"II*\x00" + struct.pack("<I", 24) + b"\0" * 16 + ifd)


def test_gigantic_header_refused_before_allocating(tmp_path):
    giant_tiff(tmp_path / "giant.tif")
    with pytest.raises(UnsupportedFormatError, match="GiB") as err:
        read_sem(tmp_path / "giant.tif")
    assert "giant.tif" in str(err.value)


def test_unsupported_format(tmp_path):
    (tmp_path / "x.psd").write_bytes(b"8BPS" + bytes(100))  # a Photoshop document
    with pytest.raises(UnsupportedFormatError, match="not a TIFF, PNG, JPEG, BMP, GIF or WebP image "
                                                     r"\(export the micrograph as TIFF\)"):
        read_sem(tmp_path / "x.psd")
    (tmp_path / "x.gif").write_bytes(b"GIF89a" + bytes(100))  # a GIF, but truncated
    with pytest.raises(ReadError, match="x.gif: cannot decode image"):
        read_sem(tmp_path / "x.gif")
    # a JEOL sidecar given for its image (ddcsem info folder/*): the image is named
    (tmp_path / "f_BEI.txt").write_text("$CM_SIGNAL_NAME BEI\n$$SM_MICRON_MARKER 2um\n")
    with pytest.raises(UnsupportedFormatError, match="f_BEI.txt: not a TIFF"):
        read_sem(tmp_path / "f_BEI.txt")  # alone, it is just not an image
    tifffile.imwrite(tmp_path / "f_BEI.TIF", np.zeros((8, 8), np.uint8))
    with pytest.raises(UnsupportedFormatError, match=r"f_BEI.txt: the text file that JEOL and Hitachi software "
                                                     r"write beside an image .*give the image, f_BEI.TIF"):
        read_sem(tmp_path / "f_BEI.txt")


def test_stack_with_unexpected_page_count(tmp_path):
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((5, 32, 32), np.uint8))
    with pytest.raises(UnsupportedFormatError, match="holds 5 images"):
        read_sem(tmp_path / "stack.tif")
    assert read_sem(tmp_path / "stack.tif", page=4).shape == (32, 32)


def test_blank_and_tiny_images_fail_by_name_and_batch_goes_on(good, tmp_path):
    write_pair(good, "blank", np.full((64, 64), 90, np.uint8), np.full((64, 64), 90, np.uint8))
    write_pair(good, "tiny", noise_image((5, 5)), noise_image((5, 5), seed=1))
    out = tmp_path / "out"
    assert main(["analyze", str(good), "-o", str(out), "-q"]) == 1
    records = {r["image_id"]: r for r in manifest(out)["images"]}
    assert records["good"]["status"] == "ok"
    assert "constant" in records["blank"]["error"] and "blank_SE.tif" in records["blank"]["error"]
    assert "too small" in records["tiny"]["error"] and "tiny_SE.tif" in records["tiny"]["error"]


def test_mixing_on_is_a_recorded_warning(tmp_path):
    syn = make_pair((128, 128), n_particles=15, seed=2)
    text = zeiss_text(pixel_nm=20.0, header_m=None, detector="InLens", mixing="On")
    write_zeiss(tmp_path / "m_InLens.tif", syn.se, text)
    write_zeiss(tmp_path / "m_EsB.tif", syn.bse, zeiss_text(pixel_nm=20.0, header_m=None, detector="EsB"))
    out = tmp_path / "out"
    assert main(["colorize", str(tmp_path), "-o", str(out), "-q"]) == 0
    (record,) = manifest(out)["pairs"]
    assert any("mixing" in w for w in record["warnings"])


def test_file_disappearing_mid_run(good, tmp_path, monkeypatch):
    syn = make_pair((160, 160), n_particles=25, seed=42)
    write_pair(good, "later", syn.se, syn.bse)
    import ddcsem.cli as cli

    real = cli._analyze_one

    def vanishing(item, job):
        if item[1].key == "good":  # while the first image is analysed, another file goes away
            (good / "later_BSE.tif").unlink()
        return real(item, job)

    monkeypatch.setattr(cli, "_analyze_one", vanishing)
    out = tmp_path / "out"
    assert main(["analyze", str(good), "-o", str(out), "-q"]) == 1
    records = {r["image_id"]: r for r in manifest(out)["images"]}
    assert records["good"]["status"] == "ok"
    assert "later_BSE.tif" in records["later"]["error"] and "not found" in records["later"]["error"]


@pytest.mark.parametrize("command", ["analyze", "colorize"])
def test_a_fault_of_ddcsems_on_one_image_fails_it_not_the_batch(good, tmp_path, monkeypatch, capsys, command):
    """An exception that is no DDCSEMError (a bug met by one image) ended the run with a
    traceback, and the other images' tables were never written."""
    import importlib

    syn = make_pair((160, 160), n_particles=25, seed=42)
    write_pair(good, "odd", syn.se, syn.bse)
    module, name = ("ddcsem.analyze", "analyze_pair") if command == "analyze" else ("ddcsem.colorize", "colorize")
    module = importlib.import_module(module)  # ddcsem.colorize, as an attribute, is the function
    real = getattr(module, name)

    def faulty(first, *args, **kwargs):  # a pair (analyze_pair), or its SE image's pixels (colorize)
        if np.array_equal(first.se.data if hasattr(first, "se") else first, syn.se):
            raise ZeroDivisionError("float division by zero")
        return real(first, *args, **kwargs)

    monkeypatch.setattr(module, name, faulty)
    out = tmp_path / "out"
    assert main([command, str(good), "-o", str(out), "-q"]) == 1
    records = {r["image_id" if command == "analyze" else "key"]: r for r in manifest(out)["images" if command ==
                                                                                       "analyze" else "pairs"]}
    assert records["good"]["status"] == "ok" and records["odd"]["status"] == "failed"
    assert records["odd"]["error"].startswith("ddcsem failed on it with ZeroDivisionError: float division by zero at")
    assert records["odd"]["traceback"].endswith("ZeroDivisionError: float division by zero\n")  # for the report
    assert "traceback" not in records["good"]
    assert "a fault of ddcsem's, not of the file: please report it" in capsys.readouterr().err
    # one from the system is no fault of ddcsem's, and is said as the system's
    from ddcsem.cli import _internal_error

    said = _internal_error(OSError(errno.EIO, os.strerror(errno.EIO), "x_SE.tif"))
    assert said == f"the system refused to go on with it: {os.strerror(errno.EIO)} (x_SE.tif)"


def test_a_fault_of_ddcsems_on_one_file_ends_no_info_listing(good, monkeypatch, capsys):
    import ddcsem.read

    real = ddcsem.read.read_sem

    def faulty(path, *args, **kwargs):
        if Path(path).name == "good_BSE.tif":
            raise IndexError("index 3 is out of bounds")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(ddcsem.read, "read_sem", faulty)
    assert main(["info", str(good)]) == 1
    captured = capsys.readouterr()
    assert "good_SE.tif: imagej, detector SE" in captured.out  # the other file is listed
    assert "good_BSE.tif: ddcsem failed on it with IndexError: index 3 is out of bounds at" in captured.err
    assert "please report it, with the file; the others went on without it" in captured.err  # info writes no manifest


@pytest.mark.parametrize("failure", [errno.ENOSPC, errno.EACCES])
def test_full_disk_or_unwritable_output(good, tmp_path, monkeypatch, failure):
    import ddcsem.report as report

    def refuse(*args, **kwargs):
        raise OSError(failure, os.strerror(failure))

    monkeypatch.setattr(report.os, "replace", refuse)
    out = tmp_path / "out"
    assert main(["colorize", str(good), "-o", str(out)]) == 1  # the manifest cannot be written either
    leftovers = [p.name for p in out.rglob("*") if p.is_file()]
    assert leftovers == []  # no half-written or temporary files


def test_output_that_is_a_file_is_a_usage_error(good, tmp_path, capsys):
    blocker = tmp_path / "out"
    blocker.write_text("not a folder")
    assert main(["analyze", str(good), "-o", str(blocker)]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_pair_too_large_for_memory_is_refused(good, tmp_path, monkeypatch):
    import ddcsem.resources as resources

    monkeypatch.setattr(resources, "available_memory", lambda: 1_000_000)
    out = tmp_path / "out"
    assert main(["analyze", str(good), "-o", str(out), "-q"]) == 1
    (record,) = manifest(out)["images"]
    assert "needs about" in record["error"] and "GiB" in record["error"]
    with pytest.raises(ResourceError):
        resources.require_memory(2_000_000, what="x")
    # with room for tiles of 100 x 100 px, the refusal names a size that fits, and that runs
    monkeypatch.setattr(resources, "available_memory", lambda: resources.ANALYZE_BYTES_PER_PIXEL * 100 * 100)
    assert main(["analyze", str(good), "-o", str(out), "-q", "--overwrite"]) == 1
    assert "analyse it in tiles that fit, --tile 64 " in manifest(out)["images"][0]["error"]
    for tile in ("64", "auto"):  # auto: the tiles that the memory available holds
        assert main(["analyze", str(good), "-o", str(out), "-q", "--overwrite", "--tile", tile]) == 0
        tiled = [r["image_id"] for r in manifest(out)["images"]]
        assert tiled == [f"good_r{i}c{j}" for i in range(3) for j in range(3)]
    from ddcsem.analyze import fitting_tile_px

    monkeypatch.setattr(resources, "available_memory", lambda: resources.ANALYZE_BYTES_PER_PIXEL * 200 * 200)
    assert (fitting_tile_px(), fitting_tile_px(sharing=4)) == (192, 64)  # --jobs 4 share it
    monkeypatch.setattr(resources, "available_memory", lambda: 10**12)  # it fits whole: analysed whole
    assert main(["analyze", str(good), "-o", str(out), "-q", "--overwrite", "--tile", "auto"]) == 0
    assert [r["image_id"] for r in manifest(out)["images"]] == ["good"]


# ----------------------------------------------------------------------- fuzzing


def _valid_tiffs(tmp_path_factory) -> list[bytes]:
    folder = tmp_path_factory.mktemp("seed")
    out = []
    for name, kwargs in (("plain.tif", {}), ("ij.tif", dict(imagej=True, resolution=(50, 50), metadata={"unit": "um"}))):
        tifffile.imwrite(folder / name, noise_image((24, 20)), **kwargs)
        out.append((folder / name).read_bytes())
    write_zeiss(folder / "z.tif", noise_image((24, 20)), zeiss_text(pixel_nm=5.0, header_m=1e-9))
    out.append((folder / "z.tif").read_bytes())
    tifffile.imwrite(folder / "tiles.tif", noise_image((40, 36)), tile=(16, 16), compression="zlib")
    out.append((folder / "tiles.tif").read_bytes())
    with tifffile.TiffWriter(folder / "pair.tif") as tif:  # an SE/BSE pair in two pages
        tif.write(noise_image((24, 20)), extratags=[(285, "s", 0, "BSE", True)])
        tif.write(noise_image((24, 20), seed=1), extratags=[(285, "s", 0, "InLens", True)])
    out.append((folder / "pair.tif").read_bytes())
    return out


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return _valid_tiffs(tmp_path_factory)


def _read_only_ddcsem_errors(path: Path) -> None:
    try:
        with warnings.catch_warnings():  # a mutated calibration may warn (pixels not square): that is no failure
            warnings.simplefilter("ignore", UserWarning)
            image = read_sem(path)
    except DDCSEMError:
        return
    assert image.data.ndim == 2


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600), prefix=st.sampled_from([b"", b"II*\x00", b"MM\x00*", b"\x89PNG\r\n\x1a\n", b"BM"]))
def test_fuzz_random_bytes(tmp_path, data, prefix):
    path = tmp_path / "fuzz.tif"
    path.write_bytes(prefix + data)
    _read_only_ddcsem_errors(path)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, 4), edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
       cut=st.one_of(st.none(), st.integers(0, 10_000)))
def test_fuzz_mutated_tiffs(tmp_path, seeds, which, edits, cut):
    data = bytearray(seeds[which])
    for position, value in edits:
        data[position % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data)]
    path = tmp_path / "mutant.tif"
    path.write_bytes(bytes(data))
    find_pairs([path])  # which looks into a TIFF's pages for a pair
    _read_only_ddcsem_errors(path)


# ----------------------------------------------------------- interrupted batches


def _batch_folder(tmp_path: Path, n: int = 6) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(n):
        syn = make_pair((192, 192), n_particles=30, seed=100 + i)
        write_pair(folder, f"field{i:02d}", syn.se, syn.bse)
    return folder


def test_killed_batch_resumes_to_identical_tables(tmp_path):
    folder = _batch_folder(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    clean = tmp_path / "clean"
    assert subprocess.run([sys.executable, "-m", "ddcsem", "analyze", str(folder), "-o", str(clean), "-q"],
                          env=env).returncode == 0
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "ddcsem", "analyze", str(folder), "-o", str(killed), "-q"],
                            env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(killed.glob("*/*_summary.json"))) < 2:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list(killed.glob("*/*_summary.json")))
    assert 2 <= done < 6, "the batch was not interrupted part-way"
    assert not (killed / "particles.csv").exists()
    assert subprocess.run([sys.executable, "-m", "ddcsem", "analyze", str(folder), "-o", str(killed), "-q",
                           "--skip-existing"], env=env).returncode == 0
    statuses = [r["status"] for r in manifest(killed)["images"]]
    assert statuses.count("skipped") == done and statuses.count("ok") == 6 - done
    for table in ("particles.csv", "images.csv"):
        assert (killed / table).read_bytes() == (clean / table).read_bytes()
    assert not list(killed.rglob("*.part"))  # no temporary file survives the kill and the resume


def test_stale_temporary_files_are_removed(good, tmp_path):
    out = tmp_path / "out"
    (out / "good").mkdir(parents=True)
    stale = out / "good" / ".good_ddc.tif.999999999.0badf00d.part"
    stale.write_bytes(b"half a file")
    mine = out / f".x.tif.{os.getpid()}.0badf00d.part"  # a live writer's file stays
    mine.write_bytes(b"in progress")
    assert main(["colorize", str(good), "-o", str(out), "-q"]) == 0
    assert not stale.exists() and mine.exists()


def test_on_windows_a_writers_liveness_is_asked_without_a_signal(monkeypatch):
    """os.kill(pid, 0) is no liveness check on Windows: 0 is CTRL_C_EVENT there, which
    sends Ctrl-C to the console group ``pid`` (another ddcsem writing to the folder, say),
    and a pid that is gone failed with WinError 87 instead of counting as ended. There the
    process is opened and asked whether it has ended (a fake _winapi here)."""
    import types

    from ddcsem import report

    running, ended, gone, denied = 101, 102, 103, 104
    closed = []

    def open_process(access, inherit, pid):
        if pid in (gone, denied):
            error = OSError("no such process" if pid == gone else "access denied")
            error.winerror = 87 if pid == gone else 5
            raise error
        return pid

    fake = types.SimpleNamespace(OpenProcess=open_process, CloseHandle=closed.append,
                                 WaitForSingleObject=lambda handle, ms: 0x102 if handle == running else 0)
    monkeypatch.setitem(sys.modules, "_winapi", fake)
    monkeypatch.setattr(report.os, "name", "nt")
    monkeypatch.setattr(report.os, "kill", lambda *a: pytest.fail("os.kill on Windows sends Ctrl-C"))
    assert [report._process_running(pid) for pid in (running, ended, gone, denied)] == [True, False, False, True]
    assert closed == [running, ended]  # each handle opened is closed
