"""Numba kernels of the particle measurements. Private: see :mod:`ddcsem.measure`.

:func:`label_stats` gathers, in one raster pass, each label's pixel count, first moments
and second moments, bounding box, first pixel and channel sums. :func:`outlines` then
walks each particle's outline along pixel edges (clockwise, turning onto diagonal
neighbours so 8-connected particles have one outline, as ImageJ traces them) and derives
ImageJ's traced perimeter, the convex hull of the outline's corners, the Feret diameters
and the hull area; :func:`outline_corners` returns the same walk's corners, in the order
of ImageJ's traced polygon, for ROI files. :mod:`ddcsem.measure` keeps plain
implementations of the same definitions (``outline``, ``traced_perimeter``, ``feret``)
that tests compare these with.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_CORNER_CUT = 2.0 - np.sqrt(2.0)


@nb.njit(cache=True, inline="always")
def add_moments(f, lab, r, c):  # pragma: no cover - jit
    """Count the pixel (r, c) into row ``lab`` of ``f``: [count, sum_r, sum_c, sum_rr,
    sum_cc, sum_rc] in its first six columns."""
    f[lab, 0] += 1.0
    f[lab, 1] += r
    f[lab, 2] += c
    f[lab, 3] += r * r
    f[lab, 4] += c * c
    f[lab, 5] += r * c


@nb.njit(cache=True)
def label_stats(labels, n, bse, se):  # pragma: no cover - jit
    """Per label 1..n: [count, sum_r, sum_c, sum_rr, sum_cc, sum_rc, bse_sum, se_sum] and
    [rmin, rmax, cmin, cmax, first_r, first_c] (row 0 unused)."""
    rows, cols = labels.shape
    f = np.zeros((n + 1, 8))
    box = np.full((n + 1, 6), -1, dtype=np.int64)
    for r in range(rows):
        for c in range(cols):
            lab = labels[r, c]
            if lab <= 0:
                continue
            if box[lab, 0] < 0:
                box[lab, 0] = r
                box[lab, 1] = r
                box[lab, 2] = c
                box[lab, 3] = c
                box[lab, 4] = r
                box[lab, 5] = c
            else:
                box[lab, 1] = r
                if c < box[lab, 2]:
                    box[lab, 2] = c
                if c > box[lab, 3]:
                    box[lab, 3] = c
            add_moments(f, lab, r, c)
            f[lab, 6] += bse[r, c]
            f[lab, 7] += se[r, c]
    return f, box


@nb.njit(cache=True, inline="always")
def _inside(labels, lab, r, c):
    return 0 <= r < labels.shape[0] and 0 <= c < labels.shape[1] and labels[r, c] == lab


@nb.njit(cache=True)
def _hull(points, k):  # pragma: no cover - jit
    """Monotone-chain convex hull of points[:k] (sorted copy); returns hull vertices."""
    span = points[:k, 1].max() + 2.0  # lattice points: sort by row, then column
    order = np.argsort(points[:k, 0] * span + points[:k, 1])
    p = points[:k][order]
    hull = np.empty((2 * k + 1, 2))
    m = 0
    for i in range(k):  # lower chain
        while m >= 2 and ((hull[m - 1, 0] - hull[m - 2, 0]) * (p[i, 1] - hull[m - 2, 1])
                          - (hull[m - 1, 1] - hull[m - 2, 1]) * (p[i, 0] - hull[m - 2, 0])) <= 0:
            m -= 1
        hull[m] = p[i]
        m += 1
    low = m + 1
    for i in range(k - 2, -1, -1):  # upper chain
        while m >= low and ((hull[m - 1, 0] - hull[m - 2, 0]) * (p[i, 1] - hull[m - 2, 1])
                            - (hull[m - 1, 1] - hull[m - 2, 1]) * (p[i, 0] - hull[m - 2, 0])) <= 0:
            m -= 1
        hull[m] = p[i]
        m += 1
    return hull[: max(1, m - 1)]


@nb.njit(cache=True)
def _corners(labels, lab, box):  # pragma: no cover - jit
    """Walk label ``lab``'s outline along pixel edges, clockwise on screen, from the
    top-left corner of its first pixel (``box[lab, 4:6]``), turning onto diagonal
    neighbours; return its corners (row, col) in walk order, the step index of each and
    the number of steps."""
    height = box[lab, 1] - box[lab, 0] + 1
    width = box[lab, 3] - box[lab, 2] + 1
    capacity = min(4 * labels.size + 4, 4 * height * width + 8)
    dirs = np.empty(capacity, dtype=np.int8)  # 0 E, 1 S, 2 W, 3 N
    sy, sx = box[lab, 4], box[lab, 5]
    vy, vx = sy, sx
    d = 0
    steps = 0
    while True:
        dirs[steps] = d
        steps += 1
        dy = (0, 1, 0, -1)[d]
        dx = (1, 0, -1, 0)[d]
        vy += dy
        vx += dx
        ry, rx = dx, -dy  # right of the heading on screen (rows down)
        ahead_right_r = (2 * vy + dy + ry) // 2
        ahead_right_c = (2 * vx + dx + rx) // 2
        ahead_left_r = (2 * vy + dy - ry) // 2
        ahead_left_c = (2 * vx + dx - rx) // 2
        if _inside(labels, lab, ahead_left_r, ahead_left_c):
            d = (d + 3) % 4
        elif not _inside(labels, lab, ahead_right_r, ahead_right_c):
            d = (d + 1) % 4
        if (vy == sy and vx == sx and d == 0) or steps >= capacity:
            break
    turns = np.empty(steps, dtype=np.int64)  # a corner starts a new side
    n_turns = 0
    for i in range(steps):
        if dirs[i] != dirs[i - 1 if i > 0 else steps - 1]:  # the buffer is longer than the walk
            turns[n_turns] = i
            n_turns += 1
    points = np.empty((max(n_turns, 1), 2), dtype=np.int64)
    vy, vx = sy, sx
    t = 0
    for i in range(steps):  # replay the walk to place each corner
        if t < n_turns and turns[t] == i:
            points[t, 0] = vy
            points[t, 1] = vx
            t += 1
        vy += (0, 1, 0, -1)[dirs[i]]
        vx += (1, 0, -1, 0)[dirs[i]]
    return points[:n_turns], turns[:n_turns], steps


@nb.njit(cache=True)
def outline_corners(labels, box):  # pragma: no cover - jit
    """Every label's outline corners in the order of ImageJ's traced polygon (from the
    third corner of the walk), concatenated: label ``k``'s are ``corners[offsets[k]:
    offsets[k + 1]]``; and the area each outline encloses (its pixels, holes included)."""
    n = box.shape[0] - 1
    offsets = np.zeros(n + 2, dtype=np.int64)
    enclosed = np.zeros(n + 1)
    out = np.empty((1024, 2), dtype=np.int64)
    m = 0
    for lab in range(1, n + 1):
        offsets[lab] = m
        if box[lab, 0] < 0:
            continue
        points, _, _ = _corners(labels, lab, box)
        k = points.shape[0]
        if m + k > out.shape[0]:
            grown = np.empty((2 * (m + k), 2), dtype=np.int64)
            grown[:m] = out[:m]
            out = grown
        area2 = 0
        for i in range(k):
            a, b = points[(i + 2) % k], points[(i + 3) % k]
            out[m + i] = a
            area2 += a[1] * b[0] - a[0] * b[1]
        enclosed[lab] = abs(area2) / 2
        m += k
    offsets[n + 1] = m
    return out[:m], offsets, enclosed


@nb.njit(cache=True)
def outlines(labels, box):  # pragma: no cover - jit
    """Per label: [perimeter, feret_max, feret_min, feret_angle_deg, hull_area]."""
    n = box.shape[0] - 1
    out = np.full((n + 1, 5), np.nan)
    for lab in range(1, n + 1):
        if box[lab, 0] < 0:
            continue
        corner_points, turns, steps = _corners(labels, lab, box)
        n_turns = turns.shape[0]
        points = corner_points.astype(np.float64)
        # ImageJ counts a corner after a side longer than one pixel, and every other corner
        # along a staircase of unit sides, from its polygon's first corner: the third here
        corners = 0
        counted = False
        for k in range(n_turns):
            t = (k + 2) % n_turns
            before = turns[t - 1] if t > 0 else turns[n_turns - 1]
            incoming = (turns[t] - before) % steps if n_turns > 1 else steps
            if incoming > 1 or not counted:
                counted = True
                corners += 1
            else:
                counted = False
        out[lab, 0] = steps - corners * _CORNER_CUT
        hull = _hull(points, max(n_turns, 1))
        h = hull.shape[0]
        best, bi, bj = 0.0, 0, 0
        for a in range(h):
            for b in range(a + 1, h):
                dist = (hull[a, 0] - hull[b, 0]) ** 2 + (hull[a, 1] - hull[b, 1]) ** 2
                if dist > best:
                    best, bi, bj = dist, a, b
        out[lab, 1] = np.sqrt(best)
        ang = np.degrees(np.arctan2(-(hull[bj, 0] - hull[bi, 0]), hull[bj, 1] - hull[bi, 1]))
        out[lab, 3] = ang % 180.0
        width_min = np.inf
        for a in range(h):
            b = (a + 1) % h
            ey, ex = hull[b, 0] - hull[a, 0], hull[b, 1] - hull[a, 1]
            length = np.sqrt(ey * ey + ex * ex)
            if length == 0:
                continue
            far = 0.0
            for q in range(h):
                dist = abs((hull[q, 0] - hull[a, 0]) * ex - (hull[q, 1] - hull[a, 1]) * ey) / length
                if dist > far:
                    far = dist
            if far < width_min:
                width_min = far
        out[lab, 2] = width_min if width_min < np.inf else 0.0
        area2 = 0.0
        for a in range(h):
            b = (a + 1) % h
            area2 += hull[a, 1] * hull[b, 0] - hull[a, 0] * hull[b, 1]
        out[lab, 4] = abs(area2) / 2
    return out
