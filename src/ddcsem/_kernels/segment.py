"""Numba kernels of the segmentation. Private: see :mod:`ddcsem.segment`.

:func:`distance_transform` is the exact Euclidean distance transform of Felzenszwalb and
Huttenlocher: the 1-D distance along columns by two sweeps, then the lower envelope of
parabolas along rows, run by run of foreground, in parallel;
``scipy.ndimage.distance_transform_edt`` is its reference in the tests.
:func:`inscribed_radii` the largest inscribed circle of labels within their boxes
(``ddcsem.segment._inscribed_radii_reference`` its reference).
:func:`label_components` labels connected components in parallel bands of rows
(``scipy.ndimage.label`` its reference, numbering included), :func:`relabel` maps labels
through a table, :func:`label_max` is the per-label maximum of an image (in parallel
bands), :func:`label_boxes` the labels' bounding boxes, :func:`euler_numbers` their
Euler numbers (which blobs have holes), :func:`grow_specks` grows dim specks to their
half maximum (``ddcsem.segment._grow_specks_reference`` its reference), :func:`add_dim_blobs` adds
the dim particles of a clean field (``ddcsem.segment._add_dim_blobs_reference``),
:func:`local_peaks` the local maxima of a surface given its maximum filter,
:func:`select_seeds` which of them seed the split (own-scale windows and valleys),
:func:`piece_contacts` the pieces of the split blobs, their labels read through a table,
and where they meet (``ddcsem.segment._piece_contacts_reference`` its reference).
:func:`edge_gradient` is the Sobel gradient (``scipy.ndimage.sobel`` its reference) and
:func:`thin_edges` the non-maximum suppression of Canny's detector
(``ddcsem.segment._thin_edges_reference`` its reference).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .measure import add_moments


@nb.njit(cache=True, inline="always")
def _envelope(f, n, d, v, z):  # pragma: no cover - jit
    """1-D squared distance transform of sampled function f[:n] into d[:n]."""
    k = 0
    v[0] = 0
    z[0] = -np.inf
    z[1] = np.inf
    for q in range(1, n):
        if f[q] == np.inf:
            continue
        while True:
            p = v[k]
            if f[p] == np.inf:
                s = -np.inf
            else:
                s = ((f[q] + q * q) - (f[p] + p * p)) / (2.0 * q - 2.0 * p)
            if s <= z[k] and k > 0:
                k -= 1
                continue
            if f[p] == np.inf:  # the first sample was infinite: replace it
                v[k] = q
                z[k] = -np.inf
                z[k + 1] = np.inf
                break
            k += 1
            v[k] = q
            z[k] = s
            z[k + 1] = np.inf
            break
    if f[v[0]] == np.inf:
        for q in range(n):
            d[q] = np.inf
        return
    k = 0
    for q in range(n):
        while z[k + 1] < q:
            k += 1
        p = v[k]
        d[q] = (q - p) * (q - p) + f[p]


@nb.njit(cache=True, parallel=True)
def distance_transform(mask):  # pragma: no cover - jit
    """Euclidean distance of each foreground pixel to the nearest background pixel (float32).

    Outside the image counts as foreground, as in scipy's ``distance_transform_edt``.
    """
    rows, cols = mask.shape
    # along columns the 1-D transform of a binary image is the distance to the nearest
    # background pixel above or below: two sweeps over whole rows, strips of columns in
    # parallel, so every access is contiguous
    far = rows + cols  # no background in the column: infinitely far
    vertical = np.empty((rows, cols), dtype=np.int32)
    strip = 256
    for s in nb.prange((cols + strip - 1) // strip):
        c0 = s * strip
        c1 = min(cols, c0 + strip)
        for c in range(c0, c1):
            vertical[0, c] = far if mask[0, c] else 0
        for r in range(1, rows):
            for c in range(c0, c1):
                vertical[r, c] = min(vertical[r - 1, c] + 1, far) if mask[r, c] else 0
        for r in range(rows - 2, -1, -1):
            for c in range(c0, c1):
                vertical[r, c] = min(vertical[r, c], vertical[r + 1, c] + 1)
    # along rows, a background pixel is nearer to the pixels beyond it than anything on its
    # far side, so each run of foreground is solved alone, from the background pixels that
    # bound it: the envelope's work is that of the foreground, not of the whole row
    out = np.empty((rows, cols), dtype=np.float32)
    for r in nb.prange(rows):
        f = np.empty(cols)
        d = np.empty(cols)
        v = np.empty(cols, dtype=np.int64)
        z = np.empty(cols + 1)
        c = 0
        while c < cols:
            if vertical[r, c] == 0:
                out[r, c] = 0.0
                c += 1
                continue
            start = c
            while c < cols and vertical[r, c] != 0:
                c += 1
            lo = max(start - 1, 0)  # with the bounding background pixels, where there are some
            hi = min(c + 1, cols)
            for q in range(lo, hi):
                f[q - lo] = np.inf if vertical[r, q] >= far else float(vertical[r, q]) ** 2
            _envelope(f, hi - lo, d, v, z)
            for q in range(start, c):
                out[r, q] = np.sqrt(d[q - lo]) if d[q - lo] < np.inf else np.inf
    return out


@nb.njit(cache=True, inline="always")
def _root(parent, x):  # pragma: no cover - jit
    """Root of ``x`` in a union-find forest, halving the path on the way."""
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@nb.njit(cache=True, inline="always")
def _union(parent, a, b):  # pragma: no cover - jit
    """Join the sets of ``a`` and ``b``; the smaller root (the earlier label) stays root."""
    a = _root(parent, a)
    b = _root(parent, b)
    if a < b:
        parent[b] = a
    elif b < a:
        parent[a] = b


@nb.njit(cache=True, inline="always")
def _join_above(labels, parent, mask, r, c, cols, eight, here):  # pragma: no cover - jit
    """Union ``here`` (the label of pixel (r, c)) with its foreground neighbours in row r - 1."""
    for dc in range(-1 if eight else 0, 2 if eight else 1):
        q = c + dc
        if 0 <= q < cols and mask[r - 1, q]:
            _union(parent, here, labels[r - 1, q])


@nb.njit(cache=True, parallel=True)
def label_components(mask, eight, nstrips):  # pragma: no cover - jit
    """Connected components of a boolean image (8- or 4-connectivity), numbered 1..n in the
    order of their first pixel, as ``scipy.ndimage.label`` numbers them; returns
    ``(labels, n)``.

    Bands of rows are labelled in parallel, each with its own range of provisional labels
    (room for one per run of foreground along its rows: only a run starts a label),
    joined in a union-find forest whose roots are the earliest labels; the bands are then
    joined along their first rows, and the roots numbered in order.
    """
    rows, cols = mask.shape
    labels = np.empty((rows, cols), dtype=np.int32)
    step = (rows + nstrips - 1) // nstrips
    runs = np.zeros(nstrips + 1, dtype=np.int64)
    for s in nb.prange(nstrips):
        k = 0
        for r in range(s * step, min(rows, (s + 1) * step)):
            k += np.int64(mask[r, 0])
            for c in range(1, cols):  # branch-free, so it vectorises
                k += np.int64(mask[r, c]) > np.int64(mask[r, c - 1])
        runs[s + 1] = k
    first = np.cumsum(runs)  # band s numbers its labels from first[s] + 1
    parent = np.empty(first[nstrips] + 1, dtype=np.int32)
    used = np.zeros(nstrips, dtype=np.int64)
    for s in nb.prange(nstrips):
        r0 = s * step
        r1 = min(rows, r0 + step)
        base = first[s]
        k = 0
        for r in range(r0, r1):
            for c in range(cols):
                if not mask[r, c]:
                    labels[r, c] = 0
                    continue
                here = labels[r, c - 1] if c > 0 and mask[r, c - 1] else 0
                if here == 0 and r > r0:  # a run under a labelled pixel takes its label: a new
                    # label per run (then joined by _join_above) is 10-20 % slower
                    for dc in range(-1 if eight else 0, 2 if eight else 1):
                        q = c + dc
                        if 0 <= q < cols and mask[r - 1, q]:
                            here = labels[r - 1, q]
                            break
                if here == 0:
                    k += 1
                    here = base + k
                    parent[here] = here
                labels[r, c] = here
                if r > r0:
                    _join_above(labels, parent, mask, r, c, cols, eight, here)
        used[s] = k
    for s in range(1, nstrips):  # join the bands along their first rows
        r = s * step
        if r >= rows:
            break
        for c in range(cols):
            if mask[r, c]:
                _join_above(labels, parent, mask, r, c, cols, eight, labels[r, c])
    final = np.empty(first[nstrips] + 1, dtype=np.int32)  # read only where used
    final[0] = 0
    n = 0
    for s in range(nstrips):  # provisional labels in order: a root before its children
        for x in range(first[s] + 1, first[s] + used[s] + 1):
            root = _root(parent, x)
            if root == x:
                n += 1
                final[x] = n
            else:
                final[x] = final[root]
    for r in nb.prange(rows):
        for c in range(cols):
            labels[r, c] = final[labels[r, c]]
    return labels, n


@nb.njit(cache=True, parallel=True)
def relabel(labels, lut):  # pragma: no cover - jit
    """``lut[labels]`` (int32), in parallel over rows."""
    rows, cols = labels.shape
    out = np.empty((rows, cols), dtype=np.int32)
    for r in nb.prange(rows):
        for c in range(cols):
            out[r, c] = lut[labels[r, c]]
    return out


@nb.njit(cache=True, parallel=True)
def label_max(values, labels, n, nchunks):  # pragma: no cover - jit
    """Maximum of ``values`` over each label 1..n (-inf for absent labels); index 0 unused.
    ``nchunks`` bands of rows keep their own maxima, merged at the end."""
    rows, cols = labels.shape
    step = (rows + nchunks - 1) // nchunks
    best = np.full((nchunks, n + 1), -np.inf)
    for k in nb.prange(nchunks):
        for r in range(k * step, min(rows, (k + 1) * step)):
            for c in range(cols):
                lab = labels[r, c]
                if lab > 0 and values[r, c] > best[k, lab]:
                    best[k, lab] = values[r, c]
    out = best[0].copy()
    for k in range(1, nchunks):
        for j in range(n + 1):
            out[j] = max(out[j], best[k, j])
    return out


@nb.njit(cache=True, parallel=True)
def label_counts(labels, n, nchunks):  # pragma: no cover - jit
    """Pixels of each label 0..n (every label must lie in 0..n), ``np.bincount``'s answer,
    from ``nchunks`` bands of rows counted in parallel."""
    rows, cols = labels.shape
    step = (rows + nchunks - 1) // nchunks
    hist = np.zeros((nchunks, n + 1), dtype=np.int64)
    for k in nb.prange(nchunks):
        for r in range(k * step, min(rows, (k + 1) * step)):
            for c in range(cols):
                hist[k, labels[r, c]] += 1
    return hist.sum(axis=0)


@nb.njit(cache=True, parallel=True)
def add_dim_blobs(components, dim, m, n, values, least):  # pragma: no cover - jit
    """In place: the blobs of ``dim`` (labels 1..m) that hold no pixel of a blob of
    ``components`` (ids 1..n) join ``components`` as ids n+1, n+2, ... in the order of
    their ``dim`` labels, with their pixels whose ``values`` reach ``least`` (per ``dim``
    label); returns how many joined."""
    rows, cols = components.shape
    halo = np.zeros(m + 1, dtype=np.bool_)
    for r in range(rows):
        for c in range(cols):
            if components[r, c] > 0:
                halo[dim[r, c]] = True
    new = np.zeros(m + 1, dtype=components.dtype)
    k = 0
    for j in range(1, m + 1):
        if not halo[j]:
            k += 1
            new[j] = n + k
    for r in nb.prange(rows):
        for c in range(cols):
            j = dim[r, c]
            if new[j] > 0 and values[r, c] >= least[j]:
                components[r, c] = new[j]
    return k


@nb.njit(cache=True, parallel=True)
def inscribed_radii(labels, ids, boxes):  # pragma: no cover - jit
    """Radius of the largest circle inside each label of ``ids`` within its box (rows
    [start, stop), columns [start, stop)): the largest Euclidean distance from one of its
    pixels to a pixel of the box that is not its own, as ``distance_transform_edt`` of
    the box's own-mask gives it (past the box counts as its own)."""
    out = np.zeros(ids.size)
    for j in nb.prange(ids.size):
        k = ids[j]
        r0, r1, c0, c1 = boxes[j, 0], boxes[j, 1], boxes[j, 2], boxes[j, 3]
        h, w = r1 - r0, c1 - c0
        far = h + w
        vertical = np.empty((h, w), dtype=np.int64)
        for c in range(w):
            vertical[0, c] = far if labels[r0, c0 + c] == k else 0
            for r in range(1, h):
                vertical[r, c] = min(vertical[r - 1, c] + 1, far) if labels[r0 + r, c0 + c] == k else 0
            for r in range(h - 2, -1, -1):
                vertical[r, c] = min(vertical[r, c], vertical[r + 1, c] + 1)
        f = np.empty(w)
        d = np.empty(w)
        v = np.empty(w, dtype=np.int64)
        z = np.empty(w + 1)
        best = 0.0
        for r in range(h):
            for c in range(w):
                f[c] = np.inf if vertical[r, c] >= far else float(vertical[r, c]) ** 2
            _envelope(f, w, d, v, z)
            for c in range(w):
                if labels[r0 + r, c0 + c] == k and d[c] > best:
                    best = d[c]
        out[j] = np.sqrt(best)
    return out


@nb.njit(cache=True)
def label_boxes(labels, n):  # pragma: no cover - jit
    """Bounding box of each label 1..n as rows [start, stop) and columns [start, stop)
    (row 0 and absent labels: empty boxes)."""
    rows, cols = labels.shape
    out = np.zeros((n + 1, 4), dtype=np.int64)
    out[:, 0] = rows
    out[:, 2] = cols
    for r in range(rows):
        for c in range(cols):
            lab = labels[r, c]
            if lab > 0:
                box = out[lab]
                box[0] = min(box[0], r)
                box[1] = max(box[1], r + 1)
                box[2] = min(box[2], c)
                box[3] = max(box[3], c + 1)
    return out


@nb.njit(cache=True, inline="always")
def _quad_term(label, a, b, c, d):  # pragma: no cover - jit
    """Gray's bit-quad term of one label in the 2 x 2 quad a b / c d (8-connectivity):
    +1 for one pixel, -1 for three, -2 for two on a diagonal."""
    k = (a == label) + (b == label) + (c == label) + (d == label)
    if k == 1:
        return 1
    if k == 3:
        return -1
    if k == 2 and ((a == label and d == label) or (b == label and c == label)):
        return -2
    return 0


@nb.njit(cache=True, parallel=True)
def euler_numbers(labels, n, nchunks):  # pragma: no cover - jit
    """Four times the Euler number (8-connected: 1 minus the holes for one blob) of each
    label 1..n, from the bit quads of the zero-padded image; ``nchunks`` private counts."""
    rows, cols = labels.shape
    quads = rows + 1  # quad rows -1 .. rows - 1 over the padding
    step = (quads + nchunks - 1) // nchunks
    acc = np.zeros((nchunks, n + 1), dtype=np.int64)
    for k in nb.prange(nchunks):
        row = acc[k]
        for q in range(k * step, min(quads, (k + 1) * step)):
            r = q - 1
            for c in range(-1, cols):
                a = labels[r, c] if r >= 0 and c >= 0 else 0
                b = labels[r, c + 1] if r >= 0 and c + 1 < cols else 0
                e = labels[r + 1, c] if r + 1 < rows and c >= 0 else 0
                d = labels[r + 1, c + 1] if r + 1 < rows and c + 1 < cols else 0
                if a == b and b == e and e == d:
                    continue  # one label throughout: no term
                if a > 0:
                    row[a] += _quad_term(a, a, b, e, d)
                if b > 0 and b != a:
                    row[b] += _quad_term(b, a, b, e, d)
                if e > 0 and e != a and e != b:
                    row[e] += _quad_term(e, a, b, e, d)
                if d > 0 and d != a and d != b and d != e:
                    row[d] += _quad_term(d, a, b, e, d)
    out = np.zeros(n + 1, dtype=np.int64)
    for k in range(nchunks):
        for j in range(n + 1):
            out[j] += acc[k, j]
    return out


@nb.njit(cache=True, parallel=True)
def local_peaks(surface, maxed, mask):  # pragma: no cover - jit
    """Row and column indexes, in raster order, of the pixels of ``mask`` where ``surface``
    is positive and at least ``maxed`` (its maximum filter): the local maxima, found
    without storing the condition as an image."""
    rows, cols = surface.shape
    count = np.zeros(rows + 1, dtype=np.int64)
    for r in nb.prange(rows):
        k = 0
        for c in range(cols):
            if mask[r, c] and surface[r, c] > 0 and surface[r, c] >= maxed[r, c]:
                k += 1
        count[r + 1] = k
    start = np.cumsum(count)
    out_rows = np.empty(start[rows], dtype=np.int64)
    out_cols = np.empty(start[rows], dtype=np.int64)
    for r in nb.prange(rows):
        k = start[r]
        for c in range(cols):
            if mask[r, c] and surface[r, c] > 0 and surface[r, c] >= maxed[r, c]:
                out_rows[k] = r
                out_cols[k] = c
                k += 1
    return out_rows, out_cols


@nb.njit(cache=True, parallel=True)
def refine_edges(labels, density, sizeable, peak, grow_fraction, cut_fraction):  # pragma: no cover - jit
    """One pass of edge refinement (see :mod:`ddcsem.segment`): a background pixel joins
    its sizeable 4-neighbour (the largest id if several) where its density exceeds
    ``grow_fraction`` x that particle's peak; pixels of small particles below
    ``cut_fraction`` x their particle's peak are dropped."""
    rows, cols = labels.shape
    # no background pixel under the lowest level of any sizeable particle joins one: most
    # of them are settled by one comparison, without looking at their neighbours
    floor = np.inf
    for lab in range(1, sizeable.size):
        if sizeable[lab]:
            floor = min(floor, grow_fraction * peak[lab])
    out = np.empty_like(labels)
    for r in nb.prange(rows):
        for c in range(cols):
            lab = labels[r, c]
            if lab > 0:
                if not sizeable[lab] and density[r, c] < cut_fraction * peak[lab]:
                    out[r, c] = 0
                else:
                    out[r, c] = lab
                continue
            if not density[r, c] > floor:
                out[r, c] = 0
                continue
            best = 0
            if r > 0 and sizeable[labels[r - 1, c]] and labels[r - 1, c] > best:
                best = labels[r - 1, c]
            if r + 1 < rows and sizeable[labels[r + 1, c]] and labels[r + 1, c] > best:
                best = labels[r + 1, c]
            if c > 0 and sizeable[labels[r, c - 1]] and labels[r, c - 1] > best:
                best = labels[r, c - 1]
            if c + 1 < cols and sizeable[labels[r, c + 1]] and labels[r, c + 1] > best:
                best = labels[r, c + 1]
            out[r, c] = best if best > 0 and density[r, c] > grow_fraction * peak[best] else 0
    return out


@nb.njit(cache=True)
def grow_specks(labels, density, grows, peak, fraction, boxes):  # pragma: no cover - jit
    """One pass of speck growth (see :mod:`ddcsem.segment`), in place, within ``boxes``
    (rows ``r0, r1, c0, c1``): a background pixel joins a 4-neighbour whose ``grows``
    entry is true (the largest id if several) when its density exceeds ``fraction`` x
    that label's peak and no label that does not grow lies among its 8 neighbours. The
    pixels are judged on the labels before the pass; returns their rows, columns and new
    labels."""
    rows, cols = labels.shape
    total = 0
    for k in range(boxes.shape[0]):
        total += (boxes[k, 1] - boxes[k, 0]) * (boxes[k, 3] - boxes[k, 2])
    at_r = np.empty(total, dtype=np.int64)
    at_c = np.empty(total, dtype=np.int64)
    to = np.empty(total, dtype=labels.dtype)
    m = 0
    for k in range(boxes.shape[0]):
        for r in range(boxes[k, 0], boxes[k, 1]):
            for c in range(boxes[k, 2], boxes[k, 3]):
                if labels[r, c] > 0:
                    continue
                best = 0
                blocked = False
                for dr in range(-1, 2):
                    for dc in range(-1, 2):
                        rr, cc = r + dr, c + dc
                        if rr < 0 or rr >= rows or cc < 0 or cc >= cols:
                            continue
                        lab = labels[rr, cc]
                        if lab > 0 and not grows[lab]:
                            blocked = True
                        elif lab > best and (dr == 0 or dc == 0):
                            best = lab
                if best > 0 and not blocked and density[r, c] > fraction * peak[best]:
                    at_r[m], at_c[m], to[m] = r, c, best
                    m += 1
    for i in range(m):  # overlapping boxes may list a pixel twice, with one label
        labels[at_r[i], at_c[i]] = to[i]
    return at_r[:m], at_c[:m], to[:m]


@nb.njit(cache=True, inline="always")
def _before(value, age, i, j):  # pragma: no cover - jit
    """Heap order: lower value first, then the earlier push (first in, first out)."""
    return value[i] < value[j] or (value[i] == value[j] and age[i] < age[j])


@nb.njit(cache=True, inline="always")
def _swap(value, age, where, i, j):  # pragma: no cover - jit
    value[i], value[j] = value[j], value[i]
    age[i], age[j] = age[j], age[i]
    where[i], where[j] = where[j], where[i]


@nb.njit(cache=True)
def _push(value, age, where, size, v, a, w):  # pragma: no cover - jit
    i = size
    value[i], age[i], where[i] = v, a, w
    while i > 0:
        parent = (i - 1) // 2
        if not _before(value, age, i, parent):
            break
        _swap(value, age, where, i, parent)
        i = parent
    return size + 1


@nb.njit(cache=True)
def _pop(value, age, where, size):  # pragma: no cover - jit
    """Remove the first element; return (its position, new size)."""
    top = where[0]
    size -= 1
    value[0], age[0], where[0] = value[size], age[size], where[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        child = left
        if left + 1 < size and _before(value, age, left + 1, left):
            child = left + 1
        if not _before(value, age, child, i):
            break
        _swap(value, age, where, i, child)
        i = child
    return top, size


@nb.njit(cache=True, parallel=True)
def flood_blobs(height, seeds, components, blobs, boxes, labels):  # pragma: no cover - jit
    """Watershed of ``height`` from ``seeds`` inside each blob of ``components`` listed in
    ``blobs`` (bounding boxes ``boxes[k] = r0, r1, c0, c1``), written into ``labels``.

    Priority flood with 4-connectivity, ties first in first out, as scikit-image's
    ``watershed``, except that a pixel takes its label when first reached rather than when
    it leaves the queue: each pixel is queued once, and the two agree wherever heights do
    not tie (on plateaus a few pixels may go to the other neighbour). Blobs run in parallel.
    """
    cols = components.shape[1]
    for k in nb.prange(blobs.shape[0]):
        blob = blobs[k]
        r0, r1, c0, c1 = boxes[k, 0], boxes[k, 1], boxes[k, 2], boxes[k, 3]
        capacity = (r1 - r0) * (c1 - c0)
        value = np.empty(capacity, dtype=height.dtype)
        age = np.empty(capacity, dtype=np.int64)
        where = np.empty(capacity, dtype=np.int64)
        size = 0
        count = 0
        for r in range(r0, r1):
            for c in range(c0, c1):
                if components[r, c] == blob and seeds[r, c] > 0:
                    labels[r, c] = seeds[r, c]
                    size = _push(value, age, where, size, height[r, c], count, r * cols + c)
                    count += 1
        while size > 0:
            at, size = _pop(value, age, where, size)
            r = at // cols
            c = at - r * cols
            lab = labels[r, c]
            for dr, dc in ((-1, 0), (0, -1), (0, 1), (1, 0)):
                nr = r + dr
                nc = c + dc
                if nr < r0 or nr >= r1 or nc < c0 or nc >= c1:
                    continue
                if components[nr, nc] != blob or labels[nr, nc] != 0:
                    continue
                labels[nr, nc] = lab
                size = _push(value, age, where, size, height[nr, nc], count, nr * cols + nc)
                count += 1
    return labels


@nb.njit(cache=True, inline="always")
def _lowest_on_line(surface, r0, c0, r1, c1):  # pragma: no cover - jit
    """Lowest value of ``surface`` on the straight line between two pixels, sampled every
    half pixel (rounded to the nearest pixel)."""
    steps = 2 * int(np.ceil(np.sqrt((r1 - r0) ** 2 + (c1 - c0) ** 2))) + 1
    low = surface[r0, c0]
    for t in range(steps + 1):
        f = t / steps
        low = min(low, surface[int(round(r0 + f * (r1 - r0))), int(round(c0 + f * (c1 - c0)))])
    return low


@nb.njit(cache=True, inline="always")
def _tops_window(surface, r0, c0, rho):  # pragma: no cover - jit
    """Whether nothing within ``rho`` pixels (a square, clipped to the image) is higher
    than ``surface[r0, c0]``."""
    height, width = surface.shape
    v0 = surface[r0, c0]
    for r in range(max(0, r0 - rho), min(height, r0 + rho + 1)):
        for c in range(max(0, c0 - rho), min(width, c0 + rho + 1)):
            if surface[r, c] > v0:
                return False
    return True


@nb.njit(cache=True, parallel=True)
def select_seeds(surface, rows, cols, starts, depth, window, valley, reach):  # pragma: no cover - jit
    """Which candidate maxima become seeds (a boolean per candidate).

    Candidates come grouped by blob (group ``g`` is ``starts[g]:starts[g + 1]``), highest
    ``surface`` first within a group; ``depth`` is each one's distance to the background.
    A candidate is kept if nothing in its own window, ``window * depth`` pixels around it
    (at least 1), is higher, and if, towards every seed already kept in its blob within
    ``reach * (depth + their depth)`` pixels, the surface dips below ``1 - valley`` times
    its own height. Blobs run in parallel.
    """
    keep = np.zeros(rows.size, dtype=np.bool_)
    for g in nb.prange(starts.size - 1):
        for k in range(starts[g], starts[g + 1]):
            r0 = rows[k]
            c0 = cols[k]
            v0 = surface[r0, c0]
            if not _tops_window(surface, r0, c0, max(1, int(round(window * depth[k])))):
                continue
            ok = True
            for j in range(starts[g], k):
                if not keep[j]:
                    continue
                limit = reach * (depth[j] + depth[k])
                if (rows[j] - r0) ** 2 + (cols[j] - c0) ** 2 > limit * limit:
                    continue
                if _lowest_on_line(surface, r0, c0, rows[j], cols[j]) >= (1.0 - valley) * v0:
                    ok = False
                    break
            keep[k] = ok
    return keep


@nb.njit(cache=True, inline="always")
def _meets(labels, lut, r, c, nr, nc):  # pragma: no cover - jit
    """Whether the pixel (nr, nc), in the image, holds a label other than that of (r, c),
    both read through ``lut``."""
    rows, cols = labels.shape
    return nr < rows and nc < cols and lut[labels[nr, nc]] > 0 and lut[labels[nr, nc]] != lut[labels[r, c]]


@nb.njit(cache=True, parallel=True)
def piece_contacts(labels, lut, components, blobs, boxes, edm, density, n):  # pragma: no cover - jit
    """The pieces of ``blobs`` (ids of ``components``, each within its box of ``boxes``,
    rows [start, stop) and columns [start, stop)), their labels read through ``lut`` (ids
    0..n), and where they meet. Per label: its largest ``edm`` and ``density`` (-inf where
    absent) and [count, sum_r, sum_c, sum_rr, sum_cc, sum_rc] of its pixels; every pair
    of 4-neighbours of two labels (a pixel and the one right of it or below it): the two
    labels (the lower first) and the lower of the two pixels' ``edm`` and ``density``,
    blob by blob, each in raster order; and where each blob's contacts start (the last
    entry, their number). Blobs run in parallel, their contacts counted first; a label
    lies in one blob."""
    inscribed = np.full(n + 1, -np.inf)
    peak = np.full(n + 1, -np.inf)
    sums = np.zeros((n + 1, 6))
    count = np.zeros(blobs.size + 1, dtype=np.int64)
    for j in nb.prange(blobs.size):
        k = 0
        for r in range(boxes[j, 0], boxes[j, 1]):
            for c in range(boxes[j, 2], boxes[j, 3]):
                a = lut[labels[r, c]]
                if components[r, c] != blobs[j] or a <= 0:
                    continue
                inscribed[a] = max(inscribed[a], edm[r, c])
                peak[a] = max(peak[a], density[r, c])
                add_moments(sums, a, r, c)
                k += _meets(labels, lut, r, c, r, c + 1) + _meets(labels, lut, r, c, r + 1, c)
        count[j + 1] = k
    start = np.cumsum(count)
    first = np.empty(start[-1], dtype=lut.dtype)
    second = np.empty(start[-1], dtype=lut.dtype)
    neck = np.empty(start[-1], dtype=edm.dtype)
    level = np.empty(start[-1], dtype=density.dtype)
    for j in nb.prange(blobs.size):
        k = start[j]
        for r in range(boxes[j, 0], boxes[j, 1]):
            for c in range(boxes[j, 2], boxes[j, 3]):
                if components[r, c] != blobs[j] or lut[labels[r, c]] <= 0:
                    continue
                for nr, nc in ((r, c + 1), (r + 1, c)):
                    if _meets(labels, lut, r, c, nr, nc):
                        a, b = lut[labels[r, c]], lut[labels[nr, nc]]
                        first[k], second[k] = min(a, b), max(a, b)
                        neck[k] = min(edm[r, c], edm[nr, nc])
                        level[k] = min(density[r, c], density[nr, nc])
                        k += 1
    return inscribed, peak, sums, first, second, neck, level, start


@nb.njit(cache=True, parallel=True)
def edge_gradient(image):  # pragma: no cover - jit
    """Sobel derivatives along rows and columns and their magnitude (float32 each); the
    border repeats its edge pixels, as ``scipy.ndimage.sobel`` (``mode="reflect"``) does
    for a 3 x 3 kernel."""
    rows, cols = image.shape
    d_row = np.empty((rows, cols), dtype=np.float32)
    d_col = np.empty((rows, cols), dtype=np.float32)
    magnitude = np.empty((rows, cols), dtype=np.float32)
    for r in nb.prange(rows):
        up, down = max(r - 1, 0), min(r + 1, rows - 1)
        for c in range(cols):
            left, right = max(c - 1, 0), min(c + 1, cols - 1)
            gr = (image[down, left] + 2 * image[down, c] + image[down, right]
                  - image[up, left] - 2 * image[up, c] - image[up, right])
            gc = (image[up, right] + 2 * image[r, right] + image[down, right]
                  - image[up, left] - 2 * image[r, left] - image[down, left])
            d_row[r, c] = gr
            d_col[r, c] = gc
            magnitude[r, c] = np.sqrt(gr * gr + gc * gc)
    return d_row, d_col, magnitude


@nb.njit(cache=True, parallel=True)
def thin_edges(d_row, d_col, magnitude, low):  # pragma: no cover - jit
    """Canny's non-maximum suppression: pixels of at least ``low`` magnitude that are no
    lower than the magnitude interpolated one pixel ahead and behind along their gradient
    (linear between the two neighbours it passes); the image's outer pixels are never
    edges."""
    rows, cols = magnitude.shape
    out = np.zeros((rows, cols), dtype=np.bool_)
    for r in nb.prange(1, rows - 1):
        for c in range(1, cols - 1):
            m = np.float64(magnitude[r, c])  # in float64 throughout, as the reference
            if m < low or m == 0:
                continue
            gr, gc = np.float64(d_row[r, c]), np.float64(d_col[r, c])
            sr = 1 if gr >= 0 else -1
            sc = 1 if gc >= 0 else -1
            ar, ac = abs(gr), abs(gc)
            if ac >= ar:  # steps mostly along the row: neighbours (r, c +- 1) and diagonals
                w = ar / ac
                ahead = (1 - w) * np.float64(magnitude[r, c + sc]) + w * np.float64(magnitude[r + sr, c + sc])
                behind = (1 - w) * np.float64(magnitude[r, c - sc]) + w * np.float64(magnitude[r - sr, c - sc])
            else:
                w = ac / ar
                ahead = (1 - w) * np.float64(magnitude[r + sr, c]) + w * np.float64(magnitude[r + sr, c + sc])
                behind = (1 - w) * np.float64(magnitude[r - sr, c]) + w * np.float64(magnitude[r - sr, c - sc])
            out[r, c] = m >= ahead and m >= behind
    return out
