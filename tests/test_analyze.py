"""The analysis pipeline, from the API and from ``ddcsem analyze``."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from conftest import digest

from ddcsem.analyze import (AnalysisOptions, ClippedSignalWarning, ParticlePolarityWarning, SmallParticleWarning,
                            analyze_composite, analyze_pair, analyze_single)
from ddcsem.cli import main
from ddcsem.colorize import colorize
from ddcsem.errors import PairingError, ParameterError
from ddcsem.evaluate import detection_scores
from ddcsem.pair import SEMPair, read_pair
from ddcsem.read import PixelSize, SEMImage, read_sem
from ddcsem.segment import NoisyFieldWarning, drop_border_labels
from ddcsem.synthetic import make_pair



@pytest.fixture(scope="module")
def syn():
    return make_pair(shape=(320, 320), pixel_size_nm=20, n_particles=45, clustered_fraction=0.3, seed=31)


@pytest.fixture(scope="module")
def dark(syn):
    """The BSE image mirrored within its range: particles dark on a bright film, as a
    transmission image shows them."""
    return (int(syn.bse.min()) + int(syn.bse.max()) - syn.bse.astype(np.int64)).astype(syn.bse.dtype)


@pytest.fixture
def pair_files(tmp_path, syn):
    um = 0.02
    for name, data in (("f_InLens.tif", syn.se), ("f_EsB.tif", syn.bse)):
        tifffile.imwrite(tmp_path / name, data, imagej=True, resolution=(1 / um, 1 / um),
                         metadata={"unit": "micron"})
    return tmp_path / "f_InLens.tif", tmp_path / "f_EsB.tif"


def test_pair_analysis_finds_the_particles(pair_files, syn):
    result = analyze_pair(read_pair(*pair_files))
    assert result.kind == "pair" and result.pixel_size.nm == pytest.approx(20)
    score = detection_scores(result.labels, syn.centers, syn.diameters_px)
    assert score.f1 >= 0.9
    true_fraction = np.count_nonzero(syn.labels) / syn.labels.size
    assert result.mineral_area_fraction == pytest.approx(true_fraction, rel=0.25)
    assert result.distribution["count"] == result.labels.max() == len(result.table["label"])
    assert not result.table["touches_edge"].any()
    assert np.all(result.table["edge_weight"] >= 1)
    assert result.ddc.shape == syn.se.shape + (3,)
    assert set(result.timings) == {"colorize", "separate", "segment", "measure"}


@pytest.mark.parametrize("stored", [lambda a: a.astype(np.int16) - np.int16(128),  # signed, its zero mid-range
                                    lambda a: a.astype(np.float32) - 1000,  # a background subtracted, and more
                                    lambda a: a.astype(np.float32) - np.float32(np.median(a))])
def test_an_image_with_negative_pixels_is_analysed_as_its_levels_shifted_up(syn, stored):
    """Its flat field divided by a negative background: the signed pair was 92 % "darker
    than its matrix" (F1 0.98 -> 0.85). Its background is subtracted instead."""
    from ddcsem.separate import density_map, flat_field

    want = detection_scores(analyze_pair(syn.se, syn.bse).labels, syn.centers, syn.diameters_px)
    se, bse = stored(syn.se), stored(syn.bse)
    assert bse.min() < 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no cracks nor pores, nor clipped levels
        for result in (analyze_pair(se, bse), analyze_single(bse)):
            got = detection_scores(result.labels, syn.centers, syn.diameters_px)
            assert got.f1 >= want.f1 - 0.03 and got.median_ecd_error <= want.median_ecd_error + 0.01
    assert np.corrcoef(density_map(bse).ravel(), density_map(syn.bse).ravel())[0, 1] > 0.98
    assert abs(float(np.median(flat_field(bse)))) < 0.05 * float(np.ptp(flat_field(bse)))  # less its background


def test_single_and_composite_agree_with_pair(pair_files, syn):
    pair = analyze_pair(read_pair(*pair_files))
    single = analyze_single(SEMImage(syn.bse, PixelSize(20.0, "argument")), image_id="s")
    composite = analyze_composite(SEMImage(colorize(syn.se, syn.bse), PixelSize(20.0, "argument")))
    for other in (single, composite):
        score = detection_scores(other.labels, syn.centers, syn.diameters_px)
        assert score.f1 >= 0.95 and score.median_ecd_error < 0.04
        assert abs(int(other.labels.max()) - int(pair.labels.max())) <= 0.15 * pair.labels.max()
        assert other.distribution["d50"] == pytest.approx(pair.distribution["d50"], rel=0.05)
    # the composite is analysed as the pair it was made of: its SE part guides the split
    # and fills the se_mean column
    assert np.all(np.isfinite(composite.table["se_mean"]))


def test_arrays_are_analysed_as_uncalibrated_images(syn):
    """A notebook's arrays go in as they are (an AttributeError before), with the results
    of the same pixels read from a file without calibration."""
    ddc = colorize(syn.se, syn.bse)
    for analyse, data in ((analyze_single, syn.bse), (analyze_composite, ddc)):
        from_array, from_image = analyse(data), analyse(SEMImage(data))
        assert not from_array.pixel_size.calibrated and "ecd_um" not in from_array.table
        np.testing.assert_array_equal(from_array.labels, from_image.labels)
        assert from_array.labels.max() > 30
    with pytest.raises(ParameterError, match="must be an SEMImage or an array, not list.*read_sem"):
        analyze_single(syn.bse.tolist())
    # named as the image given, not by its role in the colouring ("se must be ..."), with what to do
    with pytest.raises(ParameterError, match=r"image must be a 2-D grey image, got shape \(\d+, \d+, 3\).*"
                                             r"analyze_composite.*image\[\.\.\., 0\]"):
        analyze_single(SEMImage(ddc))
    with pytest.raises(ParameterError, match=r"image must be a 2-D grey image, got shape \(2, .*image\[0\]"):
        analyze_single(np.stack([syn.bse, syn.se]))
    with pytest.raises(ParameterError, match="pair must be an SEMPair, not tuple.*read_pair"):
        analyze_pair((syn.se, syn.bse))


def test_a_mask_is_analysed_as_read_sem_reads_a_1_bit_file(syn):
    """A thresholded image (bool) is a grey image of 0 and 255, as a 1-bit TIFF reads: its
    frame search failed with numpy's "boolean subtract is not supported"."""
    from ddcsem.separate import density_from_composite

    mask = syn.bse > np.percentile(syn.bse, 90)
    grey = mask.astype(np.uint8) * 255
    assert SEMImage(mask).data.dtype == np.uint8 and SEMImage(mask).data.max() == 255
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the mask's clipped levels, said by warnings
        from_mask = analyze_single(mask)
        np.testing.assert_array_equal(from_mask.labels, analyze_single(grey).labels)
        composite = np.repeat(mask[..., None], 3, axis=-1)
        np.testing.assert_array_equal(analyze_composite(composite).labels,
                                      analyze_composite(composite.astype(np.uint8) * 255).labels)
        np.testing.assert_allclose(density_from_composite(composite),
                                   density_from_composite(composite.astype(np.uint8) * 255), atol=1e-6)
    assert from_mask.labels.max() > 20


def test_half_float_images_are_analysed_as_their_float32_values(syn):
    """An array of float16 (numpy's half floats, as some exports and GPU pipelines give) failed
    deep in the analysis with numba's "NotImplementedError: float16"; read_sem already read
    such files. float32 holds every half float exactly, so the results are the same."""
    se, bse = syn.se.astype(np.float16), syn.bse.astype(np.float16)
    assert SEMImage(bse).data.dtype == np.float32
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few particles, uncalibrated: said by warnings
        half, full = analyze_pair(se, bse), analyze_pair(se.astype(np.float32), bse.astype(np.float32))
        np.testing.assert_array_equal(half.labels, full.labels)
        np.testing.assert_array_equal(analyze_single(bse).labels, analyze_single(bse.astype(np.float32)).labels)
        composite = colorize(syn.se, syn.bse).astype(np.float16) / 255
        np.testing.assert_array_equal(analyze_composite(composite).labels,
                                      analyze_composite(composite.astype(np.float32)).labels)
    assert half.labels.max() > 10


def test_a_pair_not_yet_read_or_given_for_one_image_is_refused_with_what_to_call(syn, tmp_path):
    from ddcsem import Pair

    found = Pair("x", tmp_path / "x_SE.tif", tmp_path / "x_BSE.tif")  # as find_pairs gives it
    with pytest.raises(ParameterError, match=r"not Pair.*analyze_pair\(ddcsem.read_pair\(pair\)\)"):
        analyze_pair(found)
    pair = SEMPair("x", SEMImage(syn.se), SEMImage(syn.bse), PixelSize(None, "none"))
    for analyse in (analyze_single, analyze_composite):
        with pytest.raises(ParameterError, match=r"not SEMPair.*analyze_pair\(pair\).*analyze_single\(pair.bse\)"):
            analyse(pair)



def test_a_pair_of_images_of_ones_own_is_analysed_as_the_pair_read(pair_files, syn):
    # analyze_pair(se, bse) failed with "takes 1 positional argument but 2 were given":
    # arrays in a notebook (a synthetic pair's, another program's) had to be written to
    # files first, or built into an SEMPair by hand
    read = analyze_pair(read_pair(*pair_files))
    images = analyze_pair(read_sem(pair_files[0]), read_sem(pair_files[1]))
    arrays = analyze_pair(SEMImage(syn.se, "20nm"), syn.bse)
    for result in (images, arrays):
        np.testing.assert_array_equal(result.labels, read.labels)
        assert result.pixel_size.nm == pytest.approx(20) and result.kind == "pair"
    assert (images.image_id, arrays.image_id) == ("f", "pair")
    assert analyze_pair(syn.se, read_sem(pair_files[1])).image_id == "f"  # named by the file there is
    moved = np.roll(syn.bse, (3, -2), axis=(0, 1))  # registered, unless the options say not to
    assert analyze_pair(syn.se, moved).shift_px == pytest.approx((-3, 2), abs=0.2)
    with warnings.catch_warnings():  # the channels left apart: its particles may come out small
        warnings.simplefilter("ignore", SmallParticleWarning)
        assert analyze_pair(syn.se, moved, options={"register": False}).shift_px == (0.0, 0.0)
    assert arrays.pixel_size.source == "argument" and read.pixel_size.source.startswith("imagej")
    bare = analyze_pair(syn.se, syn.bse)
    assert not bare.pixel_size.calibrated and bare.distribution["count"] == read.distribution["count"]
    # the checks of read_pair, naming the images by their role where they have no file
    with pytest.raises(PairingError, match=r"differ in shape: \(320, 320\) vs \(300, 320\) \(the SE image and the BSE"):
        analyze_pair(syn.se, syn.bse[:300])
    with pytest.raises(PairingError, match="pixel sizes disagree: 20 nm .* 25 nm"):
        analyze_pair(SEMImage(syn.se, 20), SEMImage(syn.bse, 25))
    with pytest.warns(UserWarning) as record:
        analyze_pair(read_sem(pair_files[1]), read_sem(pair_files[0]))
    said = " ".join(str(w.message) for w in record)
    assert "f_EsB.tif: used as the SE channel" in said and "f_InLens.tif: used as the BSE channel" in said
    with pytest.raises(ParameterError, match=r"images, not files.*analyze_pair\(ddcsem.read_pair\(se_path, bse_path"):
        analyze_pair(*(str(p) for p in pair_files))
    with pytest.raises(ParameterError, match="bse is given with a pair that has its own"):
        analyze_pair(read_pair(*pair_files), syn.bse)
    with pytest.raises(ParameterError, match="bse must be an SEMImage or an array, not list"):
        analyze_pair(syn.se, syn.bse.tolist())


def test_a_lone_images_intensities_are_reported_under_its_detectors_name(syn):
    # a lone SE image's means were reported as bse_mean, its se_mean empty
    from ddcsem.measure import particle_table

    for detector, column, empty in (("InLens", "se_mean", "bse_mean"), ("EsB", "bse_mean", "se_mean"),
                                    (None, "bse_mean", "se_mean")):
        result = analyze_single(SEMImage(syn.bse, detector=detector))
        assert result.labels.max() > 10
        expected = particle_table(result.labels, bse=syn.bse)["bse_mean"]
        np.testing.assert_array_equal(result.table[column], expected)
        assert np.all(np.isnan(result.table[empty]))


def test_options_may_be_a_dict_of_their_fields(syn):
    """A dict of options (from a config or a JSON record) failed with "'dict' object has
    no attribute 'mode'"; it now stands for the AnalysisOptions of its fields, and a key
    that is none of them is named with the one meant."""
    as_dict = analyze_single(syn.bse, options={"threshold": "li", "min_diameter_px": 6})
    as_options = analyze_single(syn.bse, options=AnalysisOptions(threshold="li", min_diameter_px=6))
    np.testing.assert_array_equal(as_dict.labels, as_options.labels)
    with pytest.raises(ParameterError, match="unknown option treshold .did you mean threshold\\?"):
        analyze_single(syn.bse, options={"treshold": "li"})
    with pytest.raises(ParameterError, match="options must be an AnalysisOptions or a dict of its fields, not str"):
        analyze_composite(colorize(syn.se, syn.bse), options="li")


@pytest.mark.parametrize("options, message", [
    ({"mode": "dens"}, "mode must be 'overlay' or 'density', not 'dens'"),
    ({"split": "Edgs"}, "split must be 'auto', 'shape', 'edm', 'edges' or 'none', not 'Edgs'"),
    ({"profile": "dome"}, "profile must be 'auto', 'sphere' or 'flat', not 'dome'"),
    ({"threshold": "otsuu"}, "threshold must be 'auto', 'otsu', 'li', 'yen', 'triangle' or a density in .0, 1., "
                             "not 'otsuu'"),
    ({"threshold": 4}, "threshold must be .* a density in .0, 1., not 4"),
    ({"threshold": True}, "threshold must be .* not True"),
    ({"threshold": np.full((8, 8), 0.5)}, r"threshold must be .* not an array of shape \(8, 8\)"),
    ({"min_area_px": -1}, "min_area_px must be a finite number 0 or more, not -1"),
    ({"clip": (1,)}, r"clip must be two percentiles \(low, high\), not \(1,\)"),
    ({"clip": (99, 1)}, "clip percentiles must satisfy 0 <= low < high <= 100"),
    ({"basis": "orange"}, "basis must be two RGB colours, not 'orange'"),
    ({"basis": ((1, 0.5, 0),)}, r"basis must have shape \(2, 3\), not \(1, 3\)"),
])
def test_options_are_checked_when_made_not_per_image(options, message):
    """A single image ignored a misspelt mode, and the others failed each image of a batch
    with the same message (under the segmentation's own names: min_area)."""
    with pytest.raises(ParameterError, match=message):
        AnalysisOptions(**options)


def test_options_keep_their_values_as_plain_numbers_and_the_cli_their_choices():
    from ddcsem.analyze import _choices
    from ddcsem.cli import PROFILES, SPLITS

    options = AnalysisOptions(threshold=np.float32(0.25), min_area_px=np.int64(12), clip=np.array([1, 99]),
                              basis=[[255, 140, 0], [0, 255, 0]])
    assert (type(options.threshold), type(options.min_area_px)) == (float, float)
    assert options.clip == (1.0, 99.0) and options.basis == ((255.0, 140.0, 0.0), (0.0, 255.0, 0.0))
    assert json.loads(json.dumps(options.to_dict()))["threshold"] == 0.25
    assert (_choices()["split"], _choices()["profile"]) == (SPLITS, PROFILES)


def test_the_steps_take_a_read_pairs_channels_as_they_are(pair_files):
    """A notebook calls the steps one by one on what read_pair gave: each channel serves
    as its pixels (an SEMImage was an object of shape () before), and the pair itself gets
    an error that names its channels."""
    from ddcsem.measure import particle_table
    from ddcsem.segment import segment_particles
    from ddcsem.separate import density_map

    pair = read_pair(*pair_files)
    se, bse = pair.se.data, pair.bse.data
    assert np.asarray(pair.bse) is bse and np.asarray(pair.bse, dtype=np.float32).dtype == np.float32
    density = density_map(pair.bse)
    np.testing.assert_array_equal(density, density_map(bse))
    np.testing.assert_array_equal(colorize(pair.se, pair.bse), colorize(se, bse))
    labels = segment_particles(density, se=pair.se, pixel_size_nm=20)
    np.testing.assert_array_equal(labels, segment_particles(density, se=se, pixel_size_nm=20))
    table = particle_table(labels, bse=pair.bse, se=pair.se, pixel_size_nm=20)
    np.testing.assert_array_equal(table["bse_mean"], particle_table(labels, bse=bse, pixel_size_nm=20)["bse_mean"])
    for call, words in ((lambda: density_map(pair), "bse must be a 2-D grey image, not a SEMPair.*pair.bse"),
                        (lambda: colorize(pair, bse), "se must be .*not a SEMPair.*pair.se"),
                        (lambda: segment_particles(pair), "density must be a 2-D density map.*density_map"),
                        (lambda: particle_table(pair), "labels must be a 2-D label image")):
        with pytest.raises(ParameterError, match=words):
            call()
    # a file's name (read as "got shape ()"), a PixelSize for its nm, files' images to read_pair
    se_path, bse_path = (str(p) for p in pair_files)
    for call, words in ((lambda: colorize(se_path, bse_path), r"se must be a 2-D grey image, not a file name "
                         r"\('.*f_InLens.tif'\) \(read the file first: ddcsem.read_sem\(path\)\)"),
                        (lambda: density_map(pair_files[1]), r"bse .*not a file name.*ddcsem.read_sem\(path\)"),
                        (lambda: segment_particles(bse_path), r"density .*not a file name.*read_sem\(path\); make one "
                         r"with density_map"),
                        (lambda: particle_table("f_labels.tif"), r"labels .*not a file name.*ddcsem.read_labels\(path\)"),
                        (lambda: particle_table(labels, pixel_size_nm=pair.pixel_size), r"pixel_size_nm must be .* not "
                         r"PixelSize\(nm=20.0.*give its size in nm: pixel_size_nm=image.pixel_size.nm"),
                        (lambda: read_pair(pair.se, pair.bse), r"read_pair reads files.*analyze_pair\(se, bse\)")):
        with pytest.raises(ParameterError, match=words):
            call()


@pytest.mark.parametrize("array, words", [
    (np.ones((8, 8), np.complex64), r"must be a .*of real numbers, not of complex64 \(take the magnitude"),
    (np.full((8, 8), "a"), r"must be a .*of real numbers, not of <U1"),
    (np.zeros((0, 8)), r"is empty \(shape \(0, 8\)\)")])
def test_arrays_of_no_numbers_or_of_no_pixels_are_refused_by_name(array, words):
    """Text, complex numbers and empty arrays were refused by colorize alone: the other
    steps raised numpy's and scipy's errors ("could not convert string to float", "can't
    extend empty axis"), or read complex pixels as their real part with a ComplexWarning
    (a pair of empty arrays: "zero-size array to reduction operation minimum")."""
    from ddcsem.measure import particle_table
    from ddcsem.pair import estimate_shift
    from ddcsem.segment import segment_particles
    from ddcsem.separate import density_map

    calls = [(lambda: density_map(array), "bse"), (lambda: colorize(array, array), "se"),
             (lambda: segment_particles(array), "density"), (lambda: estimate_shift(array, array), "reference"),
             (lambda: analyze_single(array), "image"), (lambda: analyze_pair(array, array), "se")]
    if array.size:  # a label image of no pixels is measured: a table of no rows
        calls.append((lambda: particle_table(array), "labels"))
    for call, name in calls:
        with pytest.raises(ParameterError, match=f"^{name} {words}"):
            call()


@pytest.mark.parametrize("value", [np.uint8(7), np.uint16(0), np.float32(0.25)])
def test_a_constant_image_has_no_density_map(value):
    """The flat field of a constant image rounds to two values (1 - 6e-8 beside 1), which
    the two-phase model stretched into a map 89 % mineral."""
    from ddcsem.separate import density_map

    image = np.full((64, 64), value)
    for flatfield in (True, False):
        with pytest.raises(ParameterError, match=f"^bse is constant \\({float(value):g}\\): it holds no contrast"):
            density_map(image, flatfield=flatfield)
    image[40, 40] += 1  # one pixel apart: a field with one particle of one pixel
    assert density_map(image)[40, 40] == 1


def test_a_region_drawn_where_the_image_is_constant_holds_no_particles(syn):
    """Its flat field had stretched rounding errors into a map of mineral. Where that is
    the image's darkest level, it is a plain area, padding, which is no part of the field:
    the region was said to be empty."""
    se, bse = syn.se.copy(), syn.bse.copy()
    level = np.median(bse)
    se[:100, :100] = bse[:100, :100] = level
    region = np.zeros(se.shape, bool)
    region[10:90, 10:90] = True
    for call, name in ((lambda: analyze_single(bse, region=region), "the image's field"),
                       (lambda: analyze_pair(se, bse, region=region), "the BSE image's field"),
                       (lambda: analyze_composite(colorize(se, bse), region=region),
                        "the BSE colour of the composite's field")):
        with warnings.catch_warnings(record=True) as caught:  # it alone: no end of a constant field is clipped
            warnings.simplefilter("always")
            result = call()
        assert len(caught) == 1 and re.match(f"{name} is constant \\([0-9.]+\\): it holds no particles$",
                                             str(caught[0].message))
        assert caught[0].filename == __file__  # from the caller's line
        assert len(result.table["label"]) == 0 and result.mineral_area_fraction == 0
    se[:100, :100] = bse[:100, :100] = 0
    with pytest.raises(ParameterError, match=r"^the region lies wholly in the image's plain frame or area, which is "
                                             r"no part of the field \(draw it over the sample\)"), \
            pytest.warns(UserWarning, match=r"^a plain white or black area \(10% of the image"):
        analyze_single(bse, region=region)


def test_reprs_show_shapes_not_pixels(pair_files):
    """A notebook shows the repr of a cell's last value: an analysis printed whole ran to
    megabytes of pixel values. Arrays show their shape and type, dicts their first entries."""
    pair = read_pair(*pair_files)
    result = analyze_pair(pair)
    n = int(result.labels.max())
    text = repr(result)
    assert len(text) < 1500
    assert "ddc=<320×320×3 uint8>" in text and "labels=<320×320 int32>" in text
    assert f"table={{'label': <{n} int64>" in text and f"distribution={{'count': {n}," in text
    pair_text = repr(pair)
    assert len(pair_text) < 1200 and pair_text.count("data=<320×320 uint8>") == 2
    assert "key='f'" in pair_text and "detector='EsB'" in pair_text
    assert repr(make_pair(shape=(64, 64), seed=0)).startswith("SyntheticPair(se=<64×64 uint8>, bse=<64×64 uint8>")


@pytest.mark.filterwarnings("ignore::ddcsem.segment.NoisyFieldWarning")  # the wrong reading's noise
def test_dark_particles_of_a_transmission_image(syn, dark):
    """Particles darker than their surroundings (``dark``, from a transmission detector
    recorded as SE2): read as they are, they lie below the film's level and are set aside
    as cracks or pores (they had made the film one particle over 96 % of the field), and a
    warning says so and names the fix; with ``dark_particles``
    the image is read as its inverse, which is the BSE image again: its particles, by the
    shape split whatever the detector, with the edges of flat-topped particles (opaque ones
    are), and the image's own intensities."""
    from ddcsem.measure import particle_table
    from ddcsem.segment import segment_particles
    from ddcsem.separate import density_map

    image = SEMImage(dark, PixelSize(20.0, "argument"), detector="SE2")
    with pytest.warns(ParticlePolarityWarning, match=r"1\d\.\d% of the image lies well below its matrix's level: "
                      r"taken for cracks, pores or holes.*analyse it with dark_particles=True \(--dark-particles\)"):
        wrong = analyze_single(image)
    assert wrong.mineral_area_fraction < 0.01 and wrong.labels.max() == 0
    right = analyze_single(image, options=AnalysisOptions(dark_particles=True))
    assert right.split == "shape"
    np.testing.assert_array_equal(right.labels, drop_border_labels(
        segment_particles(density_map(syn.bse), profile="flat", exclude_border=False)))
    assert detection_scores(right.labels, syn.centers, syn.diameters_px).f1 >= 0.95
    np.testing.assert_allclose(right.table["bse_mean"], int(syn.bse.min()) + int(syn.bse.max())
                               - particle_table(right.labels, bse=syn.bse)["bse_mean"])
    # the BSE image itself, read as dark particles, is warned about the other way round
    with pytest.warns(ParticlePolarityWarning, match=r"brighter than their surroundings \(as the image shows them\), "
                      "analyse it without dark_particles"):
        analyze_single(SEMImage(syn.bse, detector="SE2"), options=AnalysisOptions(dark_particles=True))
    # so is a pair whose BSE signal was inverted
    pixel = PixelSize(20.0, "argument")
    inverted = SEMPair("x", SEMImage(syn.se, pixel), SEMImage(dark, pixel), pixel)
    with pytest.warns(ParticlePolarityWarning, match=r"lies well below its matrix's level.*an inverted BSE signal\), "
                      "invert the BSE image and analyse the pair again"):
        analyze_pair(inverted)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ParticlePolarityWarning)  # the right way round: no warning
        analyze_pair(SEMPair("x", SEMImage(syn.se, pixel), SEMImage(syn.bse, pixel), pixel))


def test_composite_in_other_colours_needs_its_basis(syn, tmp_path):
    """A composite in colour-blind colours, its BSE image in blue and SE in orange: the
    estimate finds the two colours but takes the redder one for the BSE image, as DDC
    colouring has it, so the user gives them, from the API or the command line. The
    other way round (BSE orange, SE blue) needs no help."""
    blue, orange = np.array([0, 114, 178]), np.array([230, 159, 0])
    lo, hi = np.percentile(syn.bse, [0.5, 99.5])
    bse = np.clip((syn.bse - lo) / (hi - lo), 0, 1)
    lo, hi = np.percentile(syn.se, [0.5, 99.5])
    se = np.clip((syn.se - lo) / (hi - lo), 0, 1)
    rgb = np.clip(bse[..., None] * blue + se[..., None] * orange, 0, 255).astype(np.uint8)
    image = SEMImage(rgb, PixelSize(20.0, "argument"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoisyFieldWarning)
        told = analyze_composite(image, options=AnalysisOptions(basis=(tuple(blue), tuple(orange))))
    score = detection_scores(told.labels, syn.centers, syn.diameters_px)
    assert score.f1 >= 0.95 and score.median_ecd_error < 0.04
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SE image read as density: its rims as particles
        guessed = detection_scores(analyze_composite(image).labels, syn.centers, syn.diameters_px)
    assert guessed.f1 < score.f1 - 0.1
    usual = np.clip(bse[..., None] * orange + se[..., None] * blue, 0, 255).astype(np.uint8)
    found = analyze_composite(SEMImage(usual, PixelSize(20.0, "argument")))
    assert detection_scores(found.labels, syn.centers, syn.diameters_px).f1 >= score.f1 - 0.01
    tifffile.imwrite(tmp_path / "blue.tif", rgb, photometric="rgb")
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "blue.tif"), "--pixel-size", "20nm", "--basis", "0,114,178",
                 "#e69f00", "-o", str(out), "-q"]) == 0
    params = json.loads((out / "manifest.json").read_text())["parameters"]
    assert params["basis"] == [[0.0, 114.0, 178.0], [230.0, 159.0, 0.0]]
    with open(out / "images.csv", newline="", encoding="utf-8") as f:
        assert int(next(csv.DictReader(f))["n_particles"]) == told.labels.max()


@pytest.mark.parametrize("kind, margin", [("composite", 255), ("single", 255), ("single", 0), ("pair", 0)])
def test_an_image_cut_with_a_plain_margin_is_analysed_as_without_it(syn, kind, margin):
    """A figure panel's margin tilted a composite's basis estimate (the particles' orange
    taken for annotations: 6 of 37 particles found); a single BSE image's white margin
    was its one particle, a black one its matrix, clipped (2 particles found of 36); a
    pair padded black in both channels, as a mosaic's ragged edge, kept 1 of 37."""
    def framed_in(image):
        panel = np.full((image.shape[0] + 100, image.shape[1] + 80, *image.shape[2:]), margin, image.dtype)
        panel[50:-50, 30:-50] = image
        return panel

    pixel = PixelSize(20.0, "argument")

    def analyse(framed):
        if kind == "pair":
            se, bse = (framed_in(syn.se), framed_in(syn.bse)) if framed else (syn.se, syn.bse)
            return analyze_pair(SEMPair("p", SEMImage(se, pixel), SEMImage(bse, pixel), pixel))
        image = colorize(syn.se, syn.bse) if kind == "composite" else syn.bse
        image = framed_in(image) if framed else image
        return (analyze_composite if kind == "composite" else analyze_single)(SEMImage(image, pixel))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bare = analyse(False)
        framed = analyse(True)
    told = [str(w.message) for w in caught]
    assert sum("a plain frame around the image (rows 50-" in w for w in told) == 1
    assert not any(w.category in (ClippedSignalWarning, ParticlePolarityWarning) for w in caught)
    assert abs(len(framed.table["label"]) - len(bare.table["label"])) <= 1 and len(bare.table["label"]) > 20
    assert framed.field_area == bare.field_area
    assert framed.mineral_area_fraction == pytest.approx(bare.mineral_area_fraction, abs=0.003)
    assert not framed.labels[:50].any() and not framed.labels[:, :30].any()
    if kind != "composite":  # the DDC image made: the frame set no stretch of its colours (it is black)
        assert framed.ddc[:50].max() == 0
        assert np.abs(framed.ddc[50:-50, 30:-50].astype(int) - bare.ddc).mean() < 2


def test_keep_edge_particles(pair_files):
    images = read_pair(*pair_files)
    kept = analyze_pair(images, options=AnalysisOptions(keep_edge_particles=True))
    dropped = analyze_pair(images)
    assert kept.labels.max() > dropped.labels.max()
    assert kept.table["touches_edge"].any()
    assert np.isnan(kept.table["edge_weight"][kept.table["touches_edge"]]).all()


@pytest.mark.filterwarnings("ignore::ddcsem.analyze.ClippedSignalWarning")  # two grey levels: not the point
def test_particles_all_on_the_border_are_named_as_such(tmp_path):
    """A disc cut by the frame is no particle of the size distribution by default, and the
    warning says so and how to keep it, rather than that the image holds none."""
    yy, xx = np.mgrid[0:120, 0:120]
    image = SEMImage((((yy - 5) ** 2 + (xx - 60) ** 2 < 30**2) * 180 + 20).astype(np.uint8),
                     path=tmp_path / "cut_BSE.tif")
    dropped = analyze_single(image)
    assert dropped.labels.max() == 0
    assert dropped.distribution["warning"] == (
        "no particles away from the border: every one found (1 particle) touches it; "
        "keep_edge_particles=True (--keep-edge-particles) keeps them")
    kept = analyze_single(image, options=AnalysisOptions(keep_edge_particles=True))
    assert kept.labels.max() == 1 and kept.table["touches_edge"].all()
    assert kept.distribution["warning"].startswith("only 1 particle")


def test_a_single_image_without_particles_is_named_as_such(tmp_path):
    """A constant or non-finite single image fails with an error about the image, not
    about the SE channel it plays in its own colouring."""
    flat = SEMImage(np.full((40, 50), 100, np.uint16), path=tmp_path / "flat_BSE.tif")
    with pytest.raises(ParameterError, match=r"flat_BSE.tif: the image is constant \(100\)") as err:
        analyze_single(flat)
    assert "SE" not in str(err.value).replace("flat_BSE", "")
    holes = np.random.default_rng(0).random((40, 50)).astype(np.float32)
    holes[3, 4] = np.nan
    with pytest.raises(ParameterError, match=r"the image holds 1 NaN or infinite pixel \(give it a finite value"):
        analyze_single(SEMImage(holes))


def test_a_binary_mask_is_measured_as_drawn(tmp_path):
    """A mask from Fiji's Convert to Mask (0 and 255): its full-scale discs were taken for a
    background painted out ("the SE image is constant"), and its black border rows for a
    frame. Now its particles keep the pixels drawn (no smoothing, no edge growth: the lone
    disc's exact area, as Analyze Particles gives it), touching ones are split by shape,
    and no clipped-signal warning is given for its two levels."""
    yy, xx = np.mgrid[0:140, 0:180]
    lone = (yy - 40) ** 2 + (xx - 45) ** 2 < 14**2
    pair = ((yy - 90) ** 2 + (xx - 80) ** 2 < 16**2) | ((yy - 90) ** 2 + (xx - 108) ** 2 < 16**2)
    mask = (lone | pair).astype(np.uint8) * 255
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        result = analyze_single(SEMImage(mask, path=tmp_path / "m.tif"))
        inverted = analyze_single(255 - mask, options=AnalysisOptions(dark_particles=True))
        ones = analyze_single(mask // 255)  # numpy's mask.astype(np.uint8): measured 13 % large as a micrograph
        # black on white, as a PNG of a Fiji mask without Black background: its background
        # was measured as one particle that covers 91 % of the field
        black = analyze_single(SEMImage(255 - mask, path=tmp_path / "b.png"))
    # one warning each, that it is a mask (no clipped signal, no frame): among a batch's
    # micrographs, a mask would otherwise join their statistics unnoticed
    messages = [str(w.message) for w in said]
    assert [m[:36] for m in messages[:3] + messages[4:]] == ["a binary mask (only 0 and 255): its "] * 2 + [
        "a binary mask (only 0 and 1): its pa", "a binary mask (only 0 and 255): its "]
    assert messages[3].startswith(f"{tmp_path / 'b.png'}: its 255s cover 91% of the field in one piece that "
                                  "reaches every side, so they are read as the background and its 0s as the particles")
    areas = sorted(result.table["area_px2"])
    assert result.labels.max() == 3 and result.split == "shape"
    assert np.count_nonzero(lone) in areas and sum(areas) == np.count_nonzero(mask)
    assert np.array_equal(result.labels > 0, mask > 0)
    np.testing.assert_array_equal(inverted.labels, result.labels)
    np.testing.assert_array_equal(ones.labels, result.labels)
    np.testing.assert_array_equal(black.labels, result.labels)


def test_a_mask_of_touching_spheres_is_split_into_them():
    """The true mask of a crowded synthetic field (108 spheres in 6 blobs, most touching):
    measured as a mask, its blobs are split by shape into the spheres."""
    pair = make_pair((512, 512), pixel_size_nm=20, median_diameter_nm=500, n_particles=120,
                     clustered_fraction=0.9, seed=3)
    mask = (pair.labels > 0).astype(np.uint8) * 255
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the few particles for a distribution
        result = analyze_single(mask, options=AnalysisOptions(keep_edge_particles=True))
    score = detection_scores(result.labels, pair.centers, pair.diameters_px)
    assert score.n_true == 108 and score.n_found >= 100
    assert score.f1 >= 0.97 and score.median_ecd_error < 0.02


def test_a_length_under_one_pixel_is_warned_about(syn):
    image = SEMImage(syn.bse, PixelSize(20.0, "argument"))
    with pytest.warns(UserWarning, match=r"min_diameter 5 nm is under one pixel \(20 nm\).*5px or 5um"):
        tiny = analyze_single(image, options=AnalysisOptions(min_diameter_nm=5))
    np.testing.assert_array_equal(tiny.labels, analyze_single(image).labels)  # it does nothing
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*under one pixel")
        analyze_single(image, options=AnalysisOptions(min_diameter_nm=100, min_distance_nm=40))


def test_physical_options_need_calibration(syn):
    with pytest.raises(ParameterError, match="calibrated"):
        analyze_single(SEMImage(syn.bse), options=AnalysisOptions(min_diameter_nm=100))


def test_sizes_in_pixels_filter_uncalibrated_images(syn):
    everything = analyze_single(SEMImage(syn.bse))
    big = analyze_single(SEMImage(syn.bse), options=AnalysisOptions(min_diameter_px=20))
    assert 0 < big.labels.max() < everything.labels.max()
    assert big.table["ecd_px"].min() >= 20
    # 20 px are 400 nm at 20 nm a pixel: the same filter as the length on a calibrated image
    calibrated = analyze_single(SEMImage(syn.bse, PixelSize(20.0, "argument")),
                                options=AnalysisOptions(min_diameter_nm=400))
    np.testing.assert_array_equal(big.labels, calibrated.labels)
    apart = analyze_single(SEMImage(syn.bse), options=AnalysisOptions(min_distance_px=60))
    assert apart.labels.max() < everything.labels.max()  # clusters no longer split
    # refused where the options are made, once, not by every image of a batch
    for options, message in ((dict(min_diameter_px=20, min_diameter_nm=400), "min_diameter is given both"),
                             (dict(min_distance_px=-2), "min_distance_px must be a finite number above 0"),
                             (dict(max_diameter_nm="2um"), "max_diameter_nm must be a finite number above 0"),
                             # compared with the other before its type was checked: a TypeError
                             (dict(min_diameter_nm=-5, max_diameter_nm="x"), "min_diameter_nm must be")):
        with pytest.raises(ParameterError, match=message):
            AnalysisOptions(**options)


def shapes_field():
    """Four discs 12 px across, three 30 px across and a 6 x 40 px bar (ECD 17.5 px,
    circularity 4 pi 240 / 92^2 = 0.36 as drawn), apart, on a noisy film (the sphere
    profile's edges, at a quarter of the peak, take the flat-topped ones 1-2 px wider)."""
    yy, xx = np.mgrid[0:220, 0:320]
    image = np.full(yy.shape, 60.0)
    for cy, cx, r in [(40, 40, 6), (40, 100, 6), (40, 160, 6), (40, 220, 6),
                      (120, 50, 15), (120, 130, 15), (120, 210, 15)]:
        image[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 200.0
    image[180:186, 100:140] = 200.0
    noise = np.random.default_rng(3).normal(0, 4, image.shape)
    return SEMImage(np.clip(image + noise, 0, 255).astype(np.uint8), PixelSize(10.0, "argument"))


def test_size_and_circularity_ranges_keep_what_imagej_would():
    """ImageJ's Analyze Particles ranges: Size (here its upper end, as a diameter) and
    Circularity."""
    image = shapes_field()

    def found(**ranges):
        result = analyze_single(image, options=AnalysisOptions(**ranges))
        assert result.table["label"].tolist() == list(range(1, int(result.labels.max()) + 1))
        assert result.distribution["count"] == len(result.table["label"])
        return sorted(np.round(result.table["ecd_px"]).astype(int).tolist()), result.table["circularity"]

    everything, circularity = found()
    assert everything[:4] == [12] * 4 and 17 <= everything[4] <= 21 and all(30 <= d <= 33 for d in everything[5:])
    assert 0.3 < circularity.min() < 0.5 < 0.85 < np.sort(circularity)[1]  # the bar, then the discs
    assert found(max_diameter_nm=250)[0] == everything[:5]  # 25 px: the 30 px discs go
    assert found(max_diameter_px=25)[0] == everything[:5]
    assert found(circularity=(0.6, 1))[0] == everything[:4] + everything[5:]  # the bar goes
    assert found(circularity=(0.6, 1), max_diameter_nm=250)[0] == everything[:4]
    assert found(min_diameter_nm=150, max_diameter_nm=250)[0] == everything[4:5]
    # the mineral area fraction is the mineral's: the ranges choose the particles measured,
    # not what is mineral; under min_diameter nothing is found (the smallest size found)
    fraction = {key: analyze_single(image, options=AnalysisOptions(**options)).mineral_area_fraction
                for key, options in (("all", {}), ("ranges", dict(circularity=(0.6, 1), max_diameter_nm=250)),
                                     ("large", dict(min_diameter_nm=150)))}
    drawn = (4 * np.pi * 6**2 + 3 * np.pi * 15**2 + 6 * 40) / (220 * 320)
    assert fraction["all"] == pytest.approx(drawn, rel=0.15)  # the flat discs drawn 1-2 px wider (above)
    assert fraction["ranges"] == fraction["all"]
    assert fraction["large"] == pytest.approx(fraction["all"] - 4 * np.pi * 6**2 / (220 * 320), rel=0.02)
    with pytest.raises(ParameterError, match=r"max_diameter_nm 250 nm \(--max-diameter\) needs a calibrated "
                                             r"image, and this one has no pixel size"):
        analyze_single(SEMImage(image.data), options=AnalysisOptions(max_diameter_nm=250))
    with pytest.raises(ParameterError, match=r"max_diameter \(10 px\) is under min_diameter \(20 px\)"):
        AnalysisOptions(min_diameter_px=20, max_diameter_px=10)
    with pytest.raises(ParameterError, match=r"max_diameter \(5 px\) is under min_diameter \(10 px\)"):
        analyze_single(image, options=AnalysisOptions(min_diameter_nm=100, max_diameter_px=5))
    for bad in [(0.7, 0.2), (0, 1.5), (0.5,), "round"]:
        with pytest.raises(ParameterError, match="circularity must be a range"):
            AnalysisOptions(circularity=bad)


def test_ranges_from_the_command_line_and_a_config(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "s_BSE.tif", shapes_field().data)
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "s_BSE.tif"), "-o", str(out), "--single", "-q", "--pixel-size", "10nm",
                 "--max-diameter", "0.25um", "--circularity", "0.6", "1"]) == 0
    assert len(read_csv(out / "particles.csv")) == 4
    params = json.loads((out / "manifest.json").read_text())["parameters"]
    assert (params["max_diameter_nm"], params["max_diameter_px"], params["circularity"]) == (250.0, None, [0.6, 1.0])
    # a range in one word, as ImageJ's Analyze Particles writes it (circularity=0.60-1.00): it
    # was "expected 2 arguments"
    for given in (["--circularity", "0.60-1.00"], ["--circularity=0.6,1"], ["--clip", "1-99", "--circularity", "0.6",
                                                                             "1"]):
        assert main(["analyze", str(tmp_path / "s_BSE.tif"), "-o", str(out), "--single", "-q", "--pixel-size", "10nm",
                     "--overwrite", "--max-diameter", "0.25um", *given]) == 0
        params = json.loads((out / "manifest.json").read_text())["parameters"]
        assert params["circularity"] == [0.6, 1.0] and len(read_csv(out / "particles.csv")) == 4
    assert params["clip"] == [1.0, 99.0]
    config = tmp_path / "c.toml"
    config.write_text('max_diameter = "25px"\ncircularity = [0, 0.5]\n')
    assert main(["analyze", str(tmp_path / "s_BSE.tif"), "-o", str(out), "--single", "-q", "--overwrite",
                 "--config", str(config)]) == 0
    (bar,) = read_csv(out / "particles.csv")
    assert float(bar["circularity"]) < 0.5 and 17 <= float(bar["ecd_px"]) <= 21
    for argv in (["--circularity", "0.9", "0.2"], ["--circularity", "0", "1.5"],
                 ["--min-diameter", "30px", "--max-diameter", "20px"]):
        assert main(["analyze", str(tmp_path / "s_BSE.tif"), "-o", str(tmp_path / "o2"), "--single", *argv]) == 2
    err = capsys.readouterr().err
    assert "circularity must be a range" in err and "outside 0-1" in err and "is under min_diameter" in err
    assert not (tmp_path / "o2").exists()
    # usage errors of the command, as the others (it was "error: invalid value: circularity ...", no
    # command named); a config file's are its own, named by the file
    assert re.search(r"^ddcsem analyze: error: circularity must be a range .*\n\(the options: ddcsem analyze --help",
                     err, re.MULTILINE)
    config.write_text("circularity = [0.9, 0.2]\n")
    assert main(["analyze", str(tmp_path / "s_BSE.tif"), "-o", str(tmp_path / "o2"), "--single", "--config",
                 str(config)]) == 2
    assert re.search(r"^error: \S*c.toml: circularity must be a range", capsys.readouterr().err, re.MULTILINE)
    assert main(["analyze", str(tmp_path / "s_BSE.tif"), "-o", str(tmp_path / "o2"), "--config", "none.toml"]) == 2
    assert "ddcsem analyze: error: --config none.toml: no such file\n" in capsys.readouterr().err


def test_labels_drawn_by_hand_are_measured_instead_of_segmenting(pair_files):
    """A corrected segmentation is measured as it is, with the border rule and the ranges;
    its split and profile are recorded as given."""
    pair = read_pair(*pair_files)
    found = analyze_pair(pair)
    again = analyze_pair(pair, labels=found.labels)
    assert (again.split, again.profile) == ("given", "given")
    # the size filter cuts what was found at 9 px² (20 nm pixels), not what was drawn
    assert found.smallest_ecd == pytest.approx(2 * np.sqrt(9 / np.pi) * 0.02) and again.smallest_ecd is None
    np.testing.assert_array_equal(again.labels, found.labels)
    for key in found.table:
        np.testing.assert_array_equal(again.table[key], found.table[key], err_msg=key)
    drawn = found.labels.copy()
    drawn[drawn == 3] = 0  # one particle deleted
    drawn[:12, :12] = 1000  # one drawn on the border, sparse id: left out by the border rule
    drawn[100:106, 300:306] = 77  # a 6 px square
    edited = analyze_pair(pair, labels=drawn)
    assert edited.labels.max() == found.labels.max() and edited.split == "given"
    assert 36.0 in edited.table["area_px2"] and not edited.labels[:12, :12].any()
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallParticleWarning)  # its errors are the segmentation's
        small = analyze_pair(pair, labels=drawn, options=AnalysisOptions(max_diameter_px=7))
    assert 36.0 in small.table["area_px2"] and small.table["ecd_px"].max() <= 7 < found.table["ecd_px"].max()
    assert analyze_pair(pair, labels=drawn, options=AnalysisOptions(keep_edge_particles=True)).labels.max() \
        == found.labels.max() + 1
    for bad in (found.labels[:-1], found.labels.astype(float), -found.labels):
        with pytest.raises(ParameterError, match="labels"):
            analyze_pair(pair, labels=bad)


def test_remeasure_particles_corrected_in_fiji(pair_files, tmp_path, capsys):
    """analyze, delete five particles from the ROI set as Fiji's ROI Manager would save it,
    analyze again with --labels: the five are gone, and the labels file is recorded."""
    import zipfile

    inputs = [str(pair_files[0]), str(pair_files[1])]
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["analyze", *inputs, "-o", str(first), "-q"]) == 0
    n = int(read_csv(first / "images.csv")[0]["n_particles"])
    rois = first / "f" / "f_rois.zip"
    with zipfile.ZipFile(rois) as archive:
        kept = {name: archive.read(name) for name in archive.namelist()[5:]}
    with zipfile.ZipFile(rois, "w") as archive:
        for name, data in kept.items():
            archive.writestr(name, data)
    assert main(["analyze", *inputs, "-o", str(second), "-q", "--labels", str(first)]) == 0
    (row,) = read_csv(second / "images.csv")
    assert int(row["n_particles"]) == n - 5 and row["split"] == "given" and row["labels_path"] == str(rois)
    assert json.loads((second / "manifest.json").read_text())["parameters"]["labels"] == str(first.resolve())
    # the skip-existing hash holds the labels file: edited again, the image is measured again
    os.utime(rois, ns=(rois.stat().st_atime_ns, rois.stat().st_mtime_ns + 10**9))
    assert main(["analyze", *inputs, "-o", str(second), "-q", "--labels", str(first), "--skip-existing"]) == 0
    assert json.loads((second / "manifest.json").read_text())["images"][0]["status"] == "ok"  # not "skipped"
    # saved under Fiji's default name in the image's folder, the newest set is the one taken
    roiset = first / "f" / "RoiSet.zip"
    with zipfile.ZipFile(rois) as archive, zipfile.ZipFile(roiset, "w") as saved:
        for name in archive.namelist()[:-1]:
            saved.writestr(name, archive.read(name))
    os.utime(roiset, ns=(rois.stat().st_atime_ns, rois.stat().st_mtime_ns + 10**9))
    assert main(["analyze", *inputs, "-o", str(second), "-q", "--labels", str(first), "--overwrite"]) == 0
    (row,) = read_csv(second / "images.csv")
    assert int(row["n_particles"]) == n - 6 and row["labels_path"] == str(roiset)
    # --dry-run names the file each image's particles would come from
    assert main(["analyze", *inputs, "-o", str(tmp_path / "dry"), "--labels", str(first), "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"labels f: {roiset}"
    assert main(["analyze", *inputs, "-o", str(tmp_path / "dry"), "--labels", str(tmp_path), "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "labels f: none (no labels for f)"
    # an image without labels fails, named; a labels folder in the output folder is a usage error
    assert main(["analyze", *inputs, "-o", str(tmp_path / "third"), "--labels", str(tmp_path / "second" / "f" / "x")]) == 2
    assert main(["analyze", *inputs, "-o", str(tmp_path / "third"), "--labels", str(tmp_path)]) == 1
    assert main(["analyze", *inputs, "-o", str(first), "--labels", str(first / "f"), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "no such folder" in err and "no labels for f" in err and "would replace the labels it measures" in err


def test_one_image_takes_a_mask_file_as_its_labels(pair_files, syn, tmp_path, capsys):
    """ddcsem analyze image --single --labels mask.png: for one image the file itself will
    do (a folder's <id>_labels.png too), and a mask of black particles on white (a Fiji PNG
    without Black background) is measured as its particles, with a warning; with several
    images a file is a usage error that says what to give."""
    from PIL import Image
    from scipy import ndimage

    drawn = np.where(syn.labels > 0, 0, 255).astype(np.uint8)
    Image.fromarray(drawn).save(tmp_path / "mask.png")
    spots = ndimage.label(syn.labels > 0, structure=np.ones((3, 3), bool))[1]
    out = tmp_path / "out"
    assert main(["analyze", str(pair_files[1]), "--single", "--labels", str(tmp_path / "mask.png"),
                 "--keep-edge-particles", "-o", str(out)]) == 0
    (row,) = read_csv(out / "images.csv")
    assert row["split"] == "given" and int(row["n_particles"]) == spots
    assert row["labels_path"] == str(tmp_path / "mask.png")
    assert "mask.png: its 255s cover" in capsys.readouterr().err  # said in the image's warnings
    folder = tmp_path / "drawn"
    folder.mkdir()
    (tmp_path / "mask.png").rename(folder / f"{row['image_id']}_labels.png")
    assert main(["analyze", str(pair_files[1]), "--single", "--labels", str(folder), "--keep-edge-particles",
                 "-q", "-o", str(tmp_path / "again")]) == 0
    assert int(read_csv(tmp_path / "again" / "images.csv")[0]["n_particles"]) == spots
    shutil.copy(pair_files[1], tmp_path / "g.tif")
    two = [str(pair_files[1]), str(tmp_path / "g.tif")]
    assert main(["analyze", *two, "--single", "--labels", str(folder / f"{row['image_id']}_labels.png"),
                 "-o", str(tmp_path / "two")]) == 2
    assert "is a file, which serves one image, and 2 are analysed: give a folder" in capsys.readouterr().err


def test_min_diameter_filters_small_particles(pair_files):
    images = read_pair(*pair_files)
    everything = analyze_pair(images)
    big = analyze_pair(images, options=AnalysisOptions(min_diameter_nm=300))
    assert big.labels.max() < everything.labels.max()
    assert big.table["ecd_um"].min() >= 0.3 * 0.95


def test_a_bse_image_taken_at_a_low_beam_energy_is_warned_about_and_its_energy_recorded():
    """At 5 kV the spheres look flat-topped and the sphere profile (auto's) sizes them
    large: the analysis says so and names the flat profile, which sizes them better. From
    7 kV the sphere profile is the better one, an SE image has no partial-volume profile,
    and a profile chosen is the user's: no warning."""
    from ddcsem.analyze import LOW_BEAM_KV, LowBeamEnergyWarning

    syn = make_pair(shape=(384, 384), pixel_size_nm=20, median_diameter_nm=500, n_particles=40, seed=9, kev=5)
    px = PixelSize(20.0, "argument")

    def taken_at(kv, detector="CBS"):
        data = syn.se if detector in ("ETD", "InLens") else syn.bse
        return SEMImage(data, px, detector=detector, vendor="fei", metadata={"FEI": {"Beam": {"HV": kv * 1000}}})

    pair = SEMPair("f", taken_at(5, "ETD"), taken_at(5), px)
    with pytest.warns(LowBeamEnergyWarning, match="imaged at 5 kV: .*--profile flat"):
        sphere = analyze_pair(pair)
    assert sphere.beam_kv == 5 and sphere.profile == "sphere"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoisyFieldWarning)  # the SE image's
        warnings.simplefilter("error", LowBeamEnergyWarning)
        flat = analyze_pair(pair, options=AnalysisOptions(profile="flat"))
        analyze_pair(SEMPair("f", taken_at(7, "ETD"), taken_at(7), px))
        analyze_single(taken_at(LOW_BEAM_KV, "InLens"))  # an SE image
        analyze_single(taken_at(LOW_BEAM_KV + 1))
        assert analyze_single(syn.bse).beam_kv is None
    sizes = [detection_scores(r.labels, syn.centers, syn.diameters_px).median_ecd_error for r in (sphere, flat)]
    assert sizes[1] < sizes[0]  # what the warning says
    with pytest.warns(LowBeamEnergyWarning):
        assert analyze_single(taken_at(LOW_BEAM_KV)).beam_kv == LOW_BEAM_KV


# ----------------------------------------------------------------------------- CLI


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_analyze_batch_outputs(samples, tmp_path, capsys):
    before = digest(samples)
    out = tmp_path / "out"
    assert main(["analyze", str(samples), "-o", str(out), "-v"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" ")[0] for line in lines] == ["aorta_01", "drusen_03", "valve_02"]
    assert lines[2].startswith("valve_02 (pair, shape split): ")
    assert " µm (95 % CI " in lines[2] and lines[2].endswith("; 12 nm/px (imagej:resolution+unit)")
    assert digest(samples) == before
    for name in ("particles.csv", "images.csv", "psd_all.png", "manifest.json"):
        assert (out / name).is_file()
    images = read_csv(out / "images.csv")
    assert [r["image_id"] for r in images] == ["aorta_01", "drusen_03", "valve_02"]
    assert [r["beam_kv"] for r in images] == ["10", "10", ""]  # FEI's HV, JEOL's sidecar; none in ImageJ's
    assert (out / "report.html").read_text().count(" · 10 kV") == 2
    for row in images:
        assert row["status"] == "ok" and row["calibrated"] == "1" and row["split"] == "shape"
        assert "uncalibrated" not in row["warning"]
        assert int(row["n_particles"]) > 20
        assert float(row["d10_um"]) < float(row["d50_um"]) < float(row["d90_um"])
        assert float(row["d50_ci_low_um"]) < float(row["d50_um"]) < float(row["d50_ci_high_um"])
        assert float(row["d50_px"]) == pytest.approx(float(row["d50_um"]) * 1000 / float(row["pixel_size_nm"]), rel=1e-4)
        folder = out / row["image_id"]
        for suffix in ("_ddc.tif", "_labels.tif", "_overlay.png", "_psd.png", "_particles.csv", "_summary.json"):
            assert (folder / f"{row['image_id']}{suffix}").is_file()
    particles = read_csv(out / "particles.csv")
    assert len(particles) == sum(int(r["n_particles"]) for r in images)
    (pooled,) = read_csv(out / "samples.csv")  # one sample: all
    for row in images + [pooled]:  # each shape's median over the image's (the sample's) particles
        own = [p for p in particles if p["image_id"] == row.get("image_id", p["image_id"])]
        for name in ("circularity", "roundness", "aspect_ratio", "solidity"):
            assert float(row[f"{name}_median"]) == pytest.approx(np.median([float(p[name]) for p in own]), rel=1e-4)
    assert {"image_id", "label", "centroid_x_px", "centroid_y_px", "centroid_x_um", "centroid_y_um", "area_um2",
            "ecd_um", "feret_max_um", "feret_min_um", "feret_angle_deg", "perimeter_um", "major_um", "minor_um",
            "ellipse_angle_deg", "circularity",
            "roundness", "aspect_ratio", "solidity", "bse_mean", "se_mean", "touches_edge",
            "edge_weight"} <= set(particles[0])
    with tifffile.TiffFile(out / "valve_02" / "valve_02_labels.tif") as tif:
        labels = tif.asarray()
        assert tif.imagej_metadata["unit"] == "micron"
    assert labels.max() == images[2]["n_particles"] or int(labels.max()) == int(images[2]["n_particles"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parameters"]["split"] == "auto" and len(manifest["params_hash"]) == 16
    assert {i["status"] for i in manifest["images"]} == {"ok"}
    assert {i["split"] for i in manifest["images"]} == {"shape"}  # what "auto" is for pairs
    assert {i["profile"] for i in manifest["images"]} == {"sphere"}
    assert all(i["timings_s"]["segment"] > 0 for i in manifest["images"])


def test_uncalibrated_image_gets_pixel_columns_only(tmp_path, syn, capsys):
    tifffile.imwrite(tmp_path / "x_BSE.tif", syn.bse)  # no calibration, no partner
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "x_BSE.tif"), "-o", str(out), "--single", "-q"]) == 0
    (row,) = read_csv(out / "images.csv")
    assert row["calibrated"] == "0" and row["pixel_size_source"] == "none"
    assert row["d50_um"] == "" and float(row["d50_px"]) > 5
    assert row["warning"].startswith("uncalibrated: ") and "--pixel-size" in row["warning"]
    particles = read_csv(out / "particles.csv")
    assert particles[0]["ecd_um"] == "" and float(particles[0]["ecd_px"]) > 0
    # -v prints each image's results: here those kept from the run above
    capsys.readouterr()
    assert main(["analyze", str(tmp_path / "x_BSE.tif"), "-o", str(out), "--single", "-v", "--skip-existing"]) == 0
    d50, low, high = (float(row[k]) for k in ("d50_px", "d50_ci_low_px", "d50_ci_high_px"))
    assert capsys.readouterr().out == (f"x_bse (single, shape split): {row['n_particles']} particles, "
                                       f"D50 {d50:.3g} px (95 % CI {low:.3g}–{high:.3g}); uncalibrated "
                                       "[kept from an earlier run]\n")


def test_xlsx_holds_the_tables_with_numbers_as_numbers_and_ids_as_text(tmp_path, syn):
    """--xlsx writes the three tables as the sheets of a workbook, which opens in Excel in
    every locale: the CSVs' values, numbers as numbers, and an id that Excel would take
    for a date as text. A later run without it removes the workbook, which would no
    longer match the tables."""
    from openpyxl import load_workbook

    for name, data in (("03-12_InLens.tif", syn.se), ("03-12_EsB.tif", syn.bse)):
        tifffile.imwrite(tmp_path / name, data, imagej=True, resolution=(50, 50), metadata={"unit": "micron"})
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path), "-o", str(out), "--xlsx", "-q"]) == 0
    assert json.loads((out / "manifest.json").read_text())["xlsx"] is True
    book = load_workbook(out / "results.xlsx")
    assert book.sheetnames == ["images", "particles", "samples"]
    for sheet, table in (("images", "images.csv"), ("particles", "particles.csv"), ("samples", "samples.csv")):
        header, *rows = [list(r) for r in book[sheet].iter_rows(values_only=True)]
        with open(out / table, newline="", encoding="utf-8") as fh:
            csv_rows = list(csv.reader(fh))
        assert header == csv_rows[0] and len(rows) == len(csv_rows) - 1
        for row, csv_row in zip(rows, csv_rows[1:]):
            for column, value, text in zip(header, row, csv_row):
                if text == "":
                    assert value is None, column
                elif isinstance(value, bool):
                    assert text == ("1" if value else "0"), column
                elif isinstance(value, (int, float)):
                    assert value == pytest.approx(float(text), rel=1e-5), column
                else:
                    assert value == text, column
    particles = [list(r) for r in book["particles"].iter_rows(values_only=True)]
    column = particles[0].index
    assert particles[1][column("image_id")] == "03-12" and isinstance(particles[1][column("ecd_um")], float)
    assert particles[1][column("touches_edge")] is False and isinstance(particles[1][column("label")], int)
    assert '<a href="results.xlsx">results.xlsx</a>' in (out / "report.html").read_text()
    assert main(["analyze", str(tmp_path), "-o", str(out), "--skip-existing", "-q"]) == 0
    assert not (out / "results.xlsx").exists() and (out / "particles.csv").is_file()
    assert "results.xlsx" not in (out / "report.html").read_text()
    from openpyxl import Workbook  # a workbook of the user's own of that name is no run's to remove

    Workbook().save(out / "results.xlsx")
    assert main(["analyze", str(tmp_path), "-o", str(out), "--skip-existing", "-q"]) == 0
    assert load_workbook(out / "results.xlsx").sheetnames == ["Sheet"]


def test_an_image_exported_clipped_is_warned_about():
    """A BSE image whose matrix was clipped to black up to the particles' edges, or whose
    particles' tops were saturated, is sized wrong: it says so. Unclipped, or clipped
    only in the matrix, it does not."""
    syn = make_pair(shape=(512, 512), n_particles=200, clustered_fraction=0.4, seed=4)
    bse = syn.bse.astype(float)
    px = PixelSize(20.0, "argument")

    def exported(low, high):
        lo, hi = np.percentile(bse, [low, high])
        image = np.clip((bse - lo) / (hi - lo) * 255, 0, 255).astype(np.uint8)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = analyze_pair(SEMPair("x", SEMImage(syn.se, px), SEMImage(image, px), px))
        score = detection_scores(result.labels, syn.centers, syn.diameters_px)
        return [str(w.message) for w in caught if w.category is ClippedSignalWarning], score.median_ecd_error

    assert exported(0, 100) == ([], pytest.approx(0.012, abs=0.01))
    messages, error = exported(50, 100)  # half the field black: the matrix only
    assert messages == [] and error < 0.03
    (message,), error = exported(75, 100)
    assert "75% of the image's pixels sit at its lowest level" in message and error > 0.1
    (message,), _ = exported(0, 90)
    assert re.search(r"10\.[45]% of the image's pixels sit at its highest level, 34% of the particles' area", message)
    (message, *_), _ = exported(0, 40)  # the matrix's upper half white too: more than the particles
    assert re.search(r"6\d\.\d% of the image's pixels sit at its highest level, more than the particles found "
                     r"cover \(\d+\.\d%\)", message)


@pytest.mark.filterwarnings("ignore::ddcsem.analyze.SmallParticleWarning")  # the clipped field's: not the point
def test_black_resin_outside_the_region_is_no_clipped_matrix():
    """The clipping check looked at the whole image: resin exported black around a narrow
    strip of tissue was 94 % of it, "a matrix clipped up to the particles' edges"."""
    syn = make_pair((512, 512), n_particles=120, seed=4)
    bse, se = syn.bse.copy(), syn.se.copy()
    bse[:, :480] = 0  # (its SE image shows the resin's surface: no plain frame)
    region = np.zeros(bse.shape, bool)
    region[:, 485:] = True
    px = PixelSize(20.0, "argument")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ClippedSignalWarning)
        analyze_pair(SEMPair("x", SEMImage(se, px), SEMImage(bse, px), px), region=region)
    bse[:, 485:][bse[:, 485:] < np.percentile(bse[:, 485:], 95)] = 0  # the tissue's own matrix black: told
    with pytest.warns(ClippedSignalWarning, match="sit at its lowest level"):
        analyze_pair(SEMPair("x", SEMImage(se, px), SEMImage(bse, px), px), region=region)


def test_particles_too_small_to_size_are_warned_about(syn):
    pixel = PixelSize(50.0, "argument")  # spheres of 300 nm: 6 px across
    tiny = make_pair(shape=(256, 256), pixel_size_nm=50, median_diameter_nm=300, sigma_ln=0.25,
                     n_particles=150, clustered_fraction=0, seed=8)
    with pytest.warns(SmallParticleWarning, match=r"the median particle is \d\.\d px across: under 8 px") as caught:
        result = analyze_pair(SEMPair("t", SEMImage(tiny.se, pixel), SEMImage(tiny.bse, pixel), pixel))
    median = float(np.median(result.table["ecd_px"]))
    assert 4 < median < 8 and f"is {median:.1f} px across" in str(caught[0].message)
    pixel = PixelSize(20.0, "argument")  # the fixture's spheres: about 20 px across
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallParticleWarning)
        analyze_pair(SEMPair("s", SEMImage(syn.se, pixel), SEMImage(syn.bse, pixel), pixel))


def test_sizes_larger_than_the_image_fail_it_naming_the_unit(pair_files, capsys):
    se, bse = pair_files  # 320 x 320 px of 20 nm
    out = se.parent / "out"
    assert main(["analyze", "--se", str(se), "--bse", str(bse), "-o", str(out), "--min-distance", "1e9"]) == 1
    err = capsys.readouterr().err
    assert "min_distance 1e+09 nm (5e+07 px) is larger than the image (320 x 320 px)" in err
    assert "check its unit: a bare number is in nm" in err
    assert main(["analyze", "--se", str(se), "--bse", str(bse), "-o", str(out), "--overwrite",
                 "--min-diameter", "400px"]) == 1
    assert "min_diameter 400 px is larger than the image" in capsys.readouterr().err


def test_number_density_counts_the_particles_per_area_the_border_cuts_too():
    # a 12 µm square cut from a larger field: those the border cuts are left out, and
    # their edge weights make up for them, so the particles per µm² are the field's own
    syn = make_pair(shape=(800, 800), pixel_size_nm=20, n_particles=260, median_diameter_nm=500,
                    clustered_fraction=0, seed=8)
    crop = syn.bse[100:700, 100:700]
    result = analyze_single(SEMImage(crop, PixelSize(20.0, "argument")), image_id="x")
    inside = np.count_nonzero(np.all((syn.centers >= 100) & (syn.centers < 700), axis=1))
    assert result.field_area == pytest.approx(12.0 * 12.0)
    assert len(result.table["label"]) < 0.93 * inside  # the border cuts some
    assert result.number_density == pytest.approx(inside / 144.0, rel=0.03)
    uncalibrated = analyze_single(crop, image_id="x")
    assert uncalibrated.field_area == 600 * 600
    assert uncalibrated.number_density == pytest.approx(result.number_density * 0.02**2, rel=1e-6)


def test_fields_of_a_sample_pooled_from_the_api():
    from ddcsem.analyze import pool_analyses

    fields = [analyze_single(SEMImage(make_pair(shape=(256, 256), n_particles=30, seed=s).bse,
                                      PixelSize(20.0, "argument")), image_id=f"f{s}") for s in (1, 2, 3)]
    pooled = pool_analyses(fields)
    assert pooled["unit"] == "um" and pooled["n_fields"] == 3
    assert pooled["count"] == sum(len(f.table["label"]) for f in fields)
    assert pooled["field_area"] == pytest.approx(3 * 5.12 * 5.12)
    densities = [f.number_density for f in fields]
    assert pooled["number_density"] == pytest.approx(np.mean(densities))  # fields of one size
    assert min(densities) < pooled["number_density"] < max(densities)
    assert pooled["mineral_area_fraction"] == pytest.approx(np.mean([f.mineral_area_fraction for f in fields]))
    lows = [f.distribution["d10"] for f in fields]
    assert min(lows) <= pooled["d10"] <= max(lows)
    uncalibrated = analyze_single(make_pair(shape=(256, 256), n_particles=30, seed=4).bse, image_id="bare")
    in_px = pool_analyses([uncalibrated])
    assert in_px["unit"] == "px" and in_px["field_area"] == 256 * 256
    assert in_px["d50"] == uncalibrated.distribution["d50"]
    with pytest.raises(ParameterError, match=r"uncalibrated fields among calibrated ones \(1 of 4: bare\)"):
        pool_analyses([*fields, uncalibrated])
    assert pool_analyses(iter(fields)) == pooled  # any iterable of fields
    # one field, not in a list, raised "'ImageAnalysis' object is not iterable"
    for given, message in ((fields[0], r", not one \(give \[analysis\] for one field\)"),
                           ([fields[0], fields[1].table], "; one is a _Columns"), (3, ", not int$")):
        with pytest.raises(ParameterError, match=r"^analyses must be a list of ImageAnalysis \(a sample's fields\)"
                                                 + message):
            pool_analyses(given)
    # a field twice counted its particles twice, unsaid; fields apart that share an id are two
    with pytest.raises(ParameterError, match=r"^one field \(f2\) is given more than once: its particles would count "
                                             r"as often \(give each field once\)"):
        pool_analyses([*fields, fields[1]])
    assert pool_analyses([fields[0], replace(fields[0], image_id="copy")])["count"] == 2 * len(fields[0].table["label"])


def test_a_region_drawn_by_hand_is_analysed_alone():
    syn = make_pair(shape=(800, 800), pixel_size_nm=20, n_particles=260, median_diameter_nm=500,
                    clustered_fraction=0, seed=8)
    yy, xx = np.mgrid[0:800, 0:800]
    region = (yy - 400) ** 2 + (xx - 400) ** 2 < 330**2  # the tissue, say
    image = SEMImage(syn.bse, PixelSize(20.0, "argument"))
    result = analyze_single(image, image_id="x", region=region)
    assert result.region is region or np.array_equal(result.region, region)
    assert result.field_area == pytest.approx(region.sum() * 0.02**2)
    from scipy import ndimage

    inner = ndimage.binary_erosion(region, border_value=0)
    assert result.labels.any() and not result.labels[~inner].any()  # none on its edge or outside it
    true_fraction = np.count_nonzero(syn.labels[region]) / region.sum()
    assert result.mineral_area_fraction == pytest.approx(true_fraction, rel=0.02)
    centres = np.clip(np.round(syn.centers).astype(int), 0, 799)  # the region is far from the border
    inside = np.count_nonzero(region[centres[:, 0], centres[:, 1]])
    assert len(result.table["label"]) < 0.93 * inside  # its edge cuts some
    assert result.number_density * result.field_area == pytest.approx(inside, rel=0.03)
    kept = analyze_single(image, image_id="x", region=region, options=AnalysisOptions(keep_edge_particles=True))
    crossing = kept.table["touches_edge"].astype(bool)
    assert crossing.any() and np.isnan(kept.table["edge_weight"][crossing]).all()
    ids = np.unique(kept.labels[region])
    assert set(kept.table["label"]) == set(ids[ids > 0])  # every particle kept reaches into the region
    with pytest.raises(ParameterError, match="region must have the shape of the image"):
        analyze_single(image, region=region[:10])


@pytest.mark.parametrize("n", [0, 60])
def test_what_lies_outside_the_region_sets_no_threshold(n):
    # a hole in the section (dark in both images) beside tissue: measured over the whole
    # field, the tissue itself was the bright phase, "mineral" over 36 % of the region
    # where it held none
    syn = make_pair((512, 512), n_particles=n, seed=7, clustered_fraction=0)
    hole = np.zeros((512, 512), bool)
    hole[:, :200] = True
    noise = np.random.default_rng(0).normal(0, 3, hole.sum())
    bse, se = syn.bse.astype(float), syn.se.astype(float)
    bse[hole], se[hole] = bse[~hole].mean() * 0.3 + noise, se[~hole].mean() * 0.4 + noise
    px = PixelSize(20.0, "argument")
    pair = SEMPair("h", SEMImage(np.clip(se, 0, 255).astype(np.uint8), px),
                   SEMImage(np.clip(bse, 0, 255).astype(np.uint8), px), px)
    region = ~hole
    region[:, 200:204] = False  # drawn a little inside the hole's edge
    with pytest.warns(NoisyFieldWarning, match="raised") if n == 0 else warnings.catch_warnings():
        result = analyze_pair(pair, region=region)
    true_fraction = np.count_nonzero(syn.labels[region]) / region.sum()
    assert result.mineral_area_fraction == pytest.approx(true_fraction, abs=0.003)
    if n:
        score = detection_scores(np.where(region, result.labels, 0), syn.centers, syn.diameters_px)
        assert score.precision == 1.0 and len(result.table["label"]) >= 28
    else:
        assert len(result.table["label"]) == 0


def test_markers_clicked_in_fiji_split_the_particles_there_and_only_there(tmp_path, capsys):
    from roifile import ROI_TYPE, ImagejRoi

    yy, xx = np.mgrid[0:128, 0:160]
    image = np.full((128, 160), 50.0)
    for r, c in ((50, 40), (50, 66), (50, 92), (100, 100), (100, 126)):  # three touching discs, then two
        image[(yy - r) ** 2 + (xx - c) ** 2 < 15 ** 2] = 200
    image += np.random.default_rng(0).normal(0, 5, image.shape)
    tifffile.imwrite(tmp_path / "f.tif", image.astype(np.float32))
    out = tmp_path / "out"
    args = ["analyze", str(tmp_path / "f.tif"), "--single", "-o", str(out), "-q", "--pixel-size", "20nm"]
    assert main(args) == 0
    assert read_csv(out / "images.csv")[0]["n_particles"] == "5"
    # the trio taken for two particles: clicked on f_ddc.tif and saved beside it; the pair
    # not clicked is split as before
    clicks = ImagejRoi.frompoints(np.array([[40.5, 50.5], [79.5, 50.5]]))
    clicks.roitype = ROI_TYPE.POINT
    clicks.tofile(out / "f" / "f_markers.roi")
    capsys.readouterr()
    assert main([*args, "--markers", str(out), "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"markers f: {out / 'f' / 'f_markers.roi'}"
    assert main([*args, "--markers", str(out), "--overwrite"]) == 0
    row = read_csv(out / "images.csv")[0]
    assert (row["n_particles"], row["markers_path"]) == ("4", str(out / "f" / "f_markers.roi"))
    areas = sorted(float(a) for a in (r["area_um2"] for r in read_csv(out / "particles.csv")))
    assert areas[-1] / areas[0] == pytest.approx(2, rel=0.1)  # two discs in one, the others one each
    assert " · markers f_markers.roi</p>" in (out / "report.html").read_text(encoding="utf-8")
    overlay = np.asarray(Image.open(out / "f" / "f_overlay.png").convert("RGB"))
    assert (overlay[[47, 50, 53, 50], [40, 37, 40, 79]] == 255).all()  # a cross where each click was read
    assert not (overlay[50, 66] == 255).all()
    # beside an image without clicks, which is split as without them; a batch without any is refused
    shutil.copy(tmp_path / "f.tif", tmp_path / "g.tif")
    capsys.readouterr()
    assert main([*args, str(tmp_path / "g.tif"), "--markers", str(out), "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "markers g: none (split as usual)"
    assert main([*args, str(tmp_path / "g.tif"), "--markers", str(out), "--overwrite"]) == 0
    rows = {row["image_id"]: row for row in read_csv(out / "images.csv")}
    assert (rows["f"]["n_particles"], rows["g"]["n_particles"], rows["g"]["markers_path"]) == ("4", "5", "")
    (out / "f" / "f_markers.roi").unlink()
    assert main([*args, "--markers", str(out), "--overwrite"]) == 2
    assert "no <id>_markers file (.roi, .zip, .tif, .png) for any of the images" in capsys.readouterr().err
    assert main([*args, "--markers", str(out), "--labels", str(tmp_path), "-o", str(tmp_path / "o2")]) == 2
    assert "--markers seeds the segmentation, which --labels replaces" in capsys.readouterr().err
    seeds = np.zeros(image.shape, np.int32)
    with pytest.raises(ParameterError, match="labels and markers were both given"):
        analyze_single(image, labels=seeds, markers=seeds)


@pytest.mark.parametrize("rows, cols", [((1, 4), (10, 100)), ((1, 2), (10, 12)), ((5, 6), (7, 8))])
def test_a_region_of_a_few_pixels_is_analysed(rows, cols):
    # the noise is sampled on every 4th row, which such a region may miss: it raised
    # "the input image is empty"
    blank = make_pair((128, 128), n_particles=0, dose=60, seed=1)
    region = np.zeros((128, 128), bool)
    region[rows[0]:rows[1], cols[0]:cols[1]] = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # so few pixels give noise and polarity warnings: not the point
        result = analyze_single(blank.bse, region=region)
    assert len(result.table["label"]) == 0 and result.field_area == region.sum()


def test_regions_from_the_command_line(pair_files, tmp_path, capsys):
    from roifile import ImagejRoi

    out = tmp_path / "out"
    assert main(["analyze", str(pair_files[0].parent), "-o", str(out), "-q"]) == 0
    whole = read_csv(out / "images.csv")[0]
    # drawn on f_ddc.tif in Fiji and saved beside it (the output folder serves)
    ImagejRoi.frompoints(np.array([[10, 10], [200, 10], [200, 300], [10, 300]], float)).tofile(
        out / "f" / "f_region.roi")
    capsys.readouterr()
    assert main(["analyze", str(pair_files[0].parent), "-o", str(out), "--region", str(out), "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"region f: {out / 'f' / 'f_region.roi'}"
    assert main(["analyze", str(pair_files[0].parent), "-o", str(out), "-q", "--region", str(out),
                 "--overwrite"]) == 0
    row = read_csv(out / "images.csv")[0]
    assert row["region_path"] == str(out / "f" / "f_region.roi")
    assert float(row["field_area_px2"]) == 190 * 290
    assert 0 < int(row["n_particles"]) < int(whole["n_particles"])
    overlay = np.asarray(Image.open(out / "f" / "f_overlay.png").convert("RGB"))
    assert np.all(overlay[10, 50] == (255, 0, 255))  # the region's edge, drawn
    assert " · region f_region.roi</p>" in (out / "report.html").read_text(encoding="utf-8")
    assert (out / "f" / "f_region.roi").is_file()  # the run keeps what was drawn
    # a region drawn again is a new input: --skip-existing analyses the image again
    roi = out / "f" / "f_region.roi"
    os.utime(roi, ns=(roi.stat().st_atime_ns, roi.stat().st_mtime_ns + 10**9))
    assert main(["analyze", str(pair_files[0].parent), "-o", str(out), "-q", "--region", str(out),
                 "--skip-existing"]) == 0
    assert json.loads((out / "manifest.json").read_text())["images"][0]["status"] == "ok"
    # an image without a region fails, named, and says where the region was looked for
    assert main(["analyze", str(pair_files[0].parent), "-o", str(tmp_path / "o2"), "-q",
                 "--region", str(tmp_path / "o2")]) == 2
    assert "--region" in capsys.readouterr().err
    (tmp_path / "none").mkdir()
    assert main(["analyze", str(pair_files[0].parent), "-o", str(tmp_path / "o2"), "-q",
                 "--region", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err
    assert "failed: f: " in err and "no region for f" in err and "f_region.roi/zip/tif/tiff/png" in err
    # one named in another case or with a hyphen, which no match is on Linux, is named with its name to take
    (tmp_path / "none" / "F-Region.tif").write_bytes(b"")
    assert main(["analyze", str(pair_files[0].parent), "-o", str(tmp_path / "o2"), "-q", "--overwrite",
                 "--region", str(tmp_path / "none")]) == 1
    assert "F-Region.tif is there: name it f_region.tif" in capsys.readouterr().err


def write_sample_pairs(root, folders, *, seeds=(1, 2), um=0.02):
    """Two calibrated synthetic pairs in each folder, the particles of each folder of
    another median size (300 nm, then 450, 600 …)."""
    for i, folder in enumerate(folders):
        (root / folder).mkdir(parents=True)
        for seed in seeds:
            syn = make_pair(shape=(256, 256), pixel_size_nm=20, median_diameter_nm=300 + 150 * i,
                            n_particles=25, seed=seed + 10 * i)
            for name, data in ((f"f{seed}_InLens.tif", syn.se), (f"f{seed}_EsB.tif", syn.bse)):
                tifffile.imwrite(root / folder / name, data, imagej=True, resolution=(1 / um, 1 / um),
                                 metadata={"unit": "micron"})


def test_samples_pool_the_images_of_each_folder(tmp_path, capsys):
    from ddcsem.measure import size_distribution

    write_sample_pairs(tmp_path, ["valveA", "valveB"])
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "valveA"), str(tmp_path / "valveB"), "-o", str(out), "-q"]) == 0
    images = {r["image_id"]: r for r in read_csv(out / "images.csv")}
    assert set(images) == {"valvea_f1", "valvea_f2", "valveb_f1", "valveb_f2"}
    for row in images.values():
        assert float(row["field_area_um2"]) == pytest.approx(5.12 * 5.12)
        assert float(row["field_area_px2"]) == 256 * 256
        assert float(row["particles_per_px2"]) == pytest.approx(float(row["particles_per_um2"]) * 0.02**2, rel=1e-4)
    particles = read_csv(out / "particles.csv")
    samples = read_csv(out / "samples.csv")
    assert [r["sample"] for r in samples] == ["valveA", "valveB", "all"]
    for row, prefix in zip(samples, ("valvea_", "valveb_", "")):
        members = [r for r in images.values() if r["image_id"].startswith(prefix)]
        assert row["image_ids"] == ";".join(sorted(r["image_id"] for r in members))
        assert int(row["n_images"]) == len(members)
        assert int(row["n_particles"]) == sum(int(r["n_particles"]) for r in members)
        area = sum(float(r["field_area_um2"]) for r in members)
        assert float(row["field_area_um2"]) == pytest.approx(area, rel=1e-5)
        assert float(row["mineral_area_fraction"]) == pytest.approx(  # over the summed area
            np.mean([float(r["mineral_area_fraction"]) for r in members]), rel=1e-4)
        weights = sum(float(r["particles_per_um2"]) * float(r["field_area_um2"]) for r in members)
        assert float(row["particles_per_um2"]) == pytest.approx(weights / area, rel=1e-4)
        mine = [p for p in particles if p["image_id"].startswith(prefix)]
        stats = size_distribution(np.array([float(p["ecd_um"]) for p in mine]),
                                  weights=np.array([float(p["edge_weight"]) for p in mine]))
        for key in ("d10", "d50", "d50_ci_low", "d90", "d32"):
            assert float(row[f"{key}_um"]) == pytest.approx(stats[key], rel=1e-4)
        fractions = [float(r["mineral_area_fraction"]) for r in members]
        assert float(row["mineral_area_fraction_field_sd"]) == pytest.approx(np.std(fractions, ddof=1), rel=1e-4)
        d50s = [float(r["d50_um"]) for r in members]
        assert float(row["d50_field_sd_um"]) == pytest.approx(np.std(d50s, ddof=1), abs=1e-5)  # D50s to 6 digits
    assert float(samples[0]["d50_um"]) < 0.8 * float(samples[1]["d50_um"])  # 300 nm against 450 nm
    assert (out / "samples.png").is_file()
    assert ">valveB</td>" in (out / "report.html").read_text(encoding="utf-8")
    assert json.loads((out / "manifest.json").read_text())["group_by"] == "folder"
    # the grouping is the report's: it changes without analysing anything again
    assert main(["analyze", str(tmp_path / "valveA"), str(tmp_path / "valveB"), "-o", str(out), "-q",
                 "--skip-existing", "--group-by", "_(f[0-9])$"]) == 0
    assert [(r["sample"], r["image_ids"]) for r in read_csv(out / "samples.csv")] == [
        ("f1", "valvea_f1;valveb_f1"), ("f2", "valvea_f2;valveb_f2"),
        ("all", "valvea_f1;valvea_f2;valveb_f1;valveb_f2")]
    capsys.readouterr()
    assert main(["analyze", str(tmp_path / "valveA"), str(tmp_path / "valveB"), "-o", str(out), "--dry-run",
                 "--group-by", "valvea"]) == 0
    assert capsys.readouterr().out.splitlines()[-4:] == [
        "sample valvea_f1: valvea", "sample valvea_f2: valvea",
        "sample valveb_f1: none (in all only)", "sample valveb_f2: none (in all only)"]
    assert main(["analyze", str(tmp_path / "valveA"), str(tmp_path / "valveB"), "-o", str(out),
                 "--skip-existing", "--group-by", "valvea"]) == 0
    assert ("warning: --group-by valvea does not match 2 image ids (valveb_f1, valveb_f2): they count in "
            "samples.csv's all row only") in capsys.readouterr().err
    assert [r["sample"] for r in read_csv(out / "samples.csv")] == ["valvea", "all"]
    assert main(["analyze", str(tmp_path / "valveA"), str(tmp_path / "valveB"), "-o", str(out), "-q",
                 "--skip-existing", "--group-by", "none"]) == 0
    assert [r["sample"] for r in read_csv(out / "samples.csv")] == ["all"]
    assert not (out / "samples.png").exists()  # the comparison of the run before is gone
    assert {i["status"] for i in json.loads((out / "manifest.json").read_text())["images"]} == {"skipped"}


def test_fields_at_other_magnifications_are_pooled_with_a_warning(tmp_path):
    # 20 and 5 nm per pixel: the size filter (9 px²) keeps particles from 68 and 17 nm up
    for name, px, seed in (("lo", 20, 1), ("hi", 5, 2)):
        syn = make_pair((256, 256), pixel_size_nm=px, median_diameter_nm=20 * px, n_particles=25, seed=seed)
        for detector, data in (("InLens", syn.se), ("EsB", syn.bse)):
            tifffile.imwrite(tmp_path / f"{name}_{detector}.tif", data, imagej=True, resolution=(1000 / px, 1000 / px),
                             metadata={"unit": "micron"})
    assert main(["analyze", str(tmp_path), "-o", str(tmp_path / "out"), "-q"]) == 0
    (row,) = read_csv(tmp_path / "out" / "samples.csv")
    assert ("one of its fields keeps particles from 16.9 nm up, another only from 67.7 nm" in row["warning"]
            and "--min-diameter 67.7nm" in row["warning"])
    summary = json.loads((tmp_path / "out" / "hi" / "hi_summary.json").read_text())
    assert summary["smallest_ecd"] == pytest.approx(2 * np.sqrt(9 / np.pi) * 0.005)
    assert main(["analyze", str(tmp_path), "-o", str(tmp_path / "cut"), "-q", "--min-diameter", "70nm"]) == 0
    (row,) = read_csv(tmp_path / "cut" / "samples.csv")
    assert "unevenly" not in row["warning"]


def test_samples_of_detector_folders_and_uncalibrated_images(tmp_path, syn):
    # files sorted by detector within each session: the session is the sample
    for session in ("s1", "s2"):
        for role, data in (("SE", syn.se), ("BSE", syn.bse)):
            (tmp_path / session / role).mkdir(parents=True)
            tifffile.imwrite(tmp_path / session / role / "img001.tif", data, imagej=True,
                             resolution=(50, 50), metadata={"unit": "micron"})
    tifffile.imwrite(tmp_path / "s2" / "lone_BSE.tif", syn.bse)  # no calibration
    out = tmp_path / "out"
    folders = [str(tmp_path / "s1" / "SE"), str(tmp_path / "s1" / "BSE"), str(tmp_path / "s2" / "SE"),
               str(tmp_path / "s2" / "BSE"), str(tmp_path / "s2")]
    assert main(["analyze", *folders, "-o", str(out), "-q", "--single"]) == 0
    rows = read_csv(out / "samples.csv")
    assert [(r["sample"], r["n_images"]) for r in rows] == [("s1", "1"), ("s2", "1"), ("all", "2")]
    assert rows[0]["n_particles"] == rows[1]["n_particles"]  # the same pair in both
    assert rows[0]["warning"].startswith("only ")
    assert "1 uncalibrated image left out" in rows[1]["warning"] and "--pixel-size" in rows[1]["warning"]
    assert rows[2]["image_ids"] == "s1_se_img001;s2_se_img001"


@pytest.mark.parametrize("value", ["(", "[a-"])
def test_group_by_needs_a_regular_expression(tmp_path, value, capsys):
    assert main(["analyze", str(tmp_path), "-o", str(tmp_path / "out"), "--group-by", value]) == 2
    assert "neither folder, none nor a regular expression" in capsys.readouterr().err


def test_same_named_images_in_two_folders_keep_their_own_results(tmp_path, syn):
    # two sessions that both name their image x_BSE.tif: neither result may replace the other
    for folder, image in (("a", syn.bse), ("b", syn.bse[:, : syn.bse.shape[1] // 2])):
        (tmp_path / folder).mkdir()
        tifffile.imwrite(tmp_path / folder / "x_BSE.tif", image)
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(out), "--single", "-q"]) == 0
    rows = read_csv(out / "images.csv")
    assert [(r["image_id"], Path(r["image_path"]).parent.name) for r in rows] == [("a_x_bse", "a"), ("b_x_bse", "b")]
    for r in rows:
        labels = tifffile.imread(out / r["image_id"] / f"{r['image_id']}_labels.tif")
        assert labels.shape == (syn.bse.shape[0], syn.bse.shape[1] // (1 if r["image_id"] == "a_x_bse" else 2))
    whole, half = (int(r["n_particles"]) for r in rows)
    assert 0 < half < whole
    assert {p["image_id"] for p in read_csv(out / "particles.csv")} == {"a_x_bse", "b_x_bse"}
    # both uncalibrated: nothing pooled, nothing compared
    assert [(r["sample"], r["n_images"], r["n_particles"]) for r in read_csv(out / "samples.csv")] == [
        ("a", "0", "0"), ("b", "0", "0"), ("all", "0", "0")]
    assert not (out / "samples.png").exists()
    assert not (out / "psd_all.png").exists()  # it had said "no particles", where each image has its own


def test_sizes_in_pixels_from_the_command_line_and_a_config(tmp_path, syn, capsys):
    tifffile.imwrite(tmp_path / "x_BSE.tif", syn.bse)  # no calibration: a length means nothing
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "x_BSE.tif"), "-o", str(out), "--single", "-q",
                 "--min-diameter", "20px", "--min-distance", "8 px"]) == 0
    assert min(float(p["ecd_px"]) for p in read_csv(out / "particles.csv")) >= 20
    params = json.loads((out / "manifest.json").read_text())["parameters"]
    assert (params["min_diameter_px"], params["min_diameter_nm"], params["min_distance_px"]) == (20.0, None, 8.0)
    config = tmp_path / "c.toml"
    config.write_text('min_diameter = "25px"\n')
    assert main(["analyze", str(tmp_path / "x_BSE.tif"), "-o", str(out), "--single", "-q", "--overwrite",
                 "--config", str(config)]) == 0
    assert min(float(p["ecd_px"]) for p in read_csv(out / "particles.csv")) >= 25
    # a length on an uncalibrated image fails that image, and says how to give pixels
    assert main(["analyze", str(tmp_path / "x_BSE.tif"), "-o", str(out), "--single", "--overwrite",
                 "--min-diameter", "400nm"]) != 0
    assert "min_diameter_nm 400 nm (--min-diameter) needs a calibrated image" in capsys.readouterr().err
    (image,) = json.loads((out / "manifest.json").read_text())["images"]
    assert image["status"] == "failed" and "--min-diameter 12px, or min_diameter_px=12" in image["error"]
    assert main(["analyze", str(tmp_path / "x_BSE.tif"), "-o", str(out), "--single", "--overwrite",
                 "--max-diameter", "2um"]) != 0  # its own option named, not --min-diameter's
    assert "(e.g. --max-diameter 12px, or max_diameter_px=12)" in capsys.readouterr().err
    assert main(["analyze", str(tmp_path / "x_BSE.tif"), "-o", str(out), "--single", "--min-diameter", "0px"]) == 2
    assert "size '0px' must be positive" in capsys.readouterr().err


def test_a_control_without_mineral_reports_none(tmp_path, capsys):
    # a pair of tissue without particles: none found, no mineral, and the run says why
    blank = make_pair((384, 384), n_particles=0, dose=150, seed=5)
    for name, data in (("control_InLens.tif", blank.se), ("control_EsB.tif", blank.bse)):
        tifffile.imwrite(tmp_path / name, data, imagej=True, resolution=(50, 50), metadata={"unit": "micron"})
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path), "-o", str(out)]) == 0
    (row,) = read_csv(out / "images.csv")
    assert row["n_particles"] == "0" and float(row["mineral_area_fraction"]) == 0.0
    assert "no particles stand out of the noise" in row["warning"] and "no particles" in row["warning"]
    assert "warning: control: no particles stand out of the noise" in capsys.readouterr().err


def test_noisy_field_warning_is_recorded_and_names_the_image(tmp_path, capsys):
    noisy = make_pair((256, 256), pixel_size_nm=50, median_diameter_nm=300, sigma_ln=0.25,
                      n_particles=100, dose=100, seed=4)
    tifffile.imwrite(tmp_path / "noisy_BSE.tif", noisy.bse)
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "noisy_BSE.tif"), "-o", str(out), "--single"]) == 0
    message = "no particles stand out of the noise enough to set the threshold"
    assert f"warning: noisy_bse: {message}" in capsys.readouterr().err
    (image,) = json.loads((out / "manifest.json").read_text())["images"]
    assert image["status"] == "ok" and any(w.startswith(message) for w in image["warnings"])
    (row,) = read_csv(out / "images.csv")  # with the distribution's: too few particles
    assert row["warning"].startswith(message) and "too few" in row["warning"]
    assert message in (out / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("image", [np.array([[3, 200, 255]], np.uint8), np.array([[0, 65535, 9]], np.uint16),
                                   np.array([[-5, 10, 0]], np.int16), np.array([[0.5, 2.0, 1.0]], np.float32),
                                   np.array([[True, False, True]])])
def test_inverse_mirrors_an_image_within_its_own_range(image):
    from ddcsem.analyze import _inverted

    inverse = _inverted(image)
    assert inverse.dtype == image.dtype
    # the darkest pixel becomes the brightest: each pixel and its inverse sum to min + max
    total = inverse.astype(np.float64) + image.astype(np.float64)
    np.testing.assert_array_equal(total, float(image.min()) + float(image.max()))
    np.testing.assert_array_equal(_inverted(inverse), image)


def test_dark_particles_from_the_command_line_and_a_config(tmp_path, dark, capsys):
    tifffile.imwrite(tmp_path / "x_TSEM.tif", dark)
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "x_TSEM.tif"), "-o", str(out), "--single"]) == 0
    aside = re.search(r"warning: x_tsem: (\d+\.\d)% of the image lies well below its matrix's level",
                      capsys.readouterr().err)
    assert aside and float(aside[1]) > 5  # the dark particles, set aside as cracks or pores
    (row,) = read_csv(out / "images.csv")
    assert "--dark-particles" in row["warning"]
    assert main(["analyze", str(tmp_path / "x_TSEM.tif"), "-o", str(out), "--single", "--overwrite", "-q",
                 "--dark-particles"]) == 0
    (row,) = read_csv(out / "images.csv")
    assert (row["split"], row["profile"], row["n_particles"]) == ("shape", "flat", "37")
    assert "well below" not in row["warning"] and not row["warning"].startswith("the particles")
    assert json.loads((out / "manifest.json").read_text())["parameters"]["dark_particles"] is True
    assert main(["analyze", str(tmp_path / "x_TSEM.tif"), "-o", str(out), "--dark-particles"]) == 2
    assert "give --single too" in capsys.readouterr().err
    config = tmp_path / "c.toml"
    config.write_text("dark_particles = true\n")
    assert main(["analyze", str(tmp_path / "x_TSEM.tif"), "-o", str(tmp_path / "out2"), "--single", "-q",
                 "--config", str(config)]) == 0
    assert read_csv(tmp_path / "out2" / "images.csv")[0]["n_particles"] == "37"
    # thin particles, partial-volume dim like BSE spheres: the sphere profile's edges
    assert main(["analyze", str(tmp_path / "x_TSEM.tif"), "-o", str(tmp_path / "out3"), "--single", "-q",
                 "--config", str(config), "--profile", "sphere"]) == 0
    assert json.loads((tmp_path / "out3" / "manifest.json").read_text())["parameters"]["profile"] == "sphere"
    sphere = read_csv(tmp_path / "out3" / "particles.csv")
    flat = read_csv(tmp_path / "out2" / "particles.csv")
    assert (np.median([float(p["area_px2"]) for p in sphere])
            > 1.05 * np.median([float(p["area_px2"]) for p in flat]))


def test_composite_with_pixel_size(tmp_path, syn):
    from PIL import Image

    Image.fromarray(colorize(syn.se, syn.bse)).save(tmp_path / "composite.png")
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "composite.png"), "-o", str(out), "--pixel-size", "20nm", "-q"]) == 0
    (row,) = read_csv(out / "images.csv")
    assert (row["kind"], row["pixel_size_source"], row["pixel_size_nm"]) == ("composite", "argument", "20")
    assert int(row["n_particles"]) > 20


def test_composite_scale_bar_and_text_are_masked_not_measured(syn):
    from scipy import ndimage

    pixel = PixelSize(20.0, "argument")
    rgb = colorize(syn.se, syn.bse)
    clean = analyze_composite(SEMImage(rgb, pixel))
    marked = rgb.copy()  # a figure's burned-in scale bar, white, and the strokes of its label
    marked[290:296, 200:300] = 255
    marked[270:285, 200:260:4] = 255
    with pytest.warns(UserWarning, match=r"2063 px hold annotations \(a scale bar, lettering, marks, in colours "
                      r"that no mix of the composite's two gives.*masked, and the 4 particles touching"):
        annotated = analyze_composite(SEMImage(marked, pixel))
    region = np.zeros(rgb.shape[:2], bool)
    region[270:296, 200:300] = True
    assert not annotated.labels[region].any()  # neither the bar nor the letters are particles
    # the others are measured as before: the masked pixels move the threshold a little
    near = np.unique(clean.labels[ndimage.binary_dilation(region, iterations=4)])
    others = np.bincount(clean.labels.ravel())[1:][np.setdiff1d(np.arange(1, clean.labels.max() + 1), near) - 1]
    np.testing.assert_allclose(np.sort(np.bincount(annotated.labels.ravel())[1:]), np.sort(others), rtol=0.02, atol=1)
    # on a black box, the box goes too, and what it cuts
    boxed = rgb.copy()
    boxed[160:200, 100:220] = 0
    boxed[180:184, 110:210] = 255
    with pytest.warns(UserWarning, match=r"hold annotations .*and a box under them, black or white"):
        in_box = analyze_composite(SEMImage(boxed, pixel))
    box = np.zeros(rgb.shape[:2], bool)
    box[160:200, 100:220] = True
    assert not ndimage.binary_dilation(in_box.labels > 0, iterations=2)[box].any()
    cut = np.unique(clean.labels[ndimage.binary_dilation(box, iterations=3)])
    assert in_box.labels.max() == clean.labels.max() - (cut.size - 1)
    # the box is no part of the field: neither its area nor its mineral count (with them the
    # fraction was 6 % low, and the particles per µm² 16 %)
    analysed = ~in_box.region
    assert box.sum() <= analysed.sum() < 1.2 * box.sum()
    assert in_box.field_area == pytest.approx((rgb.shape[0] * rgb.shape[1] - analysed.sum()) * 0.02**2)
    true = np.count_nonzero(syn.labels[in_box.region]) / in_box.region.sum()
    assert in_box.mineral_area_fraction == pytest.approx(true, rel=0.02)
    assert in_box.number_density == pytest.approx(clean.number_density, rel=0.08)


@pytest.mark.parametrize("colour", [(255, 255, 0), (255, 128, 0)], ids=["yellow", "orange"])
def test_composite_scale_bar_in_a_colour_the_two_mix_is_masked(syn, colour):
    """Yellow is a mix of orange and green, and orange the BSE colour itself: a scale bar
    and label so drawn were measured as particles (the bar one 100 x 6 px across). They
    are found as a grey image's are, on the brightest channel."""
    pixel = PixelSize(20.0, "argument")
    rgb = colorize(syn.se, syn.bse)
    clean = analyze_composite(SEMImage(rgb, pixel))
    marked = rgb.copy()
    marked[290:296, 200:300] = colour
    marked[270:285, 200:260:4] = colour
    region = np.zeros(rgb.shape[:2], bool)
    region[270:296, 200:300] = True
    with pytest.warns(UserWarning, match=r"px hold annotations \(a scale bar, lettering, marks, in colours that no "
                                         r"mix of the composite's two gives, or a scale bar drawn in one"):
        annotated = analyze_composite(SEMImage(marked, pixel))
    assert not annotated.labels[region].any()
    near = np.unique(clean.labels[region])
    assert annotated.labels.max() >= clean.labels.max() - near.size  # only the particles under them went
    # none is found in a composite without one, nor in its grey images' brightest channel
    from ddcsem.read import _scale_bar_marks

    assert _scale_bar_marks(rgb.max(axis=-1)) is None


@pytest.mark.parametrize("colour", [(255, 255, 0), (255, 255, 255)], ids=["yellow", "white"])
def test_marks_drawn_into_a_grey_image_are_masked_not_measured(syn, tmp_path, colour):
    """A BSE image flattened in Fiji with a scale bar and label, yellow or white (the
    default): the marks read as grey and bright, and joined the particles under them, or
    made some; they are masked as a composite's."""
    from scipy import ndimage

    from ddcsem.analyze import tiles

    pixel = PixelSize(20.0, "argument")
    clean = analyze_single(SEMImage(syn.bse, pixel))
    rgb = np.dstack([syn.bse] * 3)  # 8-bit
    rgb[290:296, 200:300] = colour
    rgb[270:285, 200:260:4] = colour
    Image.fromarray(rgb).save(tmp_path / "fig_BSE.png")
    image = read_sem(tmp_path / "fig_BSE.png", pixel_size="20nm")
    region = np.zeros(rgb.shape[:2], bool)
    region[270:296, 200:300] = True
    np.testing.assert_array_equal(image.marks, np.all(rgb == colour, axis=-1))
    with pytest.warns(UserWarning, match=r"px hold annotations \(a scale bar, lettering, marks, drawn into the "
                      r"grey micrograph.*masked, and the [0-9]+ particles? touching"):
        marked = analyze_single(image)
    assert not marked.labels[region].any()
    # the others are measured as before (the masked pixels move the threshold a little)
    near = np.unique(clean.labels[ndimage.binary_dilation(region, iterations=4)])
    others = np.bincount(clean.labels.ravel())[1:][np.setdiff1d(np.arange(1, clean.labels.max() + 1), near) - 1]
    np.testing.assert_allclose(np.sort(np.bincount(marked.labels.ravel())[1:]), np.sort(others), rtol=0.05)
    masked = ~marked.region  # the marks, a little widened for their soft edges: no part of the field
    assert not (image.marks & ~masked).any() and masked.sum() < 3 * image.marks.sum()
    assert marked.field_area == pytest.approx(clean.field_area - masked.sum() * 0.02**2)
    # unmasked, the marks were bright: particles there, or joined to those under them
    assert analyze_single(SEMImage(image.data, pixel)).labels[region].any()
    # in a pair, marks in either channel; a tile takes its part of them
    pair = SEMPair("p", SEMImage(syn.se, pixel), image, pixel)
    with pytest.warns(UserWarning, match="drawn into the grey micrograph"):
        assert not analyze_pair(pair).labels[region].any()
    parts = {t.name: t.image for t in tiles(image, size=160)}
    assert parts["r0c0"].marks.shape == (160, 160) and not parts["r0c0"].marks.any()
    np.testing.assert_array_equal(parts["r1c1"].marks, image.marks[160:, 160:])
    # ddcsem analyze takes it for a grey image, not a composite
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "fig_BSE.png"), "--single", "-o", str(out), "--pixel-size", "20nm",
                 "-q"]) == 0
    (row,) = read_csv(out / "images.csv")
    assert row["kind"] == "single" and "drawn into the grey micrograph" in row["warning"]
    assert int(row["n_particles"]) == marked.labels.max()


def test_the_scale_bar_of_an_uncalibrated_figure_is_measured_for_its_pixel_size(syn, tmp_path, capsys):
    """A figure's panel keeps its scale bar, not its pixel size: the bar's length in pixels
    is said, to give with the length its label reads (one had to measure it in Fiji). A
    white bar alone or in a black box, in a grey image or a composite, or one of a pair."""
    def said(run):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run()
        return [str(w.message) for w in caught if "drawn into the image, which has no pixel size" in str(w.message)]

    grey = np.dstack([syn.bse] * 3)  # 8-bit
    plain, boxed = grey.copy(), grey.copy()
    plain[290:296, 200:300] = 255  # 100 px, and its label's strokes
    plain[270:285, 200:260:4] = 255
    boxed[160:200, 100:220] = 0
    boxed[180:184, 110:190] = 255  # 80 px
    for name, picture, length in (("plain", plain, 100), ("boxed", boxed, 80)):
        Image.fromarray(picture).save(tmp_path / f"{name}.png")
        image = read_sem(tmp_path / f"{name}.png")
        assert said(lambda: analyze_single(image)) == [
            f"a scale bar {length} px long is drawn into the image, which has no pixel size: give the length its "
            f"label reads, over those pixels: --pixel-size LENGTH/{length}px (e.g. 5um/{length}px; in Python, "
            f"read the file with pixel_size=\"5um/{length}px\")"]
        calibrated = read_sem(tmp_path / f"{name}.png", pixel_size=f"5um/{length}px")  # as it advises
        assert calibrated.pixel_size.nm == pytest.approx(5000 / length) and not said(lambda: analyze_single(calibrated))
    image = read_sem(tmp_path / "plain.png")
    assert len(said(lambda: analyze_pair(SEMPair("p", SEMImage(syn.se), image, image.pixel_size)))) == 1
    # in a pair, the bar in one channel, an arrow's yellow stroke in the other
    lettered = np.dstack([syn.se] * 3)
    lettered[20:35, 20:80:4] = (255, 255, 0)
    Image.fromarray(lettered).save(tmp_path / "lettered.png")
    se = read_sem(tmp_path / "lettered.png")
    assert se.marks is not None
    assert "a scale bar 100 px long" in said(lambda: analyze_pair(SEMPair("p", se, image, image.pixel_size)))[0]
    composite = colorize(syn.se, syn.bse)
    composite[290:296, 200:300] = 255
    composite[270:285, 200:260:4] = 255
    assert "a scale bar 100 px long" in said(lambda: analyze_composite(SEMImage(composite)))[0]
    assert not said(lambda: analyze_composite(SEMImage(colorize(syn.se, syn.bse))))  # no bar, nothing said
    # info shows the bar, and its length at a pixel size: to check against the label
    assert image.to_record()["scale_bar_px"] == [100] and read_sem(tmp_path / "boxed.png").to_record()[
        "scale_bar_px"] == [80]
    assert main(["info", str(tmp_path / "plain.png"), "--pixel-size", "10nm"]) == 0
    assert capsys.readouterr().out.endswith(", a scale bar 100 px long (1 µm)\n")


def test_lone_grey_file_needs_single(tmp_path, syn, capsys):
    tifffile.imwrite(tmp_path / "x_BSE.tif", syn.bse)
    out = tmp_path / "out"
    # nothing analysed is a failed run, said even under -q, with what to do
    assert main(["analyze", str(tmp_path), "-o", str(out), "-q"]) == 1
    said = capsys.readouterr().err
    assert f"1 image found ({tmp_path / 'x_BSE.tif'}), none with a partner (--single analyses" in said
    assert not out.exists()  # nothing written
    assert main(["analyze", str(tmp_path), "-o", str(out), "--single", "-q"]) == 0


def test_config_file_and_precedence(samples, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('threshold = "li"\nsplit = "edm"\nmin_diameter = "40nm"\n')
    out = tmp_path / "out"
    assert main(["analyze", str(samples), "-o", str(out), "--config", str(config), "--split", "none", "-q"]) == 0
    params = json.loads((out / "manifest.json").read_text())["parameters"]
    assert (params["threshold"], params["split"], params["min_diameter_nm"]) == ("li", "none", 40.0)
    assert params["se_rims"] is True
    config.write_text('se_rims = false\nbasis = ["#ff8c00", [0, 255, 0]]\n')
    assert main(["analyze", str(samples), "-o", str(out), "--config", str(config), "--overwrite", "-q"]) == 0
    params = json.loads((out / "manifest.json").read_text())["parameters"]
    assert params["se_rims"] is False and params["basis"] == [[255.0, 140.0, 0.0], [0.0, 255.0, 0.0]]
    # as Notepad saves it: UTF-8 with a byte-order mark (read as "Invalid statement" at line 1),
    # UTF-16, or the Windows code page (a µ in a length)
    for code in ("utf-8-sig", "utf-16", "cp1252"):
        config.write_bytes('threshold = "yen"\r\nmin_diameter = "0.05 µm"\r\n'.encode(code))
        assert main(["analyze", str(samples), "-o", str(out), "--config", str(config), "--overwrite", "-q"]) == 0
        params = json.loads((out / "manifest.json").read_text())["parameters"]
        assert (params["threshold"], params["min_diameter_nm"]) == ("yen", 50.0), code


def test_a_runs_config_toml_gives_a_later_run_its_parameters(samples, tmp_path):
    # the manifest recorded the parameters, but in other names and units than a config
    # file takes: a run could not be repeated without copying them out by hand
    import tomllib

    files = [str(samples / "valve_02_InLens.tif"), str(samples / "valve_02_EsB.tif")]
    given = ["--threshold", "li", "--min-diameter", "30nm", "--max-diameter", "2.5um", "--min-distance", "6px",
             "--circularity", "0.2", "1", "--clip", "1", "99", "--no-se-rims", "--pixel-size", "12.5nm",
             "--keep-edge-particles", "--basis", "#ff8c00", "0,255,0", "--tile", "300", "--crop-databar", "off"]
    out, again = tmp_path / "out", tmp_path / "again"
    assert main(["analyze", *files, "-o", str(out), "-q", *given]) == 0
    text = (out / "config.toml").read_text(encoding="utf-8")
    config = tomllib.loads(text)
    assert (config["threshold"], config["min_diameter"], config["max_diameter"], config["min_distance"]) == (
        "li", "30.0nm", "2500.0nm", "6.0px")
    assert config["se_rims"] is False and config["pixel_size"] == "12.5nm" and config["tile"] == "300.0px"
    assert "--crop-databar off" in text.splitlines()[1]  # which a config file does not take: named
    assert '<a href="config.toml">' in (out / "report.html").read_text(encoding="utf-8")
    assert main(["analyze", *files, "-o", str(again), "-q", "--config", str(out / "config.toml"),
                 "--crop-databar", "off"]) == 0
    first, second = (json.loads((o / "manifest.json").read_text()) for o in (out, again))
    assert second["parameters"] == first["parameters"] and second["params_hash"] == first["params_hash"]
    # the defaults' file leaves out what has none (no basis, no pixel size), and a run with
    # it finds the results made with the same parameters
    plain = tmp_path / "plain"
    assert main(["analyze", *files, "-o", str(plain), "-q"]) == 0
    config = tomllib.loads((plain / "config.toml").read_text(encoding="utf-8"))
    assert config["threshold"] == "auto" and "basis" not in config and "pixel_size" not in config
    assert main(["analyze", *files, "-o", str(plain), "-q", "--skip-existing",
                 "--config", str(plain / "config.toml")]) == 0
    assert [r["status"] for r in json.loads((plain / "manifest.json").read_text())["images"]] == ["skipped"]


def test_se_rims_option_decides_whether_se_guides_the_split(pair_files):
    from ddcsem.segment import segment_particles
    from ddcsem.separate import density_map

    images = read_pair(*pair_files)
    guided, plain = analyze_pair(images), analyze_pair(images, options=AnalysisOptions(se_rims=False))
    assert not np.array_equal(guided.labels, plain.labels)  # the rims move some splits
    density = density_map(images.bse.data)
    np.testing.assert_array_equal(
        plain.labels, drop_border_labels(segment_particles(density, exclude_border=False)))
    np.testing.assert_array_equal(
        guided.labels, drop_border_labels(segment_particles(density, exclude_border=False, se=images.se.data)))


def se_field():
    """An SE-like field: flat-topped discs with bright rims, pairs of them overlapping."""
    from scipy import ndimage

    yy, xx = np.mgrid[0:160, 0:240]
    image = np.full(yy.shape, 30.0)
    for cy, cx in ((40, 40), (40, 66), (110, 60), (60, 150), (84, 166), (125, 200)):
        depth = 15 - np.hypot(yy - cy, xx - cx)
        image[depth >= 0] = np.where(depth[depth >= 0] < 2, 200.0, 140.0)
    noise = np.random.default_rng(5).normal(0, 3, image.shape)
    return np.clip(ndimage.gaussian_filter(image, 1.0) + noise, 0, 255).astype(np.uint8)


def test_auto_split_follows_the_detector_of_a_single_image():
    """A single image from an SE detector is split along its edges, any other (BSE, or an
    unnamed detector) by shape; the split used is recorded."""
    from ddcsem.segment import segment_particles
    from ddcsem.separate import density_map

    image = se_field()
    se = analyze_single(SEMImage(image, detector="InLens"))
    assert se.split == "edges" and se.labels.max() == 6
    np.testing.assert_array_equal(se.labels, drop_border_labels(
        segment_particles(density_map(image), split="edges", se=image, exclude_border=False)))
    for detector in ("AsB", None):
        assert analyze_single(SEMImage(image, detector=detector)).split == "shape"
    chosen = analyze_single(SEMImage(image, detector="AsB"), options=AnalysisOptions(split="edges"))
    assert chosen.split == "edges" and chosen.labels.max() == 6


def test_auto_split_of_an_se_image_of_small_particles_is_by_shape():
    """Particles under about 12 px across hold no core inside their edge bands, so the
    edges split cannot part touching ones: for an SE image of such particles (pairs of
    6-px discs), ``auto`` takes the shape split, which parts nearly all."""
    from scipy import ndimage

    from ddcsem.segment import EDGES_MIN_DEPTH, median_depth
    from ddcsem.separate import density_map

    yy, xx = np.mgrid[0:140, 0:200]
    image = np.full(yy.shape, 30.0)
    centres = [(r, c + dc) for r in range(25, 120, 30) for c in range(25, 180, 30) for dc in (0, 6)]
    for cy, cx in centres:
        depth = 3 - np.hypot(yy - cy, xx - cx)
        image[depth >= 0] = np.where(depth[depth >= 0] < 1.5, 200.0, 150.0)
    image = np.clip(ndimage.gaussian_filter(image, 1.0)
                    + np.random.default_rng(2).normal(0, 3, image.shape), 0, 255).astype(np.uint8)
    assert median_depth(density_map(image)) < EDGES_MIN_DEPTH <= median_depth(density_map(se_field()))
    with pytest.warns(SmallParticleWarning, match="px across: under 8 px"):  # they are 6 px across
        result = analyze_single(SEMImage(image, detector="InLens"))
    assert result.split == "shape" and result.labels.max() >= 0.95 * len(centres)
    forced = analyze_single(SEMImage(image, detector="InLens"), options=AnalysisOptions(split="edges"))
    assert forced.labels.max() <= 0.55 * len(centres)  # the pairs stay whole


def test_edges_split_and_auto_threshold_from_the_command_line(samples, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('split = "edges"\nthreshold = "auto"\n')
    out = tmp_path / "out"
    assert main(["analyze", str(samples), "-o", str(out), "--config", str(config), "-q"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["parameters"]["split"], manifest["parameters"]["threshold"]) == ("edges", "auto")
    assert {i["split"] for i in manifest["images"]} == {"edges"}
    assert {row["split"] for row in read_csv(out / "images.csv")} == {"edges"}
    assert main(["analyze", str(samples), "-o", str(out), "--split", "edges", "--threshold", "auto",
                 "--overwrite", "-q"]) == 0
    # names in any case, as Fiji writes its methods (Otsu) and a config may: refused before
    config.write_text('split = "Shape"\nprofile = "Sphere"\n')
    assert main(["analyze", str(samples), "-o", str(out), "--config", str(config), "--threshold", "Otsu",
                 "--mode", "Density", "--overwrite", "-q"]) == 0
    parameters = json.loads((out / "manifest.json").read_text())["parameters"]
    assert [parameters[k] for k in ("split", "profile", "threshold", "mode")] == ["shape", "sphere", "otsu", "density"]
    assert AnalysisOptions(split="EDM", threshold="Triangle").split == "edm"


@pytest.mark.parametrize("text", ['threshold = \n', 'colour = "red"\n', 'clip = "wide"\n', 'basis = "red"\n',
                                  'basis = ["#ff0000", "#ff0001"]\n', 'profile = "dome"\n',
                                  'pixel_size = 0.02\n', 'min_diameter = "3 furlongs"\n', 'clip = [99, 1]\n',
                                  'threshold = "otsuu"\n', 'threshold = 4\n', 'register = 0\n',
                                  'mode = "dens"\n', 'min_area_px = true\n'])
def test_bad_config_is_a_usage_error(samples, tmp_path, text, capsys):
    config = tmp_path / "c.toml"
    config.write_text(text)
    assert main(["analyze", str(samples), "-o", str(tmp_path / "o"), "--config", str(config)]) == 2
    assert "c.toml" in capsys.readouterr().err


def test_a_config_switch_written_as_text_is_refused_not_taken_as_true(samples, tmp_path, capsys):
    """``keep_edge_particles = "false"`` is a non-empty string: it kept the edge particles."""
    config = tmp_path / "c.toml"
    config.write_text('keep_edge_particles = "false"\n')
    assert main(["analyze", str(samples), "-o", str(tmp_path / "o"), "--config", str(config)]) == 2
    assert ("c.toml: keep_edge_particles = 'false': a switch is true or false, unquoted "
            "(write e.g. keep_edge_particles = false)") in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    config.write_text("keep_edge_particles = false\nthreshold = 0.4\n")
    assert main(["analyze", str(samples), "-o", str(tmp_path / "o"), "--config", str(config), "-q"]) == 0
    parameters = json.loads((tmp_path / "o" / "manifest.json").read_text())["parameters"]
    assert (parameters["keep_edge_particles"], parameters["threshold"]) == (False, 0.4)


def test_unknown_config_keys_are_named_with_the_key_likely_meant(samples, tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text('min_diametre = "30nm"\ncolour = "red"\n')
    assert main(["analyze", str(samples), "-o", str(tmp_path / "o"), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "unknown keys colour, min_diametre (did you mean min_diameter for min_diametre?)" in err
    assert "known keys: basis, circularity, clip, dark_particles" in err
    config.write_text("se_rim = false\n")
    assert main(["analyze", str(samples), "-o", str(tmp_path / "o"), "--config", str(config)]) == 2
    assert "unknown key se_rim (did you mean se_rims?)" in capsys.readouterr().err
    config.write_text('[analyze]\nthreshold = "li"\n')  # the keys in a table of their own
    assert main(["analyze", str(samples), "-o", str(tmp_path / "o"), "--config", str(config)]) == 2
    assert ("unknown key analyze (a config file takes its keys at its top, not in a table: remove the line "
            "[analyze]; known keys: basis") in capsys.readouterr().err


def test_skip_existing_needs_same_parameters(samples, tmp_path):
    out = tmp_path / "out"
    assert main(["analyze", str(samples), "-o", str(out), "-q"]) == 0
    first = (out / "particles.csv").read_bytes()
    assert main(["analyze", str(samples), "-o", str(out), "-q"]) == 1  # refuses to overwrite
    assert main(["analyze", str(samples), "-o", str(out), "-q", "--skip-existing"]) == 0
    statuses = {i["status"] for i in json.loads((out / "manifest.json").read_text())["images"]}
    assert statuses == {"skipped"}
    assert (out / "particles.csv").read_bytes() == first  # rebuilt from the per-image results
    assert main(["analyze", str(samples), "-o", str(out), "-q", "--skip-existing", "--split", "edm"]) == 0
    statuses = {i["status"] for i in json.loads((out / "manifest.json").read_text())["images"]}
    assert statuses == {"ok"}  # other parameters: analysed again
    exported = samples / "aorta_01_CBS.tif"  # an input written again a second later
    os.utime(exported, ns=(exported.stat().st_atime_ns, exported.stat().st_mtime_ns + 10**9))
    assert main(["analyze", str(samples), "-o", str(out), "-q", "--skip-existing", "--split", "edm"]) == 0
    images = json.loads((out / "manifest.json").read_text())["images"]
    assert {i["image_id"]: i["status"] for i in images} == {"aorta_01": "ok", "drusen_03": "skipped",
                                                            "valve_02": "skipped"}


def test_bad_image_recorded_batch_goes_on(samples, tmp_path, capsys):
    (samples / "broken_SE.tif").write_bytes(b"MM\x00*nonsense")
    shutil.copy(samples / "valve_02_EsB.tif", samples / "broken_BSE.tif")
    out = tmp_path / "out"
    assert main(["analyze", str(samples), "-o", str(out), "-q"]) == 1
    (err,) = capsys.readouterr().err.splitlines()  # quiet: the failure and nothing else
    assert err.startswith("failed: broken: ") and "broken_SE.tif" in err
    rows = {r["image_id"]: r for r in read_csv(out / "images.csv")}
    assert rows["broken"]["status"] == "failed" and "broken_SE.tif" in rows["broken"]["error"]
    assert all(rows[k]["status"] == "ok" for k in ("aorta_01", "drusen_03", "valve_02"))


# ----------------------------------------------------------------------- tiles


def test_tiles_cover_the_field_once_in_even_parts():
    from ddcsem.analyze import tiles

    grid = tiles(np.zeros((1000, 1500, 3), np.uint8), size=512)
    assert [t.name for t in grid] == [f"r{i}c{j}" for i in range(2) for j in range(3)]
    seen = np.zeros((1000, 1500), int)
    for t in grid:
        seen[t.window] += 1
        assert t.image.shape[2] == 3 and max(t.image.shape[:2]) <= 512
        assert t.origin == (t.window[0].start, t.window[1].start)
    assert np.all(seen == 1)
    assert {t.image.shape[:2] for t in grid} == {(500, 500)}
    assert [t.name for t in tiles(np.zeros((64, 64 * 11)), size=64)][-2:] == ["r00c09", "r00c10"]  # they sort
    px = PixelSize(20.0, "argument")
    se, bse = np.arange(300 * 200).reshape(300, 200), np.arange(300 * 200).reshape(300, 200) + 1
    pair_tiles = tiles(SEMPair("f", SEMImage(se, px), SEMImage(bse, px), px, shift=(0.3, 0)), size=150)
    last = pair_tiles[-1]
    assert last.image.key == "f_r1c1" and last.image.pixel_size == px and last.image.shift == (0.3, 0)
    assert np.array_equal(last.image.bse.data - last.image.se.data, np.ones((150, 100)))
    assert np.shares_memory(last.image.se.data, se)  # views, not copies
    assert tiles(SEMImage(se, px), size=200)[1].image.pixel_size == px
    for size in (32, 100.0, True):
        with pytest.raises(ParameterError, match="at least 64"):
            tiles(se, size=size)
    with pytest.raises(ParameterError, match="not list"):
        tiles([[0]], size=64)


def test_tiles_pooled_give_the_field_s_statistics():
    """Each tile leaves out the particles its border cuts and weights the others for it,
    so the tiles pooled size the field as it is: truth of a 1024^2 field of 20 px spheres."""
    from ddcsem.analyze import pool_analyses, tiles

    syn = make_pair(shape=(1024, 1024), pixel_size_nm=20, seed=5)
    px = PixelSize(20.0, "argument")
    pair = SEMPair("f", SEMImage(syn.se, px), SEMImage(syn.bse, px), px)
    whole = pool_analyses([analyze_pair(pair)])
    parts = pool_analyses([analyze_pair(t.image) for t in tiles(pair, size=512)])
    true_density = len(syn.diameters_nm) / (1024 * 0.02) ** 2
    true_d50 = np.median(syn.diameters_nm) / 1000
    assert parts["n_fields"] == 4 and parts["count"] < whole["count"]  # the tiles cut some particles
    assert parts["field_area"] == pytest.approx(whole["field_area"])
    for stats in (whole, parts):
        assert stats["number_density"] == pytest.approx(true_density, rel=0.03)
        assert stats["d50"] == pytest.approx(true_d50, rel=0.02)
    assert parts["mineral_area_fraction"] == pytest.approx(whole["mineral_area_fraction"], rel=0.01)


def write_pair_files(folder, syn, *, um=0.02, key="f"):
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in ((f"{key}_InLens.tif", syn.se), (f"{key}_EsB.tif", syn.bse)):
        kwargs = dict(imagej=True, resolution=(1 / um, 1 / um), metadata={"unit": "micron"}) if um else {}
        tifffile.imwrite(folder / name, data, **kwargs)
    return folder


def test_images_analysed_in_tiles_from_the_command_line(tmp_path, capsys):
    syn = make_pair(shape=(512, 768), pixel_size_nm=20, n_particles=120, seed=8)
    folder = write_pair_files(tmp_path / "in", syn)
    out = tmp_path / "out"
    assert main(["analyze", str(folder), "-o", str(out), "--tile", "256"]) == 0
    err = capsys.readouterr().err
    names = [f"f_r{i}c{j}" for i in range(2) for j in range(3)]
    rows = read_csv(out / "images.csv")
    assert [r["image_id"] for r in rows] == names
    assert [(r["tile_of"], r["tile_origin_y_px"], r["tile_origin_x_px"]) for r in rows] == [
        ("f", str(256 * i), str(256 * j)) for i in range(2) for j in range(3)]
    assert tifffile.imread(out / "f_r1c2" / "f_r1c2_labels.tif").shape == (256, 256)
    (pooled,) = read_csv(out / "samples.csv")
    assert pooled["n_images"] == "6" and float(pooled["field_area_um2"]) == pytest.approx(512 * 768 * 0.02**2, rel=1e-5)
    assert {r["image_id"] for r in read_csv(out / "particles.csv")} == set(names)
    # the tiles that warn alike ("only 17 particles", "only 21 particles" ...) are one line
    assert len(re.findall(r"warning: f \(all 6 tiles\): only \d+–\d+ particles: .* \(each tile's in images.csv\)",
                          err)) == 1
    assert "analysed images and tiles (of 1 image): 6, skipped 0, failed 0" in err
    assert json.loads((out / "manifest.json").read_text())["parameters"]["tile"] == "256px"
    assert "keep-edge-particles" not in err
    assert main(["analyze", str(folder), "-o", str(tmp_path / "kept"), "--tile", "256", "--keep-edge-particles"]) == 0
    assert ("warning: f (all 6 tiles): --keep-edge-particles keeps a particle that a tile's border cuts in each "
            "tile it reaches") in capsys.readouterr().err
    assert main(["analyze", str(folder), "-o", str(out), "-q", "--tile", "256", "--skip-existing"]) == 0
    assert {r["status"] for r in json.loads((out / "manifest.json").read_text())["images"]} == {"skipped"}
    # a length (here from a config file) is cut in the image's own pixels: 5 µm at 20 nm/px, 250 px
    config = tmp_path / "tiles.toml"
    config.write_text('tile = "5um"\n', encoding="utf-8")
    assert main(["analyze", str(folder), "-o", str(tmp_path / "o2"), "-q", "--config", str(config)]) == 0
    assert len(read_csv(tmp_path / "o2" / "images.csv")) == 3 * 4
    assert main(["analyze", str(folder), "-o", str(tmp_path / "o3"), "--tile", "10"]) == 2
    assert "tiles must be at least 64 px across" in capsys.readouterr().err
    for given, said in (("300.0", "300 px"), ("0.5mm", "500 µm")):  # a bare number is in pixels, decimals too
        assert main(["analyze", str(folder), "-o", str(tmp_path / "o3"), "--tile", given, "--dry-run"]) == 0
        said = f"each image larger than a tile in tiles at most {said} across, named <id>_r<row>c<col>"
        assert capsys.readouterr().out.splitlines()[-1] == said
    # an image that one tile holds is analysed whole, under its own name
    assert main(["analyze", str(folder), "-o", str(tmp_path / "o5"), "-q", "--tile", "1024"]) == 0
    (row,) = read_csv(tmp_path / "o5" / "images.csv")
    assert row["image_id"] == "f" and not row["tile_of"] and not (tmp_path / "o5" / "f" / "f_tiles.png").exists()
    bare = write_pair_files(tmp_path / "bare", syn, um=None)
    assert main(["analyze", str(bare), "-o", str(tmp_path / "o4"), "-q", "--tile", "5um"]) == 1
    assert re.search(r"failed: f: \S+f_InLens.tif \+ \S+f_EsB.tif: tiles of 5 µm need the image's pixel size, "
                     r"and it has none \(give the tile size in pixels", capsys.readouterr().err)


def test_a_mosaic_s_padding_is_no_field(tmp_path, capsys):
    """Tiles of padding alone are passed over (the colouring refused them as constant
    images, and the batch failed); a tile the padding enters has it as a frame."""
    syn = make_pair(shape=(512, 768), pixel_size_nm=20, n_particles=120, seed=8)
    for image in (syn.se, syn.bse):
        image[:, 468:] = 0
    folder = write_pair_files(tmp_path / "in", syn)
    out = tmp_path / "out"
    assert main(["analyze", str(folder), "-o", str(out), "--tile", "256"]) == 0
    err = capsys.readouterr().err
    rows = read_csv(out / "images.csv")
    assert [r["image_id"] for r in rows] == ["f_r0c0", "f_r0c1", "f_r1c0", "f_r1c1"]
    assert sum(float(r["field_area_px2"]) for r in rows) == 512 * 468
    assert ("warning: f (all 4 tiles): 2 tiles (r0c2, r1c2) hold one grey level only, as a mosaic's padding: "
            "no field, passed over") in err
    assert "warning: f (2 of its 4 tiles: r0c1, r1c1): a plain frame around the image" in err
    # the map of the tiles: each tile's DDC image in its place, the padding black
    overview = np.asarray(Image.open(out / "f" / "f_tiles.png").convert("RGB"))
    assert overview.shape == (512, 768, 3) and overview[100, 600].tolist() == [0, 0, 0]
    assert overview[128, 128].tolist() == tifffile.imread(out / "f_r0c0" / "f_r0c0_ddc.tif")[128, 128].tolist()
    assert overview[384, 384].tolist() == tifffile.imread(out / "f_r1c1" / "f_r1c1_ddc.tif")[128, 128].tolist()
    assert "<h2>Images analysed in tiles</h2>" in (out / "report.html").read_text(encoding="utf-8")


def test_what_was_drawn_on_an_image_serves_its_tiles(tmp_path, capsys):
    """A region drawn on the whole image is cut with it (a tile outside it is no field);
    seeds clicked on a tile's own DDC image serve that tile."""
    from roifile import ImagejRoi

    syn = make_pair(shape=(512, 768), pixel_size_nm=20, n_particles=120, seed=8)
    folder = write_pair_files(tmp_path / "in", syn)
    drawn = tmp_path / "drawn"
    drawn.mkdir()
    ImagejRoi.frompoints(np.array([[0, 0], [200, 0], [200, 512], [0, 512]], float)).tofile(drawn / "f_region.roi")
    out = tmp_path / "out"
    assert main(["analyze", str(folder), "-o", str(out), "-q", "--tile", "256", "--region", str(drawn)]) == 0
    rows = read_csv(out / "images.csv")
    assert [r["image_id"] for r in rows] == ["f_r0c0", "f_r1c0"]  # the columns from 256 on lie outside it
    assert sum(float(r["field_area_px2"]) for r in rows) == 200 * 512
    assert {r["region_path"] for r in rows} == {str(drawn / "f_region.roi")}
    # seeds for one tile, clicked on its DDC image: that tile is split at them, the others as usual
    truth = syn.centers[(syn.centers[:, 0] < 250) & (syn.centers[:, 1] < 250)]
    ImagejRoi.frompoints(truth[:, ::-1] + 0.5).tofile(out / "f_r0c0" / "f_r0c0_markers.roi")
    assert main(["analyze", str(folder), "-o", str(out), "-q", "--tile", "256", "--markers", str(out),
                 "--overwrite"]) == 0
    rows = {r["image_id"]: r for r in read_csv(out / "images.csv")}
    assert rows["f_r0c0"]["markers_path"] == str(out / "f_r0c0" / "f_r0c0_markers.roi")
    assert not rows["f_r0c1"]["markers_path"] and len(rows) == 6
    assert main(["analyze", str(folder), "-o", str(out), "-q", "--tile", "256", "--markers", str(drawn),
                 "--overwrite"]) == 2  # no seeds there for the image nor any of its tiles
    assert "no <id>_markers file" in capsys.readouterr().err


def test_tiles_of_images_analysed_side_by_side(samples, tmp_path):
    """--jobs runs the images in worker processes, each returning its tiles' records."""
    runs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"j{jobs}"
        assert main(["analyze", str(samples), "-o", str(out), "-q", "--tile", "256", "--jobs", jobs]) == 0
        runs[jobs] = [(r["image_id"], r["n_particles"]) for r in read_csv(out / "images.csv")]
    assert runs["1"] == runs["2"] and len(runs["1"]) == 3 * 4


def off_sample_pair() -> tuple[np.ndarray, np.ndarray]:
    """A synthetic pair (60 spheres, 512 x 768 px) whose left third is on the stub beyond
    the section's edge: dark and noisy in both channels."""
    syn = make_pair((512, 768), n_particles=60, seed=3)
    rng = np.random.default_rng(0)
    se, bse = syn.se.copy(), syn.bse.copy()
    se[:, :256] = np.clip(rng.normal(15, 4, (512, 256)), 0, 255)
    bse[:, :256] = np.clip(rng.normal(8, 3, (512, 256)), 0, 255)
    return se, bse


def analysed_as(kind: str, se: np.ndarray, bse: np.ndarray, px: PixelSize, *, rgb: np.ndarray | None = None,
                **given):
    """A field analysed as a pair, as its composite (``rgb``; else coloured from the pair)
    or as its BSE image alone, as ``kind`` says."""
    if kind == "pair":
        return analyze_pair(SEMPair("p", SEMImage(se, px), SEMImage(bse, px), px), **given)
    if kind == "composite":
        return analyze_composite(SEMImage(colorize(se, bse) if rgb is None else rgb, px), **given)
    return analyze_single(SEMImage(bse, px), **given)


@pytest.mark.parametrize("kind", ["single", "pair", "composite"])
def test_an_area_off_the_sample_is_left_out_of_the_field(kind):
    """A third of a field on the stub beyond the section's edge became the density map's
    matrix, and the section's own matrix mineral: of the 41 particles wholly on it, the
    pair found 2 and the BSE image alone none. The stub is now found and left out (39
    found), as a region drawn by hand around the section leaves it; in a composite (the
    stub black there) none had been found either, now 38. The DDC image made of a pair or
    an image leaves it black, its colours set by the section alone."""
    se, bse = off_sample_pair()
    px = PixelSize(20.0, "argument")

    def analyse(**given):
        return analysed_as(kind, se, bse, px, **given)

    with pytest.warns(UserWarning, match=r"34% of the field is much darker than its matrix, with few particles"):
        found = analyse()
    drawn = np.zeros(bse.shape, bool)
    drawn[:, 258:] = True
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a region given is the field: nothing is searched
        by_hand = analyse(region=drawn)
    assert len(by_hand.table["label"]) > 30
    assert abs(len(found.table["label"]) - len(by_hand.table["label"])) <= 1
    assert found.mineral_area_fraction == pytest.approx(by_hand.mineral_area_fraction, abs=0.002)
    assert found.field_area == pytest.approx(by_hand.field_area, rel=0.01)
    assert not found.labels[:, :258].any()
    if kind != "composite":  # (a composite's DDC image is itself) its matrix green, its particles orange
        assert found.ddc[:, :256].max() == 0
        section = found.ddc[:, 260:].astype(int)
        matrix, particles = section[found.labels[:, 260:] == 0], section[found.labels[:, 260:] > 0]
        assert matrix[:, 1].mean() > matrix[:, 0].mean() and particles[:, 0].mean() > particles[:, 1].mean()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        kept = analyse(options=AnalysisOptions(off_sample=False))
    # as before, the stub in the field spoils the analysis: the section's particles are lost (the
    # stub taken for the matrix) or, in a composite, whose matrix level is subtracted, made of its edge
    if kind == "composite":
        assert np.count_nonzero(kept.table["centroid_x_px"] < 268) > 5
    else:
        assert len(kept.table["label"]) < 5


def test_an_area_off_the_sample_is_kept_on_the_command_line_or_in_a_config(tmp_path, capsys):
    _, bse = off_sample_pair()
    tifffile.imwrite(tmp_path / "edge.tif", bse, resolution=(1e4 / 20, 1e4 / 20), imagej=True,
                     metadata={"unit": "um"})
    config = tmp_path / "c.toml"
    config.write_text("off_sample = false\n")
    counts = {}
    for name, extra in [("found", []), ("flag", ["--keep-off-sample"]), ("config", ["--config", str(config)])]:
        out = tmp_path / name
        assert main(["analyze", str(tmp_path / "edge.tif"), "--single", "-o", str(out), *extra]) == 0
        said = capsys.readouterr().err
        assert ("34% of the field is much darker than its matrix" in said) == (name == "found")
        with open(out / "images.csv", newline="", encoding="utf-8") as f:
            counts[name] = int(next(csv.DictReader(f))["n_particles"])
        params = json.loads((out / "manifest.json").read_text())["parameters"]
        assert params["off_sample"] is (name == "found")
    assert counts["found"] > 30 and counts["flag"] == counts["config"] < 5


@pytest.mark.parametrize("kind", ["single", "pair", "composite"])
def test_a_background_painted_white_is_left_out_as_a_frame_is(kind):
    """A figure's background painted white around the sample was measured as a particle
    (a grey image's mineral fraction 0.20 for 0.07) and tilted a composite's colours (11
    particles found for 89); it is now no part of the field, as a frame is not."""
    syn = make_pair((768, 768), n_particles=120, seed=5)
    rows, cols = np.mgrid[0:768, 0:768]
    painted = cols + 0.3 * rows < 260
    px = PixelSize(20.0, "argument")

    def analyse(white: bool, **given):
        se, bse, rgb = syn.se, syn.bse, colorize(syn.se, syn.bse)
        if white:
            se, bse, rgb = (np.where(painted[(...,) + (None,) * (image.ndim - 2)], 255, image).astype(np.uint8)
                            for image in (se, bse, rgb))
        return analysed_as(kind, se, bse, px, rgb=rgb, **given)

    with pytest.warns(UserWarning, match=r"a plain white or black area \(1\d% of the image: a background "
                      "painted out"):
        found = analyse(True)
    by_hand = analyse(False, region=~painted)
    assert len(by_hand.table["label"]) > 70
    assert abs(len(found.table["label"]) - len(by_hand.table["label"])) <= 1
    assert found.mineral_area_fraction == pytest.approx(by_hand.mineral_area_fraction, abs=0.002)
    assert not found.labels[painted].any()


@pytest.mark.parametrize("kind", ["single", "pair", "composite"])
@pytest.mark.parametrize(("degrees", "share"), [(7, 0.20), (3, 0.10), (1, 0.04)])
def test_a_rotated_image_s_black_padding_is_left_out_as_a_frame_is(kind, degrees, share):
    """The black corners of a field turned by 7 degrees (a registration's or a figure's
    rotation) were the single image's matrix: no particle was found; as a frame, the
    field gives what a region drawn around it gives. Turned by 1 or 3 degrees, its
    corners are wedges too thin to be broad: they were left in, the matrix beside them
    took their black for its background, and 44-48 particles were found where the
    region gives 38-40 (another field turned by 3 degrees: 104 for 56)."""
    from scipy import ndimage

    syn = make_pair((400, 400), seed=3)
    px = PixelSize(20.0, "argument")

    def turned(image):
        if image.ndim == 3:
            return np.stack([turned(image[..., k]) for k in range(image.shape[-1])], axis=-1)
        return ndimage.rotate(image, degrees, reshape=True, order=1, cval=0)

    padding = turned(np.ones(syn.bse.shape, np.uint8)) == 0
    assert padding.mean() == pytest.approx(share, abs=0.01)

    def analyse(**given):
        rgb = turned(colorize(syn.se, syn.bse)) if kind == "composite" else None
        return analysed_as(kind, turned(syn.se), turned(syn.bse), px, rgb=rgb, **given)

    with pytest.warns(UserWarning, match=r"a plain white or black area \(\d+% of the image: .*the padding or seams "
                      r"of a rotated or stitched image\) is no part of the field"):
        found = analyse()
    with pytest.warns(UserWarning, match="a plain white or black area"):  # (a frame, whatever the region)
        by_hand = analyse(region=~ndimage.binary_dilation(padding, iterations=2))
    assert len(by_hand.table["label"]) > 30
    # (where the wedges meet, in a frame a pixel wide, the field reaches 2 px nearer them than the region drawn:
    # its statistics shift, and one split of 40 differs)
    assert abs(len(found.table["label"]) - len(by_hand.table["label"])) <= (degrees < 2)
    assert found.mineral_area_fraction == pytest.approx(by_hand.mineral_area_fraction, abs=0.002)
    assert not found.labels[padding].any() and found.region is not None and not found.region[padding].any()


def test_an_image_of_one_level_beside_its_padding_is_said_to_be_so():
    """Half black padding, half one grey: a single image was said to have "the SE image"
    constant, an image it was never given."""
    image = np.full((256, 256), 220, np.uint8)
    image[:, :128] = 20  # (0 and 220 would be a mask, measured as drawn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the padding's
        with pytest.raises(ParameterError, match=r"^the image less its plain white or black areas \(.*\) is of one "
                                                 r"level \(220\): it shows no particles"):
            analyze_single(image)


def test_a_matrix_clipped_to_black_is_no_padding():
    """A matrix exported clipped to black is as broad as a rotated image's padding, and
    as plain, but it encloses its particles one by one: it stays the field's, as a pore
    within the field does, and black in an image of dark particles."""
    from ddcsem.separate import _frame_mask, _plain_area

    none = np.zeros((512, 512), bool)
    for seed, n in ((1, 20), (2, 80), (3, 300)):
        pair = make_pair((512, 512), n_particles=n, seed=seed)
        for low in (30, 60, 80, 95):  # exports clipped at that percentile: that much of it black
            x = pair.bse.astype(np.float32)
            cut = np.percentile(x, low)
            clipped = np.clip((x - cut) / (x.max() - cut) * 255, 0, 255).astype(np.uint8)
            assert _plain_area(clipped, none, white=False) is None
            assert not _frame_mask(clipped).any()  # (nor are its runs between the particles seams)
    padded = pair.bse.copy()
    padded[:200, :150] = 0  # a mosaic's missing tile, in a corner: no whole rows or columns
    found = _frame_mask(padded)
    assert found[:200, :150].all() and not found[203:].any() and not found[:, 153:].any()
    assert _plain_area(np.zeros((512, 512), np.uint8), none, white=False) is None  # a black image: no padding
    assert not _frame_mask(padded, dark_particles=True).any()  # there, black may be the particles
    holed = pair.bse.copy()
    rows, cols = np.ogrid[:512, :512]
    holed[(rows - 256) ** 2 + (cols - 256) ** 2 < 80 ** 2] = 0  # a pore inside the field, clipped black
    assert _plain_area(holed, none, white=False) is None


@pytest.mark.parametrize("level", [0, 255], ids=["black", "white"])
@pytest.mark.parametrize("kind", ["single", "pair", "composite"])
def test_a_stitched_image_s_seams_are_left_out_as_a_region_drawn_around_them(kind, level):
    """Black seams between a mosaic's tiles were the field's: they cut the spheres on
    them in two, each half a particle (222-231 found where the field without them holds
    216-224, the D50 up to 3 % small). They are now no part of the field, and the image
    gives what the field without them gives with a region drawn around them; so do lines
    saturated white across it."""
    from scipy import ndimage

    syn = make_pair((768, 768), n_particles=200, seed=4)
    px = PixelSize(20.0, "argument")
    seams = np.zeros(syn.bse.shape, bool)
    seams[:, 380:382] = True  # across the whole image
    seams[300:303, :500] = True  # across two tiles of three
    rgb = colorize(syn.se, syn.bse)
    se, bse, stitched = (np.where(seams[(...,) + (None,) * (x.ndim - 2)], level, x).astype(np.uint8)
                         for x in (syn.se, syn.bse, rgb))
    with pytest.warns(UserWarning, match=r"a plain white or black area \(\d% of the image: .*the padding or seams "
                      r"of a rotated or stitched image\) is no part of the field"):
        found = analysed_as(kind, se, bse, px, rgb=stitched)
    by_hand = analysed_as(kind, syn.se, syn.bse, px, rgb=rgb, region=~ndimage.binary_dilation(seams, iterations=2))
    assert len(by_hand.table["label"]) > 150
    assert abs(len(found.table["label"]) - len(by_hand.table["label"])) <= 1
    assert found.distribution["d50"] == pytest.approx(by_hand.distribution["d50"], rel=0.005)
    assert found.number_density == pytest.approx(by_hand.number_density, rel=0.01)
    assert not found.labels[seams].any() and not found.region[seams].any()


def test_only_a_thin_straight_line_of_the_lowest_level_between_brighter_sides_is_a_seam():
    """A seam is thin (16 px or less), straight, long (an eighth of the image and 64 px),
    has the image above its level on either side (below, for a white one) and reaches the
    image's edge, its frame or another seam; a line along the edge is a frame's."""
    from ddcsem.separate import _frame_mask, _seams

    field = make_pair((512, 512), seed=2)
    base, none = field.bse, np.zeros(field.bse.shape, bool)

    def seams(rows, cols):
        image = base.copy()
        image[rows, cols] = 0
        return _seams(image, none)

    found = seams(slice(200, 216), slice(None))
    assert found is not None and found[198:218].all() and found.sum() == 20 * 512  # (widened by 2 px)
    assert seams(slice(200, 217), slice(None)) is None  # too wide: an area (a missing tile's is broad)
    assert seams(slice(None), slice(100, 101)) is not None
    assert seams(slice(0, 2), slice(None)) is None  # along the edge
    assert seams(slice(200, 202), slice(0, 63)) is None  # too short
    assert seams(slice(200, 202), slice(0, 64)) is not None
    assert seams(slice(200, 205), slice(100, 300)) is None  # a black bar drawn inside the image
    tee = base.copy()
    tee[:, 300:302] = tee[200:205, 100:300] = 0  # ... that meets a seam is one (a mosaic's offset tiles)
    assert _seams(tee, none)[200:205, 100:300].all()
    framed = base.copy()
    framed[:, 480:] = 0  # a mosaic's ragged padding, and a gap between its tiles that ends in it
    framed[200:205, 100:480] = 0
    frame = _frame_mask(framed)
    assert frame[200:205, 100:300].all() and frame[:, 480:].all() and not frame[:190, :480].any()
    composite = colorize(field.se, field.bse)
    composite[:, 300:302] = 0
    buffer = io.BytesIO()  # saved as JPEG, that rings beside the line: 8-25 levels up at quality 75-95
    Image.fromarray(composite).save(buffer, "JPEG", quality=75, subsampling=2)  # (colour at half resolution)
    assert _seams(np.asarray(Image.open(buffer)), none)[:, 300:302].all()
    saturated = base.copy()
    saturated[200] = 255  # a scan line saturated across the image: a white seam
    assert _seams(saturated, none) is None and _seams(saturated, none, shades=(True,))[198:203].all()
    assert _frame_mask(saturated)[198:203].all() and _frame_mask(saturated, dark_particles=True)[198:203].all()
    slanted = base.copy()
    for col in range(512):  # 2 px wide, a step down every 64 columns: along no row
        slanted[200 + col // 64:202 + col // 64, col] = 0
    assert _seams(slanted, none) is None
    slanted[210:212] = 0
    assert _seams(slanted, none) is not None  # (a line beside it)


def test_a_background_clipped_white_around_dark_particles_is_no_painted_one():
    """A transmission image's bright background exported clipped to white was taken for
    a background painted out and left out of the field: its dark particles then touched
    the field's border, and 33, 32 and 1 of 68 were found, the harder it was clipped. It
    encloses them one by one, and stays the field."""
    from ddcsem.separate import _plain_area

    syn = make_pair((512, 512), n_particles=80, seed=2)
    inverted = 255 - syn.bse.astype(np.float32)  # dark particles on a bright background
    options = AnalysisOptions(dark_particles=True)
    unclipped = analyze_single(SEMImage(inverted.astype(np.uint8), "20nm"), options=options)
    assert len(unclipped.table["label"]) > 60
    for low in (15, 10, 5):  # that percentile and all above it white: the background, and more
        clipped = np.clip(inverted / np.percentile(inverted, low) * 255, 0, 255).astype(np.uint8)
        assert np.mean(clipped == 255) > 0.8
        assert _plain_area(clipped, np.zeros(clipped.shape, bool), white=True) is None
        with pytest.warns(ClippedSignalWarning, match="sit at its highest level: its matrix was clipped"):
            warnings.simplefilter("ignore", SmallParticleWarning)  # (the hardest clipping cuts them small)
            found = analyze_single(SEMImage(clipped, "20nm"), options=options)
        # what the clipping itself cost (or split), which that warning says: 69, 60, 77 found
        assert 0.85 < len(found.table["label"]) / len(unclipped.table["label"]) < 1.15
        assert found.region is None


def test_particles_over_most_of_the_field_blame_a_threshold_given(syn):
    """Particles over most of a field come of an inverted BSE signal, or of a threshold
    given too low: the warning had offered only the inversion to one who set the value."""
    pixel = PixelSize(20.0, "argument")
    pair = SEMPair("x", SEMImage(syn.se, pixel), SEMImage(syn.bse, pixel), pixel)
    with pytest.warns(ParticlePolarityWarning, match=r"the particles found cover \d+% of the field: the threshold "
                      r"given, 0, may be too low; or if the BSE image shows them darker"):
        analyze_pair(pair, options=AnalysisOptions(threshold=0.0))


def test_an_image_id_that_is_no_file_name_is_refused(syn, tmp_path):
    """The image id names the result's files: ``image_id="../x"`` had them written above
    the output folder by ``write_image_results``, and ``"a/b"`` into a folder of its own.
    Such ids, and an empty one or one of dots, are refused before anything is written; a
    name that only Windows refuses (``10:30``) is left to the system it runs on."""
    from ddcsem.report import write_image_results

    pixel = PixelSize(20.0, "argument")
    for name in ("../x", "a/b", "..", ""):
        with pytest.raises(ParameterError, match=rf"the image id {re.escape(repr(name))} cannot name the result's "
                           r"files \(give a name \(a str\) without /"):
            if name:
                analyze_single(SEMImage(syn.bse, pixel), image_id=name)
            else:  # analyze_single takes "" for no id, as None
                analyze_pair(SEMPair(name, SEMImage(syn.se, pixel), SEMImage(syn.bse, pixel), pixel))
    with pytest.raises(ParameterError, match=r"the image id 7 cannot name"):
        analyze_pair(SEMPair(7, SEMImage(syn.se, pixel), SEMImage(syn.bse, pixel), pixel))
    result = analyze_single(SEMImage(syn.bse, pixel), image_id="field 10.30")
    write_image_results(result, tmp_path / "out", params_hash="x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (tmp_path / "out" / "field 10.30_particles.csv").is_file()


@pytest.mark.parametrize("name", ["keep_edge_particles", "register", "se_rims", "off_sample", "dark_particles"])
def test_option_switches_are_true_or_false(name):
    """A dict of options read from a JSON or YAML file of one's own may hold "false": it
    was true. Switches are refused unless True or False (numpy's, 0 and 1 too)."""
    with pytest.raises(ParameterError, match=rf"^{name} must be True or False, not 'false'$"):
        AnalysisOptions(**{name: "false"})
    assert getattr(AnalysisOptions(**{name: np.False_}), name) is False
    assert AnalysisOptions(**{name: 1}).to_dict()[name] is True
