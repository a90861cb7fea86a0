"""Score a segmentation against ground truth (synthetic truth or hand-drawn masks).

Two scores, as the accuracy benchmarks report them:

* :func:`detection_scores` — a detected particle matches a true one when its centroid lies
  within half the true radius of the true centre (one-to-one, nearest first); F1, median
  relative ECD error of matched particles (:func:`match_detections`: which matched which);
* :func:`instance_f1` — instance masks match when their intersection over union is at least
  0.5 (one-to-one); particles touching the border can be ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ParameterError

__all__ = ["DetectionScore", "detection_scores", "instance_f1", "match_detections"]


@dataclass(frozen=True)
class DetectionScore:
    """Result of :func:`detection_scores`."""

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

    centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    radii = np.asarray(diameters_px, dtype=np.float64) / 2
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
    if frame < 1:
        raise ParameterError(f"frame must be at least 1 row and column, not {frame}")

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
    matched = 0
    if pairs.size:
        pa = p_area[np.searchsorted(p_ids, pairs[0])]
        ta = t_area[np.searchsorted(t_ids, pairs[1])]
        scores = inter / (pa + ta - inter)
        good = scores >= iou
        # IoU > 0.5 is one-to-one; for lower thresholds take each label once, best first
        used_p, used_t = set(), set()
        for k in np.argsort(-scores):
            if not good[k]:
                break
            if pairs[0, k] not in used_p and pairs[1, k] not in used_t:
                used_p.add(pairs[0, k])
                used_t.add(pairs[1, k])
                matched += 1
    f1, _, _ = _f1(matched, p_ids.size, t_ids.size)
    return f1, int(t_ids.size), int(p_ids.size), matched
