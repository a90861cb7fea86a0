"""Shared fixtures: writers of small vendor-style files and the optional ../shared data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "sem-files"
SAMPLES = Path(__file__).resolve().parents[1] / "data" / "sample_micrographs"


@pytest.fixture
def samples(tmp_path):
    """A copy of the bundled sample micrographs (with their sidecars) to run batches on."""
    import shutil

    folder = tmp_path / "in"
    shutil.copytree(SAMPLES, folder, ignore=shutil.ignore_patterns("*.py"))
    return folder


def digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file below ``folder``: inputs must come out of a batch unchanged."""
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def shared_files() -> Path:
    """The real vendor files beside the checkout; the test is skipped without them."""
    if not SHARED.is_dir():
        pytest.skip("../shared/sem-files is not beside this checkout")
    return SHARED


def noise_image(shape=(64, 80), dtype=np.uint8, seed=0) -> np.ndarray:
    """Noisy grey image with hundreds of levels per row (no flat rows)."""
    rng = np.random.default_rng(seed)
    top = 255 if np.dtype(dtype) == np.uint8 else 65535
    return rng.integers(0, top, shape, endpoint=True).astype(dtype)


def zeiss_text(*, pixel_nm: float | None, header_m: float | None, detector="InLens",
               mixing="Off") -> str:
    """CZ_SEM tag text in SmartSEM's layout: unnamed numbers, then MNEMONIC / label = value."""
    lines = ["0", "0", "0", f"{header_m if header_m is not None else 0}"]
    if pixel_nm is not None:
        lines += ["AP_IMAGE_PIXEL_SIZE", f"Image Pixel Size = {pixel_nm} nm"]
    lines += ["AP_PIXEL_SIZE", "Pixel Size = 99.9 nm",  # per 1024 reference: must be ignored
              "DP_DETECTOR_CHANNEL", f"Signal A = {detector}",
              "DP_MIXING", f"Mixing = {mixing}"]
    return "\r\n".join(lines) + "\r\n"


def write_zeiss(path: Path, data: np.ndarray, text: str, **kwargs) -> Path:
    tifffile.imwrite(path, data, extratags=[(34118, "s", 0, text, True)], **kwargs)
    return path


def write_fei(path: Path, data: np.ndarray, *, pixel_m: float, rows: int, name="ETD",
              mode="SE") -> Path:
    ini = (f"[Scan]\nPixelWidth={pixel_m}\nPixelHeight={pixel_m}\n"
           f"[Detectors]\nNumber=1\nName={name}\nMode={mode}\n"
           f"[Image]\nResolutionX={data.shape[1]}\nResolutionY={rows}\n")
    tifffile.imwrite(path, data, extratags=[(34682, "s", 0, ini, True)])
    return path
