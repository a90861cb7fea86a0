"""The numba colouring kernel against its numpy reference, ImageJ, and colour semantics."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from matplotlib.colors import rgb_to_hsv

from ddcsem.colorize import (
    _EVERY_PIXEL as EVERY,
    _clip_counts,
    _percentile_fn,
    colorize,
    colorize_reference,
    otsu_threshold_hist,
)
from ddcsem.errors import ParameterError
from ddcsem.synthetic import make_pair

BIG = float(np.float32(3e38))
DTYPES = {
    "uint8": (np.uint8, st.integers(0, 255)),
    "uint16": (np.uint16, st.integers(0, 65535)),
    "float32": (np.float32, st.floats(-1e6, 1e6, width=32, allow_nan=False, allow_infinity=False,
                                      allow_subnormal=False)),
}


@st.composite
def image_pairs(draw):
    dtype, elements = DTYPES[draw(st.sampled_from(sorted(DTYPES)))]
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=2, min_side=2, max_side=48))
    se = draw(hnp.arrays(dtype, shape, elements=elements))
    bse = draw(hnp.arrays(dtype, shape, elements=elements))
    assume(np.ptp(se.astype(np.float64)) > 0 and np.ptp(bse.astype(np.float64)) > 0)
    return se, bse


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pair=image_pairs(),
    mode=st.sampled_from(["overlay", "density"]),
    clip=st.sampled_from([(0.5, 99.5), (0.0, 100.0), (2.0, 98.0), (10.0, 60.0)]),
    palette=st.sampled_from(["green-orange", "blue-orange"]),
)
# stretched, two BSE pixels lie at 0.5, an edge of density's Otsu bins: a quotient put them
# in one bin, the kernel's product by the reciprocal in the other, and Otsu split elsewhere
@example(pair=(np.array([[0, 1], [1, 1]], np.float32), np.array([[-999998, 999998], [0, 0]], np.float32)),
         mode="density", clip=(0.0, 100.0), palette="green-orange")
def test_kernel_matches_reference(pair, mode, clip, palette):
    se, bse = pair
    fast = colorize(se, bse, mode=mode, clip=clip, palette=palette)
    slow = colorize_reference(se, bse, mode=mode, clip=clip, palette=palette)
    assert fast.shape == se.shape + (3,) and fast.dtype == np.uint8
    assert np.abs(fast.astype(int) - slow).max() <= 1


@settings(max_examples=60, deadline=None)
@given(
    x=hnp.arrays(np.float32, st.integers(1, 3000),
                 elements=st.floats(-BIG, BIG, width=32, allow_nan=False, allow_infinity=False,
                                   allow_subnormal=False)),
    ps=st.lists(st.floats(0, 100), min_size=1, max_size=4),
)
def test_float_percentiles_are_exact(x, ps):
    from ddcsem._kernels.colorize import chunks, histogram_pair

    bits = x.view(np.uint32)
    counts, _ = histogram_pair(bits, bits, 65536, 65536, chunks(x.size), EVERY)
    got = _percentile_fn(counts, bits, True, "test")(tuple(ps))
    np.testing.assert_array_equal(got, np.percentile(x.astype(np.float64), ps))


def test_integer_percentiles_are_exact():
    from ddcsem._kernels.colorize import chunks, histogram_pair

    x = np.random.default_rng(1).integers(0, 65536, 100_001).astype(np.uint16)
    counts, _ = histogram_pair(x, x, 65536, 65536, chunks(x.size), EVERY)
    ps = (0.0, 0.5, 13.7, 50.0, 99.5, 100.0)
    np.testing.assert_array_equal(_percentile_fn(counts, x, False, "t")(ps), np.percentile(x, ps))


def test_large_image_uses_several_histograms_and_matches():
    rng = np.random.default_rng(3)
    se = rng.integers(0, 4096, (700, 900)).astype(np.uint16)
    bse = rng.normal(2000, 300, (700, 900)).clip(0, 65535).astype(np.uint16)
    np.testing.assert_allclose(colorize(se, bse), colorize_reference(se, bse), atol=1)


@pytest.mark.parametrize("nchunks", [1, 2, 3, 4, 7])
def test_histogram_tasks_count_every_pixel_once(nchunks):
    """Any task count splits each channel into whole shares: counts equal np.bincount, for
    channels of different pixel types (binned by type) and for one channel alone."""
    from ddcsem._kernels.colorize import histogram_pair

    rng = np.random.default_rng(5)
    a = rng.integers(0, 256, 30_011).astype(np.uint8)
    b = rng.integers(0, 65536, 30_011).astype(np.uint16)
    counts_a, counts_b = histogram_pair(a, b, 256, 65536, nchunks, EVERY)
    np.testing.assert_array_equal(counts_a, np.bincount(a, minlength=256))
    np.testing.assert_array_equal(counts_b, np.bincount(b, minlength=65536))
    alone, empty = histogram_pair(b, b[:0], 65536, 1, nchunks, EVERY)
    np.testing.assert_array_equal(alone, counts_b)
    assert empty.tolist() == [0]


@pytest.mark.parametrize("nchunks", [1, 2, 3])
@pytest.mark.parametrize("window", [(0, 40000), (9000, 50000), (20000, 45535), (100, 1)])
def test_tail_counts_are_exact_outside_the_window(nchunks, window):
    """With a window, each channel counts exactly its pixels below and above it, none
    inside: tails at the edges of the range, the last partial block and 8-bit pixels too."""
    from ddcsem._kernels.colorize import histogram_pair

    rng = np.random.default_rng(6)
    a = rng.integers(0, 256, 30_011).astype(np.uint8)
    b = rng.integers(0, 65536, 30_011).astype(np.uint16)
    lo, width = window
    tails = np.array([lo % 256, max(1, width // 256), lo, width], dtype=np.int64)
    counts_a, counts_b = histogram_pair(a, b, 256, 65536, nchunks, tails)
    for x, counts, (lo, width), bins in ((a, counts_a, tails[:2], 256),
                                         (b, counts_b, tails[2:], 65536)):
        levels = np.arange(bins)
        outside = (levels < lo) | (levels >= lo + width)
        full = np.bincount(x, minlength=bins)
        np.testing.assert_array_equal(counts[outside], full[outside])
        assert not counts[~outside].any()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_tail_counts_see_a_lone_pixel_on_each_edge_of_the_window(dtype):
    """Blocks of 64 pixels are skipped when none lies outside [lo, lo + width): a lone
    pixel just below lo, or at lo + width, in a full block or in the last partial one,
    is still counted, and one at lo is not."""
    from ddcsem._kernels.colorize import histogram_pair

    x = np.full(1000, 150, dtype)  # 15 full blocks and 40 pixels
    x[[70, 200, 999, 300]] = [99, 200, 200, 100]
    counts, _ = histogram_pair(x, x[:0], 256 << (8 * (x.itemsize - 1)), 1, 1,
                               np.array([100, 100, 0, 0], dtype=np.int64))
    assert counts[99] == 1 and counts[200] == 2 and counts.sum() == 3


@pytest.fixture
def tails_always(monkeypatch):
    """Count histogram tails at any image size (by default only from 8 Mpx on)."""
    monkeypatch.setattr(importlib.import_module("ddcsem.colorize"), "_TAIL_MIN_PIXELS", 0)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("mode", ["overlay", "density"])
@pytest.mark.parametrize("clip", [(0.5, 99.5), (0.0, 100.0), (3.0, 96.0), (30.0, 60.0)])
def test_tail_counts_give_the_reference_colours(tails_always, dtype, mode, clip):
    rng = np.random.default_rng(8)
    top = np.iinfo(dtype).max
    se = rng.normal(0.4 * top, 0.1 * top, (300, 301)).clip(0, top).astype(dtype)
    bse = rng.gamma(2.0, 0.1 * top, (300, 301)).clip(0, top).astype(dtype)
    np.testing.assert_allclose(colorize(se, bse, mode=mode, clip=clip),
                               colorize_reference(se, bse, mode=mode, clip=clip), atol=1)


def test_clip_counts_recount_when_the_sample_misleads(tails_always):
    """The tails are picked on sampled runs of pixels and checked on the full count: an image
    whose sampled runs are all dark gets a full count, and exact percentiles either way."""
    rng = np.random.default_rng(7)
    honest = rng.normal(30000, 4000, 400 * 1024).astype(np.uint16)
    misleading = honest.copy()
    runs = misleading.reshape(-1, 1024)
    runs[::61] = rng.integers(0, 1000, runs[::61].shape)  # exactly the sampled runs
    clip = (0.5, 99.5)
    for x in (honest, misleading):
        counts = _clip_counts((x, x), (65536, 65536), (True, True), *clip)
        for c in counts:
            assert c.sum() == x.size
            got = _percentile_fn(c, x, False, "t")(clip)
            np.testing.assert_array_equal(got, np.percentile(x, clip))
        full = np.bincount(x, minlength=65536)
        assert np.array_equal(counts[0], full) == (x is misleading)  # tails only when honest


def imagej_merge(se: np.ndarray, bse: np.ndarray) -> np.ndarray:
    """ImageJ's Merge Channels (c1 red = BSE, c2 green = SE) of 16-bit images displayed
    min-max: ShortProcessor scales each pixel by 256 / (max - min + 1), truncates, clamps."""

    def to8(x):
        lo, hi = int(x.min()), int(x.max())
        v = ((x.astype(np.int64) - lo) * (256.0 / (hi - lo + 1))).astype(np.int64)
        return np.clip(v, 0, 255).astype(np.uint8)

    return np.dstack([to8(bse), to8(se), np.zeros(se.shape, np.uint8)])


def test_overlay_equals_imagej_merge_channels():
    pair = make_pair(shape=(160, 200), dtype=np.uint16, seed=11)
    ours = colorize(pair.se, pair.bse, clip=(0, 100))
    assert np.abs(ours.astype(int) - imagej_merge(pair.se, pair.bse)).max() <= 1


def _hue_deg(rgb, mask):
    hsv = rgb_to_hsv(rgb[mask].astype(float) / 255)
    return np.median(hsv[:, 0]) * 360


@pytest.mark.parametrize("mode", ["overlay", "density"])
def test_mineral_orange_matrix_green(mode):
    pair = make_pair(shape=(256, 256), seed=4)
    rgb = colorize(pair.se, pair.bse, mode=mode)
    core = pair.labels > 0
    from scipy import ndimage

    core = ndimage.binary_erosion(core, iterations=2)  # away from the bright SE rims
    matrix = ndimage.binary_erosion(pair.labels == 0, iterations=3)
    mineral_hue, matrix_hue = _hue_deg(rgb, core), _hue_deg(rgb, matrix)
    assert 10 <= mineral_hue <= 50  # orange
    assert 60 <= matrix_hue <= 150  # yellow-green to green
    assert matrix_hue - mineral_hue >= 30


def test_colour_blind_palette_makes_matrix_blue():
    pair = make_pair(shape=(200, 200), seed=4)
    rgb = colorize(pair.se, pair.bse, mode="density", palette="blue-orange")
    assert 180 <= _hue_deg(rgb, pair.labels == 0) <= 220


def test_green_gain_and_channel_colours():
    pair = make_pair(shape=(100, 100), seed=6)
    base = colorize(pair.se, pair.bse)
    dim = colorize(pair.se, pair.bse, green_gain=0.5)
    assert np.all(dim[..., 0] == base[..., 0])
    assert np.abs(dim[..., 1].astype(int) - np.floor(base[..., 1] * 0.5 + 0.5)).max() <= 1
    magenta = colorize(pair.se, pair.bse, bse_color=(1, 0, 1), se_color=(0, 1, 0))
    assert np.all(magenta[..., 2] == magenta[..., 0])


def test_clip_full_range_maps_min_to_0_and_max_to_255():
    se = np.array([[10, 20], [30, 40]], np.uint16)
    rgb = colorize(se, se[::-1], clip=(0, 100))
    assert rgb[..., 1].min() == 0 and rgb[..., 1].max() == 255
    assert rgb[0, 1, 1] == 85  # (20 - 10) / 30 * 255 = 85


def test_percentile_clip_saturates_outliers():
    rng = np.random.default_rng(0)
    se = rng.integers(1000, 2000, (100, 100)).astype(np.uint16)
    se[0, 0] = 65535  # one hot pixel must not darken the whole image
    rgb = colorize(se, se.copy())
    assert rgb[..., 1].mean() > 100


def test_otsu_matches_scikit_image():
    from skimage.filters import threshold_otsu

    rng = np.random.default_rng(2)
    values = np.clip(np.concatenate([rng.normal(0.3, 0.05, 5000), rng.normal(0.7, 0.1, 2000)]), 0, 1)
    counts, edges = np.histogram(values, bins=256, range=(0, 1))
    centres = (edges[:-1] + edges[1:]) / 2
    assert otsu_threshold_hist(counts) == pytest.approx(threshold_otsu(hist=(counts, centres)))


@pytest.mark.parametrize("dtype", [np.int16, np.float64, bool])
def test_other_dtypes_are_converted(dtype):
    rng = np.random.default_rng(5)
    se, bse = ((rng.random((30, 30)) - 0.3) * 100 for _ in range(2))
    se, bse = (se > 0, bse > 0) if dtype is bool else (se.astype(dtype), bse.astype(dtype))
    np.testing.assert_allclose(colorize(se, bse), colorize_reference(se, bse), atol=1)


@pytest.mark.parametrize(
    ("se", "bse", "kwargs", "words"),
    [
        (np.zeros((4, 4)), np.zeros((4, 5)), {}, "shape"),
        (np.zeros((4, 4, 3)), np.zeros((4, 4, 3)), {}, "2-D"),
        (np.arange(16.0).reshape(4, 4), np.arange(16.0).reshape(4, 4), {"mode": "rainbow"}, "mode"),
        (np.arange(16.0).reshape(4, 4), np.arange(16.0).reshape(4, 4), {"clip": (50, 10)}, "percentiles"),
        (np.arange(16.0).reshape(4, 4), np.arange(16.0).reshape(4, 4), {"palette": "x"}, "palette"),
        (np.arange(16.0).reshape(4, 4), np.arange(16.0).reshape(4, 4), {"green_gain": -1}, "green_gain"),
        # an array where a name or a number belongs: numpy's "truth value of an array is ambiguous"
        (np.arange(16.0).reshape(4, 4), np.arange(16.0).reshape(4, 4), {"mode": np.array(["overlay"])},
         r"mode must be 'overlay' or 'density', not an array of shape \(1,\)"),
        (np.arange(16.0).reshape(4, 4), np.arange(16.0).reshape(4, 4), {"palette": ["blue-orange"]},
         r"palette must be 'green-orange' or 'blue-orange', not \['blue-orange'\]"),
        (np.arange(16.0).reshape(4, 4), np.arange(16.0).reshape(4, 4), {"green_gain": np.ones(2)}, "green_gain"),
        (np.arange(16.0).reshape(4, 4), np.arange(16.0).reshape(4, 4), {"transition": np.ones(2)}, "transition"),
        # two numbers, or a name: numpy's ValueError about an inhomogeneous shape
        (np.arange(16.0).reshape(4, 4), np.arange(16.0).reshape(4, 4), {"bse_color": (1, 2)},
         r"three non-negative numbers each, not \(1, 2\)"),
        (np.arange(16.0).reshape(4, 4), np.arange(16.0).reshape(4, 4), {"se_color": "green"}, "not .* and 'green'"),
        (np.arange(16.0).reshape(4, 4), np.full((4, 4), 7.0), {}, "BSE image is constant"),
        (np.full((4, 4), np.nan, np.float32), np.arange(16.0).reshape(4, 4), {}, "NaN"),
    ],
)
@pytest.mark.parametrize("func", [colorize, colorize_reference])
def test_invalid_input(func, se, bse, kwargs, words):
    with pytest.raises(ParameterError, match=words):
        func(se, bse, **kwargs)


def test_inputs_are_not_modified():
    pair = make_pair(shape=(64, 64), dtype=np.float32, seed=9)
    se, bse = pair.se.copy(), pair.bse.copy()
    colorize(pair.se, pair.bse, mode="density")
    np.testing.assert_array_equal(se, pair.se)
    np.testing.assert_array_equal(bse, pair.bse)


@pytest.mark.parametrize("width", [64, 65, 66, 67])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_lookup_table_paths_match_reference(width, dtype):
    # widths that are and are not multiples of 4 take the packed and the plain table kernels
    pair = make_pair(shape=(40, width), dtype=dtype, seed=width)
    for kwargs in ({}, {"green_gain": 0.6}, {"bse_color": (1, 0, 1), "se_color": (0, 1, 0)}):
        np.testing.assert_allclose(colorize(pair.se, pair.bse, **kwargs),
                                   colorize_reference(pair.se, pair.bse, **kwargs), atol=1)


def test_package_attribute_stays_the_function():
    import importlib

    import ddcsem

    importlib.import_module("ddcsem.colorize")  # importing the submodule must not shadow it
    assert callable(ddcsem.colorize) and ddcsem.colorize is colorize


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_otsu_and_two_phase_levels_match_skimage_and_numpy(seed):
    from skimage.filters import threshold_otsu

    from ddcsem.colorize import otsu_threshold, two_phase_levels

    rng = np.random.default_rng(seed)
    x = np.r_[rng.normal(0.2, 0.05, 60000), rng.normal(0.9, 0.1, 20000 * (seed + 1))]
    x = rng.permutation(x).astype(np.float32).reshape(-1, 100)
    t = otsu_threshold(x)
    assert t == pytest.approx(float(threshold_otsu(x)), abs=1e-6)
    t2, low, high = two_phase_levels(x)
    assert t2 == t
    assert low == pytest.approx(float(np.median(x[x <= t])), rel=1e-6)
    assert high == pytest.approx(float(np.percentile(x[x > t], 90)), rel=1e-6)


@pytest.mark.parametrize("kind", ["two-phase", "normal", "exponential", "uint8", "flat"])
def test_li_threshold_matches_scikit_image(kind):
    """Iterated on a 16384-bin histogram (bin centres for the pixels), within two bins of
    the fixed point scikit-image iterates to on the pixels themselves (run to convergence:
    its default tolerance, half the least step between pixel values, can stop a bin
    short of it)."""
    from skimage.filters import threshold_li

    from ddcsem.colorize import li_threshold

    rng = np.random.default_rng(3)
    x = {"two-phase": np.r_[rng.normal(0.1, 0.05, 80000), rng.normal(0.7, 0.2, 20000)],
         "normal": rng.normal(-2.0, 1.0, 50000),
         "exponential": rng.exponential(3.0, 50000),
         "uint8": rng.integers(0, 256, 50000),
         "flat": np.full(1000, 4.0)}[kind]
    x = (x.astype(np.uint8) if kind == "uint8" else x.astype(np.float32)).reshape(-1, 100)
    expected = float(threshold_li(x, tolerance=1e-9 * max(float(np.ptp(x)), 1.0)))
    assert li_threshold(x) == pytest.approx(expected, abs=max(float(np.ptp(x)), 1.0) / 8192)


def test_two_phase_levels_refuse_one_phase():
    from ddcsem.colorize import two_phase_levels

    with pytest.raises(ParameterError, match="two phases"):
        two_phase_levels(np.full((10, 10), 3.0, np.float32))


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
@pytest.mark.parametrize("mode", ["overlay", "density"])
def test_peak_memory_is_inputs_plus_output_plus_ten_percent(dtype, mode):
    """numpy allocations traced during a 4096^2 colouring (numba's per-thread histograms,
    about 1 MB, are not traced): beyond the output, at most 10 % of inputs + output."""
    import tracemalloc

    rng = np.random.default_rng(0)
    se, bse = (rng.integers(0, 200, (4096, 4096)).astype(dtype) for _ in range(2))
    colorize(se[:64, :64], bse[:64, :64], mode=mode)  # load the kernels first
    tracemalloc.start()
    try:
        out = colorize(se, bse, mode=mode)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.nbytes <= peak <= out.nbytes + 0.1 * (se.nbytes + bse.nbytes + out.nbytes)


def test_single_image_statistics_refuse_nan():
    from ddcsem.colorize import otsu_threshold, percentiles, two_phase_levels

    x = np.array([0.1, np.nan, 0.9, 0.5], np.float32)
    for call in (otsu_threshold, two_phase_levels, lambda v: percentiles(v, (50,))):
        with pytest.raises(ParameterError, match=r"the input image holds 1 NaN or infinite pixel \(give it"):
            call(x)


def test_a_pairs_channels_swapped_are_warned_about():
    """colorize(pair.bse, pair.se) coloured the particles green, silently; so did the
    particle table's channel means, each reported as the other's."""
    import warnings

    from ddcsem.measure import particle_table
    from ddcsem.read import PixelSize, SEMImage
    from ddcsem.segment import segment_particles
    from ddcsem.separate import density_map

    syn = make_pair((96, 96), n_particles=8, seed=1)
    size = PixelSize(20.0, "argument")
    se, bse = SEMImage(syn.se, size, detector="InLens"), SEMImage(syn.bse, size, detector="EsB")
    labels = segment_particles(density_map(bse))
    with pytest.warns(UserWarning) as caught:
        colorize(bse, se)
        particle_table(labels, bse=se, se=bse)
    said = [str(w.message) for w in caught]
    assert said.count("se is given an image, whose detector (EsB) records a BSE image: if a pair's two are "
                      "swapped, give pair.se") == 2
    assert said.count("bse is given an image, whose detector (InLens) records an SE image: if a pair's two are "
                      "swapped, give pair.bse") == 2
    assert all(w.filename == __file__ for w in caught)  # said of the user's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the right way round, and a channel's array, are not
        colorize(se, bse)
        colorize(syn.bse, syn.se)
        particle_table(labels, bse=bse, se=se)
        segment_particles(density_map(bse), se=se)
