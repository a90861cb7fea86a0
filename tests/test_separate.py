"""Density maps from a BSE image, a single grey image, and a DDC composite."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from ddcsem.colorize import colorize
from ddcsem.errors import ParameterError
from ddcsem.segment import segment_particles
from ddcsem.separate import density_from_composite, density_map, estimate_basis, flat_field, unmix_composite
from ddcsem.synthetic import make_pair


@pytest.fixture(scope="module")
def pair():
    return make_pair(shape=(256, 256), n_particles=40, seed=12)


def separation(d, labels):
    core = ndimage.binary_erosion(labels > 0, iterations=2)
    matrix = ndimage.binary_erosion(labels == 0, iterations=2)
    return float(np.median(d[core])), float(np.median(d[matrix]))


def test_density_map_two_phases(pair):
    d = density_map(pair.bse)
    assert d.dtype == np.float32 and d.min() >= 0 and d.max() <= 1
    mineral, matrix = separation(d, pair.labels)
    assert mineral > 0.7 and matrix < 0.1


def test_flat_field_removes_shading():
    shaded = make_pair(shape=(256, 256), n_particles=40, shading=0.6, seed=12)
    raw_matrix = shaded.bse[shaded.labels == 0].astype(float)
    cols = np.nonzero(shaded.labels == 0)[1]
    left, right = raw_matrix[cols < 64].mean(), raw_matrix[cols > 192].mean()
    assert right < 0.8 * left  # shading is there
    d = density_map(shaded.bse)
    d_matrix = d[shaded.labels == 0]
    assert abs(d_matrix[cols < 64].mean() - d_matrix[cols > 192].mean()) < 0.05
    mineral, matrix = separation(d, shaded.labels)
    assert mineral > 0.7 and matrix < 0.1


def test_flat_field_of_small_particles_under_strong_shading(monkeypatch):
    """6 px spheres, half the signal in the darkest corner: the shading moves the matrix
    more than the dim small particles stand above it, so the plain brightness test finds
    no matrix on the bright side, whose background, taken from the dark side, left its
    matrix at a density of 0.13 (84th percentile 0.23, near the threshold). With the
    shading's plane taken off first, the matrix is flat: under 0.03 on both sides."""
    import ddcsem.separate as separate

    pair = make_pair(shape=(512, 512), pixel_size_nm=50, median_diameter_nm=300, sigma_ln=0.25,
                     n_particles=375, clustered_fraction=0.2, shading=0.5, seed=8)
    matrix = ndimage.distance_transform_edt(pair.labels == 0) > 3
    yy, xx = np.mgrid[0:512, 0:512]
    signal = 1 - 0.5 * (0.6 * xx / 512 + 0.4 * yy / 512)  # the generator's shading
    bright, dark = matrix & (signal > 0.85), matrix & (signal < 0.65)

    def levels():
        d = density_map(pair.bse)
        return float(np.median(d[bright])), float(np.median(d[dark]))

    assert all(level < 0.03 for level in levels())
    monkeypatch.setattr(separate, "SHADING_FRACTION", np.inf)
    assert levels()[0] > 0.1


def test_flat_field_is_not_lifted_by_a_dense_cluster():
    # uniform matrix (1.0); a quarter of the field packed with bright particles (3.0)
    yy, xx = np.mgrid[0:256, 0:256]
    image = np.ones((256, 256))
    packed = np.hypot((yy - 64) % 12 - 6, (xx - 64) % 12 - 6) < 5.5  # discs 11 px across, 12 apart
    cluster = packed & (yy >= 64) & (yy < 128) & (xx >= 64) & (xx < 128)
    image[cluster] = 3.0
    flat = flat_field(image)
    matrix = ~ndimage.binary_dilation(cluster, iterations=2)
    near = matrix & (np.abs(yy - 96) < 40) & (np.abs(xx - 96) < 40)
    far = matrix & (yy > 200) & (xx > 200)
    assert abs(flat[near].mean() / flat[far].mean() - 1) < 0.03
    assert flat[cluster].mean() / flat[far].mean() > 2.8


def test_crowded_field_exported_with_a_black_matrix():
    """The same BSE image as raw counts and as an 8-bit export stretched to its 0.5 and
    99.5 percentiles (the matrix near black): the clusters' windows must not lift the
    matrix background, which division would then turn into a several-fold dimming."""
    from ddcsem.evaluate import detection_scores
    from ddcsem.segment import segment_particles

    syn = make_pair(shape=(512, 512), pixel_size_nm=20, median_diameter_nm=500, n_particles=125,
                    clustered_fraction=0.9, seed=23)
    lo, hi = np.percentile(syn.bse, [0.5, 99.5])
    export = np.round(np.clip((syn.bse - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)
    assert np.median(export[syn.labels == 0]) < 40
    raw, stretched = (detection_scores(segment_particles(density_map(x)), syn.centers, syn.diameters_px).f1
                      for x in (syn.bse, export))
    assert stretched > 0.92 and stretched > raw - 0.03


def test_flat_field_keeps_flat_images_flat():
    flat = flat_field(np.full((100, 120), 50.0))
    np.testing.assert_allclose(flat, 1.0, rtol=1e-5)


@pytest.mark.parametrize("mode", ["overlay", "density"])
def test_density_from_composite_matches_pair(pair, mode):
    d = density_from_composite(colorize(pair.se, pair.bse, mode=mode))
    mineral, matrix = separation(d, pair.labels)
    assert mineral > 0.7 and matrix < 0.15
    agree = (d > 0.5) == (density_map(pair.bse) > 0.5)
    assert agree.mean() > 0.95


def test_a_shaded_composite_has_a_level_matrix():
    """A field darker on one side (half the signal in one corner): the composite's shading,
    left in, made its bright side's matrix mineral (F1 0.42 on this noisy field)."""
    from ddcsem.evaluate import detection_scores

    syn = make_pair((512, 512), pixel_size_nm=20, median_diameter_nm=500, n_particles=40, clustered_fraction=0.1,
                    dose=60, shading=0.5, seed=2)
    rgb = colorize(syn.se, syn.bse)
    d = density_from_composite(rgb)
    matrix = syn.labels == 0
    bright, dark = np.median(d[:, :100][matrix[:, :100]]), np.median(d[:, -100:][matrix[:, -100:]])
    assert abs(bright - dark) < 0.05
    found = segment_particles(d, se=unmix_composite(rgb)[1], pixel_size_nm=20)
    assert detection_scores(found, syn.centers, syn.diameters_nm / 20).f1 > 0.9


def test_cracks_darker_than_the_matrix_are_not_its_level():
    """Cracks through a section (4 % of the field, at a fifth of the matrix's signal) were
    the class under Otsu's threshold when the particles are small and dim: taken for the
    matrix's level, they made the matrix mineral (its density 0.86), in a BSE image and in
    a composite alike."""
    from skimage.draw import line

    syn = make_pair((512, 512), pixel_size_nm=50, median_diameter_nm=300, sigma_ln=0.25, n_particles=380,
                    clustered_fraction=0.2, seed=4)
    crack = np.zeros(syn.labels.shape, bool)
    for r0, c0, r1, c1 in [(0, 30, 511, 200), (40, 0, 300, 511), (511, 100, 200, 511), (0, 400, 511, 330)]:
        crack[line(r0, c0, r1, c1)] = True
    crack = ndimage.binary_dilation(crack, iterations=2) & (syn.labels == 0)
    bse, se = syn.bse.copy(), syn.se.copy()
    bse[crack] //= 5
    se[crack] //= 3
    for d in (density_map(bse), density_from_composite(colorize(se, bse))):
        assert np.median(d[(syn.labels == 0) & ~crack]) < 0.05
        assert np.median(d[syn.labels > 0]) > 0.5


def test_estimated_basis_is_orange_and_green(pair):
    basis = estimate_basis(colorize(pair.se, pair.bse))
    orange, green = basis
    assert orange[0] > orange[1] > orange[2] - 1e-9  # red > green > blue
    assert green[1] > 0.9


def test_estimated_basis_is_the_edge_of_the_pixel_cloud():
    """Pixels mixed from two known colours with random non-negative weights: the basis
    is those colours, though few pixels hold one alone."""
    rng = np.random.default_rng(0)
    orange, green = np.array([1.0, 0.55, 0.0]), np.array([0.0, 1.0, 0.1])
    a, b = rng.gamma(2.0, 1.0, (2, 200, 200))
    rgb = a[..., None] * orange + b[..., None] * green
    basis = estimate_basis(rgb)
    np.testing.assert_allclose(basis[0], orange / np.linalg.norm(orange), atol=0.02)
    np.testing.assert_allclose(basis[1], green / np.linalg.norm(green), atol=0.02)
    bse, se = unmix_composite(rgb, basis=basis)
    assert np.corrcoef(bse.ravel(), a.ravel())[0, 1] > 0.999
    assert np.corrcoef(se.ravel(), b.ravel())[0, 1] > 0.999


@pytest.mark.parametrize("se_colour", [(0, 1, 0), (0.5, 0.5, 0.5)])
@pytest.mark.parametrize("bse_colour", [(1, 0, 0), (1, 0.5, 0), (1, 0, 1)])
def test_an_overlay_not_stretched_to_black_has_its_se_colour(bse_colour, se_colour):
    """Fiji's Merge Channels of 8-bit images (display range 0-255) stretches nothing: no
    pixel shows the SE colour alone (the BSE image's matrix is 40 % of its particles'
    level), the cloud's SE end was a fifth red, and unmixing took the SE rims for lower
    density: particles 9 % small. The colour is taken on to the saturated one, or grey,
    beyond the cloud."""
    from ddcsem.evaluate import detection_scores

    syn = make_pair((512, 512), pixel_size_nm=20, median_diameter_nm=500, n_particles=40, clustered_fraction=0.1,
                    seed=1)
    rgb = colorize(syn.se, syn.bse, clip=(0, 100), bse_color=bse_colour, se_color=se_colour)
    basis = estimate_basis(rgb)
    np.testing.assert_allclose(basis[1], np.array(se_colour) / np.linalg.norm(se_colour), atol=0.02)
    found = segment_particles(density_from_composite(rgb), se=unmix_composite(rgb)[1], pixel_size_nm=20)
    score = detection_scores(found, syn.centers, syn.diameters_nm / 20)
    assert score.f1 > 0.95 and score.median_ecd_error < 0.025


@pytest.mark.parametrize("bse_colour, se_colour", [((1, 0.5, 0), (0.5, 0.5, 0.5)), ((1, 0, 0), (0, 1, 1)),
                                                    ((1, 0, 1), (0, 1, 0)), ((1, 0.5, 0), (0, 0.45, 0.7))])
def test_the_redder_colour_is_the_bse_one_and_said_so_where_neither_is(bse_colour, se_colour):
    """A composite of two colours without red (its channels reversed, BGR: particles blue)
    was unmixed with its green matrix as the density where the pixel cloud's order put it
    first: 183 particles where there are 39, unsaid. DDC's palettes are not warned about."""
    import warnings

    syn = make_pair((256, 256), seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        basis = estimate_basis(colorize(syn.se, syn.bse, bse_color=bse_colour, se_color=se_colour))
    bse, se = (np.array(c) / np.linalg.norm(c) for c in (bse_colour, se_colour))
    assert basis[0] @ bse > basis[0] @ se and basis[1] @ se > basis[1] @ bse  # each nearer its own
    reversed_ = colorize(syn.se, syn.bse)[..., ::-1]
    with pytest.warns(UserWarning, match=r"the composite's two colours, (#[0-9a-f]{6}) and (#[0-9a-f]{6}), hold about "
                                         r"as much red as each other.*give the colours, BSE first \(--basis ") as said:
        taken = estimate_basis(reversed_)
    named = str(said[0].message).rsplit("--basis ", 1)[1].rstrip(")").split()
    given = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in named], float)
    np.testing.assert_allclose(given / np.linalg.norm(given, axis=1, keepdims=True), taken[::-1], atol=0.01)
    # the two readings differ: one's particles are dense, the other's are not, and the hint gives the other
    dense = [separation(density_from_composite(reversed_, basis=b), syn.labels)[0] > 0.7 for b in (taken, given)]
    assert sorted(dense) == [False, True]


@pytest.mark.parametrize("bse_colour", [(1, 0, 0), (1, 0, 1)])
def test_channels_merged_as_they_are_unmix_into_their_images(bse_colour):
    """Fiji's Merge Channels of two images not stretched at all: the cloud's SE end lay
    40-44 degrees short of green in magenta-green merges, beyond the 35 that the SE colour
    was taken on, so part of the SE image went into the density: their particles were
    sized 17 % off (27 % at 20 keV), where their pairs measure 1.2 %."""
    from ddcsem.evaluate import detection_scores

    syn = make_pair((512, 512), pixel_size_nm=20, median_diameter_nm=500, n_particles=40, clustered_fraction=0.1,
                    seed=5)
    rgb = np.clip(syn.bse[..., None] * np.array(bse_colour) + syn.se[..., None] * np.array([0, 1, 0]), 0, 255)
    basis = estimate_basis(rgb)
    assert basis[1] @ np.array([0.0, 1.0, 0.0]) > np.cos(np.radians(2))
    found = segment_particles(density_from_composite(rgb), se=unmix_composite(rgb)[1], pixel_size_nm=20)
    score = detection_scores(found, syn.centers, syn.diameters_nm / 20)
    assert score.f1 > 0.95 and score.median_ecd_error < 0.02


def test_a_colour_seen_alone_is_the_se_colour():
    """A density colouring paints its matrix in its green (0.85 saturated: not a colour
    with a channel at zero), which is then the SE colour as it is."""
    syn = make_pair((256, 256), seed=1)
    green = np.array([0.15, 1.0, 0.15])
    np.testing.assert_allclose(estimate_basis(colorize(syn.se, syn.bse, mode="density"))[1],
                               green / np.linalg.norm(green), atol=0.02)


@pytest.mark.parametrize("dtype, channels", [(np.uint8, 3), (np.uint16, 3), (np.float32, 3), (np.float64, 4)])
def test_unmixing_kernel_is_its_numpy_reference(pair, dtype, channels):
    """The kernel's parts and annotation marks are numpy's, for every pixel type, an
    alpha channel beside."""
    from ddcsem.separate import _unmix_pixels, _unmix_pixels_reference

    rgb = colorize(pair.se, pair.bse).astype(np.float64) / 255
    rgb[20:26, 10:90] = 1.0  # a white bar: no mix of the two colours
    rgb = np.concatenate([rgb, np.ones(rgb.shape[:2] + (channels - 3,))], axis=-1)
    full = 1.0 if dtype in (np.float32, np.float64) else float(np.iinfo(dtype).max)
    rgb = (rgb * full).astype(dtype)
    basis = estimate_basis(rgb)
    for level in (None, 0.6 * full):
        got, want = _unmix_pixels(rgb, basis, level=level), _unmix_pixels_reference(rgb, basis, level=level)
        for part, reference in zip(got[:2], want[:2]):
            np.testing.assert_allclose(part, reference, rtol=1e-5, atol=1e-5 * full)
        if level is None:
            assert got[2] is None and want[2] is None
        else:
            np.testing.assert_array_equal(got[2], want[2])
            assert got[2][20:26, 10:90].all()


def test_a_composite_stored_big_endian_unmixes_as_it_does_in_the_machines_order(pair):
    """Arrays read from FITS files, or from raw data with dtype '>u2', are big-endian: the
    kernel refused them with a numba TypingError."""
    rgb = colorize(pair.se, pair.bse).astype(np.uint16) * np.uint16(257)
    for got, want in zip(unmix_composite(rgb.astype(">u2")), unmix_composite(rgb)):
        np.testing.assert_array_equal(got, want)


def test_composite_parts_are_the_pair(pair):
    """A Merge Channels overlay (BSE red, SE green) unmixes back into its two images."""
    bse, se = unmix_composite(colorize(pair.se, pair.bse))
    assert np.corrcoef(bse.ravel(), pair.bse.ravel())[0, 1] > 0.97
    assert np.corrcoef(se.ravel(), pair.se.ravel())[0, 1] > 0.97


def test_user_basis(pair):
    rgb = colorize(pair.se, pair.bse)
    d = density_from_composite(rgb, basis=np.array([[1.0, 0.6, 0.0], [0.0, 1.0, 0.0]]))
    assert separation(d, pair.labels)[0] > 0.7


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: density_map(np.zeros((3, 4, 5))), "2-D"),
        (lambda: density_map(np.full((50, 50), 3.0)), "no contrast"),
        (lambda: density_map(np.full((10, 10), np.nan)), "NaN"),
        (lambda: density_map(np.eye(10), flatfield_sigma=0), "flatfield_sigma must be a finite number above 0"),
        (lambda: density_map(np.eye(10), denoise_sigma=-1), "denoise_sigma must be a finite number 0 or more"),
        (lambda: density_from_composite(np.dstack([np.eye(9)] * 3), denoise_sigma=float("nan")), "denoise_sigma"),
        (lambda: density_from_composite(np.zeros((10, 10))), "colour image"),
        (lambda: density_from_composite(np.full((10, 10, 3), 90.0)), "two distinct colours"),
        (lambda: density_from_composite(np.zeros((40, 40, 3), np.uint8)),  # its colours were #000000 and #000000
         r"^the composite is black: it holds no colours \(check that the right file was given\)"),
        (lambda: unmix_composite(np.ones((9, 9, 3), complex)),  # the kernel's NumbaNotImplementedError
         "^a composite must be a colour image of real numbers, not of complex128"),
        (lambda: unmix_composite(np.ones((0, 9, 3))), r"^the composite is empty \(shape \(0, 9, 3\)\)"),  # IndexError
        (lambda: density_from_composite(np.where(np.eye(9)[..., None] > 0, np.nan, np.ones((9, 9, 3)))),
         r"^the composite holds 9 NaN or infinite pixels \(give them a finite value"),
        (lambda: density_from_composite(np.dstack([np.eye(9)] * 3), basis=np.ones(3)), "basis"),
        (lambda: unmix_composite(np.dstack([np.eye(9)] * 3), basis=[[1, 0, 0], [2, 0, 0]]), "must differ"),
        (lambda: unmix_composite(np.dstack([np.eye(9)] * 3), basis=[[1, 0, 0], [0, -1, 0]]), "non-negative"),
        (lambda: unmix_composite(np.dstack([np.eye(9)] * 3), basis=[[1, 0, 0], [0, 0, 0]]), "not black"),
        # ragged: numpy's own ValueError about an inhomogeneous shape
        (lambda: unmix_composite(np.dstack([np.eye(9)] * 3), basis=((1, 2), (3, 4, 5))), "two RGB colours"),
        (lambda: unmix_composite(np.dstack([np.eye(9)] * 3), basis=[["orange", 0, 0], [0, 1, 0]]), "two RGB"),
    ],
)
def test_bad_input(call, words):
    with pytest.raises(ParameterError, match=words):
        call()


@pytest.mark.parametrize("small, big", [((64, 64), (1024, 1024)), ((13, 7), (100, 50)), ((1, 5), (10, 40)), ((30, 20), (30, 20))])
def test_background_upsampling_is_scipys_linear_zoom(small, big):
    from ddcsem.separate import _by_upsampled

    rng = np.random.default_rng(small[0])
    b = (0.5 + rng.random(small)).astype(np.float32)
    image = rng.random(big).astype(np.float32)
    background = ndimage.zoom(b, (big[0] / small[0], big[1] / small[1]), order=1, mode="nearest")
    np.testing.assert_allclose(_by_upsampled(image, b, 1e-6), image / background, rtol=1e-5)
    np.testing.assert_allclose(_by_upsampled(image, b, 1e-6, subtract=True), image - background, atol=1e-6)
    # the floor caps the division
    np.testing.assert_allclose(_by_upsampled(image, b, 2.0), image / 2.0, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64, bool])
@pytest.mark.parametrize("step", [1, 3, 8])
def test_block_means_are_numpys_reshaped_mean(dtype, step):
    from ddcsem.separate import _block_means

    rng = np.random.default_rng(step)
    image = (rng.random((101, 67)) * 300 - (dtype == np.int16) * 150).astype(dtype)
    rows, cols = 101 // step * step, 67 // step * step  # the rows and columns beyond whole blocks left out
    want = image[:rows, :cols].reshape(rows // step, step, cols // step, step).mean(axis=(1, 3))
    got = _block_means(image, step)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_opening_by_a_disc_is_scipys_binary_opening():
    from skimage.morphology import disk

    from ddcsem.separate import _opened

    rng = np.random.default_rng(3)
    mask = ndimage.binary_dilation(rng.random((120, 90)) > 0.995, iterations=9)
    mask[60:64] = True  # a strip too thin to hold the disc
    for radius in (3, 6):
        want = ndimage.binary_opening(np.pad(mask, radius + 1, mode="edge"), structure=disk(radius))
        np.testing.assert_array_equal(_opened(mask, radius), want[radius + 1:-radius - 1, radius + 1:-radius - 1])
    strip = np.zeros_like(mask)
    strip[60:64] = True
    assert not _opened(strip, 3).any()  # nothing holds the disc: nothing, where it had cells by a corner


def test_unclipped_density_keeps_contrast_beyond_the_mineral_level(pair):
    clipped, full = density_map(pair.bse), density_map(pair.bse, clip=False)
    assert full.dtype == np.float32 and full.max() > 1.05 and full.min() < 0
    np.testing.assert_array_equal(np.clip(full, 0, 1), clipped)


@pytest.mark.parametrize("mode", ["overlay", "density"])
def test_jpeg_noise_of_a_composite_is_no_annotation(mode):
    import io

    from PIL import Image

    from ddcsem.separate import _unmix

    pair = make_pair((256, 256), seed=3)
    buf = io.BytesIO()
    Image.fromarray(colorize(pair.se, pair.bse, mode=mode)).save(buf, "JPEG", quality=30)
    jpeg = np.asarray(Image.open(buf))
    assert not _unmix(jpeg, None, annotations=True)[2].any()
    white = jpeg.copy()
    white[100:104, 20:200] = 255  # a scale bar: found, with two pixels of margin for its soft edge
    marks = _unmix(white, None, annotations=True)[2]
    margin = np.zeros_like(marks)
    margin[98:106, 18:202] = True
    assert marks[100:104, 20:200].all() and not marks[~margin].any()
    black = jpeg.copy()  # a black rectangle is image, unless it holds marks and stands clear of the frame
    black[150:200, 30:120] = 0
    assert not _unmix(black, None, annotations=True)[2].any()
    black[170:174, 40:110] = 255
    assert _unmix(black, None, annotations=True)[2][150:200, 30:120].all()
    black[150:200, :120] = 0  # reaching the frame: the image's own dark edge, perhaps
    assert not _unmix(black, None, annotations=True)[2][150:200, 20:30].any()



def test_a_frame_of_one_colour_around_a_composite_is_found():
    import io

    from PIL import Image

    from ddcsem.separate import _frame

    pair = make_pair((96, 128), n_particles=12, seed=2, databar=False)
    for mode in ("overlay", "density"):  # a field, however dark or plain its rows, has no frame
        rgb = colorize(pair.se, pair.bse, mode=mode)
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", quality=30)
        assert _frame(rgb) == _frame(np.asarray(Image.open(buf))) == (0, 0, 0, 0)
    panel = np.full((140, 160, 3), 255, np.uint8)  # a figure panel: a white margin ...
    panel[20:116, 10:138] = rgb
    panel[:, :4] = 0  # ... and a black strip along its left side
    assert _frame(panel) == (20, 24, 10, 22)
    assert _frame(np.full((10, 10, 3), 255, np.uint8)) == (0, 0, 0, 0)  # all of one colour: no field
    clipped = np.where(pair.bse > np.percentile(pair.bse, 85), pair.bse, 0)  # the matrix exported black,
    clipped[:5] = 0  # no particle along the top: black edge rows, as a frame's, but black inside too
    assert _frame(clipped) == (0, 0, 0, 0)
    framed = np.zeros((116, 148), pair.bse.dtype)
    framed[10:106, 10:138] = pair.bse
    assert _frame(framed) == (10, 10, 10, 10)
    deep = (pair.bse.astype(np.uint16) * 16).astype(np.uint16)  # 12 bits in 16: no 3 % of 65535 slack
    assert _frame(deep) == (0, 0, 0, 0)
    framed = np.full((116, 148), 4095, np.uint16)
    framed[10:106, 10:138] = deep
    assert _frame(framed) == (10, 10, 10, 10)


def _off_sample_field(level: float, seed: int = 3):
    """A synthetic field (40 spheres, 384 x 512 px) whose left third is off the sample: the
    stub at ``level`` times the matrix's brightness, with its own shot noise."""
    pair = make_pair((384, 512), n_particles=40, seed=seed)
    rng = np.random.default_rng(seed)
    matrix = float(np.median(pair.bse[pair.labels == 0]))
    off = np.zeros(pair.bse.shape, bool)
    off[:, :170] = True
    bse = pair.bse.astype(np.float32)
    bse[off] = level * matrix + rng.normal(0, np.sqrt(level * matrix), off.sum())
    return pair, np.clip(bse, 0, 255).astype(np.uint8), off


@pytest.mark.parametrize("level", [0.1, 0.5])
def test_an_area_off_the_sample_is_found_to_its_edge(level):
    from ddcsem.separate import _off_sample

    _, bse, off = _off_sample_field(level)
    found = _off_sample(bse, np.zeros(bse.shape, bool))
    assert found is not None and found[off].all()  # all of it, and beyond its edge by the blur's 2 px
    assert not found[:, 173:].any()
    deep = bse.astype(np.uint16) * 257  # the same in 16 bits, or as floats
    assert np.array_equal(_off_sample(deep, np.zeros(bse.shape, bool)), found)
    assert np.array_equal(_off_sample(bse / 255.0, np.zeros(bse.shape, bool)), found)
    debris = bse.copy()  # particles lying on the stub: found all the same, around them
    spheres = np.zeros(bse.shape, bool)
    lying = make_pair((384, 170), n_particles=4, clustered_fraction=0, seed=9)
    spheres[:, :170] = lying.labels > 0
    debris[spheres] = lying.bse[lying.labels > 0]
    around = _off_sample(debris, np.zeros(bse.shape, bool))
    assert around is not None and not around[:, 173:].any()
    assert around[off & ~ndimage.binary_dilation(spheres, iterations=4)].all()
    hidden = np.zeros(bse.shape, bool)  # what is no part of the field is no part of it either
    hidden[:20] = True
    assert not _off_sample(bse, hidden)[:20].any()


def test_a_hole_exported_at_one_level_is_off_the_sample():
    """A hole through the section exported as zeros (no noise to measure the step by) was
    missed, and the field's particles then covered all of it."""
    from ddcsem.separate import _off_sample

    pair = make_pair((384, 384), n_particles=40, seed=5, dtype=np.uint16)
    rows, cols = np.mgrid[0:384, 0:384]
    hole = (rows - 190) ** 2 + (cols - 150) ** 2 < 75**2
    bse = np.where(hole, 0, pair.bse).astype(np.uint16)
    found = _off_sample(bse, np.zeros(bse.shape, bool))
    assert found is not None and found[hole].all()
    assert not found[~ndimage.binary_dilation(hole, iterations=3)].any()


def test_a_dark_matrix_or_shading_is_not_off_the_sample():
    """A sparse field's matrix is broad and darker than the particles, as a stub is than
    the matrix; but it goes on at its level between them, and holds them. Shading dims one
    side of a field gradually, with no edge."""
    from ddcsem.separate import _off_sample

    none = np.zeros((512, 512), bool)
    for kwargs in (dict(n_particles=15, seed=1), dict(n_particles=300, clustered_fraction=0.9, seed=2),
                   dict(n_particles=60, shading=0.6, seed=5), dict(n_particles=60, dose=30, seed=6)):
        pair = make_pair((512, 512), **kwargs)
        assert _off_sample(pair.bse, none) is None and _off_sample(pair.se, none) is None
    pair = make_pair((512, 512), n_particles=60, seed=7)
    for part in (np.s_[:, :256], np.s_[:256, :256], np.s_[:, 200:330]):
        dim = pair.bse.astype(np.float32)
        dim[part] *= 0.3  # a part of the sample imaged darker (a mosaic's tile), particles and all
        assert _off_sample(dim.astype(np.uint8), none) is None
    flat = np.full((64, 64), 7, np.uint8)
    assert _off_sample(flat, np.zeros(flat.shape, bool)) is None


def test_a_white_area_is_broad_and_clipped_tops_are_none():
    from ddcsem.separate import _plain_area

    pair = make_pair((512, 512), n_particles=80, seed=2)
    none = np.zeros(pair.bse.shape, bool)
    for top in (80, 95):  # an export clipped at that percentile: its particles' tops white
        clipped = np.clip(pair.bse / np.percentile(pair.bse, top) * 255, 0, 255).astype(np.uint8)
        assert _plain_area(clipped, none, white=True) is None
    painted = pair.bse.copy()
    painted[300:, 300:] = 255
    found = _plain_area(painted, none, white=True)
    assert found[300:, 300:].all() and not found[:297].any() and not found[:, :297].any()
    margin = np.zeros(pair.bse.shape, bool)  # inside the frame only: a white margin is the frame's
    margin[:, 400:] = True
    assert not _plain_area(painted, margin, white=True)[:, 400:].any()


@pytest.mark.parametrize("turns", range(4))
def test_a_straight_wedge_along_an_edge_is_a_strip_of_padding_and_a_ragged_one_is_none(turns):
    """A few degrees' turn leaves wedges too thin to be broad; a run of plain pixels
    along an edge is padding where its depth changes as a straight line's does, along
    an eighth of the edge or more. Each edge of the image alike."""
    from ddcsem.separate import _edge_strips

    rows, cols = np.ogrid[:400, :512]
    shallow = rows < 20 - cols * 20 / 300  # 20 px deep at the corner, none 300 px along
    steep = rows < (cols - 380) * 60 / 132  # the next wedge, from where the first ends: a V between them
    wedges = shallow | steep

    def strips(plain):
        found = _edge_strips(np.rot90(plain, turns))
        return None if found is None else np.rot90(found, -turns)

    found = strips(wedges)
    assert found is not None and np.array_equal(found, wedges)
    rng = np.random.default_rng(0)
    ragged = (rows < rng.integers(2, 20, size=512)[None, :]) & (cols < 300)
    assert strips(ragged) is None  # as a matrix clipped to that level reaches the edge
    assert strips(shallow & (cols < 60)) is None  # 60 px of 512: too short
    assert strips(rows < 2 + 0 * cols) is None  # two lines along the edge: under 3 px deep
    framed = wedges | (rows < 1) | (cols < 1)  # with a frame a pixel wide: its depth counts
    assert np.array_equal(strips(framed)[1:, 1:], wedges[1:, 1:])


@pytest.mark.parametrize("dtype", ["uint8", "uint16", ">u2", "int16"])
def test_flat_field_reads_integer_images_as_their_float32_copy(dtype):
    """The flat field divides 8- and 16-bit images as they are, without a float32 copy of
    them first (other types, and big-endian ones, are copied): the maps are the same to
    the bit, which IEEE rounding promises for a quotient taken in float64 and stored in
    float32."""
    pair = make_pair(shape=(256, 320), dtype=np.dtype("uint8" if dtype == "uint8" else "uint16"), seed=4,
                     shading=0.4)
    image = pair.bse.astype(dtype) if dtype != "int16" else (pair.bse // 2).astype(dtype)
    for f in (flat_field, density_map):
        np.testing.assert_array_equal(f(image), f(image.astype(np.float32)), err_msg=f.__name__)


def test_switches_are_true_or_false():
    """``density_map(bse, clip=(1, 99))``, colorize's percentiles given where a switch is
    asked for, clipped the map as True does, unsaid; a string ("false") was true."""
    bse = make_pair(shape=(96, 96), n_particles=6, seed=4).bse
    with pytest.raises(ParameterError, match=r"^clip must be True or False, not \(1, 99\) \(whether the map is "
                                             r"clipped to \[0, 1\]: colorize's clip percentiles do not apply here\)$"):
        density_map(bse, clip=(1, 99))
    with pytest.raises(ParameterError, match=r"^flatfield must be True or False, not 'false'$"):
        density_map(bse, flatfield="false")
    np.testing.assert_array_equal(density_map(bse, clip=np.False_), density_map(bse, clip=False))
