"""Score a segmentation against ground truth (synthetic truth or hand-drawn masks).

Two scores, as the accuracy benchmarks report them:

* :func:`detection_scores` — a detected particle matches a true one when its centroid lies
  within half the true radius of the true centre (one-to-one, nearest first); F1, median
  relative ECD error of matched particles (:func:`match_detections`: which matched which);
* :func:`instance_f1` — instance masks match when their intersection over union is at least
  0.5 (one-to-one); particles touching the border can be ignored. :func:`instance_errors`
  says what became of the rest: merged, split, missed, misshapen or spurious.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ParameterError, require_positive, require_switch

__all__ = ["DetectionScore", "detection_scores", "instance_errors", "instance_f1", "match_detections"]


@dataclass(frozen=True)
class DetectionScore:
    """Result of :func:`detection_scores`.

    Attributes
    ----------
    f1, precision, recall : float
        Detection scores (0 to 1) of the spheres and particles scored.
    n_true, n_found, n_matched : int
        True spheres scored, detected particles scored, and matched pairs.
    median_ecd_error : float
        Median ``|ECD_found / ECD_true - 1|`` of the matched particles (a fraction; NaN
        where none matched).

    Examples
    --------
    >>> labels = np.zeros((20, 20), int); labels[2:8, 2:8] = 1
    >>> s = detection_scores(labels, np.array([[4.5, 4.5], [15, 15]]), np.array([7.0, 7.0]))
    >>> s.n_true, s.n_found, s.n_matched, s.precision, s.recall
    (2, 1, 1, 1.0, 0.5)
    """

    f1: float
    precision: float
    recall: float
    n_true: int
    n_found: int
    n_matched: int
    median_ecd_error: float  # median |ECD_found / ECD_true - 1| of matched particles


def _f1(matched: int, n_found: int, n_true: int) -> tuple[float, float, float]:
    precision = matched / n_found if n_found else 0.0
    recall = matched / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return f1, precision, recall


def _matched(
    labels: np.ndarray, centers: np.ndarray, diameters_px: np.ndarray, ignore_border: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Which true spheres are scored (bool per sphere), the scored detections' label ids
    and areas (px), and the matched pairs: indices into the scored spheres and detections."""
    from scipy import ndimage

    from .measure import _check

    ignore_border = require_switch(ignore_border, "ignore_border")
    labels, original = _check(labels, None, None)  # sparse ids numbered 1..K: find_objects keeps a slot per id
    centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    radii = np.asarray(diameters_px, dtype=np.float64).ravel() / 2
    if len(centers) != len(radii):
        raise ParameterError(f"centers and diameters_px must be of one sphere each, not {len(centers)} centres "
                             f"and {len(radii)} diameters")
    if not (np.isfinite(centers).all() and np.isfinite(radii).all() and (radii > 0).all()):
        # a NaN centre, or a diameter of 0 or less, was a sphere that nothing could match
        raise ParameterError("centers must be finite, and diameters_px finite and above 0")
    rows, cols = labels.shape
    ids = np.unique(labels[labels > 0])
    if ids.size:
        found = np.array(ndimage.center_of_mass(np.ones_like(labels), labels, ids)).reshape(-1, 2)
        areas = ndimage.sum_labels(np.ones_like(labels), labels, ids)
        slices = ndimage.find_objects(labels)
        touches = np.array([
            s[0].start == 0 or s[1].start == 0 or s[0].stop == rows or s[1].stop == cols
            for s in (slices[i - 1] for i in ids)
        ])
    else:
        found, areas, touches = np.zeros((0, 2)), np.zeros(0), np.zeros(0, bool)
    keep_true = np.ones(len(centers), bool)
    if ignore_border:
        keep_true = ((centers[:, 0] - radii >= 0) & (centers[:, 1] - radii >= 0)
                     & (centers[:, 0] + radii <= rows - 1) & (centers[:, 1] + radii <= cols - 1))
        ids, found, areas = ids[~touches], found[~touches], areas[~touches]
    centers, radii = centers[keep_true], radii[keep_true]

    true_k, found_k = [], []
    if len(found) and len(centers):
        d = np.hypot(centers[:, None, 0] - found[None, :, 0], centers[:, None, 1] - found[None, :, 1])
        ti, fi = np.nonzero(d <= radii[:, None] / 2)
        used_t, used_f = set(), set()
        for k in np.argsort(d[ti, fi]):
            t, f = ti[k], fi[k]
            if t not in used_t and f not in used_f:
                used_t.add(t)
                used_f.add(f)
                true_k.append(t)
                found_k.append(f)
    ids = ids if original is None else original[ids]  # the caller's own, as match_detections gives them
    return keep_true, ids, areas, np.array(true_k, dtype=np.intp), np.array(found_k, dtype=np.intp)


def detection_scores(
    labels: np.ndarray, centers: np.ndarray, diameters_px: np.ndarray, *, ignore_border: bool = True
) -> DetectionScore:
    """Match detected particles to true spheres by centroid distance.

    Parameters
    ----------
    labels : ndarray, shape (M, N)
        Detected particles (0 background).
    centers : ndarray, shape (K, 2)
        True centres (row, col), px.
    diameters_px : ndarray, shape (K,)
        True diameters, px.
    ignore_border : bool, optional
        Leave out true particles that touch the border and detections that touch it
        (particles cut by the frame have no true size).

    Returns
    -------
    DetectionScore

    See Also
    --------
    match_detections : which sphere matched which particle.

    Examples
    --------
    >>> labels = np.zeros((20, 20), int); labels[2:8, 2:8] = 1; labels[12:18, 12:18] = 2
    >>> s = detection_scores(labels, np.array([[4.5, 4.5], [15, 15]]), np.array([7.0, 7.0]))
    >>> s.f1, s.n_matched, round(s.median_ecd_error, 3)   # ECD of a 6 x 6 square: 6.77
    (1.0, 2, 0.033)
    """
    keep_true, ids, areas, true_k, found_k = _matched(labels, centers, diameters_px, ignore_border)
    f1, precision, recall = _f1(true_k.size, ids.size, int(keep_true.sum()))
    true_d = np.asarray(diameters_px, dtype=np.float64)[keep_true][true_k]
    errors = np.abs(2 * np.sqrt(areas[found_k] / np.pi) / true_d - 1)
    return DetectionScore(f1, precision, recall, int(keep_true.sum()), ids.size, true_k.size,
                          float(np.median(errors)) if errors.size else float("nan"))


def match_detections(
    labels: np.ndarray, centers: np.ndarray, diameters_px: np.ndarray, *, ignore_border: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Which true sphere each detected particle matches, as :func:`detection_scores` counts it.

    A particle matches a sphere when its centroid lies within half the sphere's radius of
    the sphere's centre, one to one, the nearest pairs first. The spheres and particles
    left out of the pairs are the misses and the false detections, to look at one by one.

    Parameters
    ----------
    labels : ndarray, shape (M, N)
        Detected particles (0 background).
    centers : ndarray, shape (K, 2)
        True centres (row, col), px.
    diameters_px : ndarray, shape (K,)
        True diameters, px.
    ignore_border : bool, optional
        Leave out true particles that touch the border and detections that touch it.

    Returns
    -------
    sphere : ndarray of int, shape (P,)
        Indices into ``centers`` of the matched spheres.
    label : ndarray of int, shape (P,)
        The label of the particle matched to each.

    Examples
    --------
    >>> labels = np.zeros((20, 20), int); labels[2:8, 2:8] = 1; labels[12:18, 12:18] = 2
    >>> sphere, label = match_detections(labels, np.array([[15, 15], [4.5, 9.5]]), np.array([7.0, 7.0]))
    >>> sphere.tolist(), label.tolist()   # the second sphere's centre lies 5 px from particle 1
    ([0], [2])
    """
    keep_true, ids, _, true_k, found_k = _matched(labels, centers, diameters_px, ignore_border)
    return np.flatnonzero(keep_true)[true_k], ids[found_k]


def instance_f1(
    labels: np.ndarray, truth: np.ndarray, *, iou: float = 0.5, ignore_border: bool = True,
    frame: int = 1,
) -> tuple[float, int, int, int]:
    """F1 of instance segmentation: a match needs intersection over union >= ``iou``.

    Parameters
    ----------
    labels, truth : ndarray, shape (M, N)
        Predicted and true instance labels (0 background).
    iou : float, optional
        Least IoU of a match (above 0.5 a match is necessarily one-to-one).
    ignore_border : bool, optional
        Leave out instances that touch the border, in both.
    frame : int, optional
        How many rows and columns at each edge count as the border. Masks drawn with a
        blank outer line (as the 1-px lines that part touching particles) need 2: their
        particles cut by the frame end one pixel inside it.

    Returns
    -------
    (f1, n_true, n_found, n_matched)

    Examples
    --------
    >>> t = np.zeros((10, 10), int); t[1:4, 1:4] = 1; t[5:9, 5:9] = 2
    >>> p = t.copy(); p[1:4, 1:4] = 0; p[0, 9] = 5       # one missed, one spurious
    >>> f1, n_true, n_found, n_matched = instance_f1(p, t, ignore_border=False)
    >>> round(f1, 3), n_true, n_found, n_matched
    (0.5, 2, 2, 1)
    >>> t = np.zeros((12, 12), int); t[1:5, 3:7] = 1; t[6:10, 4:8] = 2  # 1: cut by a blank frame
    >>> instance_f1(t, t)[1], instance_f1(t, t, frame=2)[1]
    (2, 1)
    """
    o = _Overlaps.of(labels, truth, ignore_border, frame)
    matched = len(o.matches(iou))
    f1, _, _ = _f1(matched, o.p_ids.size, o.t_ids.size)
    return f1, int(o.t_ids.size), int(o.p_ids.size), matched


def instance_errors(
    labels: np.ndarray, truth: np.ndarray, *, iou: float = 0.5, ignore_border: bool = True,
    frame: int = 1,
) -> dict[str, int]:
    """What became of each true instance, and of each found one, under :func:`instance_f1`.

    A true instance that no found one matches (IoU >= ``iou``) is *merged* when the found
    instance that covers most of it covers at least half of it and half of another true
    one; *split* when found instances cover at least half of it but none covers half;
    *missed* when they cover less than half of it; else *misshapen* (one found instance
    covers most of it, but too large or too small to match). A found instance that matches
    none is *spurious* when true instances cover less than half of it: one found over twice
    as large as the true one it covers counts under both.

    Parameters
    ----------
    labels, truth, iou, ignore_border, frame
        As for :func:`instance_f1`.

    Returns
    -------
    dict
        Counts: ``n_true``, ``n_found``, ``matched``, ``merged``, ``split``, ``missed``,
        ``misshapen`` (the true instances: ``n_true`` is the sum of the four after it and
        ``matched``), and ``spurious`` (found ones).

    Examples
    --------
    >>> t = np.zeros((14, 14), int); t[2:5, 2:5] = 1; t[2:5, 5:8] = 2; t[2:5, 8:11] = 3
    >>> t[9:12, 9:12] = 4
    >>> p = np.zeros_like(t); p[2:5, 2:11] = 1; p[0, 0:3] = 2  # 1-3 merged, 4 missed
    >>> e = instance_errors(p, t, ignore_border=False)
    >>> e["merged"], e["missed"], e["spurious"], e["matched"]
    (3, 1, 1, 0)
    """
    o = _Overlaps.of(labels, truth, ignore_border, frame)
    done = o.matches(iou)
    found_p, found_t = {a for a, _ in done}, {b for _, b in done}
    t_area = dict(zip(o.t_ids.tolist(), o.t_area.tolist()))
    p_area = dict(zip(o.p_ids.tolist(), o.p_area.tolist()))
    covered_t = dict.fromkeys(t_area, 0)  # pixels of each true instance under any found one
    covered_p = dict.fromkeys(p_area, 0)
    best = {}  # true id -> (overlap, found id) of the found instance covering most of it
    halves = dict.fromkeys(p_area, 0)  # how many true instances each found one half-covers
    for (a, b), n in zip(o.pairs.T.tolist(), o.inter.tolist()):
        covered_t[b] += n
        covered_p[a] += n
        best[b] = max(best.get(b, (0, 0)), (n, a))
        if 2 * n >= t_area[b]:
            halves[a] += 1
    counts = dict(n_true=len(t_area), n_found=len(p_area), matched=len(done), merged=0, split=0, missed=0,
                  misshapen=0)
    for b, area in t_area.items():
        if b in found_t:
            continue
        n, a = best.get(b, (0, 0))
        if 2 * covered_t[b] < area:
            counts["missed"] += 1
        elif 2 * n < area:
            counts["split"] += 1
        elif halves[a] > 1:
            counts["merged"] += 1
        else:
            counts["misshapen"] += 1
    counts["spurious"] = sum(1 for a, area in p_area.items() if a not in found_p and 2 * covered_p[a] < area)
    return counts


@dataclass(frozen=True)
class _Overlaps:
    """The instances of a segmentation and of its truth left once those on the border go,
    their areas, and each overlapping pair (found id, true id) with its pixels in common."""

    p_ids: np.ndarray
    p_area: np.ndarray
    t_ids: np.ndarray
    t_area: np.ndarray
    pairs: np.ndarray
    inter: np.ndarray

    @classmethod
    def of(cls, labels: np.ndarray, truth: np.ndarray, ignore_border: bool, frame: int) -> _Overlaps:
        from .measure import _check

        ignore_border = require_switch(ignore_border, "ignore_border")
        if isinstance(frame, (bool, np.bool_)) or not isinstance(frame, (int, np.integer)) or frame < 1:
            raise ParameterError(f"frame must be a whole number of rows and columns, at least 1, not {frame!r}")
        labels, truth = _check(labels, None, None)[0], _check(truth, None, None, name="truth")[0]  # only counted
        if labels.shape != truth.shape:
            raise ParameterError(f"labels and truth must be of one shape, not {labels.shape} and {truth.shape}")

        def interior(lab: np.ndarray) -> np.ndarray:
            lab = lab.copy()
            if ignore_border:
                edge = np.unique(np.concatenate([lab[:frame].ravel(), lab[-frame:].ravel(),
                                                 lab[:, :frame].ravel(), lab[:, -frame:].ravel()]))
                lab[np.isin(lab, edge[edge > 0])] = 0
            return lab

        p, t = interior(np.asarray(labels)), interior(np.asarray(truth))
        p_ids, p_area = np.unique(p[p > 0], return_counts=True)
        t_ids, t_area = np.unique(t[t > 0], return_counts=True)
        both = (p > 0) & (t > 0)
        pairs, inter = np.unique(np.stack([p[both], t[both]]), axis=1, return_counts=True)
        return cls(p_ids, p_area, t_ids, t_area, pairs, inter)

    def matches(self, iou: float) -> list[tuple[int, int]]:
        """The matched pairs (found id, true id): IoU >= ``iou``, one-to-one, best first."""
        if require_positive(iou, "iou") > 1:  # none would match; and 0 or NaN, every overlap
            raise ParameterError(f"iou must be above 0 and at most 1, not {iou!r}")
        if not self.pairs.size:
            return []
        pa = self.p_area[np.searchsorted(self.p_ids, self.pairs[0])]
        ta = self.t_area[np.searchsorted(self.t_ids, self.pairs[1])]
        scores = self.inter / (pa + ta - self.inter)
        # IoU > 0.5 is one-to-one; for lower thresholds take each label once, best first
        out, used_p, used_t = [], set(), set()
        for k in np.argsort(-scores):
            if scores[k] < iou:
                break
            a, b = int(self.pairs[0, k]), int(self.pairs[1, k])
            if a not in used_p and b not in used_t:
                used_p.add(a)
                used_t.add(b)
                out.append((a, b))
        return out
