"""Real vendor files from ../shared/sem-files (skipped when that folder is absent).

Expected values are those stated in each folder's PROVENANCE.md (pixel size from the
vendor tag, data-bar rows seen in the image).
"""

from __future__ import annotations

import gzip
import shutil
import warnings

import numpy as np
import pytest

from ddcsem.colorize import colorize, colorize_reference
from ddcsem.pair import find_pairs, read_pair
from ddcsem.errors import UnsupportedFormatError
from ddcsem.read import MixedDetectorWarning, read_sem

CASES = [
    # path, vendor, detector, pixel size nm, source prefix, data-bar rows, dtype
    ("rosettasciio/test_tiff_Zeiss_SEM_1k.tif", "zeiss", "HE-SE2", 2615.0, "zeiss:ap_image_pixel_size", 77, "uint8"),
    ("rosettasciio/test_tiff_Zeiss_SEM_512pix.tif", "zeiss", "InLens", 11.65, "zeiss:header[3]", 34, "uint8"),
    ("bam_tio2_sem_tsem/1908248_SEM_InLens.tif", "zeiss", "InLens", 7.344, "zeiss:ap_image_pixel_size", 56, "uint8"),
    ("bam_tio2_sem_tsem/1908249_TSEM_SE2chan.tif", "zeiss", "SE2", 7.344, "zeiss:ap_image_pixel_size", 56, "uint8"),
    ("imageio_fei_rbc/fei-sem-rbc.tif", "fei", "ETD (SE)", 7.70833, "fei:", 70, "uint8"),
    ("rosettasciio/FEI-Helios-Ebeam-8bits.tif", "fei", "ETD (SE)", 3372.4, "fei:", 29, "uint8"),
    ("rosettasciio/FEI-Helios-Ebeam-16bits.tif", "fei", "ETD (SE)", 3372.4, "fei:", 29, "uint16"),
    ("tomo_mapper_thermo/SEM_Image-SliceImage-001.tif", "fei", "ETD", 385.417, "fei:", 0, "uint8"),
    ("probelab_jeol/image000_SEI.tif", "jeol", "SEI", 100_000 / 101, "jeol-sidecar", 64, "uint8"),
    ("probelab_jeol/Standard_BSE_1280-960.bmp", "jeol", "COMPO", 100_000 / 45, "jeol-sidecar", 64, "uint8"),
    ("rosettasciio/P45_bcf_extracted_BSE.tif", "generic", "BSE", None, "none", 0, "uint16"),
]


@pytest.mark.shared
@pytest.mark.parametrize("case", CASES, ids=[c[0].split("/")[-1] for c in CASES])
@pytest.mark.filterwarnings("ignore:.*stage tilted")  # the Thermo slice's: its own test
def test_real_vendor_file(shared_files, case):
    path, vendor, detector, nm, source, bar, dtype = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MixedDetectorWarning)
        img = read_sem(shared_files / path)
    assert img.vendor == vendor
    assert img.detector == detector
    if nm is None:
        assert img.pixel_size.nm is None
    else:
        assert img.pixel_size.nm == pytest.approx(nm, rel=1e-3)
    assert img.pixel_size.source.startswith(source)
    assert img.databar_rows == bar
    assert str(img.data.dtype) == dtype


#: The beam energy each folder's PROVENANCE.md states (none for an image whose metadata is
#: only its pixel size).
BEAM_KV = {
    "rosettasciio/test_tiff_Zeiss_SEM_1k.tif": 25.0, "rosettasciio/test_tiff_Zeiss_SEM_512pix.tif": 5.0,
    "bam_tio2_sem_tsem/1908248_SEM_InLens.tif": 20.0, "imageio_fei_rbc/fei-sem-rbc.tif": 2.0,
    "rosettasciio/FEI-Helios-Ebeam-8bits.tif": 5.0, "tomo_mapper_thermo/SEM_Image-SliceImage-001.tif": 15.0,
    "probelab_jeol/image000_SEI.tif": 7.0, "probelab_jeol/Standard_BSE_1280-960.bmp": 10.0,
    "rosettasciio/P45_bcf_extracted_BSE.tif": None,
}


@pytest.mark.shared
@pytest.mark.parametrize("path", BEAM_KV, ids=[p.split("/")[-1] for p in BEAM_KV])
@pytest.mark.filterwarnings("ignore:.*stage tilted")  # the Thermo slice's: its own test
def test_real_vendor_files_beam_energy(shared_files, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MixedDetectorWarning)
        assert read_sem(shared_files / path).beam_kv == BEAM_KV[path]


@pytest.mark.shared
def test_real_files_tilted_without_correction_are_warned_about(shared_files):
    """The Thermo FIB-SEM slice was taken at StageT 0.337 rad, tilt correction off; the
    other files' stages are level (Zeiss *Stage at T* 0°, FEI StageT under 0.001 rad)."""
    with pytest.warns(UserWarning, match=r"stage tilted 19\.3° and the microscope's tilt correction off: .* "
                                         r"cos 19\.3° = 0\.944, so its particles' areas are measured 6% small"):
        read_sem(shared_files / "tomo_mapper_thermo/SEM_Image-SliceImage-001.tif")
    for path in ("rosettasciio/test_tiff_Zeiss_SEM_1k.tif", "rosettasciio/FEI-Helios-Ebeam-8bits.tif",
                 "imageio_fei_rbc/fei-sem-rbc.tif"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            read_sem(shared_files / path)
        assert not [w for w in caught if "tilted" in str(w.message)], path


@pytest.mark.shared
def test_zeiss_mixing_file_warns(shared_files):
    with pytest.warns(MixedDetectorWarning):
        assert read_sem(shared_files / "rosettasciio/test_tiff_Zeiss_SEM_1k.tif").mixing


@pytest.mark.shared
def test_zeiss_palette_mapped_not_indices(shared_files):
    import tifffile

    path = shared_files / "rosettasciio/test_tiff_Zeiss_SEM_512pix.tif"
    with tifffile.TiffFile(path) as tif:
        index = tif.pages[0].asarray()
        colormap = tif.pages[0].colormap
    grey = read_sem(path, crop_databar="off").data
    expected = np.rint((0.299 * colormap[0] + 0.587 * colormap[1] + 0.114 * colormap[2]) / 257)[index]
    np.testing.assert_array_equal(grey, expected.astype(np.uint8))


@pytest.mark.shared
def test_zeiss_multipage(shared_files, tmp_path):
    with pytest.raises(UnsupportedFormatError, match=r"a gzip-compressed file, not an image \(decompress it first"):
        read_sem(shared_files / "rosettasciio/ZEISS_SEM_multipage.tif.gz")  # as it is stored: named, with the fix
    target = tmp_path / "ZEISS_SEM_multipage.tif"
    with gzip.open(shared_files / "rosettasciio/ZEISS_SEM_multipage.tif.gz") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    with pytest.raises(UnsupportedFormatError, match="holds 2 images"):
        read_sem(target)  # a stack is not silently read as its first page
    first, second = read_sem(target, page=0), read_sem(target, page=1)
    assert first.shape == second.shape == (1536, 2048)
    assert first.databar_rows == 0
    assert first.pixel_size.nm == pytest.approx(12.33, rel=1e-3)


@pytest.mark.shared
def test_a_bruker_esprit_file_is_named_with_the_way_to_its_images(shared_files):
    with pytest.raises(UnsupportedFormatError, match=r"a Bruker Esprit file \(.bcf\), not an image \(export its "
                                                     r"images as TIFF from Esprit"):
        read_sem(shared_files / "rosettasciio/P45_the_default_job.bcf")


@pytest.mark.shared
def test_real_simultaneous_pair(shared_files, tmp_path):
    for name in ("P45_bcf_extracted_SE.tif", "P45_bcf_extracted_BSE.tif"):
        shutil.copy(shared_files / "rosettasciio" / name, tmp_path / name)
    (pair,) = find_pairs([tmp_path]).pairs
    images = read_pair(pair, pixel_size="8.7368um")
    assert not images.shift_applied  # acquired simultaneously: registered already
    fast = colorize(images.se.data, images.bse.data)
    assert np.abs(fast.astype(int) - colorize_reference(images.se.data, images.bse.data)).max() <= 1


@pytest.mark.shared
def test_bam_pair_offset_is_found(shared_files, tmp_path):
    # InLens and TSEM of one field, recorded a minute apart: offset (-10, 7) px per INDEX.md;
    # TSEM shows particles dark, so the gradient-based registration must cope with inverted contrast
    shutil.copy(shared_files / "bam_tio2_sem_tsem/1908248_SEM_InLens.tif", tmp_path / "f_InLens.tif")
    shutil.copy(shared_files / "bam_tio2_sem_tsem/1908249_TSEM_SE2chan.tif", tmp_path / "f_BSE.tif")
    with pytest.warns(UserWarning, match="detector 'SE2' records SE"):  # TSEM via the SE2 channel
        images = read_pair(tmp_path / "f_InLens.tif", tmp_path / "f_BSE.tif")
    assert images.shift_applied
    assert images.shift == pytest.approx((-10, 7), abs=1.0)


BAM_FIELDS = ["1908250", "1908248", "1908302", "1908282", "1908326"]


@pytest.mark.shared
def test_bam_inlens_particles_split_along_their_edges(shared_files):
    """``ddcsem analyze IMAGE --single`` on BAM's five InLens fields of touching TiO2
    particles, against the hand-drawn masks (instance F1, IoU >= 0.5, particles cut by
    the frame ignored: the masks' blank outer line makes it 2 px wide): the InLens
    detector picks the edges split. Measured: 0.816, 0.724, 0.539, 0.614, 0.523 (mean
    0.643); the shape split made for BSE density gives 0.222, the textbook and ImageJ
    recipes 0.30-0.32 (``benchmarks/accuracy.py``)."""
    from scipy import ndimage

    from ddcsem.analyze import analyze_single
    from ddcsem.evaluate import instance_f1

    scores = []
    for name in BAM_FIELDS:
        folder = shared_files / "bam_tio2_sem_tsem"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = read_sem(folder / f"{name}_SEM_InLens.tif")
            mask = read_sem(folder / f"{name}_mask_manual_4connected.tif", crop_databar="off").data
        truth, _ = ndimage.label(mask[: image.shape[0]] > 0)  # touching particles: 4-connectivity
        result = analyze_single(image)
        assert result.split == "edges"
        scores.append(instance_f1(result.labels, truth, frame=2)[0])
    assert min(scores) > 0.5 and np.mean(scores) > 0.635, scores


@pytest.mark.shared
@pytest.mark.filterwarnings("ignore::ddcsem.analyze.SmallParticleWarning")  # two fields' are 7 px: not the point
@pytest.mark.filterwarnings("ignore::ddcsem.segment.NoisyFieldWarning")  # the wrong reading's noise
def test_bam_transmission_images_have_dark_particles(shared_files):
    """BAM's TSEM images of the same fields (particles dark on a bright film, recorded
    through the SE2 channel). Read as they are, the particles are set aside as darker than
    the matrix (cracks or pores: 1.6-10.9 % of three fields) or the film is one particle
    over 73 % of the field (two), and a warning names the fix; with ``dark_particles`` they
    are split by shape
    and, against the dataset's TSEM masks (touching particles parted by lines), score
    0.765, 0.899, 0.894, 0.895 and 0.859 (the textbook recipe on their inverse 0.835 on
    average; 0.843 when their density was smoothed for the split as spheres' is)."""
    from scipy import ndimage

    from ddcsem.analyze import AnalysisOptions, ParticlePolarityWarning, analyze_single
    from ddcsem.evaluate import instance_f1

    scores = []
    for name in BAM_FIELDS:
        folder = shared_files / "bam_tio2_sem_tsem"
        tsem = f"{int(name) + 1}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = read_sem(folder / f"{tsem}_TSEM_SE2chan.tif")
            mask = read_sem(folder / f"{tsem}_mask_TSEM.tif", crop_databar="off").data
        with pytest.warns(ParticlePolarityWarning, match="--dark-particles"):
            analyze_single(image)
        result = analyze_single(image, options=AnalysisOptions(dark_particles=True))
        assert result.split == "shape" and result.mineral_area_fraction < 0.35
        truth, _ = ndimage.label(mask[: image.shape[0]] > 0)
        scores.append(instance_f1(result.labels, truth, frame=2)[0])
    assert min(scores) > 0.7 and np.mean(scores) > 0.855, scores


@pytest.mark.shared
def test_real_masks_of_black_particles_on_white_read_as_their_particles(shared_files):
    """SAEMI's six masks (PNG, 0 the particles, 1 the background): given as labels, each
    is read as its 0s, with a warning (its 1s, the background over 63 % of the field and
    more, were read as one particle); the dark dots' mask gives its 46 dots."""
    from ddcsem.read import read_labels

    masks = sorted((shared_files / "saemi_nffa_particles" / "masks").glob("*.png"))
    assert len(masks) == 6
    for path in masks:
        drawn = read_sem(path, crop_databar="off").data
        with pytest.warns(UserWarning, match="its 1s cover .* read as the background and its 0s as the particles"):
            labels = read_labels(path, shape=drawn.shape)
        assert np.array_equal(labels > 0, drawn == 0), path.name
        if path.stem == "L2_0b3ff6d0426c2223ed121a5352b26b0f":
            assert labels.max() == 46


@pytest.mark.shared
@pytest.mark.filterwarnings("ignore::ddcsem.segment.NoisyFieldWarning")  # the wrong reading's noise
def test_real_field_of_dark_dots(shared_files):
    """SAEMI's crop of an NFFA SEM image: 46 small dark dots (4-9 px across) on a bright
    film, JPEG, uncalibrated, with a hand-drawn mask (0 = particle). Read as they are, the
    film is the particle and a warning names the fix; with ``dark_particles``, 43 of the
    46 are found (F1 0.956)."""
    from scipy import ndimage

    from ddcsem.analyze import AnalysisOptions, ParticlePolarityWarning, SmallParticleWarning, analyze_single
    from ddcsem.evaluate import instance_f1

    folder = shared_files / "saemi_nffa_particles"
    stem = "L2_0b3ff6d0426c2223ed121a5352b26b0f"
    image = read_sem(folder / "images" / f"{stem}.jpg")
    truth, n = ndimage.label(read_sem(folder / "masks" / f"{stem}.png", crop_databar="off").data == 0)
    assert n == 46 and image.shape == truth.shape
    with pytest.warns(ParticlePolarityWarning, match="--dark-particles"):
        analyze_single(image)
    with pytest.warns(SmallParticleWarning, match="px across: under 8 px"):  # they are 6 px across
        result = analyze_single(image, options=AnalysisOptions(dark_particles=True))
    f1, n_true, n_found, matched = instance_f1(result.labels, truth, frame=2)
    assert f1 > 0.93 and matched >= 42, (f1, n_true, n_found, matched)
