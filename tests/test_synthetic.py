"""The synthetic generator: ground truth consistent with the physics it claims."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from ddcsem.errors import ParameterError
from ddcsem.synthetic import backscatter_yield, ko_range_nm, make_pair


def test_reuter_and_kanaya_okayama_values():
    assert backscatter_yield(6) == pytest.approx(0.0641, abs=1e-4)  # carbon
    assert backscatter_yield(1) == 0.0  # the fit is negative for hydrogen: clamped
    assert ko_range_nm(10) == pytest.approx(1098, rel=0.01)


def test_ground_truth_is_consistent():
    pair = make_pair(shape=(300, 320), pixel_size_nm=15, median_diameter_nm=450, seed=1)
    k = pair.labels.max()
    assert k == len(pair.centers) == len(pair.diameters_nm) > 10
    assert set(np.unique(pair.labels)) == set(range(k + 1))
    areas = ndimage.sum_labels(np.ones_like(pair.labels), pair.labels, np.arange(1, k + 1))
    expected = np.pi / 4 * pair.diameters_px**2
    # free spheres cover their disc; spheres in clusters lose part of it to neighbours
    assert np.median(areas / expected) == pytest.approx(1.0, abs=0.08)
    assert np.exp(np.median(np.log(pair.diameters_nm))) == pytest.approx(450, rel=0.25)


def test_same_seed_same_pair():
    a, b = make_pair(shape=(64, 64), seed=3), make_pair(shape=(64, 64), seed=3)
    np.testing.assert_array_equal(a.se, b.se)
    np.testing.assert_array_equal(a.bse, b.bse)


def test_bse_brighter_on_mineral_and_partial_volume_for_small_spheres():
    pair = make_pair(shape=(400, 400), pixel_size_nm=20, median_diameter_nm=300, sigma_ln=0.6,
                     n_particles=120, dose=5000, blur_px=0.5, line_noise=0, seed=2)
    mean = ndimage.mean(pair.bse.astype(float), pair.labels, np.arange(1, pair.labels.max() + 1))
    matrix = pair.bse[pair.labels == 0].mean()
    assert np.all(mean > matrix)
    small = pair.diameters_nm < 200
    large = pair.diameters_nm > 500
    assert small.any() and large.any()
    assert mean[small].mean() < mean[large].mean()


def test_se_edge_brightening():
    pair = make_pair(shape=(300, 300), median_diameter_nm=1200, sigma_ln=0.1, n_particles=8,
                     dose=5000, line_noise=0, clustered_fraction=0, seed=4)
    inside = pair.labels > 0
    rim = inside & ~ndimage.binary_erosion(inside, iterations=2)
    core = ndimage.binary_erosion(inside, iterations=8)
    assert pair.se[rim].mean() > 1.3 * pair.se[core].mean()


def test_lower_dose_is_noisier():
    def matrix_cv(dose):
        p = make_pair(shape=(200, 200), n_particles=1, dose=dose, line_noise=0, blur_px=0.1, seed=5)
        m = p.bse[p.labels == 0].astype(float)
        return m.std() / m.mean()

    assert matrix_cv(50) > 2 * matrix_cv(2000)


def test_databar_and_dtypes():
    pair = make_pair(shape=(100, 120), databar=True, dtype=np.uint16, seed=6)
    assert pair.se.shape == (100 + pair.databar_rows, 120) and pair.se.dtype == np.uint16
    assert pair.labels.shape == (100, 120)
    assert make_pair(shape=(32, 32), dtype=np.float32, seed=0).bse.dtype == np.float32


@pytest.mark.parametrize("given, message", [
    (dict(shape=(4, 4)), r"shape must be \(rows, cols\), at least 8 x 8, not \(4, 4\)"),
    (dict(shape=(64,)), r"shape must be \(rows, cols\)"),
    (dict(dtype=np.int8), "dtype must be uint8, uint16 or float32, not int8"),
    # each of these failed deep in numpy ("negative dimensions are not allowed", "lam value
    # too large") or was taken as it was
    (dict(n_particles=-1), "n_particles must be a whole number 0 or more, not -1"),
    (dict(n_particles=2.5), "n_particles must be a whole number 0 or more, not 2.5"),
    (dict(kev=0), "kev must be a finite number above 0, not 0"),
    (dict(sigma_ln=-0.1), "sigma_ln must be a finite number 0 or more"),
    (dict(blur_px=float("nan")), "blur_px must be a finite number 0 or more"),
    (dict(shading=2), "shading must be a fraction from 0 to 1, not 2"),
    (dict(clustered_fraction=-0.5), "clustered_fraction must be a fraction from 0 to 1"),
])
def test_invalid_parameters(given, message):
    with pytest.raises(ParameterError, match=message):
        make_pair(**given)


@pytest.mark.parametrize(("sigma_ln", "n"), [(0.2, 1500), (0.9, 500)])
def test_placement_keeps_every_pair_of_spheres_apart(sigma_ln, n):
    # each sphere is checked against those in the nearby cells of a grid only; the rule
    # must hold against all: free spheres 1.15x their radii apart, clustered ones 0.85x
    from scipy.spatial.distance import pdist, squareform

    from ddcsem.synthetic import _place

    rng = np.random.default_rng(5)
    radii = np.clip(rng.lognormal(np.log(4.0), sigma_ln, n), 1.0, 60.0)
    clustered = rng.random(radii.size) < 0.4
    centers, kept, full = _place(rng, (400, 500), radii, clustered)
    assert 0.5 * radii.size < kept.size <= radii.size and not full  # most find room: the rule is not vacuous
    r = radii[kept]
    distance = squareform(pdist(centers))
    later = np.tril(np.ones_like(distance, dtype=bool), -1)  # (i, j): sphere i placed after sphere j
    factor = np.where(clustered[kept], 0.85, 1.15)[:, None]
    assert np.all(distance[later] >= (factor * (r[:, None] + r[None, :]))[later])
    np.fill_diagonal(distance, np.inf)
    touching = (distance <= r[:, None] + r[None, :]).any(axis=1)
    assert touching[clustered[kept]].mean() > 0.9  # clustered spheres do touch a neighbour


def test_a_field_asked_for_more_spheres_than_fit_is_filled_and_said_to_be():
    """Each sphere without room was tried 200 times in Python: 100,000 asked of a 512²
    field took minutes. The rest are not tried once 20 in a row found none."""
    with pytest.warns(UserWarning, match=r"^the field is full: (\d+) of the 100000 spheres asked for found room"):
        pair = make_pair((128, 128), n_particles=100_000, median_diameter_nm=400, seed=2)
    n = len(pair.centers)
    assert 20 < n < 200 and pair.labels.max() == n
    assert np.count_nonzero(pair.labels) > 0.3 * pair.labels.size  # full indeed: a third of it particles


def test_databar_is_true_or_false():
    """``databar="no"`` drew a data bar."""
    with pytest.raises(ParameterError, match=r"^databar must be True or False, not 'no'$"):
        make_pair(shape=(64, 64), n_particles=2, databar="no")
    assert make_pair(shape=(64, 64), n_particles=2, databar=0).databar_rows == 0
