"""Regenerate the bundled sample micrographs (run: ``make samples``).

Three synthetic SE/BSE pairs made by :mod:`ddcsem.synthetic`, each written the way one
vendor's software writes files, so that the reader's calibration paths are exercised:

* ``aorta_01_ETD.tif`` / ``aorta_01_CBS.tif`` — FEI/Thermo style: INI metadata in TIFF tag
  34682 (``[Scan] PixelWidth`` in metres, ``[Detectors]``), and a data bar below
  ``[Image] ResolutionY``; 8-bit, sparse spherules.
* ``valve_02_InLens.tif`` / ``valve_02_EsB.tif`` — ImageJ calibration (resolution + unit);
  16-bit, crowded touching clusters.
* ``drusen_03_SEI.tif`` / ``drusen_03_BEI.tif`` — JEOL style: ``.txt`` sidecars with
  ``$$SM_MICRON_BAR``/``$$SM_MICRON_MARKER`` and ``$CM_FULL_SIZE``, and a data bar; 8-bit,
  small spherules at low dose.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from ddcsem.synthetic import make_pair

HERE = Path(__file__).resolve().parent


def _fei_ini(detector: str, mode: str, pixel_m: float, shape: tuple[int, int], bar: int) -> str:
    rows, cols = shape
    return (
        "[User]\nDate=03/14/2026\nTime=10:21:07 AM\nUser=ddcsem-sample\n\n"
        f"[Beam]\nHV=10000\nSpot=3\n\n[EBeam]\nWD=0.0052\nBeamCurrent=1.6e-10\nHFW={pixel_m * cols:.6g}\n\n"
        f"[Scan]\nPixelWidth={pixel_m:.6g}\nPixelHeight={pixel_m:.6g}\nDwelltime=3e-06\n"
        f"HorFieldsize={pixel_m * cols:.6g}\n\n"
        f"[Detectors]\nNumber=1\nName={detector}\nMode={mode}\n\n"
        f"[{detector}]\nSignal={mode}\nContrast=60\nBrightness=40\n\n"
        f"[Image]\nResolutionX={cols}\nResolutionY={rows}\n\n"
        f"[PrivateFei]\nDatabarHeight={bar}\n\n[System]\nSystemType=Quanta FEG 250 (synthetic)\n"
    )


def _jeol_txt(signal: str, micron_bar_px: int, marker: str, shape: tuple[int, int]) -> str:
    rows, cols = shape
    return (
        "$SEM_DATA_VERSION 1\n"
        f"$CM_SIGNAL_NAME {signal}\n$CM_DETECTOR_NAME {signal}\n$CM_ACCEL_VOLT 10.00\n"
        "$$SM_WD 8.00\n$CM_MAG 20000\n$CM_FORMAT JEOL-SEM\n$CM_INSTRUMENT JSM-7600F (synthetic)\n"
        f"$$SM_MICRON_BAR {micron_bar_px}\n$$SM_MICRON_MARKER {marker}\n"
        f"$CM_FULL_SIZE {cols} {rows}\n$CM_TITLE drusen_03\n"
    )


def main() -> None:
    # 1. FEI/Thermo: sparse, 8-bit, 25 nm/px, data bar
    fei = make_pair((448, 512), pixel_size_nm=25.0, median_diameter_nm=600, clustered_fraction=0.2,
                    databar=True, seed=101)
    rows = fei.labels.shape
    for image, det, mode in ((fei.se, "ETD", "SE"), (fei.bse, "CBS", "BSE")):
        ini = _fei_ini(det, mode, 25e-9, rows, fei.databar_rows)
        tifffile.imwrite(HERE / f"aorta_01_{det}.tif", image, extratags=[(34682, "s", 0, ini, True)])

    # 2. ImageJ: crowded clusters, 16-bit, 12 nm/px
    ij = make_pair((400, 400), pixel_size_nm=12.0, median_diameter_nm=300, clustered_fraction=0.7,
                   n_particles=140, dtype=np.uint16, seed=202)
    um = 12.0 / 1000
    for image, det in ((ij.se, "InLens"), (ij.bse, "EsB")):
        tifffile.imwrite(HERE / f"valve_02_{det}.tif", image, imagej=True,
                         resolution=(1 / um, 1 / um), metadata={"unit": "micron"})

    # 3. JEOL: small spherules, low dose, 40 nm/px, sidecar + data bar
    jeol = make_pair((384, 448), pixel_size_nm=40.0, median_diameter_nm=400, dose=150,
                     databar=True, seed=303)
    for image, signal in ((jeol.se, "SEI"), (jeol.bse, "BEI")):
        tifffile.imwrite(HERE / f"drusen_03_{signal}.tif", image)
        # a 2 µm marker is 50 px at 40 nm/px
        (HERE / f"drusen_03_{signal}.txt").write_text(
            _jeol_txt(signal, 50, "2um", jeol.labels.shape), encoding="ascii")
    print(f"wrote samples to {HERE}")


if __name__ == "__main__":
    main()
