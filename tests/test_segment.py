"""Segmentation on known particles: thresholds, splitting, markers, size filter, border."""

from __future__ import annotations

import re
import warnings

import numpy as np
from scipy import ndimage
import pytest

from ddcsem.errors import ParameterError
from ddcsem.evaluate import detection_scores
from ddcsem.segment import NoisyFieldWarning, drop_border_labels, segment_particles, threshold_value
from ddcsem.separate import density_map
from ddcsem.synthetic import make_pair


def discs(centres, radii, shape=(120, 200)):
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    out = np.zeros(shape, np.float32)
    for (cy, cx), r in zip(centres, radii):
        out[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 1.0
    return out


def test_threshold_methods():
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(0.2, 0.03, 6000), rng.normal(0.8, 0.03, 4000)]
    for method in ("otsu", "li", "yen", "triangle"):
        assert 0.2 < threshold_value(x, method) < 0.8, method
    assert threshold_value(x, 0.4) == 0.4
    with pytest.raises(ParameterError, match="threshold"):
        threshold_value(x, "magic")
    # as Fiji names them (Otsu, Li, ...): refused before
    assert [threshold_value(x, m) for m in ("Otsu", "LI", "Yen", "Triangle")] == [
        threshold_value(x, m) for m in ("otsu", "li", "yen", "triangle")]


@pytest.mark.parametrize("split", ["shape", "edm"])
def test_touching_pair_is_split_in_two(split):
    image = discs([(60, 70), (60, 112)], [22, 22])  # overlap: neck narrower than the discs
    labels = segment_particles(image, split=split)
    assert labels.max() == 2
    left, right = labels[60, 70], labels[60, 112]
    assert left != right and left > 0 and right > 0
    assert abs(np.count_nonzero(labels == left) - np.count_nonzero(labels == right)) < 80


def test_no_split_keeps_components():
    assert segment_particles(discs([(60, 70), (60, 112)], [22, 22]), split="none").max() == 1


def test_lone_disc_not_oversplit():
    labels = segment_particles(discs([(60, 100)], [40]) + 0.05 * np.random.default_rng(0).random((120, 200)))
    assert labels.max() == 1


def test_small_particle_beside_a_large_one_is_its_own():
    """A disc of radius 10 overlapping one of radius 22 (centres 0.9 x the summed radii
    apart): each seed's window scales with its own depth, so the small one keeps its seed
    (a window of the typical radius, 0.4 x 22 px, swallowed it) and both come out sized."""
    big, small = discs([(60, 60)], [22]), discs([(60, 60 + 0.9 * 32)], [10])
    labels = segment_particles(np.maximum(big, small))
    assert labels.max() == 2
    areas = sorted(np.bincount(labels.ravel())[1:])
    assert abs(areas[0] / np.count_nonzero(small > big) - 1) < 0.1
    assert abs(areas[1] / np.count_nonzero(big) - 1) < 0.1


def test_packed_aggregate_keeps_its_gaps():
    """A 10 x 10 block of overlapping discs is convex enough once filled (solidity 0.958) to
    pass for one particle with holes, but its 81 gaps say it is a cluster: each disc is
    its own particle."""
    centres = [(42 + 19 * i, 42 + 19 * j) for i in range(10) for j in range(10)]
    assert segment_particles(discs(centres, [10] * 100, shape=(260, 260))).max() == 100


def test_elongated_particle_is_not_split():
    yy, xx = np.mgrid[0:120, 0:200]
    ellipse = (((yy - 60) / 14) ** 2 + ((xx - 100) / 40) ** 2 < 1).astype(np.float32)
    assert segment_particles(ellipse).max() == 1


def spheroids(long, short, angles, *, seed=0, noise=0.04):
    """A BSE image of lone prolate spheroids (semi-axes ``long`` and ``short``, px) at
    ``angles``, in a row: the chord thickness through the partial-volume law, blurred,
    with noise, as 8 bits; and the true label of each."""
    rng = np.random.default_rng(seed)
    step = 2 * long + 10
    shape = (2 * long + 20, step * len(angles))
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    thickness, truth = np.zeros(shape), np.zeros(shape, int)
    for k, angle in enumerate(angles, 1):
        cy, cx = shape[0] / 2, step * (k - 0.5)
        u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
        v = (yy - cy) * np.cos(angle) - (xx - cx) * np.sin(angle)
        q = 1 - (u / long) ** 2 - (v / short) ** 2
        thickness[q > 0] = 2 * short * np.sqrt(q[q > 0])
        truth[q > 0] = k
    signal = ndimage.gaussian_filter(1 - np.exp(-thickness / 6), 1.2) + rng.normal(0, noise, shape)
    return np.clip(60 + 120 * signal, 0, 255).astype(np.uint8), truth


@pytest.mark.parametrize(("short", "ratio"), [(6, 8), (8, 8), (10, 6)])
def test_rods_and_needles_are_not_cut(short, ratio):
    """Lone prolate spheroids 6-8 times as long as they are thick: the ridge of their
    distance map is level and bumpy with its pixel steps (their density clipped at the
    mineral's level), and the split had cut these eight in 10-21 pieces (rounder ones,
    which a circularity filter keeps). Their cuts meet without a neck, without a dip of
    the density, and two of them make what no two spheres make: each is one particle."""
    bse, truth = spheroids(ratio * short, short, np.linspace(0.1, np.pi - 0.1, 8))
    labels = segment_particles(density_map(bse))
    for k in range(1, 9):
        found = np.unique(labels[truth == k])
        assert found[found > 0].size == 1, (k, found)
    assert labels.max() == 8


@pytest.mark.parametrize(("width", "radius"), [(10, 40), (16, 40), (10, 80)])
def test_curved_fibres_are_not_cut(width, radius):
    """Calcified fibres bent through 216 degrees: the split cut each into 10-29 pieces about
    as long as it is wide (6-11 with the rods' join alone: two of them are no longer than
    two spheres); as links of a chain of one width they join, and each fibre is one
    particle."""
    rng = np.random.default_rng(0)
    size = 2 * radius + 40
    yy, xx = np.mgrid[0:size, 0:3 * size].astype(float)
    thickness, truth = np.zeros(yy.shape), np.zeros(yy.shape, int)
    for k, turn in enumerate((0.3, 2.5, 4.4), 1):
        cy, cx = size / 2, size * (k - 0.5)
        off = np.abs(np.hypot(yy - cy, xx - cx) - radius)
        on = (off < width / 2) & ((np.arctan2(yy - cy, xx - cx) - turn) % (2 * np.pi) < 1.2 * np.pi)
        thickness[on] = 2 * np.sqrt((width / 2) ** 2 - off[on] ** 2)
        truth[on] = k
    signal = ndimage.gaussian_filter(1 - np.exp(-thickness / 6), 1.2) + rng.normal(0, 0.05, yy.shape)
    labels = segment_particles(density_map(np.clip(60 + 120 * signal, 0, 255).astype(np.uint8)))
    for k in (1, 2, 3):
        found = np.unique(labels[truth == k])
        assert found[found > 0].size == 1, (k, found)
    assert labels.max() == 3


@pytest.mark.parametrize(("pixel_size_nm", "n", "dose", "seed"), [(2, 6, 600, 2), (4, 20, 600, 3), (4, 8, 25, 2)])
def test_large_particles_at_high_magnification(pixel_size_nm, n, dose, seed):
    """500 nm spheres at 2 and 4 nm per pixel (250 and 125 px across): smoothed by 1 px
    and grown by 2 px at most, as particles 25 px across are, their wide edges, ragged
    with noise, broke off specks and pieces (18 particles for 5, F1 0.435; 19 for 16,
    F1 0.914), sized 5.3 % and 4.8 % small; smoothed and grown in proportion to their
    size, each is one particle, sized within 3 %. At a low dose the noise's smoothing
    scales with their size too (smoothed by a 25th of their radius alone, 149 particles
    for 6)."""
    p = make_pair((1024, 1024), pixel_size_nm=pixel_size_nm, median_diameter_nm=500, n_particles=n,
                  clustered_fraction=0.5 if dose == 600 else 0.3, dose=dose, seed=seed)
    score = detection_scores(segment_particles(density_map(p.bse)), p.centers, p.diameters_px)
    assert score.f1 == 1.0, score
    assert score.median_ecd_error < 0.03, score


def test_a_large_nodule_does_not_blur_the_small_particles_around_it():
    """A calcified nodule 400 px across among spheres 25 px across holds most of the
    particles' area, so the typical radius is the nodule's; smoothed for it (4 px), the
    spheres came out 12 % large. Most particles, once so smoothed, are still small: the
    map keeps the noise's smoothing, and the spheres are sized as without the nodule."""
    p = make_pair((1024, 1024), pixel_size_nm=20, median_diameter_nm=500, n_particles=150,
                  clustered_fraction=0.1, seed=1)
    yy, xx = np.mgrid[0:1024, 0:1024]
    nodule = ndimage.gaussian_filter(((yy - 512) ** 2 + (xx - 512) ** 2 < 200**2).astype(float), 1.5)
    mineral = np.percentile(p.bse[p.labels > 0], 95)
    noise = np.random.default_rng(0).normal(0, 8, p.bse.shape)
    bse = np.clip(p.bse * (1 - nodule) + nodule * (mineral + noise), 0, 255).astype(np.uint8)
    labels = segment_particles(density_map(bse))
    away = np.hypot(p.centers[:, 0] - 512, p.centers[:, 1] - 512) > 200 + p.diameters_px
    score = detection_scores(np.where(np.hypot(yy - 512, xx - 512) > 230, labels, 0), p.centers[away],
                             p.diameters_px[away])
    assert score.f1 > 0.97, score
    assert score.median_ecd_error < 0.02, score


def test_typical_radius_of_discs_clusters_and_specks():
    """The radius that the smoothing and the edges' growth scale with: a disc's, the
    discs' of a fused cluster (not the cluster's), barely moved by specks of noise,
    and measured on every other row and column of a large mask."""
    from ddcsem.segment import _typical_radius

    yy, xx = np.mgrid[0:400, 0:400]
    disc = (yy - 200) ** 2 + (xx - 200) ** 2 < 60**2
    assert _typical_radius(disc) == pytest.approx(60, rel=0.03)
    cluster = np.zeros_like(disc)
    for cy in (160, 220):
        for cx in (160, 220):
            cluster |= (yy - cy) ** 2 + (xx - cx) ** 2 < 30**2
    assert _typical_radius(cluster) == pytest.approx(30, rel=0.05)
    specks = disc.copy()
    rng = np.random.default_rng(0)
    specks[rng.integers(0, 400, 300), rng.integers(0, 400, 300)] = True
    assert _typical_radius(specks) == pytest.approx(60, rel=0.05)
    assert _typical_radius(np.zeros_like(disc)) == 0.0
    y, x = np.ogrid[0:2100, 0:2100]
    assert _typical_radius((y - 1000) ** 2 + (x - 1000) ** 2 < 200**2) == pytest.approx(200, rel=0.03)


def test_pieces_of_a_rod_join_where_nothing_parts_them():
    """A bar 6 times as long as it is thick, cut in two halves, is one particle again;
    it stays in two where the density dips 10 % along the cut, where the cut is a neck
    (a notch leaves it 4 of the bar's 10 px), where the bar is only 1.5 times as long (two
    spheres make that), and in a blob the user seeded (none to look at)."""
    from ddcsem.segment import _merge_elongated

    def cut_bar(length, notch=False):
        mask = np.zeros((30, 90), bool)
        mask[10:20, 10:10 + length] = True
        middle = 10 + length // 2
        if notch:
            mask[10:13, middle - 1:middle + 1] = mask[17:20, middle - 1:middle + 1] = False
        labels = np.where(mask, 1, 0).astype(np.int32)
        labels[:, middle:] *= 2
        return labels, ndimage.distance_transform_edt(mask).astype(np.float32), mask.astype(np.float32), middle

    def merged(labels, edm, density, blobs=np.array([1])):
        box = np.array([[10, 20, 10, 90]])
        return _merge_elongated(labels, (labels > 0).astype(np.int32), blobs, box[:blobs.size], edm, density)[0]

    labels, edm, density, middle = cut_bar(60)
    np.testing.assert_array_equal(merged(labels, edm, density), labels > 0)
    joined = _merge_elongated(labels, (labels > 0).astype(np.int32), np.array([1]), np.array([[10, 20, 10, 90]]),
                              edm, density)[1]
    np.testing.assert_array_equal(joined, [1])  # the particle made, spared as no sliver
    dipped = density.copy()
    dipped[:, middle - 1:middle + 1] *= 0.9
    for case in ((labels, edm, dipped), cut_bar(60, notch=True)[:3], cut_bar(15)[:3],
                 (labels, edm, density, np.zeros(0, np.int64))):
        np.testing.assert_array_equal(merged(*case), case[0])


@pytest.mark.parametrize(("width", "radius"), [(8, 8), (10, 10)])
def test_spherules_on_a_fibre_stay_their_own(width, radius):
    """Five spheres on a straight fibre as wide as they are radii: the fibre's pieces join,
    but not with the spheres (their contact is the fibre's width, half the spheres'; all
    had been one particle), and the fibre's thin pieces between them, which meet a sphere
    at an end, are no slivers to give to it: each sphere is a particle of its own. The
    split gives each the stretch of fibre beside it (2.2-3.3 times its own area; 2.5-5.7
    before the fibre's pieces joined)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:120, 0:700].astype(float)
    thickness = np.zeros(yy.shape)
    off = np.abs(yy - 60)
    on = (off < width / 2) & (xx > 50) & (xx < 650)
    thickness[on] = 2 * np.sqrt((width / 2) ** 2 - off[on] ** 2)
    sides, columns = (1, -1, 1, -1, 1), (120, 230, 340, 450, 560)
    centres = [(60 + (width / 2 + 0.6 * radius) * side, x) for side, x in zip(sides, columns)]
    for cy, cx in centres:
        thickness = np.maximum(thickness, 2 * np.sqrt(np.maximum(radius**2 - (yy - cy) ** 2 - (xx - cx) ** 2, 0)))
    signal = ndimage.gaussian_filter(1 - np.exp(-thickness / 6), 1.2) + rng.normal(0, 0.05, yy.shape)
    labels = segment_particles(density_map(np.clip(60 + 120 * signal, 0, 255).astype(np.uint8)))
    found = [labels[int(cy), int(cx)] for cy, cx in centres]
    assert len(set(found) - {0}) == 5
    for k in found:
        assert np.count_nonzero(labels == k) < 4 * np.pi * radius**2


def test_links_of_a_chain_of_one_width_join():
    """A bar cut into four pieces as long as it is thick (each two no longer than two
    spheres) is one particle: three links of one width. Three pieces stay three, and so do
    four whose contacts are notched by 2 of their 10 px of depth, or whose widths alternate
    (rows of 8 and 6 px: inscribed radii 4 and 3)."""
    from ddcsem.segment import _merge_elongated

    def chain(rows, length, notch=0):
        mask = np.zeros((40, 10 + sum(length) + 10), bool)
        labels = np.zeros(mask.shape, np.int32)
        start = 10
        for k, (height, size) in enumerate(zip(rows, length), 1):
            mask[20 - height // 2:20 + (height + 1) // 2, start:start + size] = True
            labels[mask & (labels == 0)] = k
            if notch and k > 1:
                column = mask[:, start]
                top, bottom = np.flatnonzero(column)[[0, -1]]
                cut = slice(start - 1, start + 1)
                mask[top:top + notch, cut] = mask[bottom - notch + 1:bottom + 1, cut] = False
            start += size
        labels[~mask] = 0
        box = np.array([[0, 40, 0, mask.shape[1]]])
        edm, density = ndimage.distance_transform_edt(mask).astype(np.float32), mask.astype(np.float32)
        return _merge_elongated(labels, mask.astype(np.int32), np.array([1]), box, edm, density)[0], labels

    for rows, length in (((20,) * 4, (20,) * 4), ((8,) * 4, (8,) * 4)):
        joined, labels = chain(rows, length)
        np.testing.assert_array_equal(joined, labels > 0)
    for args in (((20,) * 3, (20,) * 3), ((20,) * 4, (20,) * 4, 2), ((8, 6, 8, 6), (8,) * 4)):
        joined, labels = chain(*args)
        np.testing.assert_array_equal(joined, labels)


def test_chains_of_spheres_stay_cut():
    """Spheres fused in a row (centres 1.7 radii apart: their contact as wide as half a
    sphere's) make a rod's outline, but the contacts are necks and each two of them are
    no more elongated than two spheres are: they stay four."""
    centres = [(50, 40 + 1.7 * 18 * i) for i in range(4)]
    yy, xx = np.mgrid[0:100, 0:200]
    thickness = np.zeros((100, 200))
    for cy, cx in centres:
        thickness = np.maximum(thickness, 2 * np.sqrt(np.maximum(18**2 - (yy - cy) ** 2 - (xx - cx) ** 2, 0)))
    bse = 60 + 120 * ndimage.gaussian_filter(1 - np.exp(-thickness / 6), 1.2)
    labels = segment_particles(density_map(bse.astype(np.uint8)))
    assert labels.max() == 4
    assert len({labels[int(cy), int(cx)] for cy, cx in centres} - {0}) == 4


def test_piece_contact_kernel_matches_reference():
    from ddcsem._kernels.segment import label_boxes, piece_contacts
    from ddcsem.segment import _label, _piece_contacts_reference

    pair = make_pair(shape=(200, 240), pixel_size_nm=20, median_diameter_nm=300, sigma_ln=0.5,
                     n_particles=80, clustered_fraction=0.8, seed=3)
    labels = segment_particles(density_map(pair.bse), exclude_border=False)
    components, n_blobs = _label(labels > 0)
    pieces = np.bincount(ndimage.maximum(components, labels, np.arange(1, labels.max() + 1)).astype(int))
    blobs = np.flatnonzero(pieces > 1)[::2]  # every other blob of several particles
    assert blobs.size >= 5 and (labels[0] > 0).any()  # and labels on the frame
    boxes = label_boxes(components, n_blobs)[blobs]
    rng = np.random.default_rng(1)
    edm, density = rng.random(labels.shape, np.float32), rng.random(labels.shape, np.float32)
    n = int(labels.max())
    lut = np.arange(n + 1, dtype=np.int32)
    lut[2::3] -= 1  # some pieces joined to the one before (and, numbered so, its neighbour or not)
    got = piece_contacts(labels, lut, components, blobs, boxes, edm, density, n)
    expected = _piece_contacts_reference(labels, lut, components, blobs, edm, density, n)
    for a, b in zip(got[:3] + got[7:], expected[:3] + expected[7:]):  # per label; where blobs' contacts start
        np.testing.assert_array_equal(a, b)
    assert got[3].size > 50
    order = [np.lexsort(part[3:7][::-1]) for part in (got, expected)]  # the blobs in turn, or the image
    for a, b in zip(got[3:7], expected[3:7]):
        np.testing.assert_array_equal(a[order[0]], b[order[1]])
    nothing = piece_contacts(labels, lut, components, blobs[:0], boxes[:0], edm, density, n)
    assert all(part.size == 0 for part in nothing[3:7]) and np.isinf(nothing[0]).all()


def test_no_seed_candidates_give_no_seeds():
    from ddcsem.segment import _scale_seeds

    flat = np.zeros((20, 30), np.float32)
    none = np.zeros(0, np.int64)
    rows, cols = _scale_seeds(flat, flat, np.zeros(flat.shape, np.int32), (none, none), 0.5)
    assert rows.size == cols.size == 0


def _select_seeds_reference(surface, rows, cols, starts, depth, window, valley, reach):
    """Plain numpy version of the seed selection kernel, for its test."""
    from scipy import ndimage

    keep = np.zeros(rows.size, bool)
    for g in range(starts.size - 1):
        for k in range(starts[g], starts[g + 1]):
            v0 = surface[rows[k], cols[k]]
            rho = max(1, int(round(window * depth[k])))
            around = ndimage.maximum_filter(surface, size=2 * rho + 1, mode="constant", cval=-np.inf)
            if around[rows[k], cols[k]] > v0:
                continue
            kept = [j for j in range(starts[g], k) if keep[j]]
            near = [j for j in kept
                    if np.hypot(rows[j] - rows[k], cols[j] - cols[k]) <= reach * (depth[j] + depth[k])]
            steps_of = [2 * int(np.ceil(np.hypot(rows[j] - rows[k], cols[j] - cols[k]))) + 1 for j in near]
            lows = [surface[np.round(rows[k] + np.arange(n + 1) / n * (rows[j] - rows[k])).astype(int),
                            np.round(cols[k] + np.arange(n + 1) / n * (cols[j] - cols[k])).astype(int)].min()
                    for j, n in zip(near, steps_of)]
            keep[k] = all(low < (1 - valley) * v0 for low in lows)
    return keep


def test_seed_kernel_matches_numpy_reference():
    from scipy import ndimage

    from ddcsem._kernels.segment import select_seeds

    rng = np.random.default_rng(12)
    surface = ndimage.gaussian_filter(rng.random((80, 120)), 2).astype(np.float32)
    components = ndimage.label(surface > np.median(surface))[0]
    edm = ndimage.distance_transform_edt(components > 0).astype(np.float32)
    rows, cols = np.nonzero((surface >= ndimage.maximum_filter(surface, 3)) & (components > 0))
    blob = components[rows, cols]
    order = np.lexsort((-surface[rows, cols], blob))
    rows, cols, blob = rows[order], cols[order], blob[order]
    starts = np.flatnonzero(np.r_[True, blob[1:] != blob[:-1], True])
    for window, valley in ((0.4, 0.03), (1.0, 0.2)):
        args = (surface, rows, cols, starts, edm[rows, cols], window, valley, 2.0)
        got = select_seeds(*args)
        assert 0 < got.sum() < got.size  # some candidates kept, some not
        np.testing.assert_array_equal(got, _select_seeds_reference(*args))


def test_user_markers_decide_the_count():
    image = discs([(60, 70), (60, 112)], [22, 22])
    markers = np.zeros(image.shape, np.int32)
    markers[60, 70] = 1
    assert segment_particles(image, markers=markers).max() == 1
    with pytest.raises(ParameterError, match="markers"):
        segment_particles(image, markers=np.zeros((3, 3), np.int32))
    with pytest.raises(ParameterError, match="ndimage.label"):  # one label for every seed
        segment_particles(image, markers=markers > 0)
    with pytest.raises(ParameterError, match="negative"):
        segment_particles(image, markers=-markers)


def test_user_markers_on_the_background_are_said_to_split_nothing():
    """A seed off every particle (marked on another image, or before its data bar was
    cropped) was dropped unsaid: the split went on as without it."""
    image = discs([(60, 70), (60, 112)], [22, 22])
    markers = np.zeros(image.shape, np.int32)
    markers[60, 70], markers[60, 112], markers[5, 5], markers[115, 5] = 3, 4, 8, 9
    with pytest.warns(UserWarning, match=r"^2 of the 4 seeds marked lie on no particle .* \(seeds 8, 9\)$"):
        assert segment_particles(image, markers=markers).max() == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # all on particles: nothing to say
        segment_particles(image, markers=np.where(markers < 5, markers, 0))


@pytest.mark.parametrize("split", ["shape", "edm", "edges", "none"])
def test_user_markers_mend_the_blobs_they_fall_in_and_leave_the_others(split):
    """Clicking the particles of one cluster must not undo the split of the others."""
    image = discs([(40, 40), (40, 66), (40, 92), (100, 60), (100, 86)], [15] * 5)
    image[85:116, 72:75] = np.minimum(image[85:116, 72:75], 0.7)  # a gap between the pair, an edge
    markers = np.zeros(image.shape, np.int32)
    markers[40, 40], markers[40, 79] = 4, 2**31 - 1  # the trio is two particles (any ids)
    labels = segment_particles(image, split=split, markers=markers)
    without = segment_particles(image, split=split)
    pair = np.s_[88:113, 40:110]
    assert np.unique(labels[pair]).size - 1 == np.unique(without[pair]).size - 1 == (1 if split == "none" else 2)
    assert len({labels[40, 40], labels[40, 66], labels[40, 79], labels[40, 92]}) == 2
    assert labels.max() == 2 + np.unique(without[pair]).size - 1


def test_user_markers_flood_the_splits_own_surface():
    """Seeds at the true centres of a crowded field split it along the density and the SE
    rims, as the automatic seeds do: flooding the bare distance map from them, as before,
    sized the particles 2.4 % wrong (median ECD error)."""
    syn = make_pair((512, 512), pixel_size_nm=20, median_diameter_nm=500, n_particles=130,
                    clustered_fraction=0.9, seed=4)
    density = density_map(syn.bse)
    rows, cols = np.round(syn.centers).astype(int).T
    inside = (rows >= 0) & (cols >= 0) & (rows < 512) & (cols < 512)
    markers = np.zeros(density.shape, np.int32)
    markers[rows[inside], cols[inside]] = np.arange(1, inside.sum() + 1)
    score = detection_scores(segment_particles(density, se=syn.se, markers=markers), syn.centers,
                             syn.diameters_px)
    assert score.f1 > 0.98 and score.median_ecd_error < 0.015


def test_min_area_in_physical_units_and_min_distance():
    image = discs([(30, 30), (80, 150)], [3, 15])  # areas ~29 and ~709 px
    assert segment_particles(image, min_area=10).max() == 2
    # 100 nm pixels: 29 px = 0.29 um^2; ask for at least 0.5 um^2 = 500 000 nm^2
    assert segment_particles(image, min_area=5e5, pixel_size_nm=100).max() == 1
    pair = discs([(60, 70), (60, 112)], [22, 22])
    assert segment_particles(pair, min_distance=5000, pixel_size_nm=100).max() == 1  # 50 px apart needed
    # a distance far beyond the image (a slip of the unit) merges each blob's seeds, as one
    # across the image does: its window and its seed pairs are taken at the image's extent
    field = discs([(60, 70), (60, 112), (150, 60), (150, 100), (170, 160)], [22, 22, 20, 20, 12], (220, 220))
    for split in ("shape", "edges"):
        across = segment_particles(field, split=split, min_distance=float(np.hypot(*field.shape)))
        np.testing.assert_array_equal(segment_particles(field, split=split, min_distance=1e12), across)
        assert across.max() == 3


def test_border_particles_excluded_or_kept():
    image = discs([(60, 5), (60, 100)], [15, 15])
    assert segment_particles(image).max() == 1
    assert segment_particles(image, exclude_border=False).max() == 2


@pytest.mark.parametrize("split", ["shape", "edm", "edges", "none"])
def test_threshold_under_every_pixel_gives_one_frame_filling_particle(split):
    """No background to measure depth from: the distance map counts it from the frame
    (no NaN from infinite depths), and the one blob is one particle, on the border; the
    threshold's place is the one warning."""
    image = np.random.default_rng(0).normal(1.0, 0.01, (60, 80)).astype(np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        labels = segment_particles(image, threshold=0.5, split=split, exclude_border=False)
        assert labels.max() == 1 and labels.all()
        assert segment_particles(image, threshold=0.5, split=split).max() == 0
    assert [str(w.message)[:73] for w in caught] == 2 * ["the threshold given, 0.5, lies beyond the smoothed density "
                                                         "map: below its"]


def test_holes_filled():
    image = discs([(60, 100)], [30])
    image[55:65, 95:105] = 0
    labels = segment_particles(image)
    assert labels[60, 100] == 1
    assert segment_particles(image, fill_holes=False)[60, 100] == 0


def test_gap_enclosed_by_a_ring_of_particles_stays_background():
    # six discs around a centre, each touching its neighbours: the gap they enclose is
    # matrix, not a hole of one particle; filled before the split it would fuse them
    angles = np.arange(6) * np.pi / 3
    centres = [(60 + 26 * np.sin(a), 100 + 26 * np.cos(a)) for a in angles]
    image = discs(centres, [14] * 6)
    labels = segment_particles(image)
    assert labels.max() == 6
    assert labels[60, 100] == 0
    assert len({labels[int(round(cy)), int(round(cx))] for cy, cx in centres}) == 6


def test_an_image_given_for_its_density_map_is_warned_about():
    """Its h-maxima and edge levels are in density units: the BSE image itself found fewer
    of the particles, unsaid."""
    pair = make_pair(shape=(384, 384), n_particles=60, clustered_fraction=0.4, seed=21, dtype=np.uint16)
    with pytest.warns(UserWarning, match=r"density runs from [0-9.e+]+ to [0-9.e+]+: segment_particles takes a "
                                         r"density map.*pass density_map\(image\)"):
        segment_particles(pair.bse)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a density map, and one a little beyond 0..1, are fine
        segment_particles(density_map(pair.bse))
        segment_particles(discs([(60, 100)], [40]) * 1.2 - 0.1)


@pytest.mark.parametrize("seed", [21, 22])
def test_synthetic_pair_detected(seed):
    pair = make_pair(shape=(384, 384), n_particles=60, clustered_fraction=0.4, seed=seed)
    labels = segment_particles(density_map(pair.bse))
    score = detection_scores(labels, pair.centers, pair.diameters_px)
    assert score.f1 >= 0.9
    assert score.median_ecd_error <= 0.12


def test_invalid_arguments():
    with pytest.raises(ParameterError, match="split"):
        segment_particles(np.zeros((10, 10)), split="magic")
    with pytest.raises(ParameterError, match="2-D"):
        segment_particles(np.zeros((2, 3, 4)))


def test_images_with_nan_and_regions_without_pixels_are_named():
    """The threshold named each "the input image" ("holds NaN or infinite pixels", "is
    empty"), which the caller never gave."""
    image = discs([(30, 30)], [10], shape=(60, 60)).astype(float)
    holed = image.copy()
    holed[0, 0] = np.nan
    for call, words in ((lambda: segment_particles(holed), r"^density holds 1 NaN or infinite pixel \(give it"),
                        (lambda: segment_particles(image, se=holed), "^se holds 1 NaN or infinite pixel "),
                        (lambda: segment_particles(image, region=np.zeros(image.shape, bool)),
                         "^region is empty: no pixel of the image is in it")):
        with pytest.raises(ParameterError, match=words):
            call()
    assert segment_particles(image, region=np.ones(image.shape, np.uint8)).max() == 1  # a region of 0 and 1 is one


@pytest.mark.parametrize("option, message", [
    ({"pixel_size_nm": 0}, "pixel_size_nm must be a finite number above 0, not 0"),  # divided by 0
    ({"pixel_size_nm": -20.0}, "pixel_size_nm must be"),
    ({"min_area": -5}, "min_area must be a finite number 0 or more"),
    ({"min_area": float("nan")}, "min_area must be"),
    ({"min_distance": 0}, "min_distance must be a finite number above 0"),
    ({"threshold": float("nan")}, "threshold value must be finite"),
    ({"smooth_sigma": -1}, "smooth_sigma must be a finite number 0 or more"),  # named "sigma", the filter's
    ({"smooth_sigma": float("nan")}, "smooth_sigma must be"),
])
def test_sizes_and_levels_must_be_numbers_that_mean_something(option, message):
    """Each of these was taken silently (or raised ZeroDivisionError) and gave labels."""
    image = discs([(30, 30)], [10], shape=(60, 60))
    with pytest.raises(ParameterError, match=message):
        segment_particles(image, **option)


@pytest.mark.parametrize("level", [0.47, 0.5, 0.53])
def test_distance_transform_kernel_matches_scipy(level):
    from scipy import ndimage

    from ddcsem._kernels.segment import distance_transform, label_max

    rng = np.random.default_rng(int(level * 100))
    # 600 columns: several strips of the column sweep; a full column has no background
    wide = ndimage.gaussian_filter(rng.random((41, 600)), 2) > level
    wide[:, 300] = True
    np.testing.assert_allclose(distance_transform(wide), ndimage.distance_transform_edt(wide), atol=1e-5)
    mask = ndimage.gaussian_filter(rng.random((97, 131)), 2) > level
    np.testing.assert_allclose(distance_transform(mask), ndimage.distance_transform_edt(mask), atol=1e-5)
    # rows solved run by run: runs at both edges, whole foreground rows and columns, none
    # (an image without background has no distances: scipy's are arbitrary, ours infinite)
    edged = mask.copy()
    edged[:, :3] = edged[:, -3:] = edged[10] = edged[50:53] = True
    edged[:, 60] = False
    for m in (edged, np.zeros((7, 9), bool)):
        np.testing.assert_allclose(distance_transform(m), ndimage.distance_transform_edt(m), atol=1e-5)
    labels, n = ndimage.label(mask)
    values = rng.random(mask.shape)
    for bands in (1, 3):
        np.testing.assert_allclose(label_max(values, labels, n, bands)[1:],
                                   ndimage.maximum(values, labels, np.arange(1, n + 1)))


@pytest.mark.parametrize("eight", [True, False])
def test_labelling_kernel_matches_scipy(eight):
    """Same components, numbered alike, whatever the bands of rows labelled in parallel."""
    from scipy import ndimage

    from ddcsem._kernels.segment import label_components, relabel
    from ddcsem.segment import _label

    rng = np.random.default_rng(5 if eight else 6)
    structure = np.ones((3, 3)) if eight else None
    for _ in range(40):
        shape = tuple(rng.integers(1, 50, 2))
        mask = ndimage.gaussian_filter(rng.random(shape), rng.uniform(0.3, 2)) > rng.uniform(0.3, 0.7)
        expected, n = ndimage.label(mask, structure=structure)
        for bands in (1, 2, 3, 7, shape[0]):  # down to a band per row: every row a band edge
            labels, k = label_components(mask, eight, bands)
            assert k == n
            np.testing.assert_array_equal(labels, expected)
    # a comb: one component that only the joins across bands hold together
    comb = np.zeros((20, 9), bool)
    comb[:, 0] = comb[::4, :] = True
    for bands in (1, 20):
        labels, k = label_components(comb, eight, bands)
        assert k == 1 and (labels == 1).sum() == comb.sum()
    assert _label(comb, eight=eight)[0].dtype == np.int32
    assert _label(np.zeros((0, 5), bool))[1] == 0
    lut = rng.permutation(n + 1).astype(np.int32)
    np.testing.assert_array_equal(relabel(expected, lut), lut[expected])


def test_box_and_peak_kernels_match_numpy():
    from scipy import ndimage

    from ddcsem._filters import maximum
    from ddcsem._kernels.segment import label_boxes, local_peaks

    rng = np.random.default_rng(5)
    mask = ndimage.gaussian_filter(rng.random((90, 140)), 2) > 0.5
    labels, n = ndimage.label(mask)
    boxes = label_boxes(labels, n + 2)  # two absent labels: empty boxes
    expected = [[s[0].start, s[0].stop, s[1].start, s[1].stop] for s in ndimage.find_objects(labels)]
    np.testing.assert_array_equal(boxes[1:n + 1], expected)
    assert np.all(boxes[n + 1:, 1] <= boxes[n + 1:, 0])
    surface = (ndimage.gaussian_filter(rng.random(mask.shape), 1.5) - 0.45).astype(np.float32)
    maxed = maximum(surface, 5)
    rows, cols = local_peaks(surface, maxed, mask)
    expected = np.nonzero(mask & (surface > 0) & (surface >= maxed))
    assert rows.size > 10
    np.testing.assert_array_equal(rows, expected[0])
    np.testing.assert_array_equal(cols, expected[1])


def test_euler_kernel_matches_scikit_image():
    from scipy import ndimage
    from skimage.measure import euler_number

    from ddcsem._kernels.segment import euler_numbers

    rng = np.random.default_rng(8)
    mask = ndimage.gaussian_filter(rng.random((200, 260)), 2) > 0.5
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    four_times = euler_numbers(labels.astype(np.int32), n, 2)
    expected = [euler_number(labels == i, connectivity=2) for i in range(1, n + 1)]
    assert np.any(np.array(expected) < 1)  # some blobs have holes
    np.testing.assert_array_equal(four_times[1:], 4 * np.array(expected))


def test_particle_inside_a_hole_keeps_its_label():
    yy, xx = np.mgrid[0:120, 0:200]
    r = np.hypot(yy - 60, xx - 100)
    image = ((r <= 40) & (r >= 16) | (r <= 6)).astype(np.float32)  # a thick ring, a speck inside
    labels = segment_particles(image, split="none")
    assert labels.max() == 2
    inner, ring = labels[60, 100], labels[60, 130]
    assert inner != ring and inner > 0 and ring > 0
    assert labels[60, 111] == ring  # the gap between them is the ring's hole: filled


def test_hull_area_of_pixels_as_unit_squares():
    from ddcsem.segment import _hull_area

    assert _hull_area(np.ones((10, 10), bool)) == pytest.approx(100.0)
    assert _hull_area(np.eye(3, dtype=bool)) == pytest.approx(5.0)  # three squares on a diagonal
    yy, xx = np.mgrid[0:61, 0:61]
    disc = (yy - 30) ** 2 + (xx - 30) ** 2 <= 900
    assert disc.sum() < _hull_area(disc) < np.pi * 31**2


def test_edge_refinement_sizes_spheres():
    pair = make_pair(shape=(512, 512), pixel_size_nm=20, median_diameter_nm=500, n_particles=60,
                     clustered_fraction=0.1, seed=77)
    density = density_map(pair.bse)
    # border particles kept and counted: a particle grown to its true edge may come to
    # touch the border, which would drop it from a count that leaves them out
    plain, refined = (
        detection_scores(segment_particles(density, refine_edges=refine, exclude_border=False),
                         pair.centers, pair.diameters_px, ignore_border=False)
        for refine in (False, True))
    assert plain.median_ecd_error > 0.05  # the iso-line lies inside the fading rim
    assert refined.median_ecd_error < 0.035
    # edges move; no particle is lost or gained
    assert (refined.n_found, refined.n_matched) == (plain.n_found, plain.n_matched)


def test_small_particles_cut_at_half_maximum():
    pair = make_pair(shape=(384, 384), pixel_size_nm=50, median_diameter_nm=300, sigma_ln=0.25,
                     n_particles=200, clustered_fraction=0.0, seed=5)
    density = density_map(pair.bse)
    true_d50 = np.median(pair.diameters_px)

    def d50(labels):
        areas = np.bincount(labels.ravel())[1:]
        return np.median(2 * np.sqrt(areas[areas > 0] / np.pi))

    plain = d50(segment_particles(density, refine_edges=False))
    refined = d50(segment_particles(density))
    assert plain / true_d50 - 1 > 0.08  # blur spreads 6 px spheres beyond their edge
    assert abs(refined / true_d50 - 1) < 0.05


def dim_spots(centres, shape, peak=0.45, radius=2.3, blur=1.2):
    """Small discs blurred to a peak of ``peak``: particles near the resolution limit."""
    spots = ndimage.gaussian_filter(discs(centres, [radius] * len(centres), shape), blur)
    return spots * np.float32(peak / spots.max())


def test_dim_specks_grow_to_their_half_maximum():
    """Spots whose peak is under twice the threshold: the threshold keeps fewer than 9 px
    of each (specks), their half maximum 21; grown to it, each is one particle."""
    centres = [(20 + 30 * i, 20 + 30 * j) for i in range(3) for j in range(4)]
    image = dim_spots(centres, (100, 130))
    assert segment_particles(image, threshold=0.38, smooth_sigma=0, refine_edges=False).max() == 0
    labels = segment_particles(image, threshold=0.38, smooth_sigma=0)
    assert labels.max() == len(centres)
    half_max = ndimage.label(image > 0.5 * 0.45)[0]
    for cy, cx in centres:
        assert labels[cy, cx] > 0
        np.testing.assert_array_equal(labels == labels[cy, cx], half_max == half_max[cy, cx])


def test_dim_particles_grow_to_their_half_maximum(monkeypatch):
    """Discs of 5 px radius blurred to a peak of 0.6 under a threshold of 0.5: the threshold
    keeps each 6.9 px across, their half maximum 9.4 px (the disc's edge, rounded by the
    blur); grown to it, each particle is its half-maximum region. Unless it stands under the
    clutter level: in a noisy field a blob's half maximum lies in the noise, so it stays as
    the threshold cut it."""
    import ddcsem.segment as seg

    centres = [(25 + 40 * i, 25 + 40 * j) for i in range(2) for j in range(3)]
    image = dim_spots(centres, (90, 130), peak=0.6, radius=5, blur=1.5)
    half_max = ndimage.label(image > 0.3)[0]
    cut = segment_particles(image, threshold=0.5, smooth_sigma=0, refine_edges=False)
    labels = segment_particles(image, threshold=0.5, smooth_sigma=0)
    assert cut.max() == labels.max() == len(centres)
    for cy, cx in centres:
        assert np.count_nonzero(cut == cut[cy, cx]) == pytest.approx(np.pi / 4 * 6.86**2, rel=0.02)
        np.testing.assert_array_equal(labels == labels[cy, cx], half_max == half_max[cy, cx])
    monkeypatch.setattr(seg, "CLUTTER_SPREADS", 1e9)  # every blob under the clutter level
    np.testing.assert_array_equal(segment_particles(image, threshold=0.5, smooth_sigma=0) > 0, cut > 0)


def test_dim_specks_among_large_particles_stay_specks(monkeypatch):
    """Beside particles 30 px across, on a flat background (no measure of clutter), a dim
    21 px spot counts as a bump of the matrix, not a particle (``RESCUE_FRACTION`` of the
    median blob area); a bright speck is a speck."""
    import ddcsem.segment as seg

    image = discs([(30, 30), (30, 90), (90, 30), (90, 150)], [15] * 4, (120, 200))
    image = np.maximum(image, dim_spots([(90, 95), (30, 160)], (120, 200)))
    image[60, 100:102] = 1.0  # two bright pixels
    assert segment_particles(image, threshold=0.38, smooth_sigma=0).max() == 4
    monkeypatch.setattr(seg, "RESCUE_FRACTION", 0.0)
    assert segment_particles(image, threshold=0.38, smooth_sigma=0).max() == 6


def test_dim_specks_that_stand_out_of_the_clutter_are_particles():
    """The same field with a little noise: the dim spots stand 86 noise SDs high, so they
    are particles, however small beside the others; the bright speck is still a speck."""
    image = discs([(30, 30), (30, 90), (90, 30), (90, 150)], [15] * 4, (120, 200))
    image = np.maximum(image, dim_spots([(90, 95), (30, 160)], (120, 200)))
    image[60, 100:102] = 1.0
    image += np.random.default_rng(0).normal(0, 0.005, image.shape).astype(np.float32)
    labels = segment_particles(image, threshold=0.38, smooth_sigma=0)
    assert labels.max() == 6
    assert labels[90, 95] > 0 and labels[30, 160] > 0 and labels[60, 100] == 0


def dim_field(noise_sd, seed=0, peak=0.3):
    """Four bright discs (r 12) and five dim ones (r 4, blurred to a peak of ``peak``, as
    partial volume dims small spheres) on a background of smooth noise."""
    shape = (140, 140)
    bright = [(30, 30), (30, 110), (110, 30), (110, 110)]
    dim = [(30, 70), (70, 30), (70, 110), (110, 70), (70, 70)]
    spots = ndimage.gaussian_filter(discs(dim, [4] * 5, shape), 1.2)
    image = np.maximum(discs(bright, [12] * 4, shape), spots * np.float32(peak / spots.max()))
    noise = ndimage.gaussian_filter(np.random.default_rng(seed).normal(0, noise_sd, shape), 1.0)
    return (image + noise).astype(np.float32), bright, dim


@pytest.mark.parametrize("noise_sd", [0.02, 0.1])
def test_dim_particles_of_a_clean_field_are_found(noise_sd):
    """The threshold between the bright discs and the background (Otsu's, about 0.36)
    lies above the dim discs; they stand 50 or 10 SDs of the noise above it, so they are
    particles. Without the edge refinement, only the threshold counts."""
    image, bright, dim = dim_field(noise_sd)
    labels = segment_particles(image, smooth_sigma=0)
    assert labels.max() == 9
    assert all(labels[c] > 0 for c in bright + dim)
    assert segment_particles(image, smooth_sigma=0, refine_edges=False).max() == 4


def test_faint_blobs_of_a_clean_field_are_another_phase(monkeypatch):
    """A threshold of 0.4 and dim discs at a peak of 0.12 (0.3 x the threshold): on a clean
    background they stand 20 SDs of its noise high, but under half the threshold
    (``DIM_PEAK_FRACTION``) they are faint structure, not particles; at 0.3 (0.75 x, as
    partial volume dims small spheres) they are particles."""
    import ddcsem.segment as seg

    image, bright, dim = dim_field(0.02, peak=0.12)
    labels = segment_particles(image, threshold=0.4, smooth_sigma=0)
    assert labels.max() == 4 and all(labels[c] > 0 for c in bright)
    image, bright, dim = dim_field(0.02, peak=0.3)
    labels = segment_particles(image, threshold=0.4, smooth_sigma=0)
    assert labels.max() == 9 and all(labels[c] > 0 for c in bright + dim)
    monkeypatch.setattr(seg, "DIM_PEAK_FRACTION", 0.0)
    image, bright, dim = dim_field(0.02, peak=0.12)
    labels = segment_particles(image, threshold=0.4, smooth_sigma=0)
    assert labels.max() == 9 and all(labels[c] > 0 for c in dim)


def test_flat_profile_puts_edges_at_half_the_peak():
    """Flat-topped discs (r 12, blurred by 1.5 px) cut by a threshold of 0.7, inside their
    edge: the flat profile grows them to half their peak, where the edge of a blurred step
    lies (ECD within 3 %); the sphere profile's quarter of the peak, made for the fading
    rim of a partial-volume sphere, makes them 6 % large. Dim blobs under the
    threshold are no particles of a flat profile."""
    centres = [(30, 30), (30, 90), (90, 30), (90, 150)]
    image = ndimage.gaussian_filter(discs(centres, [12] * 4), 1.5)

    def ecd(profile):
        labels = segment_particles(image, threshold=0.7, smooth_sigma=0, profile=profile)
        assert labels.max() == 4
        return 2 * np.sqrt(np.bincount(labels.ravel())[1:] / np.pi)

    np.testing.assert_allclose(ecd("flat"), 24.0, rtol=0.03)
    np.testing.assert_allclose(ecd("sphere"), 1.06 * 24, rtol=0.02)
    field, bright, dim = dim_field(0.02)
    assert segment_particles(field, smooth_sigma=0, profile="sphere").max() == 9
    labels = segment_particles(field, smooth_sigma=0, profile="flat")
    assert labels.max() == 4 and all(labels[c] > 0 for c in bright)
    with pytest.raises(ParameterError, match="profile must be 'sphere' or 'flat'"):
        segment_particles(field, profile="dome")


def test_dim_particles_are_cut_at_their_half_maximum():
    """Where the clutter level lies under half their peak, the dim discs (8 px across)
    are cut at their half maximum, as the small bright ones are."""
    image, _, dim = dim_field(0.02)
    labels = segment_particles(image, smooth_sigma=0)
    for c in dim:
        half = ndimage.label(image > 0.5 * image[c[0] - 1:c[0] + 2, c[1] - 1:c[1] + 2].max())[0]
        np.testing.assert_array_equal(labels == labels[c], half == half[c])
    ecd = [2 * np.sqrt(np.count_nonzero(labels == labels[c]) / np.pi) for c in dim]
    np.testing.assert_allclose(ecd, 8.0, rtol=0.1)


@pytest.mark.parametrize("seed", range(3))
def test_dim_spots_in_noise_are_not_particles(seed):
    """Noise twice as strong (SD 0.057): the dim discs stand 5 SDs high, under the
    clutter level (``CLUTTER_SPREADS``), as high as the noise's own bumps: neither counts."""
    image, bright, _ = dim_field(0.2, seed)
    labels = segment_particles(image, smooth_sigma=0)
    assert labels.max() == 4 and all(labels[c] > 0 for c in bright)


def scores_with_and_without(monkeypatch, off: dict, *, with_se: bool = False, **field):
    """Detection scores of the default segmentation of a synthetic field (of its pair,
    ``with_se``), then of the same with the module constants in ``off`` set (a rule turned
    off)."""
    import ddcsem.segment as seg

    pair = make_pair(shape=(512, 512), **field)
    density, se = density_map(pair.bse), pair.se if with_se else None
    with_rule = detection_scores(segment_particles(density, se=se), pair.centers, pair.diameters_px)
    for name, value in off.items():
        monkeypatch.setattr(seg, name, value)
    return with_rule, detection_scores(segment_particles(density, se=se), pair.centers, pair.diameters_px)


def corroborated_field(seed=0):
    """``dim_field`` with noise SD 0.2 (its dim discs stand 5 SDs high, too few to count)
    and its SE image: the bright discs, the dim ones (small spheres are bright in SE
    images: edge brightening) and two spots of topography without density, under noise
    of its own."""
    image, bright, dim = dim_field(0.2, seed)
    shape = image.shape
    spots = ndimage.gaussian_filter(discs(dim + [(50, 50), (90, 90)], [4] * 7, shape), 1.2)
    noise = ndimage.gaussian_filter(np.random.default_rng(seed + 100).normal(0, 0.2, shape), 1.0)
    se = 0.3 + 0.4 * discs(bright, [12] * 4, shape) + 0.8 * spots / spots.max() + noise
    return image, se.astype(np.float32), bright, dim


@pytest.mark.parametrize("seed", range(3))
def test_se_image_corroborates_dim_particles(seed):
    """The dim discs, which the density alone cannot tell from its noise, stand out in
    the SE image too, whose noise is its own: together they stand above
    ``CORROBORATED_SPREADS``, and are particles, cut near their half maximum (the noise,
    a fifth of their peak, raises the peak found, and so the half maximum, and particles
    grow by ``REFINE_PIXELS`` at most: their median ECD is within 25 % of 8 px). The SE
    spots where the density is flat are topography, not particles."""
    image, se, bright, dim = corroborated_field(seed)
    assert segment_particles(image, smooth_sigma=0, split="none").max() == 4
    labels = segment_particles(image, smooth_sigma=0, split="none", se=se)
    assert labels.max() == 9 and all(labels[c] > 0 for c in bright + dim)
    assert labels[50, 50] == 0 and labels[90, 90] == 0
    ecd = [2 * np.sqrt(np.count_nonzero(labels == labels[c]) / np.pi) for c in dim]
    assert 6.0 <= np.median(ecd) <= 8.0 and max(ecd) <= 8.5


def corroborated_spheres(monkeypatch, **field):
    """Segment a synthetic pair's density with its SE image, with and without the SE
    image's corroboration: the scores of both, and for each particle only the SE image
    found, the true sphere under most of it (-1: none) and whether that sphere was found
    without it (it is under most of such a particle)."""
    import ddcsem.segment as seg

    pair = make_pair(shape=(512, 512), **field)
    density = density_map(pair.bse)
    found = segment_particles(density, se=pair.se, exclude_border=False)
    monkeypatch.setattr(seg, "CORROBORATED_SPREADS", np.inf)
    plain = segment_particles(density, se=pair.se, exclude_border=False)

    def sphere_of(mask):  # the true sphere under most of a particle, 0 for none
        under = pair.labels[mask]
        return int(np.bincount(under).argmax()) if np.count_nonzero(under) > under.size / 2 else 0

    found_alone = {sphere_of(plain == k) for k in range(1, plain.max() + 1)}
    new = np.zeros(found.max() + 1, dtype=bool)
    new[found[plain == 0]] = True
    new[found[plain > 0]] = False  # grown, not new
    added = [(sphere - 1, sphere in found_alone)
             for sphere in (sphere_of(found == k) for k in np.flatnonzero(new) if k)]
    return [detection_scores(drop_border_labels(labels), pair.centers, pair.diameters_px)
            for labels in (found, plain)] + [added]


def test_se_corroboration_finds_tiny_spheres(monkeypatch):
    """6 px spheres (the tiny scenario, on a smaller field): the SE image finds dim ones
    that the density alone leaves under the threshold; every particle it adds lies on a
    sphere that the density alone missed (or merged with a neighbour)."""
    found, plain, added = corroborated_spheres(
        monkeypatch, pixel_size_nm=50, median_diameter_nm=300, sigma_ln=0.25, n_particles=375,
        clustered_fraction=0.2, seed=8)
    assert found.n_matched >= plain.n_matched + 5
    assert len(added) >= 5 and all(sphere >= 0 and not known for sphere, known in added)


def test_se_rims_on_the_flanks_of_spheres_are_not_particles(monkeypatch):
    """At 20 keV large spheres are dense at the centre only, their thin flanks dim in the
    density and bright in the SE image, as are dim spheres beside them: what the SE image
    adds lies on spheres that the density alone missed, not on the flanks of those it
    found."""
    found, plain, added = corroborated_spheres(
        monkeypatch, pixel_size_nm=20, median_diameter_nm=300, sigma_ln=0.7, n_particles=100,
        clustered_fraction=0.1, kev=20, seed=21)
    assert added and all(sphere >= 0 and not known for sphere, known in added)
    assert found.n_matched >= plain.n_matched


def test_slivers_go_to_the_particle_they_were_cut_from():
    """A crescent cut from a disc's rim (inscribed radius 1 px, equivalent radius 3.4 px)
    is given back to the disc; two touching discs, a lone bar (a sliver with nobody to
    join), a bar that meets a disc at its end (a fibre's piece beside a sphere on it) and
    a small disc beside a large one stay as they are, the blobs of the split being those
    of the particles together; so does the crescent where it is spared (a rod or a fibre
    joined, whose thin pieces are no slivers)."""
    from ddcsem.segment import _merge_slivers

    shape = (60, 180)
    disc = discs([(20, 20)], [9], shape) > 0
    crescent = disc & ~(discs([(20, 18)], [9], shape) > 0)
    labels = np.zeros(shape, np.int32)
    labels[disc] = 1
    labels[crescent] = 2
    pair = discs([(20, 60)], [8], shape) > 0, discs([(20, 76)], [8], shape) > 0
    labels[pair[0]] = 3
    labels[pair[1] & ~pair[0]] = 4
    labels[45:48, 10:40] = 5
    labels[discs([(45, 90)], [10], shape) > 0] = 6
    labels[discs([(45, 103)], [4], shape) > 0] = 7
    labels[discs([(20, 150)], [8], shape) > 0] = 8
    labels[19:22, 158:178] = 9
    before = labels.copy()
    _merge_slivers(labels, ndimage.label(labels > 0)[0], np.zeros(0, int))
    np.testing.assert_array_equal(labels == 1, disc)
    assert not (labels == 2).any()
    for k in (3, 4, 5, 6, 7, 8, 9):
        np.testing.assert_array_equal(labels == k, before == k)
    spared = before.copy()
    _merge_slivers(spared, ndimage.label(spared > 0)[0], np.array([2]))
    np.testing.assert_array_equal(spared, before)


def test_inscribed_radius_kernel_matches_reference():
    from ddcsem._kernels.segment import inscribed_radii
    from ddcsem.segment import _boxes_around, _inscribed_radii_reference

    pair = make_pair(shape=(200, 240), pixel_size_nm=20, median_diameter_nm=300, sigma_ln=0.5,
                     n_particles=80, clustered_fraction=0.6, seed=3)
    labels = segment_particles(density_map(pair.bse), exclude_border=False)
    n = int(labels.max())
    ids = np.arange(1, n + 1)
    boxes = _boxes_around(labels, n, ids, 1)  # clipped at the frame (border particles too)
    assert n > 40 and (boxes[:, 0] == 0).any()
    np.testing.assert_allclose(inscribed_radii(labels, ids, boxes),
                               _inscribed_radii_reference(labels, ids, boxes), rtol=1e-12)


def test_slivers_of_a_tiny_particle_field(monkeypatch):
    """6 px spheres: the split leaves crescents of some spheres beside them, counted as
    false particles; given back, those go, and no sphere is lost."""
    merged, plain = scores_with_and_without(
        monkeypatch, {"SLIVER_FATNESS": 0.0}, with_se=True, pixel_size_nm=50, median_diameter_nm=300,
        sigma_ln=0.25, n_particles=375, clustered_fraction=0.2, seed=8)
    assert merged.n_found - merged.n_matched <= plain.n_found - plain.n_matched - 3
    assert merged.n_matched >= plain.n_matched


def test_dim_small_spheres_of_a_polydisperse_field(monkeypatch):
    """Spheres from 4 to 60 px (log-normal, sigma 0.7): Otsu's threshold lies above the
    small ones, which partial volume makes dim. The clutter level finds 13 more of them,
    and no false particle."""
    found, plain = scores_with_and_without(
        monkeypatch, {"CLUTTER_SPREADS": np.inf}, pixel_size_nm=20, median_diameter_nm=300, sigma_ln=0.7,
        n_particles=100, clustered_fraction=0.1, seed=21)
    assert found.n_matched >= plain.n_matched + 10
    assert found.n_found - found.n_matched <= plain.n_found - plain.n_matched
    assert found.f1 > plain.f1 + 0.05


def test_dim_blob_kernel_matches_reference():
    from ddcsem.segment import _add_dim_blobs, _add_dim_blobs_reference

    pair = make_pair(shape=(256, 256), pixel_size_nm=20, median_diameter_nm=300, sigma_ln=0.7,
                     n_particles=60, clustered_fraction=0.2, seed=5)
    density = density_map(pair.bse)
    components, n = ndimage.label(density > 0.4, structure=np.ones((3, 3)))
    expected = components.copy()
    n_expected = _add_dim_blobs_reference(expected, n, density, 0.1, 0.4)
    added = np.unique(expected[expected > n])
    assert added.size > 3  # some dim blobs peak under 0.2 (half the level): their ids stay empty
    assert added.size < n_expected - n
    got = components.copy()
    assert _add_dim_blobs(got, n, density, 0.1, 0.4) == n_expected
    np.testing.assert_array_equal(got, expected)


def test_dim_specks_rescued_on_a_tiny_particle_field(monkeypatch):
    """6 px spheres (the tiny scenario, on a smaller field): the specks grown to their half
    maximum are found particles, at hardly a false one more."""
    rescued, plain = scores_with_and_without(
        monkeypatch, {"RESCUE_FRACTION": np.inf}, pixel_size_nm=50, median_diameter_nm=300, sigma_ln=0.25,
        n_particles=375, clustered_fraction=0.2, seed=8)
    assert rescued.n_matched >= plain.n_matched + 15
    assert rescued.n_found - rescued.n_matched <= plain.n_found - plain.n_matched + 2
    assert rescued.f1 > plain.f1 + 0.03


def test_small_spheres_keep_their_peaks_in_the_landscape(monkeypatch):
    """6 px spheres: smoothed as if the map had no blur of its own, and their distance map
    by a full pixel, the peaks of spheres beside a neighbour flatten and they merge."""
    import ddcsem.segment as seg

    assert seg._density_sigma(3.0) == 0.5  # the map's own blur exceeds 0.4 x 3 px
    assert seg._density_sigma(25.0) == pytest.approx(np.sqrt(10.0**2 - 1.5**2))
    assert seg._density_sigma(25.0, "flat") == pytest.approx(np.sqrt(6.25**2 - 1.5**2))  # DENSITY_SCALE_FLAT
    scaled, fixed = scores_with_and_without(
        monkeypatch, {"MAP_BLUR": 0.0, "EDM_SIGMA_RADIUS": 1e-3}, pixel_size_nm=50, median_diameter_nm=300,
        sigma_ln=0.25, n_particles=375, clustered_fraction=0.2, seed=4)
    assert scaled.f1 > fixed.f1 + 0.05


def test_speck_growth_kernel_matches_reference():
    from ddcsem._kernels.segment import grow_specks, label_boxes
    from ddcsem.segment import _grow_specks_reference, _label_max

    pair = make_pair(shape=(256, 256), pixel_size_nm=50, median_diameter_nm=300, sigma_ln=0.3,
                     n_particles=200, clustered_fraction=0.3, seed=3)
    density = density_map(pair.bse)
    labels, n = ndimage.label(density > 0.35, structure=np.ones((3, 3)))
    area = np.bincount(labels.ravel())
    peak = _label_max(density, labels, n)
    grows = (area < 9) & (peak < 0.7)
    grows[0] = False
    assert grows.sum() > 5
    expected = _grow_specks_reference(labels, density, grows, peak, 0.5)
    assert (expected != labels).any()
    whole = labels.copy()
    grow_specks(whole, density, grows, peak, 0.5, np.array([[0, 256, 0, 256]]))
    np.testing.assert_array_equal(whole, expected)
    boxes = label_boxes(labels, n)[np.flatnonzero(grows)] + np.array([-1, 1, -1, 1])
    in_boxes = labels.copy()
    rows, cols, to = grow_specks(in_boxes, density, grows, peak, 0.5, np.clip(boxes, 0, 256))
    np.testing.assert_array_equal(in_boxes, expected)
    np.testing.assert_array_equal(in_boxes[rows, cols], to)


@pytest.mark.parametrize("dim", [0.5, 0.7])
def test_edges_do_not_depend_on_brightness(dim):
    """Two spheres 28 px across (dome profiles, blurred), one at full density and one
    dimmer (a thinner sphere, or a shaded corner): edges at a fraction of each one's own
    peak give both the same size, within 4 % of the truth (a level tied to the threshold
    made the bright one 2 px larger than the dim one)."""
    yy, xx = np.mgrid[0:80, 0:160]

    def dome(cx, amplitude):
        return amplitude * np.sqrt(np.clip(1 - ((yy - 40) ** 2 + (xx - cx) ** 2) / 14**2, 0, None))

    image = ndimage.gaussian_filter(dome(40, 1.0) + dome(115, dim), 1.2).astype(np.float32)
    labels = segment_particles(image, threshold=0.2)
    assert labels.max() == 2
    bright, faint = (2 * np.sqrt(np.count_nonzero(labels == labels[40, x]) / np.pi) for x in (40, 115))
    assert abs(bright - faint) < 0.8
    np.testing.assert_allclose([bright, faint], 28.0, rtol=0.04)


@pytest.mark.parametrize("grow", [0.25, 0.5])  # the sphere's and the flat profile's
def test_edge_refinement_kernel_matches_reference(grow):
    from ddcsem.segment import _refine_edges, _refine_edges_reference

    pair = make_pair(shape=(256, 256), pixel_size_nm=25, median_diameter_nm=350, sigma_ln=0.6,
                     n_particles=80, clustered_fraction=0.5, seed=9)
    density = density_map(pair.bse)
    labels = segment_particles(density, refine_edges=False, exclude_border=False).astype(np.int64)
    fast = _refine_edges(labels, density, grow)
    np.testing.assert_array_equal(fast, _refine_edges_reference(labels, density, grow))
    assert (fast != labels).any()
    # small particles alone: nothing grows, so the kernel's floor for growth is infinite
    small = np.where(np.bincount(labels.ravel())[labels] < 100, labels, 0)
    np.testing.assert_array_equal(_refine_edges(small, density, grow), _refine_edges_reference(small, density, grow))
    # large particles' edges grow further (steps: a tenth of their typical radius)
    further = _refine_edges(labels, density, grow, 6)
    np.testing.assert_array_equal(further, _refine_edges_reference(labels, density, grow, 6))
    assert np.count_nonzero(further) > np.count_nonzero(fast)


def test_drop_border_labels_numbers_the_rest_in_order():
    from ddcsem.segment import drop_border_labels

    labels = np.zeros((6, 6), np.int64)
    labels[0, 0] = 2          # on the border
    labels[2, 2] = 7
    labels[3:5, 3:5] = 4      # ids 1, 3, 5, 6 absent
    out = drop_border_labels(labels)
    assert out.dtype == np.int32
    assert out[3, 3] == 1 and out[2, 2] == 2 and out[0, 0] == 0 and out.max() == 2
    labels[5, 5] = -1
    with pytest.raises(ParameterError, match="negative"):
        drop_border_labels(labels)


@pytest.mark.parametrize("shape", [(1, 1), (3, 70), (130, 9), (700, 300)])
def test_label_count_kernel_matches_bincount(shape):
    from ddcsem.segment import _areas

    labels = np.random.default_rng(shape[1]).integers(0, 40, shape).astype(np.int32)
    np.testing.assert_array_equal(_areas(labels), np.bincount(labels.ravel()))
    np.testing.assert_array_equal(_areas(labels, 55), np.bincount(labels.ravel(), minlength=56))
    np.testing.assert_array_equal(_areas(np.zeros((0, 4), np.int32), 2), [0, 0, 0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_blob_watershed_kernel_matches_skimage(seed):
    from scipy import ndimage
    from skimage.segmentation import watershed

    from ddcsem._kernels.segment import label_boxes
    from ddcsem.segment import _watershed_by_component

    rng = np.random.default_rng(seed)
    mask = ndimage.gaussian_filter(rng.random((150, 220)), 4) > 0.5
    components, n = ndimage.label(mask, structure=np.ones((3, 3)))
    surface = rng.random(mask.shape).astype(np.float32)  # no ties: one right answer
    seeds = np.zeros(mask.shape, np.int64)
    where = np.argwhere(mask)[rng.choice(int(mask.sum()), 40, replace=False)]
    seeds[tuple(where.T)] = np.arange(1, 41)
    got, split = _watershed_by_component(surface, seeds, components, label_boxes(components, n))
    several = [blob for blob in range(1, n + 1) if np.unique(seeds[(components == blob) & (seeds > 0)]).size > 1]
    np.testing.assert_array_equal(split, several)  # the blobs flooded from several seeds
    for blob in range(1, n + 1):
        inside = components == blob
        if seeds[inside].any():
            want = watershed(-surface, np.where(inside, seeds, 0), mask=inside)
            np.testing.assert_array_equal(got[inside], want[inside])
        else:  # a blob without seeds is one new particle
            assert np.unique(got[inside]).size == 1 and got[inside][0] > 40


def test_se_rims_split_crowded_clusters_better():
    gains = []
    for seed in (11, 21, 31):
        pair = make_pair(shape=(512, 512), pixel_size_nm=20, median_diameter_nm=500, n_particles=130,
                         clustered_fraction=0.9, seed=seed)
        density = density_map(pair.bse)
        alone = detection_scores(segment_particles(density), pair.centers, pair.diameters_px)
        rims = detection_scores(segment_particles(density, se=pair.se), pair.centers, pair.diameters_px)
        assert rims.f1 >= alone.f1, seed
        assert rims.median_ecd_error < alone.median_ecd_error, seed
        gains.append(rims.f1 - alone.f1)
    assert np.mean(gains) >= 0.01


def test_rim_relief_lowers_rims_only():
    from ddcsem.segment import RIM_DEPTH, _rim_relief

    yy, xx = np.mgrid[0:128, 0:128]
    r = np.hypot(yy - 64, xx - 64)
    mask = r <= 30
    se = 100.0 + 20.0 * mask + 80.0 * np.exp(-0.5 * ((r - 28) / 1.5) ** 2) * mask  # bright rim
    relief = _rim_relief(se, mask)
    assert relief.dtype == np.float32
    assert relief[64, 64] == pytest.approx(1.0)                       # the core is untouched
    assert relief[64, 64 + 28] == pytest.approx(1.0 - RIM_DEPTH, abs=0.02)  # the rim is lowered fully
    assert relief.min() >= 1.0 - RIM_DEPTH - 1e-6 and relief.max() <= 1.0


def test_se_must_match_the_density():
    with pytest.raises(ParameterError, match="se must have the shape"):
        segment_particles(np.zeros((10, 10)), se=np.zeros((10, 11)))


def test_pixel_noise_estimate():
    from ddcsem.segment import _pixel_noise

    yy, xx = np.mgrid[0:400, 0:400]
    smooth = (np.sin(yy / 40.0) + np.cos(xx / 55.0)).astype(np.float32)  # slow signal cancels
    rng = np.random.default_rng(3)
    for sd in (0.004, 0.02):
        noisy = smooth + rng.normal(0, sd, smooth.shape).astype(np.float32)
        assert abs(_pixel_noise(noisy) / sd - 1) < 0.05


def test_auto_smoothing_follows_the_noise():
    clean = discs([(60, 60), (60, 140)], [20, 12])
    np.testing.assert_array_equal(segment_particles(clean), segment_particles(clean, smooth_sigma=1.0))
    # noisy low-dose fields: more smoothing, fewer noise specks and spurious splits
    auto, fixed = [], []
    for seed in (2, 3, 4, 5):
        pair = make_pair(shape=(512, 512), pixel_size_nm=20, median_diameter_nm=500, n_particles=60,
                         clustered_fraction=0.1, dose=60, seed=seed)
        density = density_map(pair.bse)
        for scores, sigma in ((auto, "auto"), (fixed, 1.0)):
            with warnings.catch_warnings():  # 1 px leaves two of these fields noisy: it warns
                warnings.simplefilter("ignore", NoisyFieldWarning)
                labels = segment_particles(density, smooth_sigma=sigma)
            s = detection_scores(labels, pair.centers, pair.diameters_px)
            scores.append((s.precision, s.f1))
    (auto_p, auto_f1), (fixed_p, fixed_f1) = np.mean(auto, axis=0), np.mean(fixed, axis=0)
    assert auto_p > fixed_p + 0.03 and auto_f1 > fixed_f1 + 0.01
    with pytest.raises(ParameterError, match="smooth_sigma"):
        segment_particles(clean, smooth_sigma="more")


def se_like(particles, shape=(120, 210), seed=0):
    """Flat-topped particles as an SE detector sees them: a plateau 1.4 x brighter within
    2 px of the outline (edge effect), later ones lying on earlier ones, blurred by the
    probe (1 px) and noisy. ``particles``: (row, col, radius, level); returns the image and
    the visible part of each particle (labels 1..K)."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    image = np.full(shape, 0.1, np.float32)
    truth = np.zeros(shape, np.int32)
    for k, (cy, cx, r, level) in enumerate(particles, start=1):
        depth = r - np.hypot(yy - cy, xx - cx)  # distance inside the outline
        inside = depth >= 0
        image[inside] = level * np.where(depth[inside] < 2, 1.4, 1.0)
        truth[inside] = k
    noise = np.random.default_rng(seed).normal(0, 0.01, shape)
    return (ndimage.gaussian_filter(image, 1.0) + noise).astype(np.float32), truth


def iou_per_particle(labels, truth):
    """IoU of each true particle with the label covering most of it (0 when background)."""
    out = []
    for k in range(1, truth.max() + 1):
        ids, counts = np.unique(labels[truth == k], return_counts=True)
        best = ids[np.argmax(counts)]
        out.append(0.0 if best == 0 else np.count_nonzero((truth == k) & (labels == best))
                   / np.count_nonzero((truth == k) | (labels == best)))
    return np.array(out)


def test_edges_split_separates_particles_meeting_along_a_step():
    """Two squares side by side, one dimmer: one convex blob with no neck, so the shape
    split keeps it whole; the brightness step between them is an edge."""
    image, truth = np.full((100, 140), 0.1, np.float32), np.zeros((100, 140), np.int32)
    image[30:70, 30:70], truth[30:70, 30:70] = 0.6, 1
    image[30:70, 70:110], truth[30:70, 70:110] = 1.0, 2
    image = ndimage.gaussian_filter(image, 1.0) + np.random.default_rng(0).normal(0, 0.01, image.shape)
    assert segment_particles(image, split="shape").max() == 1
    labels = segment_particles(image, split="edges")
    assert labels.max() == 2
    assert iou_per_particle(labels, truth).min() > 0.95


@pytest.mark.parametrize("particles", [
    [(60, 82, 9, 0.45), (60, 60, 24, 0.8)],                          # a crescent beside the one on it
    [(60, 97, 11, 0.45), (60, 70, 24, 0.8), (60, 124, 24, 0.8)],     # a strip between two
])
def test_edges_split_seeds_a_particle_mostly_hidden_by_others(particles):
    """A particle that others lie on shows a part too thin for a core between its edges:
    it was taken by a neighbour. The part its edges enclose, compact and large enough,
    seeds it (``THIN_CELL_AREA``); the band of a bright rim, an arc, seeds nothing."""
    image, truth = se_like(particles)
    labels = segment_particles(image, split="edges")
    assert labels.max() == len(particles)
    assert iou_per_particle(labels, truth).min() > 0.9


def test_edges_split_floods_from_user_markers():
    """User markers replace the cores, not the flood: from markers near the far sides of
    two squares that meet along a brightness step, the outlines still follow the step,
    where the distance-map flood of the other splits, from the same markers, cuts one blob
    around the nearer marker's rival. A blob without a marker is still a particle."""
    image, truth = np.full((100, 160), 0.1, np.float32), np.zeros((100, 160), np.int32)
    image[30:70, 30:70], truth[30:70, 30:70] = 0.6, 1
    image[30:70, 70:110], truth[30:70, 70:110] = 1.0, 2
    yy, xx = np.mgrid[0:100, 0:160]
    disc = np.hypot(yy - 50, xx - 135) <= 8
    image[disc], truth[disc] = 0.8, 3
    image = ndimage.gaussian_filter(image, 1.0) + np.random.default_rng(0).normal(0, 0.01, image.shape)
    markers = np.zeros(image.shape, np.int32)
    markers[50, 35], markers[50, 100] = 1, 2
    labels = segment_particles(image, split="edges", markers=markers)
    assert labels.max() == 3
    assert np.all(iou_per_particle(labels, truth) > [0.95, 0.95, 0.9])
    assert iou_per_particle(segment_particles(image, split="edm", markers=markers), truth)[:2].max() < 0.6


def test_edges_split_outlines_overlapping_se_particles():
    """Three overlapping discs with bright rims and a dim one beside them: each comes out
    whole, its outline on the half-maximum of the blurred edge (IoU above 0.9); Li's
    threshold (``auto`` for this split) keeps the dim one, which Otsu's drops."""
    image, truth = se_like([(60, 50, 22, 0.8), (60, 88, 22, 0.8), (60, 125, 18, 0.8), (60, 175, 12, 0.25)])
    labels = segment_particles(image, split="edges")
    assert labels.max() == 4
    assert iou_per_particle(labels, truth).min() > 0.9
    np.testing.assert_array_equal(labels, segment_particles(image, split="edges", threshold="li"))
    assert iou_per_particle(segment_particles(image, split="edges", threshold="otsu"), truth)[3] == 0


def test_edges_split_drops_thin_arcs_keeps_small_particles():
    """Film texture: a thin faint arc (half the particles' brightness; no disc of
    ``LONE_RADIUS`` fits in it above the threshold) is no particle; a disc 7 px across is
    one, though too small to hold a core between its edges."""
    yy, xx = np.mgrid[0:120, 0:160]
    image, truth = se_like([(60, 50, 20, 0.8), (60, 120, 3.5, 0.8)], shape=(120, 160))
    ring = np.abs(np.hypot(yy - 25, xx - 120) - 12) < 0.7
    image[ring & (xx > 115)] = 0.4  # an open arc, 1-2 px wide
    labels = segment_particles(image, split="edges")
    assert labels.max() == 2
    assert iou_per_particle(labels, truth).min() > 0.6
    assert not labels[ring].any()


def test_auto_threshold_is_otsu_except_for_the_edges_split():
    image = discs([(60, 70), (60, 112)], [22, 22]) * 0.8 + 0.1
    np.testing.assert_array_equal(segment_particles(image), segment_particles(image, threshold="otsu"))


def test_edge_kernels_match_references_and_scikit_image_canny():
    """The Sobel kernel equals scipy's, non-maximum suppression its numpy reference, and
    the hysteresis-linked edges scikit-image's Canny (same smoothing and thresholds) up
    to a few pixels where float rounding decides a tie."""
    from skimage.feature import canny

    from ddcsem._kernels.segment import edge_gradient, thin_edges
    from ddcsem.segment import EDGE_SIGMA, EDGE_THRESHOLDS, _edges, _thin_edges_reference

    image, _ = se_like([(60, 50, 22, 0.8), (60, 88, 22, 0.6), (60, 125, 18, 0.9), (60, 175, 12, 0.3)])
    smooth = ndimage.gaussian_filter(image, 1.0)
    d_row, d_col, magnitude = edge_gradient(smooth)
    np.testing.assert_allclose(d_row, ndimage.sobel(smooth, axis=0), atol=1e-5)
    np.testing.assert_allclose(d_col, ndimage.sobel(smooth, axis=1), atol=1e-5)
    np.testing.assert_allclose(magnitude, np.hypot(d_row, d_col), rtol=1e-5)
    for low in (0.0, 0.1, 0.3):
        thin = thin_edges(d_row, d_col, magnitude, np.float32(low))
        np.testing.assert_array_equal(thin, _thin_edges_reference(d_row, d_col, magnitude, low))
    edges, gradient = _edges(image)
    low, high = EDGE_THRESHOLDS
    expected = canny(image, sigma=EDGE_SIGMA, low_threshold=low, high_threshold=high)
    assert expected.sum() > 500
    assert np.count_nonzero(edges != expected) <= 0.01 * expected.sum()
    assert gradient.dtype == np.float32 and gradient.shape == image.shape


def test_edges_split_rises_above_the_noise(monkeypatch):
    """A large flat particle in heavy noise (SD a tenth of its contrast): noise edges at
    the default thresholds cut it into pieces; the thresholds rise above twice the median
    gradient (the noise of a mostly flat image) and it comes out whole."""
    import ddcsem.segment as seg

    image, truth = se_like([(100, 100, 60, 0.8)], shape=(200, 200), seed=1)
    image += np.random.default_rng(2).normal(0, 0.08, image.shape).astype(np.float32)
    labels = segment_particles(image, split="edges")
    assert labels.max() == 1 and iou_per_particle(labels, truth)[0] > 0.95
    monkeypatch.setattr(seg, "EDGE_OVER_NOISE", 0.0)
    assert segment_particles(image, split="edges").max() > 3


TINY_FIELD = dict(pixel_size_nm=50, median_diameter_nm=300, sigma_ln=0.25, n_particles=150,
                  clustered_fraction=0.2, seed=4)


def test_noisy_field_warns():
    """Spheres 6 px across at a dose of 100 electrons per pixel: Otsu's threshold stands
    2.5 spreads of the matrix above it, in the noise (what it found was noise: precision
    0.19), so it is raised clear of the noise; 25 px spheres at a dose of 15 stand out as
    a phase, and their threshold, 4.x spreads up, is kept and warned about. At the tiny
    scenario's dose (600), and for 25 px spheres at 100, it stands 6.1 and 7.0."""
    noisy = make_pair((320, 320), dose=100, **TINY_FIELD)
    with pytest.warns(NoisyFieldWarning, match=r"cut into the noise itself \(it stood 2\.\d spreads .*\), so it was raised"):
        labels = segment_particles(density_map(noisy.bse))
    assert detection_scores(labels, noisy.centers, noisy.diameters_px).precision > 0.6
    faint = make_pair((320, 320), dose=15, pixel_size_nm=20, median_diameter_nm=500, n_particles=25,
                      clustered_fraction=0.1, seed=4)
    with pytest.warns(NoisyFieldWarning, match=r"poorly separated: the threshold stands only 4\.\d spreads"):
        labels = segment_particles(density_map(faint.bse))
    assert detection_scores(labels, faint.centers, faint.diameters_px).f1 > 0.9
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoisyFieldWarning)
        for field in (make_pair((320, 320), **TINY_FIELD),
                      make_pair((320, 320), dose=100, pixel_size_nm=20, median_diameter_nm=500,
                                n_particles=25, clustered_fraction=0.1, seed=4)):
            labels = segment_particles(density_map(field.bse))
            assert detection_scores(labels, field.centers, field.diameters_px).precision > 0.9


@pytest.mark.parametrize("dose", [600, 60, 25])
def test_a_field_without_particles_has_none(dose):
    """A control (tissue without mineral): Otsu's threshold cuts the noise in two and
    found about a thousand "particles" covering half the field; raised clear of the
    noise, it finds none. A few particles in such noise are found, and a threshold given
    as a value is left as it is."""
    blank = make_pair((512, 512), n_particles=0, dose=dose, seed=2)
    with pytest.warns(NoisyFieldWarning, match="raised"):
        labels = segment_particles(density_map(blank.bse), se=blank.se)
    assert labels.max() == 0
    few = make_pair((512, 512), n_particles=10, dose=60, seed=3)
    with pytest.warns(NoisyFieldWarning, match="raised"):
        labels = segment_particles(density_map(few.bse))
    assert detection_scores(labels, few.centers, few.diameters_px).f1 >= 0.8
    with pytest.warns(NoisyFieldWarning, match="poorly separated"):
        given = segment_particles(density_map(blank.bse), threshold=0.5)
    assert given.max() > 100  # the noise, as asked
    # Li's threshold (the edges split's) on a blank field stood 4.7 spreads of the matrix up
    # and took in half the field: 71 "particles"
    blank = make_pair((512, 512), n_particles=0, dose=60, seed=2)
    with pytest.warns(NoisyFieldWarning, match="raised"):
        assert segment_particles(density_map(blank.bse), split="edges").max() == 0

def test_flat_particles_are_split_at_the_paler_lines_where_they_meet(monkeypatch):
    """Flat-topped particles (spheres at 5 keV) show where they meet only as a paler line a
    few pixels wide: the shape split smooths their density less than spheres' (whose peaks
    it brings out), so crowded fields split better, above all from the BSE image alone."""
    from ddcsem import segment as seg

    scores = {}
    for scale in (seg.DENSITY_SCALE, seg.DENSITY_SCALE_FLAT):
        monkeypatch.setattr(seg, "DENSITY_SCALE_FLAT", scale)
        scores[scale] = []
        for seed in (11, 21, 31):
            pair = make_pair(shape=(512, 512), pixel_size_nm=20, median_diameter_nm=500, n_particles=130,
                             clustered_fraction=0.9, seed=seed, kev=5)
            labels = segment_particles(density_map(pair.bse), profile="flat")
            scores[scale].append(detection_scores(labels, pair.centers, pair.diameters_px).f1)
    before, after = scores[seg.DENSITY_SCALE], scores[seg.DENSITY_SCALE_FLAT]
    assert seg.DENSITY_SCALE_FLAT < seg.DENSITY_SCALE
    assert all(a > b for a, b in zip(after, before)), scores  # measured 0.899/0.912/0.856 -> 0.939/0.957/0.883
    assert np.mean(after) - np.mean(before) > 0.03 and min(after) > 0.87, scores


def test_a_threshold_value_beyond_the_map_is_named_with_otsus():
    """A threshold value above every pixel of the map found nothing, and one below every
    pixel took the field for one particle, without a word (or with the noisy-field advice,
    which speaks of the dose). Each is named, with the map's range and Otsu's threshold."""
    image = discs([(60, 70), (60, 140)], [15, 15])  # 0 and 1; Otsu's threshold lies between
    for value, where in ((1.5, r"at or above its highest value, 1: no pixel stands above it"),
                         (-0.2, r"below its lowest value, 0: every pixel stands above it, so the whole field is "
                                   r"taken for one particle")):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            labels = segment_particles(image, threshold=value, smooth_sigma=0)
        said = [str(w.message) for w in caught]
        assert len(said) == 1 and re.search(rf"the threshold given, {value:g}, lies beyond the smoothed density "
                                            rf"map: {where}; give a value within 0 to 1, or a method, as 'otsu' "
                                            r"\(Otsu's method sets 0\.\d+ here\)", said[0]), said
        assert labels.max() == 0  # nothing above it; or one particle, the field, on the border
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert segment_particles(image, threshold=0.5, smooth_sigma=0).max() == 2


@pytest.mark.parametrize("name", ["fill_holes", "exclude_border", "refine_edges"])
def test_segmentation_switches_are_true_or_false(name):
    """A string was taken for true ("no" filled holes); 0 and 1, and numpy's bools, are switches."""
    image = discs([(60, 70)], [20])
    with pytest.raises(ParameterError, match=rf"^{name} must be True or False, not 'no'$"):
        segment_particles(image, **{name: "no"})
    assert segment_particles(image, **{name: 0}).max() == segment_particles(image, **{name: False}).max() == 1


def test_names_in_any_case_and_auto_named_in_the_refusal():
    """segment_particles takes its names in any case, as AnalysisOptions and the command
    line do: split="Shape" and threshold="Auto" were refused before, and a threshold
    name it does not know was answered with a list that left out "auto" (and in lower
    case, not as given). An array where a name belongs raised numpy's "truth value of an
    array ... is ambiguous"."""
    image = discs([(60, 70), (60, 112)], [22, 22])
    expected = segment_particles(image, split="edm", threshold="auto", profile="flat", smooth_sigma="auto")
    found = segment_particles(image, split="EDM", threshold="Auto", profile="Flat", smooth_sigma="AUTO")
    np.testing.assert_array_equal(found, expected)
    assert found.max() == 2
    with pytest.raises(ParameterError, match="threshold must be 'auto', 'otsu', 'li', 'yen', 'triangle' or a "
                                             "number, not 'Mean'"):
        segment_particles(image, threshold="Mean")
    local = np.full(image.shape, 0.5)  # a threshold per pixel, as scikit-image's threshold_local gives
    with pytest.raises(ParameterError, match=r"not an array of shape \(\d+, \d+\) \(the density map is thresholded "
                                             "whole: its flat field takes out the uneven shading"):
        segment_particles(image, threshold=local)
    with pytest.raises(ParameterError, match=r"split must be 'shape', 'edm', 'edges' or 'none', not \['edm'\]"):
        segment_particles(image, split=["edm"])
