"""Measurements against ImageJ itself: Analyze Particles on test shapes, Measure on our ROIs.

Needs ImageJ 1.x (``ij.jar``; Debian: ``apt-get install libij-java``) and, without a
screen, ``xvfb-run`` (Debian: ``xvfb``). Two checks:

* test shapes (rectangles, a disc, one mirror-symmetric shape, 40 random blobs) are
  thresholded and measured by ImageJ's Analyze Particles, and by ``particle_table``;
* ``ddcsem analyze`` runs on the bundled samples, and ImageJ measures every ROI of each
  ``<id>_rois.zip`` on its ``<id>_labels.tif``, against ``<id>_particles.csv``;
* ImageJ's *Binary > Watershed* and ``segment_particles(split="edm")`` on the same masks
  (the synthetic crowded, tiny and sparse fields thresholded), compared particle by
  particle (instance F1 of one against the other);
* ImageJ's classic recipe (Gaussian, Otsu, Fill Holes, Watershed, Analyze Particles) on
  the BSE images of the synthetic scenarios (but the 4096² one), scored as the accuracy
  benchmark scores ddcsem, and with ``../shared`` beside the checkout on the BAM InLens
  images, scored like the accuracy benchmark's imitation of it.

Each column prints the largest difference, relative to ImageJ's value, and how many
particles differ by more than 1e-5 (ImageJ's tables hold 9 decimals).

Run: ``python benchmarks/imagej_check.py [--ij /usr/share/java/ij.jar]``.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage

from ddcsem.cli import main as ddcsem_main
from ddcsem.evaluate import detection_scores, instance_f1
from ddcsem.measure import particle_table
from ddcsem.segment import segment_particles, threshold_value
from ddcsem.separate import density_map
from ddcsem.synthetic import make_pair

sys.path.insert(0, str(Path(__file__).parent))
from accuracy import SCENARIOS, d50, whole  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: ImageJ's column and ours, uncalibrated and calibrated
COLUMNS = [("Area", "area_px2", "area_um2"), ("Perim.", "perimeter_px", "perimeter_um"),
           ("Feret", "feret_max_px", "feret_max_um"), ("MinFeret", "feret_min_px", "feret_min_um"),
           ("FeretAngle", "feret_angle_deg", "feret_angle_deg"), ("Major", "major_px", "major_um"),
           ("Minor", "minor_px", "minor_um"), ("Angle", "ellipse_angle_deg", "ellipse_angle_deg"),
           ("Circ.", "circularity", "circularity"),
           ("AR", "aspect_ratio", "aspect_ratio"), ("Round", "roundness", "roundness"),
           ("Solidity", "solidity", "solidity")]

#: every macro's start: its arguments, comma-separated, then the first one opened
HEAD = """
args = split(getArgument(), ",");
setBatchMode(true);
open(args[0]);
"""
MEASURES = "area centroid perimeter fit shape feret's redirect=None decimal=9"

ANALYZE = HEAD + f"""run("Set Measurements...", "{MEASURES}");
setThreshold(128, 255);
run("Analyze Particles...", "display clear");
saveAs("Results", args[1]);
"""

WATERSHED = HEAD + """setOption("BlackBackground", true);
setThreshold(128, 255);
run("Convert to Mask");
run("Watershed");
run("Analyze Particles...", "size=0-Infinity pixel show=[Count Masks] clear");
saveAs("Tiff", args[1]);
"""

CLASSIC = HEAD + """run("8-bit");
makeRectangle(0, 0, getWidth(), parseInt(args[2]));
run("Crop");
run("Gaussian Blur...", "sigma=1");
setAutoThreshold("Otsu dark");
setOption("BlackBackground", true);
run("Convert to Mask");
run("Fill Holes");
run("Watershed");
run("Analyze Particles...", "size=9-Infinity pixel show=[Count Masks] exclude clear");
saveAs("Tiff", args[1]);
"""

MEASURE_ROIS = HEAD + f"""run("Set Measurements...", "{MEASURES}");
roiManager("Open", args[1]);
names = newArray("Area", "X", "Y", "Perim.", "Feret", "MinFeret", "FeretAngle", "Major", "Minor", "Angle", "Circ.",
                 "AR", "Round", "Solidity");
run("Clear Results");
for (i = 0; i < roiManager("count"); i++) {{
  roiManager("select", i);
  List.setMeasurements;
  for (j = 0; j < names.length; j++) setResult(names[j], i, List.getValue(names[j]));
}}
saveAs("Results", args[2]);
"""


def shapes(seed: int = 3) -> np.ndarray:
    """A 400 x 400 mask of separate test shapes (255 inside)."""
    canvas = np.zeros((400, 400), np.uint8)

    def put(r: int, c: int, mask: np.ndarray) -> None:
        canvas[r:r + mask.shape[0], c:c + mask.shape[1]][mask] = 255

    for c, (h, w) in zip((5, 20, 40, 80, 120, 130), ((1, 7), (2, 6), (10, 30), (5, 5), (3, 3), (1, 1))):
        put(5, c, np.ones((h, w), bool))
    put(5, 100, np.array([[1] * 6] * 3 + [[0, 1, 1, 1, 1, 0], [0, 0, 1, 1, 0, 0]], bool))  # symmetric
    yy, xx = np.mgrid[:21, :21]
    put(30, 5, (yy - 10) ** 2 + (xx - 10) ** 2 <= 100)
    rng = np.random.default_rng(seed)
    for i in range(40):
        field = ndimage.gaussian_filter(rng.random((30, 30)), rng.uniform(1.5, 4))
        blobs, _ = ndimage.label(field > np.percentile(field, rng.uniform(60, 90)), structure=np.ones((3, 3)))
        blob = ndimage.binary_fill_holes(blobs == np.argmax(np.bincount(blobs.ravel())[1:]) + 1)
        put(60 + (i // 8) * 40, 5 + (i % 8) * 45, blob)
    return canvas


def run_imagej(ij: str, macro: str, *args: Path) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".ijm", delete=False) as f:
        f.write(macro)
    command = ["java", "-jar", ij, "-batch", f.name, ",".join(str(a) for a in args)]
    if shutil.which("xvfb-run"):  # the ROI Manager needs a display, even in batch mode
        command = ["xvfb-run", "-a", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=300)


def compare(imagej: list[dict], ours: dict[str, np.ndarray], calibrated: bool) -> None:
    """Print, per column, the largest relative difference and how many exceed 1e-5."""
    for theirs, px, um in COLUMNS:
        a = np.array([float(row[theirs]) for row in imagej])
        b = np.asarray(ours[um if calibrated else px], dtype=float)
        rel = np.abs(a - b) / np.maximum(np.abs(a), 1e-12)
        print(f"  {theirs:>10}  largest difference {rel.max():.1e}  differing (> 1e-5) {np.sum(rel > 1e-5)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ij", default="/usr/share/java/ij.jar", help="path to ImageJ's ij.jar")
    args = parser.parse_args(argv)
    if not Path(args.ij).is_file() or not shutil.which("java"):
        print(f"needs java and ImageJ's jar ({args.ij}): apt-get install libij-java xvfb")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        mask = shapes()
        tifffile.imwrite(tmp / "shapes.tif", mask)
        run_imagej(args.ij, ANALYZE, tmp / "shapes.tif", tmp / "shapes.csv")
        imagej = list(csv.DictReader(open(tmp / "shapes.csv", encoding="utf-8")))
        labels, _ = ndimage.label(mask > 0, structure=np.ones((3, 3)))
        table = particle_table(labels)
        # ImageJ lists particles in the order its scan finds them: match by centroid
        theirs = np.array([[float(r["Y"]) - 0.5, float(r["X"]) - 0.5] for r in imagej])
        ours = np.stack([table["centroid_y_px"], table["centroid_x_px"]], axis=1)
        order = [int(np.argmin(np.hypot(*(theirs - p).T))) for p in ours]
        print(f"Analyze Particles on {len(imagej)} test shapes (ours: {len(ours)}):")
        compare([imagej[j] for j in order], table, calibrated=False)
        out = tmp / "analysis"
        if ddcsem_main(["analyze", str(ROOT / "data" / "sample_micrographs"), "-o", str(out), "--quiet"]) != 0:
            return 1
        for folder in sorted(p for p in out.iterdir() if p.is_dir()):
            image_id = folder.name
            run_imagej(args.ij, MEASURE_ROIS, folder / f"{image_id}_labels.tif",
                       folder / f"{image_id}_rois.zip", tmp / f"{image_id}.csv")
            imagej = list(csv.DictReader(open(tmp / f"{image_id}.csv", encoding="utf-8")))
            rows = list(csv.DictReader(open(folder / f"{image_id}_particles.csv", encoding="utf-8")))
            ours = {um: np.array([float(r[um]) for r in rows]) for _, _, um in COLUMNS}
            print(f"Measure on the {len(imagej)} ROIs of {image_id} ({len(rows)} rows in its particles.csv):")
            compare(imagej, ours, calibrated=True)
        print("ImageJ's Watershed against split='edm' on the same masks:")
        for scenario in SCENARIOS:
            if scenario.name not in ("crowded", "tiny", "sparse"):
                continue
            pair = make_pair(scenario.shape, **scenario.kwargs)
            smooth = ndimage.gaussian_filter(density_map(pair.bse), 1.0)
            mask = smooth > threshold_value(smooth)
            tifffile.imwrite(tmp / "mask.tif", (mask * 255).astype(np.uint8))
            run_imagej(args.ij, WATERSHED, tmp / "mask.tif", tmp / "watershed.tif")
            theirs = tifffile.imread(tmp / "watershed.tif").astype(np.int64)
            ours = segment_particles(mask.astype(np.float32), threshold=0.5, split="edm", smooth_sigma=0,
                                     min_area=0, fill_holes=False, refine_edges=False, exclude_border=False)
            agree = [instance_f1(ours, theirs, iou=iou, ignore_border=False)[0] for iou in (0.5, 0.9)]
            print(f"  {scenario.name:<8} ImageJ {int(theirs.max())} particles, ours {int(ours.max())}; "
                  f"agreement F1 {agree[0]:.3f} (IoU >= 0.5), {agree[1]:.3f} (IoU >= 0.9)")
        print("ImageJ's classic recipe on the synthetic BSE images: detection F1, median |ECD error|, "
              "D50 error")
        for scenario in SCENARIOS:
            if scenario.name == "large":
                continue
            pair = make_pair(scenario.shape, **scenario.kwargs)
            tifffile.imwrite(tmp / "bse.tif", pair.bse)
            run_imagej(args.ij, CLASSIC, tmp / "bse.tif", tmp / "classic.tif", pair.labels.shape[0])
            labels = tifffile.imread(tmp / "classic.tif").astype(np.int64)
            score = detection_scores(labels, pair.centers, pair.diameters_px)
            error = d50(labels) / float(np.median(pair.diameters_px[whole(pair)])) - 1
            print(f"  {scenario.name:<9} {score.f1:.3f}  {score.median_ecd_error:.1%}  {error:+.1%}")
        bam = ROOT.parent / "shared" / "sem-files" / "bam_tio2_sem_tsem"
        if bam.is_dir():
            from accuracy import BAM, BAM_FRAME, bam_truth

            scores = []
            for n in BAM:
                truth = bam_truth(bam, n)
                run_imagej(args.ij, CLASSIC, bam / f"{n}_SEM_InLens.tif", tmp / f"{n}.tif",
                           truth.shape[0])
                labels = tifffile.imread(tmp / f"{n}.tif").astype(np.int64)
                scores.append(instance_f1(labels, truth, frame=BAM_FRAME)[0])
            print("ImageJ's classic recipe on the BAM InLens images, instance F1:",
                  " ".join(f"{f:.3f}" for f in scores), f"(mean {np.mean(scores):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
