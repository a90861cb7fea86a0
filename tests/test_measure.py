"""Measurements on analytic shapes with known answers; distribution statistics."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.draw import ellipse

from ddcsem.errors import ParameterError
from ddcsem.measure import (feret, particle_table, particle_table_reference, pool_fields, size_distribution,
                            traced_perimeter)


def disc(r, pad=5):
    n = 2 * r + 1 + 2 * pad
    yy, xx = np.mgrid[0:n, 0:n]
    return (((yy - r - pad) ** 2 + (xx - r - pad) ** 2) <= r * r).astype(np.int32)


@pytest.mark.parametrize("r", [10, 25, 60])
def test_disc(r):
    t = particle_table(disc(r))
    assert t["area_px2"][0] == pytest.approx(np.pi * r * r, rel=0.02)
    assert t["ecd_px"][0] == pytest.approx(2 * r, rel=0.01)
    # the outline runs along pixel edges: a digital disc spans 2r + 1 pixels
    assert t["feret_max_px"][0] == pytest.approx(2 * r + 1, abs=0.5)
    assert t["feret_min_px"][0] == pytest.approx(2 * r + 1, abs=1.0)
    assert 0.85 <= t["circularity"][0] <= 1.0
    assert t["roundness"][0] == pytest.approx(1.0, abs=0.01)
    assert t["aspect_ratio"][0] == pytest.approx(1.0, abs=0.01)
    # the hull runs round pixel corners: about pi (r + 1/2)^2
    assert t["solidity"][0] == pytest.approx((r / (r + 0.5)) ** 2, abs=0.02)


@pytest.mark.parametrize("s", [8, 20, 50])
def test_square(s):
    labels = np.zeros((s + 6, s + 6), np.int32)
    labels[3:3 + s, 3:3 + s] = 1
    t = particle_table(labels)
    assert t["area_px2"][0] == s * s
    assert t["feret_max_px"][0] == pytest.approx(s * np.sqrt(2))
    assert t["feret_min_px"][0] == pytest.approx(s)
    assert t["feret_angle_deg"][0] in (pytest.approx(45.0), pytest.approx(135.0))
    assert t["perimeter_px"][0] == pytest.approx(4 * s - 4 * (2 - np.sqrt(2)))
    assert t["circularity"][0] == pytest.approx(4 * np.pi * s * s / (4 * s - 4 * (2 - np.sqrt(2))) ** 2)
    assert t["solidity"][0] == 1.0 and t["aspect_ratio"][0] == pytest.approx(1.0)
    assert t["roundness"][0] == pytest.approx(1.0)  # ImageJ's ellipse has the square's area


@pytest.mark.parametrize("h, w", [(1, 1), (1, 7), (2, 6), (10, 30), (25, 5)])
def test_rectangle_ellipse_as_imagej_fits_it(h, w):
    """ImageJ counts each pixel as a unit square (variance w²/12 along a row of w pixels)
    and scales its ellipse to the particle's area: a w x h rectangle has aspect ratio
    w/h, a 1-px line too (not infinite), and roundness 4A/(pi major²) = h/w."""
    labels = np.zeros((h + 4, w + 4), np.int32)
    labels[2:2 + h, 2:2 + w] = 1
    t = particle_table(labels)
    assert t["aspect_ratio"][0] == pytest.approx(max(h, w) / min(h, w))
    assert t["roundness"][0] == pytest.approx(min(h, w) / max(h, w))


#: Particles measured by ImageJ 1.53t (Debian's libij-java): Threshold, Analyze Particles
#: with area, perimeter, fit ellipse (Major, Minor, Angle), shape descriptors and Feret's
#: diameter.
IMAGEJ_PARTICLES = [
    (["...###.", ".######", "#######", "#######", "#######", "#######", ".######", "..#####",
      "...####"],
     dict(area_px2=52, perimeter_px=26.142135624, feret_max_px=10.0, feret_min_px=7.0,
          feret_angle_deg=126.869897646, circularity=0.956161121, aspect_ratio=1.280255773,
          roundness=0.781093920, solidity=0.936936937, major_px=9.206723545, minor_px=7.191315781,
          ellipse_angle_deg=102.923509629)),
    (["....###", "..#####", ".######", "#######", "#######", "#######", "#######", "######.",
      "######."],
     dict(area_px2=54, perimeter_px=27.313708499, feret_max_px=11.401754251, feret_min_px=7.0,
          feret_angle_deg=52.125016349, circularity=0.909582893, aspect_ratio=1.426604420,
          roundness=0.700965163, solidity=0.947368421, major_px=9.903842424, minor_px=6.942248520,
          ellipse_angle_deg=63.969893171)),
    ([".######....", "###########", "###########", "###########", ".##########", "..#########",
      "...########", ".........##"],
     dict(area_px2=68, perimeter_px=31.556349186, feret_max_px=13.038404810,
          feret_min_px=7.562353416, feret_angle_deg=147.528807709, circularity=0.858114559,
          aspect_ratio=1.690101858, roundness=0.591680315, solidity=0.906666667, major_px=12.096673401,
          minor_px=7.157363531, ellipse_angle_deg=162.874850384)),
]


@pytest.mark.parametrize("rows, imagej", IMAGEJ_PARTICLES)
def test_measures_equal_imagej_analyze_particles(rows, imagej):
    """Every shape measure as ImageJ reports it. The traced perimeter depends on where
    ImageJ's polygon starts (it counts every other corner of a staircase from there):
    starting at the particle's top-left corner instead gave these three 0.586 (one corner
    cut) off ImageJ's values."""
    mask = np.array([[ch == "#" for ch in row] for row in rows])
    labels = np.pad(mask, 3).astype(np.int32)
    for table in (particle_table(labels), particle_table_reference(labels)):
        for name, value in imagej.items():
            assert table[name][0] == pytest.approx(value, abs=1e-6), name


@pytest.mark.parametrize("angle", [0.0, 30.0, 75.0, 120.0])
def test_ellipse(angle):
    labels = np.zeros((240, 240), np.int32)
    rr, cc = ellipse(120, 120, 25, 60, rotation=np.radians(angle))
    labels[rr, cc] = 1
    t = particle_table(labels)
    assert t["area_px2"][0] == pytest.approx(np.pi * 25 * 60, rel=0.01)
    assert t["feret_max_px"][0] == pytest.approx(120, abs=2)
    assert t["feret_min_px"][0] == pytest.approx(50, abs=2)
    off = abs(t["feret_angle_deg"][0] - angle) % 180
    assert min(off, 180 - off) <= 5  # the flat pixel ends tilt the longest chord a little
    assert t["aspect_ratio"][0] == pytest.approx(60 / 25, rel=0.02)
    assert t["roundness"][0] == pytest.approx(25 / 60, rel=0.02)
    assert (t["major_px"][0], t["minor_px"][0]) == (pytest.approx(120, rel=0.01), pytest.approx(50, rel=0.01))
    off = abs(t["ellipse_angle_deg"][0] - angle) % 180
    assert min(off, 180 - off) <= 0.5


def test_calibrated_columns_and_units():
    t = particle_table(disc(20), pixel_size_nm=50.0)
    assert "ecd_um" in t and "area_um2" in t and t["ecd_px"][0] == pytest.approx(40, rel=0.01)
    assert "ecd_um" not in particle_table(disc(20))
    assert t["ecd_um"][0] == pytest.approx(2.0, rel=0.01)  # 40 px x 50 nm
    assert t["area_um2"][0] == pytest.approx(np.pi, rel=0.02)
    assert t["centroid_x_um"][0] == pytest.approx(25 * 0.05)
    assert t["centroid_x_px"][0] == pytest.approx(25)


def test_a_micrometre_column_of_an_uncalibrated_image_says_why_it_is_missing():
    # a bare "KeyError: 'ecd_um'" left a notebook user to guess
    t = particle_table(disc(20))
    for asked, there in (("ecd_um", "ecd_px"), ("area_um2", "area_px2"), ("centroid_x_um", "centroid_x_px")):
        with pytest.raises(KeyError, match=rf"{asked}: the image has no pixel size, so its sizes are in pixels "
                           rf"\({there}\); give one for µm"):
            t[asked]
    with pytest.raises(KeyError, match="^'nonsense'$"):  # any other name as a dict says it
        t["nonsense"]
    assert t.get("ecd_um") is None and isinstance(t, dict)


def test_intensities_edge_flags_and_weights():
    labels = np.zeros((100, 200), np.int32)
    labels[10:30, 20:40] = 1   # inside
    labels[0:10, 100:130] = 2  # touches the top edge
    bse = np.where(labels == 1, 200.0, 10.0)
    t = particle_table(labels, bse=bse, se=np.full(labels.shape, 7.0))
    assert list(t["touches_edge"]) == [False, True]
    assert t["bse_mean"][0] == 200.0 and t["se_mean"][1] == 7.0
    # clear of the first and last row and column: 200 - 20 - 1 places across
    assert t["edge_weight"][0] == pytest.approx(200 * 100 / ((200 - 21) * (100 - 21)))
    assert np.isnan(t["edge_weight"][1])


def test_edge_weight_is_the_frame_over_the_places_a_particle_is_kept():
    """The Miles-Lantuejoul weight of a kept particle is the frame's area over the number
    of places in it where the particle would be kept (touching no border pixel): counted
    here by sliding an L-shaped particle through every place of a 40 x 30 frame. The
    rectangle's formula had counted (W - w)(H - h), one place too many across and down:
    every weight a little low, the more so the larger the particle (0.2-0.3 % in a
    1024 x 712 image, 8 % for this one)."""
    shape = np.zeros((9, 6), bool)
    shape[:, :2] = shape[-2:, :] = True
    rows, cols = 30, 40
    kept = 0
    for r in range(-shape.shape[0] + 1, rows):
        for c in range(-shape.shape[1] + 1, cols):
            frame = np.zeros((rows + 2 * 9, cols + 2 * 6), bool)
            frame[r + 9:r + 18, c + 6:c + 12] = shape
            frame = frame[9:-9, 6:-6]
            if frame.any():
                table = particle_table(frame.astype(np.int32))
                assert table["area_px2"][0] == frame.sum()
                kept += not table["touches_edge"][0]
    labels = np.zeros((rows, cols), np.int32)
    labels[5:14, 7:13] = shape
    assert kept == (rows - 9 - 1) * (cols - 6 - 1)
    assert particle_table(labels)["edge_weight"][0] == pytest.approx(rows * cols / kept)


def test_feret_of_a_single_pixel_and_a_line():
    assert feret(np.array([[3, 3]]))[:2] == (pytest.approx(np.sqrt(2)), pytest.approx(1.0))
    line = np.array([[5, c] for c in range(10)])
    fmax, fmin, angle = feret(line)
    assert fmin == pytest.approx(1.0) and fmax == pytest.approx(np.hypot(10, 1))


def test_traced_perimeter_of_a_staircase_is_its_diagonal():
    # a diagonal chain of n pixels is outlined by unit steps only: each side runs along
    # the diagonal, n sqrt(2) long
    for n in (1, 2, 6):
        assert traced_perimeter(np.eye(n, dtype=bool)) == pytest.approx(2 * n * np.sqrt(2))


def test_size_distribution_known_answers():
    d = np.array([1.0, 2.0, 3.0, 4.0])
    s = size_distribution(d, min_count=2)
    assert s["count"] == 4 and s["mean"] == 2.5
    assert s["sd"] == pytest.approx(np.sqrt(5 / 3))  # the sample SD (n - 1), as Fiji's Summarize gives it
    assert size_distribution(d, weights=np.full(4, 2.0))["sd"] == pytest.approx(s["sd"])  # equal weights: none
    weighted = size_distribution(d, weights=np.array([1.0, 1.0, 1.0, 3.0]))  # 4 counts thrice
    mean = (1 + 2 + 3 + 12) / 6
    spread = (1 - mean) ** 2 + (2 - mean) ** 2 + (3 - mean) ** 2 + 3 * (4 - mean) ** 2
    assert weighted["sd"] == pytest.approx(np.sqrt(spread / (6 - 12 / 6)))
    assert s["d50"] == pytest.approx(2.5)
    assert s["d32"] == pytest.approx((1 + 8 + 27 + 64) / (1 + 4 + 9 + 16))
    assert s["d43"] == pytest.approx((1 + 16 + 81 + 256) / (1 + 8 + 27 + 64))
    assert s["d50_volume"] > s["d50"]
    assert s["lognorm_median"] == pytest.approx(np.exp(np.mean(np.log(d))))
    assert s["warning"] is None
    # the quantiles take each particle's share at its middle (Hazen's rule), as documented:
    # of diameters 1 to 10, D10 1.5 and D90 9.5 (Excel's PERCENTILE.INC: 1.9 and 9.1)
    ten = size_distribution(np.arange(1.0, 11.0), min_count=2)
    assert (ten["d10"], ten["d50"], ten["d90"]) == pytest.approx((1.5, 5.5, 9.5))
    sample = np.random.default_rng(3).lognormal(0, 0.5, 37)
    assert [size_distribution(sample)[k] for k in ("d10", "d50", "d90")] == pytest.approx(
        np.percentile(sample, [10, 50, 90], method="hazen"))


def test_lognormal_fit_recovers_parameters():
    d = np.random.default_rng(1).lognormal(np.log(0.8), 0.5, 50_000)
    s = size_distribution(d)
    assert s["lognorm_median"] == pytest.approx(0.8, rel=0.01)
    assert s["lognorm_gsd"] == pytest.approx(np.exp(0.5), rel=0.01)
    assert s["d50"] == pytest.approx(0.8, rel=0.02)
    # Hatch-Choate: volume-weighted median = exp(mu + 3 sigma^2)
    assert s["d50_volume"] == pytest.approx(0.8 * np.exp(3 * 0.25), rel=0.03)


def test_d50_interval_known_answer():
    # the sizes 1..N: the midpoint-rule quantile at p is p N + 1/2, and the interval's
    # ends are the quantiles at 1/2 -+ 1.96 sqrt(1/4N)
    n = 400
    s = size_distribution(np.arange(1.0, n + 1))
    half = 1.959964 * np.sqrt(0.25 / n)
    assert s["d50_ci_low"] == pytest.approx((0.5 - half) * n + 0.5, rel=1e-6)
    assert s["d50_ci_high"] == pytest.approx((0.5 + half) * n + 0.5, rel=1e-6)
    # weights count through their effective number (sum squared over sum of squares):
    # half of the sizes weighted 3 leave 0.8 n effective particles
    w = np.where(np.arange(n) % 2 == 0, 1.0, 3.0)
    weighted = size_distribution(np.arange(1.0, n + 1), weights=w)
    q = (0.5 + 1.959964 * np.sqrt(0.25 / (0.8 * n))) * w.sum()
    cum = np.cumsum(w) - w / 2
    assert weighted["d50_ci_high"] == pytest.approx(np.interp(q, cum, np.arange(1.0, n + 1)), rel=1e-6)


def test_d50_interval_covers_the_true_median_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    trials = 1000
    for n in (12, 60, 400):
        plain = weighted = 0
        for _ in range(trials):
            d = rng.lognormal(0.0, 0.5, n)  # true median 1
            s = size_distribution(d)
            plain += s["d50_ci_low"] <= 1.0 <= s["d50_ci_high"]
            # a sample biased towards small particles (kept with probability 1/(1+d)),
            # weighted back by the inverse of that probability, as edge weights do
            population = rng.lognormal(0.0, 0.5, 8 * n)
            kept = population[rng.random(population.size) < 1 / (1 + population)][:n]
            s = size_distribution(kept, weights=1 + kept)
            weighted += s["d50_ci_low"] <= 1.0 <= s["d50_ci_high"]
        # binomial spread of the coverage over 1000 trials: 0.007
        assert 0.93 <= plain / trials <= 0.975, n
        assert 0.93 <= weighted / trials <= 0.975, n


def test_d50_interval_needs_six_effective_particles():
    assert np.isnan(size_distribution(np.arange(1.0, 6.0))["d50_ci_low"])
    assert np.isfinite(size_distribution(np.arange(1.0, 7.0))["d50_ci_high"])
    # ten particles, one of which weighs as much as all the others: 3.6 effective
    s = size_distribution(np.arange(1.0, 11.0), weights=np.r_[np.ones(9), 9.0])
    assert np.isnan(s["d50_ci_low"]) and np.isnan(s["d50_ci_high"]) and np.isfinite(s["d50"])


def test_weights_shift_the_distribution_and_low_count_warns():
    d = np.array([1.0, 1.0, 10.0])
    assert size_distribution(d, weights=np.array([1, 1, 10]))["d50"] > size_distribution(d)["d50"]
    assert "too few" in size_distribution(d)["warning"]
    assert size_distribution(np.array([]))["warning"] == "no particles"


def test_a_blank_diameter_leaves_a_particle_out():
    """As pandas reads a calibrated column's blank cells (an uncalibrated image's rows)."""
    s = size_distribution(np.array([1.0, np.nan, 3.0]))
    assert (s["count"], s["d50"]) == (2, 2.0)


def test_a_weight_of_zero_leaves_a_particle_out():
    s = size_distribution(np.array([1.0, 2.0, 3.0, 50.0]), weights=np.array([1.0, 1.0, 1.0, 0.0]))
    assert s["count"] == 3 and s["d50"] == 2.0 and s["mean"] == 2.0
    assert size_distribution(np.ones(3), weights=np.zeros(3))["warning"] == "no particles"


@pytest.mark.parametrize("diameters, weights, message", [
    ({"ecd_um": np.ones(3)}, None, "pass one column"),
    (np.ones((2, 3)), None, r"^diameters must be 1-D, a diameter per particle, not of shape \(2, 3\) \(pass one"),
    (np.ones(3), np.ones(2), r"^weights must be a weight per diameter, of shape \(3,\), not \(2,\)"),
    (["1.5", "wide"], None, "must be numbers"),
    (np.ones(3), np.array([1.0, -1.0, 1.0]), "must not be negative"),
    (np.array([1.0, -2.0, 3.0]), None, "diameters must be positive, not -2"),  # were left out unsaid
    (np.array([1.0, 0.0]), None, "diameters must be positive, not 0"),
    (np.array([1.0, np.inf]), None, "must be finite, not inf"),  # was left out unsaid, as a blank is
    (np.ones(2), np.array([1.0, np.inf]), "must be finite, not inf"),
])
def test_size_distribution_refuses_what_is_not_diameters(diameters, weights, message):
    with pytest.raises(ParameterError, match=message):
        size_distribution(diameters, weights=weights)


def test_pooling_one_fields_diameters_alone_says_to_list_them():
    # numpy's "zero-dimensional arrays cannot be concatenated"
    with pytest.raises(ParameterError, match=r"^diameters must be a list of fields' diameters.*\[diameters\]"):
        pool_fields(np.arange(1.0, 5.0))
    assert pool_fields([np.arange(1.0, 5.0)])["count"] == 4


def test_pooled_fields_take_their_particles_together_with_their_weights():
    a, b = np.arange(1.0, 9.0), np.array([10.0, 20.0, 30.0, 40.0])
    wa = np.array([1.0, np.nan, 1.5, 1, 1, 1, 1, 1])  # NaN: an edge particle kept, counts 1
    wb = np.array([2.0, 1, 1, 1])
    s = pool_fields([a, b], weights=[wa, wb], field_areas=[30.0, 10.0], mineral_area_fractions=[0.2, 0.6])
    whole = size_distribution(np.r_[a, b], weights=np.r_[wa, wb])
    assert np.isfinite(whole["d50_ci_low"]) and {k: s[k] for k in whole} == whole
    assert s["n_fields"] == 2 and s["count"] == 12 and s["field_area"] == 40.0
    assert s["number_density"] == pytest.approx(13.5 / 40)
    assert s["mineral_area_fraction"] == pytest.approx((0.2 * 30 + 0.6 * 10) / 40)
    # how much the fields differ: the standard deviation of their own values
    assert s["d50_field_sd"] == pytest.approx(np.std([size_distribution(a, weights=wa)["d50"],
                                                      size_distribution(b, weights=wb)["d50"]], ddof=1))
    assert s["mineral_area_fraction_field_sd"] == pytest.approx(np.std([0.2, 0.6], ddof=1))
    assert s["number_density_field_sd"] == pytest.approx(np.std([8.5 / 30, 5 / 10], ddof=1))
    assert set(pool_fields([a, b])) == set(whole) | {"n_fields", "d50_field_sd"}  # without areas: sizes only
    assert np.isnan(pool_fields([a], field_areas=[1.0])["number_density_field_sd"])  # one field: no spread
    nothing = pool_fields([], field_areas=[], mineral_area_fractions=[])
    assert nothing["count"] == 0 and nothing["warning"] == "no particles" and np.isnan(nothing["number_density"])


@pytest.mark.parametrize("kwargs, message", [
    ({"weights": [np.ones(3)]}, "weights must give one entry per field: 1 for 2 fields"),
    ({"field_areas": [1.0, 2.0, 3.0]}, "field_areas must give one entry per field"),
    ({"mineral_area_fractions": [0.1, 0.2]}, "give field_areas too"),
    ({"field_areas": [1.0, -2.0]}, "field_areas"),
    ({"field_areas": [1.0, float("nan")]}, "field_areas"),
    # a share over 1 (a percentage) was pooled into a fraction of 20
    ({"field_areas": [1.0, 1.0], "mineral_area_fractions": [0.2, 39.8]},
     r"^mineral_area_fractions are shares of each field's area, 0 to 1, not 39.8 \(a percentage: give 0.398\)$"),
    ({"field_areas": [1.0, 1.0], "mineral_area_fractions": [0.2, -0.1]},
     r"^mineral_area_fractions must be a finite number 0 or more, not -0.1$"),
])
def test_pool_fields_refuses_entries_that_do_not_fit(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        pool_fields([np.ones(3), np.ones(2)], **kwargs)


def discs_field(shape=(120, 160)):
    """Digital discs (square bounding boxes) of radius 6, some of them on the border."""
    labels = np.zeros(shape, np.int32)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    centres = [(3, 40), (30, 30), (30, 80), (60, 60), (90, 120), (60, 157), (100, 20)]
    for k, (y, x) in enumerate(centres, 1):
        labels[(yy - y) ** 2 + (xx - x) ** 2 <= 36] = k
    return labels


def test_edge_weights_within_a_region():
    labels = discs_field()
    plain = particle_table(labels)
    # the whole image as the region: the same edge rule and weights (discs: square boxes)
    whole = particle_table(labels, region=np.ones(labels.shape, bool))
    assert np.array_equal(whole["touches_edge"], plain["touches_edge"])
    assert np.allclose(whole["edge_weight"], plain["edge_weight"], equal_nan=True, rtol=1e-12)
    assert list(plain["touches_edge"]) == [1, 0, 0, 0, 0, 1, 0]
    # a rectangle inside the image: the particles on its edge or outside it touch it, the
    # others weigh its area over the places a 13 px box fits in it
    region = np.zeros(labels.shape, bool)
    region[10:100, 15:100] = True
    t = particle_table(labels, region=region)
    assert list(t["touches_edge"]) == [1, 0, 0, 0, 1, 1, 1]  # (100, 20): across its bottom row
    inside = t["touches_edge"] == 0
    assert np.allclose(t["edge_weight"][inside], 90 * 85 / ((90 - 14) * (85 - 14)), rtol=1e-12)
    assert np.isnan(t["edge_weight"][~inside]).all()
    # a round region: the places where a disc fits without reaching the region's edge,
    # counted pixel by pixel. The weight takes the particle as the middle digital disc of
    # its box's side, 13 px: radius 6.5; this one's is 6, the thinnest of that side, whose
    # own places it counts to within 3 %
    from scipy import ndimage

    yy, xx = np.mgrid[0:120, 0:160]
    round_region = (yy - 60) ** 2 + (xx - 60) ** 2 <= 45**2
    t = particle_table(labels, region=round_region)
    inner = ndimage.binary_erosion(round_region, border_value=0)
    middle = np.add.outer(np.arange(-6, 7) ** 2, np.arange(-6, 7) ** 2) <= 6.5**2
    for particle, rel in ((middle, 1e-12), (labels[54:67, 54:67] == 4, 0.03)):
        places = ndimage.binary_erosion(inner, structure=particle).sum()
        assert t["edge_weight"][3] == pytest.approx(round_region.sum() / places, rel=rel)
    for table in (particle_table_reference(labels, region=region), particle_table(labels.astype(np.int64) * 5,
                                                                                   region=region)):
        assert np.allclose(table["edge_weight"], particle_table(labels, region=region)["edge_weight"], equal_nan=True)


@pytest.mark.parametrize("region, message", [
    (np.ones((5, 5), bool), "region must have the shape of the image"),
    (np.zeros((120, 160), bool), "region is empty"),
])
def test_a_region_that_does_not_fit_is_refused(region, message):
    with pytest.raises(ParameterError, match=message):
        particle_table(discs_field(), region=region)


def test_invalid_labels():
    with pytest.raises(ParameterError):
        particle_table(np.zeros((4, 4), float))
    negative = np.zeros((4, 4), np.int8)
    negative[1, 1] = -3  # e.g. a label image that overflowed int8
    with pytest.raises(ParameterError, match="must not be negative"):
        particle_table(negative)
    mask = np.zeros((10, 10), bool)  # a threshold's result, as a notebook has it
    mask[2:5, 2:5] = mask[6:9, 6:9] = True
    with pytest.raises(ParameterError, match=r"not bool \(a mask \(bool\) is no label image: number its "
                                             r"particles first, labels = scipy.ndimage.label\(mask\)\[0\]"):
        particle_table(mask)
    from scipy import ndimage

    assert list(particle_table(ndimage.label(mask)[0])["area_px2"]) == [9, 9]  # as the hint says


@pytest.mark.parametrize("size", [0, -7.5, float("nan"), float("inf")])
def test_a_pixel_size_must_be_a_positive_number(size):
    """0 was taken for uncalibrated, NaN gave NaN microns and -7.5 negative ones."""
    for table in (particle_table, particle_table_reference):
        with pytest.raises(ParameterError, match="pixel_size_nm must be a finite number above 0"):
            table(disc(4), pixel_size_nm=size)


def test_sparse_label_ids_are_measured_as_themselves():
    """Ids far above the pixel count (from another program's labelling) are kept; the
    kernels, which keep a row per id, asked for terabytes."""
    from ddcsem.measure import particle_outlines

    labels = np.zeros((12, 12), np.uint64)
    labels[1:4, 1:4] = 2**40
    labels[6:11, 6:8] = 7
    dense = np.where(labels == 7, 1, np.where(labels > 0, 2, 0)).astype(np.int32)
    for table in (particle_table, particle_table_reference):
        got, expected = table(labels, pixel_size_nm=5.0), table(dense, pixel_size_nm=5.0)
        assert got["label"].tolist() == [7, 2**40] and got["area_px2"].tolist() == [10.0, 9.0]
        for key in expected.keys() - {"label"}:
            np.testing.assert_array_equal(got[key], expected[key], err_msg=key)
    assert sorted(particle_outlines(labels)) == [7, 2**40]
    full = np.full((3, 3), 500)  # no background at all
    full[0] = 1000
    assert particle_table(full)["label"].tolist() == [500, 1000]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kernel_matches_reference(seed):
    from scipy import ndimage

    from ddcsem.measure import particle_table_reference

    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.random((160, 190)), 2.5) > 0.51  # blobby, touching edges
    labels, _ = ndimage.label(field, structure=np.ones((3, 3)))
    labels[labels == 3] = 0  # a gap in the numbering
    bse, se = rng.random(labels.shape), rng.random(labels.shape) * 100
    fast = particle_table(labels, pixel_size_nm=7.5, bse=bse, se=se)
    slow = particle_table_reference(labels, pixel_size_nm=7.5, bse=bse, se=se)
    assert fast.keys() == slow.keys()
    for key in fast:
        if key == "feret_angle_deg":  # ties between equally long chords may pick either
            continue
        np.testing.assert_allclose(fast[key], slow[key], rtol=1e-9, atol=1e-9, err_msg=key)


@pytest.mark.parametrize("label_type, image_type", [("int32", "uint8"), ("int64", "uint16"), ("uint16", "float32"),
                                                     ("int32", ">u2"), ("uint32", "int16"), ("int32", "float64")])
def test_the_kernels_measure_each_type_as_its_float64_copy(label_type, image_type):
    """The measurement kernels read labels of int32 and int64, and images of uint8, uint16,
    float32 and float64 as they are (no float64 copy of a large pair); other types, and
    images stored big-endian, are converted. The table is the same either way."""
    from scipy import ndimage

    rng = np.random.default_rng(5)
    labels, _ = ndimage.label(ndimage.gaussian_filter(rng.random((120, 140)), 2.5) > 0.51, structure=np.ones((3, 3)))
    bse, se = rng.integers(0, 200, labels.shape), rng.integers(0, 200, labels.shape)[:, ::-1]  # se not contiguous
    as_float = particle_table(labels.astype(np.int64), pixel_size_nm=7.5, bse=bse.astype(np.float64),
                              se=se.astype(np.float64))
    typed = particle_table(labels.astype(label_type), pixel_size_nm=7.5, bse=bse.astype(image_type),
                           se=se.astype(image_type))
    assert typed.keys() == as_float.keys() and len(typed["label"]) == labels.max()
    for key in typed:
        np.testing.assert_array_equal(typed[key], as_float[key], err_msg=key)


def test_outline_corner_kernel_matches_reference():
    """The kernel's corners of every label, in ImageJ's order, are those of ``outline``,
    and it reports the area each outline encloses (holes included)."""
    from scipy import ndimage

    from ddcsem._kernels.measure import label_stats, outline_corners
    from ddcsem.measure import outline

    rng = np.random.default_rng(5)
    labels, _ = ndimage.label(ndimage.gaussian_filter(rng.random((90, 120)), 2) > 0.52,
                              structure=np.ones((3, 3)))
    labels[40:50, 40:50] = labels.max() + 1
    labels[44:46, 44:46] = 0  # a hole
    lab = labels.astype(np.int64)
    n = int(lab.max())
    nothing = np.broadcast_to(np.zeros((1, 1)), lab.shape)
    stats, box = label_stats(lab, n, nothing, nothing)
    corners, offsets, enclosed = outline_corners(lab, box)
    assert n > 20
    for k in range(1, n + 1):
        expected = outline(labels == k)
        np.testing.assert_array_equal(corners[offsets[k]:offsets[k + 1]], expected)
        assert enclosed[k] == ndimage.binary_fill_holes(labels == k).sum()
    assert enclosed[n] == stats[n, 0] + 4


def test_particle_outlines_of_pieces_and_holes():
    """A label in two 8-connected pieces has two outlines, raster order; a ring's outline
    is its outer edge (ImageJ's traced ROI of it includes the hole)."""
    from ddcsem.measure import outline, particle_outlines

    labels = np.zeros((20, 30), np.int32)
    labels[2:9, 2:9] = 1
    labels[4:7, 4:7] = 0  # a hole
    labels[12:15, 3:6] = 2
    labels[16:18, 20:27] = 2
    labels[1, 20] = 3
    out = particle_outlines(labels)
    assert sorted(out) == [1, 2, 3] and [len(v) for v in out.values()] == [1, 2, 1]
    np.testing.assert_array_equal(out[1][0], outline(np.pad(np.ones((7, 7), bool), ((2, 11), (2, 21)))))
    np.testing.assert_array_equal(out[2][1], [[18, 27], [18, 20], [16, 20], [16, 27]])
    assert out[3][0].tolist() == [[2, 21], [2, 20], [1, 20], [1, 21]]
