"""Per-particle measurements (ImageJ definitions) and size-distribution statistics.

Definitions, as in ImageJ's *Analyze Particles* so results can be compared with Fiji:

=============== ===========================================================================
area            pixel count x pixel area
centroid        mean of the pixel centres, the centre of pixel (row 0, column 0) at (0, 0) as
                in numpy and scikit-image (ImageJ puts it at (0.5, 0.5): add half a pixel
                to compare with Fiji's X and Y)
ECD             equivalent circle diameter ``2 sqrt(area / pi)``
Feret max/min   largest / smallest caliper width of the particle's outline (pixel corners),
                by rotating calipers on its convex hull; the angle (0-180 degrees,
                counter-clockwise from the x axis, y up) is that of the largest caliper
perimeter       ImageJ's traced perimeter: exposed pixel edges less ``(2 - sqrt 2)`` per
                corner of the outline, so a staircase edge counts as its diagonal
circularity     ``4 pi area / perimeter^2``, clamped to 1 (with the traced perimeter a
                digital disc scores about 0.9, as in ImageJ)
roundness       ``4 area / (pi major^2)``, major axis of ImageJ's fitted ellipse: that of the
                particle's second moments (each pixel a unit square, so 1/12 px^2 more
                along each axis), scaled to the particle's area; so it equals 1 / aspect ratio
aspect ratio    major / minor axis of that ellipse (finite even for a 1-px line)
major/minor     the axes of that ellipse, and its angle (ImageJ's *Fit ellipse*: 0-180
                degrees, counter-clockwise from the x axis, y up; 0 for a particle whose
                moments are the same in every direction, a disc or a single pixel)
solidity        area / area of the convex hull of the particle's outline
edge weight     Miles-Lantuejoul ``Wx Wy / ((Wx - Fx - 1)(Wy - Fy - 1))`` with ``F`` the sides
                of the particle's bounding box (px): the image's area over the number of places
                in it where the particle touches no border pixel, for particles that do not
                touch the border (NaN for those that do); within a region (drawn by hand, or
                the field less its padding, seams or an area off the sample), the region's
                area over the number of such places the particle, taken as a disc of its
                bounding box's larger side, has in it (which, for a round particle in the
                whole image, is the formula above)
=============== ===========================================================================
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any, Sequence

import numpy as np

from .errors import ParameterError, require_image, require_positive
from .units import format_count, require_pixel_size

__all__ = [
    "particle_table",
    "particle_table_reference",
    "size_distribution",
    "pool_fields",
    "feret",
    "traced_perimeter",
    "outline",
    "particle_outlines",
    "MIN_STABLE_COUNT",
]

#: Below this many particles a size distribution is flagged as unstable. ISO 13322-1
#: asks for thousands (over 6 000 for a repeatable volume mean, 61 000 for D90).
MIN_STABLE_COUNT = 500

#: The normal quantile of a two-sided 95 % interval (1.96).
_Z95 = NormalDist().inv_cdf(0.975)
#: Under this many (effective) particles the D50 has no 95 % interval: even the smallest
#: and the largest of 5 hold the median between them with only 94 % probability.
MIN_INTERVAL_COUNT = 6


def _hull(coords: np.ndarray) -> np.ndarray:
    """Convex hull (counter-clockwise vertices) of the corners of a set of pixels."""
    from scipy.spatial import ConvexHull, QhullError

    coords = np.asarray(coords, dtype=np.float64)
    corners = (coords[:, None, :] + np.array([[-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5]])).reshape(-1, 2)
    corners = np.unique(corners, axis=0)
    try:
        return corners[ConvexHull(corners).vertices]
    except QhullError:  # cannot happen for unit squares, kept for safety
        return corners


def _polygon_area(vertices: np.ndarray) -> float:
    y, x = vertices[:, 0], vertices[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def feret(coords: np.ndarray) -> tuple[float, float, float]:
    """Feret max, Feret min and Feret angle of a set of pixels.

    Parameters
    ----------
    coords : ndarray, shape (K, 2)
        (row, col) of the particle's pixels; each pixel is a unit square.

    Returns
    -------
    (feret_max, feret_min, angle_deg)
        In pixels; the angle of the largest caliper, 0-180 degrees counter-clockwise
        from the x axis with y pointing up (ImageJ's convention).

    Examples
    --------
    >>> square = np.argwhere(np.ones((10, 10), bool))
    >>> fmax, fmin, angle = feret(square)
    >>> round(fmax, 3), fmin, angle in (45.0, 135.0)
    (14.142, 10.0, True)
    """
    hull = _hull(coords)
    diff = hull[:, None, :] - hull[None, :, :]
    dist = np.hypot(diff[..., 0], diff[..., 1])
    i, j = np.unravel_index(np.argmax(dist), dist.shape)
    fmax = float(dist[i, j])
    dy, dx = hull[j] - hull[i]
    angle = float(np.degrees(np.arctan2(-dy, dx)) % 180.0)
    # smallest width: for each hull edge, the farthest vertex from its line
    edges = np.roll(hull, -1, axis=0) - hull
    lengths = np.hypot(edges[:, 0], edges[:, 1])
    good = lengths > 0
    normals = np.stack([-edges[good, 1], edges[good, 0]], axis=1) / lengths[good, None]
    widths = np.abs(np.einsum("ekd,ed->ek", hull[None, :, :] - hull[good][:, None, :], normals)).max(axis=1)
    fmin = float(widths.min()) if widths.size else 0.0
    return fmax, fmin, angle


def outline(mask: np.ndarray) -> np.ndarray:
    """Corners of the outer outline of a particle, along pixel edges, as ImageJ traces it.

    The outline runs clockwise on screen (rows down; the particle on its right). Where two
    pixels touch only at a corner it turns onto the diagonal neighbour, so an 8-connected
    particle has one outline; holes are not traced. The corners come in the order of
    ImageJ's traced polygon (Analyze Particles, the wand): from the third corner of a walk
    that starts at the top-left corner of the particle's first pixel in raster order. The
    order matters: ImageJ's traced perimeter counts corners from its first one.

    Parameters
    ----------
    mask : ndarray of bool, shape (M, N)
        The particle (its first 8-connected piece in raster order is traced).

    Returns
    -------
    ndarray of int, shape (K, 2)
        Pixel corners (row, col), corner (r, c) being the top-left corner of pixel (r, c);
        the outline closes from the last corner back to the first.

    Examples
    --------
    >>> outline(np.ones((1, 2), bool)).tolist()
    [[1, 2], [1, 0], [0, 0], [0, 2]]
    """
    from scipy import ndimage

    m = np.pad(ndimage.binary_fill_holes(mask), 1)
    rows, cols = m.shape
    stride = cols + 1  # corners (r, c) of the padded frame, numbered r * stride + c
    # the directed boundary edges, clockwise on screen (the particle on their right)
    exposed = np.zeros((4,) + m.shape, dtype=bool)  # top, right, bottom, left edge exposed
    exposed[0, 1:] = m[1:] & ~m[:-1]
    exposed[1, :, :-1] = m[:, :-1] & ~m[:, 1:]
    exposed[2, :-1] = m[:-1] & ~m[1:]
    exposed[3, :, 1:] = m[:, 1:] & ~m[:, :-1]
    starts, ends = [], []
    # pixel (r, c)'s edges as corner offsets: top (r, c)->(r, c+1), right (r, c+1)->(r+1, c+1),
    # bottom (r+1, c+1)->(r+1, c), left (r+1, c)->(r, c)
    for side, ((r0, c0), (r1, c1)) in enumerate((((0, 0), (0, 1)), ((0, 1), (1, 1)),
                                                 ((1, 1), (1, 0)), ((1, 0), (0, 0)))):
        r, c = np.nonzero(exposed[side])
        starts.append((r + r0) * stride + c + c0)
        ends.append((r + r1) * stride + c + c1)
    start_at, end_at = np.concatenate(starts), np.concatenate(ends)
    order = np.argsort(start_at, kind="stable")
    start_at, end_at = start_at[order], end_at[order]
    first = np.searchsorted(start_at, start_at)  # a corner where two pixels touch has two exits
    count = np.bincount(start_at, minlength=(rows + 1) * stride)
    exits = np.full(((rows + 1) * stride, 2), -1, dtype=np.int64)
    exits[start_at, np.arange(start_at.size) - first] = end_at
    pr, pc = np.nonzero(m)
    start = int(pr[0]) * stride + int(pc[0])  # top-left corner of the first pixel
    path = [start]
    step_in = 1  # arriving heading east (difference of corner numbers)
    current = start
    for _ in range(start_at.size):
        nxt = int(exits[current, 0])
        if count[current] == 2:  # turn left onto the diagonal neighbour
            left = {1: -stride, stride: 1, -1: stride, -stride: -1}[step_in]
            nxt = current + left if current + left in exits[current] else int(exits[current, 1])
        step_in = nxt - current
        if nxt == start:
            break
        path.append(nxt)
        current = nxt
    walk = np.stack(np.divmod(np.array(path), stride), axis=1) - 1  # the padding's offset
    heading = walk - np.roll(walk, 1, axis=0)
    corners = walk[np.any(heading != np.roll(heading, -1, axis=0), axis=1)]
    return np.roll(corners, -2, axis=0)


def particle_outlines(labels: np.ndarray) -> dict[int, list[np.ndarray]]:
    """Outlines of every particle of a label image, as :func:`outline` traces them.

    Parameters
    ----------
    labels : ndarray of int, shape (M, N)
        Particle labels (0 background).

    Returns
    -------
    dict of int to list of ndarray
        Per label, in label order, the corners (row, col) of each of its 8-connected pieces
        (usually one), in raster order of the pieces; holes are not traced.

    Examples
    --------
    >>> labels = np.zeros((4, 6), np.int32); labels[1:3, 1:3] = 1; labels[1, 4] = 2
    >>> {k: [c.tolist() for c in v] for k, v in particle_outlines(labels).items()}
    {1: [[[3, 3], [3, 1], [1, 1], [1, 3]]], 2: [[[2, 5], [2, 4], [1, 4], [1, 5]]]}
    """
    from scipy import ndimage

    from ._kernels import as_taken
    from ._kernels.measure import label_stats, outline_corners

    dense, ids = _check(labels, None, None)
    lab = as_taken(dense, KERNEL_LABEL_TYPES, np.int64)
    n = int(lab.max(initial=0))
    nothing = np.broadcast_to(np.zeros((1, 1)), lab.shape)
    stats, box = label_stats(lab, n, nothing, nothing)
    corners, offsets, enclosed = outline_corners(lab, box)
    out: dict[int, list[np.ndarray]] = {}
    for label in np.flatnonzero(stats[:, 0] > 0):
        key = int(label if ids is None else ids[label])
        if enclosed[label] == stats[label, 0]:  # one piece, no hole: the walk went round it all
            out[key] = [corners[offsets[label]:offsets[label + 1]]]
        else:  # holes (left untraced) or several 8-connected pieces: trace each piece
            r0, r1, c0, c1 = box[label, :4]
            pieces, k = ndimage.label(lab[r0:r1 + 1, c0:c1 + 1] == label, structure=np.ones((3, 3)))
            out[key] = [outline(pieces == piece) + [r0, c0] for piece in range(1, k + 1)]
    return out


def traced_perimeter(mask: np.ndarray) -> float:
    """ImageJ's perimeter of a traced particle outline.

    The outline (:func:`outline`) runs along pixel edges. ImageJ subtracts ``2 - sqrt(2)``
    for each corner, counting from its polygon's first corner every corner after a side
    longer than one pixel and every other corner along a staircase of unit steps, so a
    staircase counts as its diagonal and circles come out close to ``2 pi r``; a square of
    side ``s`` gives ``4 s - 4 (2 - sqrt 2)``.

    Examples
    --------
    >>> round(traced_perimeter(np.ones((10, 10), bool)), 3)
    37.657
    """
    corners = outline(np.asarray(mask, dtype=bool))
    incoming = np.abs(corners - np.roll(corners, 1, axis=0)).sum(axis=1)  # one of the two is 0
    n_corners, counted = 0, False
    for side in incoming:
        if side > 1 or not counted:
            counted = True
            n_corners += 1
        else:
            counted = False
    return float(incoming.sum() - n_corners * (2.0 - np.sqrt(2.0)))


_RAW = ("label", "area", "cy", "cx", "major", "minor", "ellipse_angle_deg", "perimeter", "feret_max",
        "feret_min", "feret_angle_deg", "hull_area", "bse_mean", "se_mean", "r0", "r1", "c0", "c1")


def _ellipse_angle(mu_rr: np.ndarray, mu_cc: np.ndarray, mu_rc: np.ndarray) -> np.ndarray:
    """The angle of the major axis of the ellipse of the central moments ``mu`` (rows,
    columns), in degrees 0-180 counter-clockwise from the x axis with y up, as ImageJ's
    *Fit ellipse*; 0 where the moments are the same in every direction."""
    scale = 1e-9 * (mu_rr + mu_cc)
    mu_rc = np.where(np.abs(mu_rc) <= scale, 0.0, mu_rc)  # rounding's, which flips an axis 0 to 180
    angle = np.degrees(0.5 * np.arctan2(-2 * mu_rc, mu_cc - mu_rr)) % 180.0  # y up: the row axis flips
    return np.where(np.hypot(2 * mu_rc, mu_cc - mu_rr) <= scale, 0.0, angle)


def _check(
    labels: np.ndarray, bse: np.ndarray | None, se: np.ndarray | None, *, name: str = "labels"
) -> tuple[np.ndarray, np.ndarray | None]:
    """``labels`` checked (named ``name`` in errors), and numbered 1..K when its ids are
    sparse (more than it has pixels: the kernels keep a row per id), with the ids that
    numbering stands for."""
    labels = require_image(labels, name, kind="label image", reader="read_labels",
                           hint="segment_particles makes one; analyze_pair gives it as .labels", empty=True)
    if labels.dtype.kind not in "iu":
        raise ParameterError(f"{name} must be an integer image, not {labels.dtype}",
                             hint="a mask (bool) is no label image: number its particles first, "
                                  "labels = scipy.ndimage.label(mask)[0], or segment_particles(mask) to "
                                  "split touching ones" if labels.dtype == bool else None)
    for role, channel in (("bse", bse), ("se", se)):
        if channel is not None and require_image(channel, role).shape != labels.shape:
            raise ParameterError(f"{role} must have the shape of labels {labels.shape}")
    if not labels.size:
        return labels, None
    if labels.min() < 0:
        raise ParameterError(f"{name} must not be negative (0 is the background, 1, 2, ... the particles)")
    if labels.max() <= labels.size:
        return labels, None
    return _compact(labels)


def _compact(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``labels`` (non-negative) numbered 1..K in the order of their ids (int32), and the
    ids 0..K stand for (0 the background, there or not).

    Examples
    --------
    >>> dense, ids = _compact(np.array([[0, 70], [5, 70]]))
    >>> dense.tolist(), ids.tolist()
    ([[0, 2], [1, 2]], [0, 5, 70])
    """
    ids, dense = np.unique(labels, return_inverse=True)
    if ids[0] != 0:  # no background: the ids are numbered from 1
        ids, dense = np.r_[0, ids], dense + 1
    return dense.reshape(labels.shape).astype(np.int32), ids


#: The types the measurement kernels take as they are (in the machine's byte order): label
#: images, and the images whose means they sum (in float64 either way). Others are
#: converted to int64 and float64. A 4096² pair converted to float64 and its labels to
#: int64 took 76 ms of the 150 ms that its measurement took.
KERNEL_LABEL_TYPES = (np.dtype(np.int32), np.dtype(np.int64))
KERNEL_IMAGE_TYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32), np.dtype(np.float64))


def _raw_kernel(labels: np.ndarray, bse: np.ndarray | None, se: np.ndarray | None) -> dict[str, np.ndarray]:
    """Per-label raw measurements from the numba kernels (bounding box end exclusive)."""
    from ._kernels import as_taken
    from ._kernels.measure import label_stats, outlines

    lab = as_taken(labels, KERNEL_LABEL_TYPES, np.int64)
    n = int(lab.max(initial=0))
    zeros = np.zeros((1, 1))
    b, s = (np.broadcast_to(zeros, lab.shape) if x is None else as_taken(x, KERNEL_IMAGE_TYPES, np.float64)
            for x in (bse, se))
    f, box = label_stats(lab, n, b, s)
    o = outlines(lab, box)
    present = np.nonzero(f[:, 0] > 0)[0]
    f, box, o = f[present], box[present], o[present]
    area = f[:, 0]
    cy, cx = f[:, 1] / area, f[:, 2] / area
    mu_rr = f[:, 3] / area - cy**2
    mu_cc = f[:, 4] / area - cx**2
    mu_rc = f[:, 5] / area - cy * cx
    half_trace, diff = (mu_rr + mu_cc) / 2, np.sqrt(((mu_rr - mu_cc) / 2) ** 2 + mu_rc**2)
    nan = np.full(area.shape, np.nan)
    return {
        "label": present, "area": area, "cy": cy, "cx": cx,
        "major": 4 * np.sqrt(np.maximum(half_trace + diff, 0)),
        "minor": 4 * np.sqrt(np.maximum(half_trace - diff, 0)),
        "ellipse_angle_deg": _ellipse_angle(mu_rr, mu_cc, mu_rc),
        "perimeter": o[:, 0], "feret_max": o[:, 1], "feret_min": o[:, 2], "feret_angle_deg": o[:, 3],
        "hull_area": o[:, 4],
        "bse_mean": nan if bse is None else f[:, 6] / area,
        "se_mean": nan if se is None else f[:, 7] / area,
        "r0": box[:, 0], "r1": box[:, 1] + 1, "c0": box[:, 2], "c1": box[:, 3] + 1,
    }


def _raw_reference(labels: np.ndarray, bse: np.ndarray | None, se: np.ndarray | None) -> dict[str, np.ndarray]:
    """The same raw measurements from scikit-image and the plain functions of this module."""
    from skimage.measure import regionprops

    out: dict[str, list] = {k: [] for k in _RAW}
    for region in regionprops(labels):
        r0, c0, r1, c1 = region.bbox
        fmax, fmin, angle = feret(region.coords)
        pixels = tuple(region.coords.T)
        mu = region.moments_central / region.area  # mu[p, q]: order p along rows, q along columns
        values = {
            "label": region.label, "area": float(region.area), "cy": region.centroid[0],
            "cx": region.centroid[1], "major": float(region.axis_major_length),
            "minor": float(region.axis_minor_length),
            "ellipse_angle_deg": float(_ellipse_angle(mu[2, 0], mu[0, 2], mu[1, 1])),
            "perimeter": traced_perimeter(region.image),
            "feret_max": fmax, "feret_min": fmin, "feret_angle_deg": angle,
            "hull_area": _polygon_area(_hull(region.coords)),
            "bse_mean": float(np.mean(bse[pixels])) if bse is not None else np.nan,
            "se_mean": float(np.mean(se[pixels])) if se is not None else np.nan,
            "r0": r0, "r1": r1, "c0": c0, "c1": c1,
        }
        for k in _RAW:
            out[k].append(values[k])
    return {k: np.asarray(v, dtype=np.int64 if k in ("label", "r0", "r1", "c0", "c1") else np.float64)
            for k, v in out.items()}


def _imagej_axes(area: np.ndarray, major: np.ndarray, minor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ImageJ's ellipse axes from the axes ``4 sqrt(eigenvalue)`` of the pixel centres'
    second moments: each pixel counts as a unit square (1/12 px² more variance along every
    direction), and the ellipse is scaled to the particle's area (``EllipseFitter``)."""
    var_major, var_minor = (major / 4) ** 2 + 1 / 12, (minor / 4) ** 2 + 1 / 12
    ratio = np.sqrt(var_major / var_minor)
    product = 4 * area / np.pi  # major x minor of an ellipse of this area
    return np.sqrt(product * ratio), np.sqrt(product / ratio)


def _disc_placements(edge: np.ndarray, sides: np.ndarray) -> np.ndarray:
    """How many places a particle whose bounding box's larger side is ``sides[i]`` px has
    in a region without touching its ``edge`` (:func:`_region_edge`: the pixels outside
    the region or on its edge), taken as a disc of radius ``side / 2`` (the middle of the
    digital discs of that box side, radius ``(side - 1) / 2`` to ``(side + 1) / 2``): the
    pixels off the edge farther than that from every pixel on it, halfway between the
    neighbouring odd sides for an even side (whose centre lies between pixels). A whole
    W x H image has ``(W - side - 1)(H - side - 1)`` places, as the rectangle's formula
    counts them."""
    from ._kernels.segment import distance_transform

    inner = ~edge
    # twice the distance to the nearest pixel on the edge, rounded up: half-pixel
    # bins, so that beyond[m + 1] counts the pixels where that distance exceeds m / 2
    doubled = np.ceil(2 * distance_transform(inner)[inner]).astype(np.int64)
    beyond = np.r_[np.cumsum(np.bincount(doubled)[::-1])[::-1], 0]
    sides = np.asarray(sides, dtype=np.int64)

    def farther(m: np.ndarray) -> np.ndarray:
        return beyond[np.clip(m + 1, 0, beyond.size - 1)].astype(np.float64)

    return np.where(sides % 2 == 1, farther(sides), (farther(sides - 1) + farther(sides + 1)) / 2)


def _region_edge(region: np.ndarray) -> np.ndarray:
    """The pixels outside ``region`` or on its edge (or the image's): a particle that holds
    one touches the region's border."""
    from scipy import ndimage

    return ~ndimage.binary_erosion(region, border_value=0)


def _counted(weights: np.ndarray) -> np.ndarray:
    """Edge weights as the particles count: NaN (a particle kept on the border, which has
    none) counts 1."""
    weights = np.asarray(weights, dtype=np.float64)
    return np.where(np.isfinite(weights), weights, 1.0)


def _kept(diameters: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Which particles a size distribution counts: those with a diameter (NaN is a blank)
    and a weight above 0 (:func:`_counted`'s)."""
    return np.isfinite(diameters) & (weights > 0)


def _edges(raw: dict[str, np.ndarray], labels: np.ndarray,
           region: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Which particles touch the border (of the image, or of ``region`` and the image),
    and the Miles-Lantuejoul weight of the others (NaN for those that do)."""
    rows, cols = labels.shape
    fy, fx = raw["r1"] - raw["r0"], raw["c1"] - raw["c0"]
    if region is None:
        touches = (raw["r0"] == 0) | (raw["c0"] == 0) | (raw["r1"] == rows) | (raw["c1"] == cols)
        places = (cols - fx - 1) * (rows - fy - 1)  # clear of the first and last row and column
        area = cols * rows
    else:
        edge = _region_edge(region)
        hit = np.zeros(int(labels.max()) + 1, bool)
        hit[labels[edge]] = True
        touches = hit[raw["label"]]
        places = _disc_placements(edge, np.maximum(fy, fx))
        area = np.count_nonzero(region)
    with np.errstate(divide="ignore", invalid="ignore"):
        # a particle inside the region with no place for it as a disc (an odd fit) counts as one
        weight = np.where(touches | (places <= 0), np.nan, area / places)
    return touches, weight


def _check_region(region: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """``region`` as a bool mask of ``shape`` with a pixel in it, or None."""
    if region is None:
        return None
    region = np.asarray(region)
    if region.shape != tuple(shape):
        raise ParameterError(f"region must have the shape of the image {tuple(shape)}, not {region.shape}")
    region = region != 0
    if not region.any():
        raise ParameterError("region is empty: no pixel of the image is in it")
    return region


class _Columns(dict):
    """A particle table's columns, by name: a dict whose missing µm column of an
    uncalibrated image says why (``table["ecd_um"]`` raised a bare ``KeyError: 'ecd_um'``)."""

    def __missing__(self, key: Any) -> np.ndarray:
        if isinstance(key, str) and key.endswith(("_um", "_um2")) and key.replace("_um", "_px") in self:
            raise KeyError(f"{key}: the image has no pixel size, so its sizes are in pixels "
                           f"({key.replace('_um', '_px')}); give one for µm: SEMImage(data, '20nm'), "
                           "or particle_table's pixel_size_nm")
        raise KeyError(key)


def _assemble(
    raw: dict[str, np.ndarray], labels: np.ndarray, pixel_size_nm: float | None, ids: np.ndarray | None,
    region: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Derived measures, edge weights and units from raw per-label measurements (of labels
    numbered 1..K for the ``ids``, when given)."""
    area = raw["area"]
    major, minor = _imagej_axes(area, raw["major"], raw["minor"])
    touches, weight = _edges(raw, labels, region)
    with np.errstate(divide="ignore", invalid="ignore"):
        px = {
            "ecd": 2 * np.sqrt(area / np.pi), "feret_max": raw["feret_max"], "feret_min": raw["feret_min"],
            "perimeter": raw["perimeter"],
        }
        shape_measures = {
            "circularity": np.minimum(1.0, 4 * np.pi * area / raw["perimeter"] ** 2),
            "roundness": 4 * area / (np.pi * major**2),
            "aspect_ratio": major / minor,
            "solidity": area / raw["hull_area"],
        }
    scale = None if pixel_size_nm is None else require_pixel_size(pixel_size_nm) / 1000.0
    label = raw["label"] if ids is None else ids[raw["label"]]
    table = _Columns(label=label, centroid_x_px=raw["cx"], centroid_y_px=raw["cy"])
    if scale:
        table["centroid_x_um"], table["centroid_y_um"] = raw["cx"] * scale, raw["cy"] * scale
    table["area_px2"] = area
    if scale:
        table["area_um2"] = area * scale**2
    for name in ("ecd", "feret_max", "feret_min"):
        table[f"{name}_px"] = px[name]
        if scale:
            table[f"{name}_um"] = px[name] * scale
    table["feret_angle_deg"] = raw["feret_angle_deg"]
    table["perimeter_px"] = px["perimeter"]
    if scale:
        table["perimeter_um"] = px["perimeter"] * scale
    for name, value in (("major", major), ("minor", minor)):
        table[f"{name}_px"] = value
        if scale:
            table[f"{name}_um"] = value * scale
    table["ellipse_angle_deg"] = raw["ellipse_angle_deg"]
    table.update(shape_measures)
    table["bse_mean"], table["se_mean"] = raw["bse_mean"], raw["se_mean"]
    table["touches_edge"], table["edge_weight"] = touches, weight
    return table


def particle_table(
    labels: np.ndarray,
    *,
    pixel_size_nm: float | None = None,
    bse: np.ndarray | None = None,
    se: np.ndarray | None = None,
    region: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Measure every labelled particle.

    Parameters
    ----------
    labels : ndarray of int, shape (M, N)
        Particle labels (0 background).
    pixel_size_nm : float, optional
        Calibration. Lengths and areas are always given in pixels (columns ``*_px``,
        ``*_px2``) and, when calibrated, also in µm (``*_um``, ``*_um2``); an uncalibrated
        image never gets µm columns.
    bse, se : ndarray, shape (M, N), optional
        Channels whose mean over each particle is reported (``bse_mean``, ``se_mean``).
    region : ndarray of bool, shape (M, N), optional
        The part of the image analysed (:func:`ddcsem.read_region`): a particle touches
        the edge when it reaches the region's edge (or the image's) or lies outside it,
        and edge weights are those of the region (see the module notes).

    Returns
    -------
    dict of str to ndarray
        Columns of equal length, one row per particle: ``label``, ``centroid_x_px``,
        ``centroid_y_px`` (and ``centroid_x_um``, ``centroid_y_um`` when calibrated),
        ``area``, ``ecd``, ``feret_max``, ``feret_min``, ``feret_angle_deg``, ``perimeter``,
        ``major``, ``minor``, ``ellipse_angle_deg``, ``circularity``, ``roundness``,
        ``aspect_ratio``, ``solidity``, ``bse_mean``, ``se_mean``, ``touches_edge``,
        ``edge_weight`` (length and area names carry the unit).

    Notes
    -----
    Two numba passes do the work: one over the pixels (moments, bounding boxes, channel
    sums) and one along each outline (perimeter, hull, Feret). :func:`particle_table_reference`
    computes the same table with scikit-image and plain numpy.

    Examples
    --------
    >>> yy, xx = np.mgrid[0:101, 0:101]
    >>> disc = ((yy - 50) ** 2 + (xx - 50) ** 2 <= 30 ** 2).astype(int)
    >>> t = particle_table(disc, pixel_size_nm=10.0)
    >>> round(float(t["ecd_um"][0]), 3), round(float(t["circularity"][0]), 2)
    (0.599, 0.9)
    """
    labels, ids = _check(labels, bse, se)
    return _assemble(_raw_kernel(labels, bse, se), labels, pixel_size_nm, ids, _check_region(region, labels.shape))


def particle_table_reference(
    labels: np.ndarray,
    *,
    pixel_size_nm: float | None = None,
    bse: np.ndarray | None = None,
    se: np.ndarray | None = None,
    region: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """:func:`particle_table` computed with scikit-image's ``regionprops`` and plain numpy.

    Slow; kept so that the numba kernels can be checked against it.

    Examples
    --------
    >>> labels = np.zeros((8, 8), int); labels[2:5, 2:6] = 1
    >>> particle_table_reference(labels)["area_px2"]
    array([12.])
    """
    labels, ids = _check(labels, bse, se)
    return _assemble(_raw_reference(labels, bse, se), labels, pixel_size_nm, ids,
                     _check_region(region, labels.shape))


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cum = np.cumsum(w) - 0.5 * w  # midpoint rule: unweighted it equals numpy's 'hazen'
    return float(np.interp(q * w.sum(), cum, v))


def _median_interval(values: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """95 % confidence interval of the weighted median (Woodruff's): the quantiles at
    0.5 -+ z sqrt(0.25 / n), with n Kish's effective count of the weights (their sum
    squared over the sum of their squares), so edge weights widen it as they should."""
    n_eff = weights.sum() ** 2 / np.sum(weights**2)
    if n_eff < MIN_INTERVAL_COUNT:
        return float("nan"), float("nan")
    half = _Z95 * np.sqrt(0.25 / n_eff)
    return _weighted_quantile(values, weights, 0.5 - half), _weighted_quantile(values, weights, 0.5 + half)


def size_distribution(
    diameters: np.ndarray, *, weights: np.ndarray | None = None, min_count: int = MIN_STABLE_COUNT
) -> dict[str, float | int | str | None]:
    """Statistics of a particle size distribution (number-based, ISO 9276 notation).

    Parameters
    ----------
    diameters : ndarray, shape (K,)
        Particle diameters (e.g. ECD), any unit; the results are in the same unit. NaN
        (a blank cell, as a calibrated column has for an uncalibrated image) leaves a
        particle out; an infinite diameter is refused.
    weights : ndarray, shape (K,), optional
        Per-particle weights, e.g. Miles-Lantuejoul edge weights (NaN weights count as 1,
        0 leaves the particle out; infinite ones are refused).
    min_count : int, optional
        Fewer particles than this set ``warning``.

    Returns
    -------
    dict
        ``count``, ``mean``, ``sd`` (number-weighted; the sample standard deviation, over
        n - 1 as Fiji's and Excel's, with weights as reliability weights), ``d10``, ``d50``, ``d90``
        (number-weighted quantiles x10,0 / x50,0 / x90,0, each particle's weight taken
        at its middle: unweighted, numpy's ``percentile(..., method="hazen")``), ``d50_ci_low`` and
        ``d50_ci_high`` (the D50's 95 % confidence interval, from the order statistics
        around it; NaN under 6 effective particles), ``d32`` (Sauter, D[3,2]),
        ``d43`` (D[4,3]), ``d50_volume`` (x50,3, volume-weighted median), ``lognorm_median``
        and ``lognorm_gsd`` (maximum-likelihood log-normal fit), and ``warning`` (None or why
        the distribution is not stable).

    Examples
    --------
    >>> d = np.random.default_rng(0).lognormal(np.log(2.0), 0.3, 20000)
    >>> s = size_distribution(d)
    >>> round(s["lognorm_median"], 2), round(s["lognorm_gsd"], 2), s["warning"]
    (2.0, 1.35, None)
    >>> s["d50_ci_low"] < s["d50"] < s["d50_ci_high"]
    True
    """
    if isinstance(diameters, dict):
        raise ParameterError("diameters must be an array of diameters, not a particle table",
                             hint="pass one column, e.g. table['ecd_um']")
    try:
        d = np.asarray(diameters, dtype=np.float64)
        w = np.ones_like(d) if weights is None else np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"diameters and weights must be numbers: {exc}") from None
    if d.ndim != 1:
        raise ParameterError(f"diameters must be 1-D, a diameter per particle, not of shape {d.shape}",
                             hint="pass one column of a table, e.g. table['ecd_um']")
    if d.shape != w.shape:
        raise ParameterError(f"weights must be a weight per diameter, of shape {d.shape}, not {w.shape}")
    require_positive(min_count, "min_count", zero=True)
    if np.any(np.isinf(d)) or np.any(np.isinf(w)):  # NaN is a blank; infinity is a fault upstream
        raise ParameterError("diameters and weights must be finite, not inf",
                             hint="a blank (NaN) leaves a particle out; an infinite value is no size or weight")
    w = _counted(w)
    if np.any(w < 0):
        raise ParameterError("weights must not be negative")
    if np.any(d <= 0):
        raise ParameterError(f"diameters must be positive, not {d[d <= 0][0]:g}",
                             hint="pass the particles' diameters (a table's ecd column), not differences or logs")
    keep = _kept(d, w)  # a weight of 0 leaves a particle out
    d, w = d[keep], w[keep]
    n = int(d.size)
    result: dict[str, float | int | str | None] = {"count": n}
    keys = ("mean", "sd", "d10", "d50", "d50_ci_low", "d50_ci_high", "d90", "d32", "d43", "d50_volume",
            "lognorm_median", "lognorm_gsd")
    if n == 0:
        result.update({k: float("nan") for k in keys})
        result["warning"] = "no particles"
        return result
    mean = float(np.sum(w * d) / np.sum(w))
    # the sample SD, as Fiji's Summarize and Excel's STDEV give it: n - 1, or with weights
    # the sum of the weights less their effective count's share (the same for equal ones)
    sd = float(np.sqrt(np.sum(w * (d - mean) ** 2) / (np.sum(w) - np.sum(w**2) / np.sum(w)))) if n > 1 else float("nan")
    logs = np.log(d)
    mu = float(np.sum(w * logs) / np.sum(w))
    sigma = float(np.sqrt(np.sum(w * (logs - mu) ** 2) / np.sum(w)))
    low, high = _median_interval(d, w)
    result.update(
        mean=mean, sd=sd,
        d10=_weighted_quantile(d, w, 0.10), d50=_weighted_quantile(d, w, 0.50),
        d50_ci_low=low, d50_ci_high=high, d90=_weighted_quantile(d, w, 0.90),
        d32=float(np.sum(w * d**3) / np.sum(w * d**2)),
        d43=float(np.sum(w * d**4) / np.sum(w * d**3)),
        d50_volume=_weighted_quantile(d, w * d**3, 0.50),
        lognorm_median=float(np.exp(mu)), lognorm_gsd=float(np.exp(sigma)),
    )
    result["warning"] = (
        f"only {format_count(n, 'particle')}: too few for a stable size distribution (ISO 13322-1 asks for thousands)"
        if n < min_count else None
    )
    return result


def pool_fields(
    diameters: Sequence[np.ndarray],
    *,
    weights: Sequence[np.ndarray] | None = None,
    field_areas: Sequence[float] | None = None,
    mineral_area_fractions: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Statistics of a sample imaged in several fields: their particles taken together.

    Each particle keeps its field's edge weight, so the pooled distribution is unbiased as
    each field's is, and a field counts by its particles, not as one vote among fields.

    Parameters
    ----------
    diameters : sequence of ndarray
        Each field's particle diameters (e.g. ``table["ecd_um"]``), all in one unit.
    weights : sequence of ndarray, optional
        Each field's Miles-Lantuejoul edge weights (``table["edge_weight"]``; NaN counts
        as 1).
    field_areas : sequence of float, optional
        Each field's area, in the square of the diameters' unit.
    mineral_area_fractions : sequence of float, optional
        Each field's mineral area fraction (with ``field_areas``).

    Returns
    -------
    dict
        What :func:`size_distribution` gives for all the particles, ``n_fields`` and
        ``d50_field_sd``; with ``field_areas``, ``field_area`` (their sum),
        ``number_density`` (the particles, counted with their weights, per unit of area)
        and ``number_density_field_sd``; with ``mineral_area_fractions`` too,
        ``mineral_area_fraction`` over the summed area and
        ``mineral_area_fraction_field_sd``. The ``_field_sd`` entries are the standard
        deviation (n - 1) of the fields' own values: how much the fields differ, which the
        pooled D50's interval, from the count of particles, does not show (NaN under two
        fields; for the D50, fields without particles do not count).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.lognormal(0, 0.3, 300), rng.lognormal(0, 0.3, 100)
    >>> s = pool_fields([a, b], field_areas=[400.0, 100.0], mineral_area_fractions=[0.1, 0.2])
    >>> s["n_fields"], s["count"], s["field_area"], s["number_density"], round(s["mineral_area_fraction"], 3)
    (2, 400, 500.0, 0.8, 0.12)
    """
    fields = [np.asarray(d, dtype=np.float64) for d in diameters]
    if any(d.ndim != 1 for d in fields):  # one field's diameters given alone: numbers, not arrays
        raise ParameterError("diameters must be a list of fields' diameters, an array for each field",
                             hint="give one field's as a list of one, [diameters]")
    given = {"weights": weights, "field_areas": field_areas, "mineral_area_fractions": mineral_area_fractions}
    for name, values in given.items():
        if values is not None and len(values) != len(fields):
            raise ParameterError(f"{name} must give one entry per field: {len(values)} for {len(fields)} fields")
    if mineral_area_fractions is not None and field_areas is None:
        raise ParameterError("mineral_area_fractions are pooled over the fields' areas", hint="give field_areas too")
    w = [np.ones_like(d) if weights is None else np.asarray(weights[i], dtype=np.float64)
         for i, d in enumerate(fields)]
    empty = [np.empty(0)]
    result: dict[str, Any] = {"n_fields": len(fields),
                              **size_distribution(np.concatenate(fields or empty), weights=np.concatenate(w or empty))}
    d50s = [size_distribution(d, weights=x)["d50"] for d, x in zip(fields, w)]
    result["d50_field_sd"] = _spread([v for v in d50s if np.isfinite(v)])
    if field_areas is not None:
        for area in field_areas:
            require_positive(area, "field_areas")
        total = float(np.sum(field_areas))
        per_area = 1.0 / total if total else float("nan")  # no fields: nothing measured
        counts = np.array([_counted(x).sum() for x in w])
        result["field_area"] = total
        result["number_density"] = float(counts.sum()) * per_area
        result["number_density_field_sd"] = _spread(counts / np.asarray(field_areas, dtype=np.float64))
        if mineral_area_fractions is not None:
            for share in mineral_area_fractions:
                if require_positive(share, "mineral_area_fractions", zero=True) > 1:
                    raise ParameterError(f"mineral_area_fractions are shares of each field's area, 0 to 1, "
                                         f"not {share!r}", hint=f"a percentage: give {share / 100:g}"
                                         if share <= 100 else None)
            result["mineral_area_fraction"] = float(np.dot(mineral_area_fractions, field_areas)) * per_area
            result["mineral_area_fraction_field_sd"] = _spread(mineral_area_fractions)
    return result


def _spread(values: Sequence[float] | np.ndarray) -> float:
    """The sample standard deviation of ``values`` (NaN under two)."""
    values = np.asarray(values, dtype=np.float64)
    return float(np.std(values, ddof=1)) if values.size > 1 else float("nan")
