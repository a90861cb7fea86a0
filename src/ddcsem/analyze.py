"""The whole analysis of one image: colour, separate, segment, measure.

Three kinds of input give the same result, :class:`ImageAnalysis`:

* an SE/BSE pair (:func:`analyze_pair`): the density map comes from the BSE channel;
* a single grey micrograph (:func:`analyze_single`): a BSE image alone, or any image whose
  particles are brighter than their surroundings (or darker, as in a transmission or
  bright-field image, with ``dark_particles``);
* an existing DDC composite (:func:`analyze_composite`): colour unmixing.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import asdict, dataclass, field, fields, replace
from os import PathLike
from typing import Any, Literal, Mapping, Sequence

import numpy as np

from ._repr import dataclass_repr
from .errors import ParameterError, require_choice, require_finite, require_image, require_positive, require_switch
from .pair import Pair, SEMPair, short_id
from .read import PixelSize, SEMImage
from .segment import THRESHOLDS
from .units import format_count, format_length

__all__ = ["AnalysisOptions", "ImageAnalysis", "analyze_pair", "analyze_single", "analyze_composite",
           "pool_analyses", "Tile", "tiles", "fitting_tile_px", "ClippedSignalWarning", "ParticlePolarityWarning",
           "SmallParticleWarning", "LowBeamEnergyWarning"]

#: Smallest image side that can hold a measurable particle.
MIN_SIDE_PX = 8

#: A single image whose particles cover more than this fraction of the field (border
#: particles included) may have them the other way round: darker than their surroundings,
#: or brighter with ``dark_particles``. Read the right way, BAM's InLens and transmission
#: (TSEM) images and the bundled samples give 0.02-0.40; the TSEM images read as they
#: are 0.73-0.99 (the film around the particles, found as one particle). Inverted
#: images of bright particles give only 0.003-0.61, mostly too little to be caught.
#: A pair's BSE image with its signal inverted: 0.76-0.95 in the synthetic scenarios of
#: ``benchmarks/accuracy.py`` (read the right way, 0.04-0.30).
MAX_PARTICLE_FRACTION = 0.6


#: An image whose lowest level holds this fraction of its matrix (the field less the
#: particles found) or more was clipped to black up to the particles' edges. Synthetic
#: pairs whose BSE image was so exported (its 60th-85th percentile and below set to 0)
#: were sized 3-65 % small (median ECD error; 1-2 % as made) once the clipping reached
#: 0.90-0.95 of their matrix, and within 3 % under 0.89. The real files of the reference
#: set hold at most 3 % of their pixels at their lowest level.
MAX_CLIPPED_MATRIX = 0.9

#: An image whose highest level holds this fraction of the particles' area or more, and
#: ``MIN_SATURATED`` of the field, was exported with the particles' tops saturated:
#: synthetic pairs whose BSE image was so exported (its top 3-10 % set to white) and so
#: warned about were sized 2-15 % wrong (median ECD error; 1-3 % as made), and a sparse
#: field's matrix noise became particles (F1 1.00 -> 0.15). The real files of the
#: reference set hold at most 2.4 % of their pixels at their highest level.
MAX_SATURATED_PARTICLES = 0.3
MIN_SATURATED = 0.025

#: Particles are sized well from this many pixels across (their median equivalent
#: diameter). Measured on synthetic spheres (the tiny scenario of
#: ``benchmarks/accuracy.py``): the errors spread (median absolute deviation) 11 % under
#: 5 px, 7 % at 5-6 px, 4 % at 6-8 px and 3 % at 8-12 px, and are biased with the size
#: (+10 % at 4-5 px, -10 % at 7-8 px); spheres about 25 px across are sized to 1-2 %.
SIZING_MIN_PX = 8.0

#: Tiles narrower than this are refused (:func:`tiles`): a tile is a field of its own,
#: and its border costs it the particles it cuts.
MIN_TILE_PX = 64


class SmallParticleWarning(UserWarning):
    """The particles are too few pixels across to be sized well (their median equivalent
    diameter is under ``SIZING_MIN_PX``)."""


class LowBeamEnergyWarning(UserWarning):
    """The BSE image was taken at a beam energy so low (``LOW_BEAM_KV`` or less) that its
    spheres look flat-topped, and the sphere profile sizes them large."""


#: At this accelerating voltage (kV) or less, the BSE image of the sphere profile's model
#: (calcium-phosphate spheres of a few hundred nm) is flat-topped, and the ``auto``
#: profile (``sphere``) sizes them large: :class:`LowBeamEnergyWarning`. Synthetic 500 nm
#: spheres, median ECD error with the sphere profile against the flat one: at 5 kV 5.3 %
#: against 2.5 % (sparse) and 3.5 % against 2.4 % (crowded), where a wide size range
#: loses F1 with the flat one (0.959 against 0.908); at 7 kV 3.0 % against 5.2 % and 2.0 %
#: against 4.2 %: the sphere profile is the better from 7 kV up.
LOW_BEAM_KV = 6.0


class ClippedSignalWarning(UserWarning):
    """The image the particles are found in was exported clipped: its matrix to black up to
    the particles' edges (``MAX_CLIPPED_MATRIX``), or their tops to white
    (``MAX_SATURATED_PARTICLES``)."""


class ParticlePolarityWarning(UserWarning):
    """The particles found in a single image, or in a pair's BSE image, cover most of the
    field (see ``MAX_PARTICLE_FRACTION``), or part of the image lies well below its
    matrix's level and was set aside as cracks or pores (``separate.DARKER_THAN_MATRIX``):
    the particles may be darker than their surroundings, or brighter with
    ``dark_particles``."""


def fitting_tile_px(*, sharing: int = 1) -> int | None:
    """The side (px, a multiple of 64) of the largest square field that the memory
    available now can analyse, or None where that cannot be known (``--tile auto``);
    ``sharing`` analyses at once (``--jobs``) each get their part.

    Examples
    --------
    >>> side = fitting_tile_px()
    >>> side is None or (side % 64 == 0 and fitting_tile_px(sharing=4) <= side // 2 + 64)
    True
    """
    from .resources import ANALYZE_BYTES_PER_PIXEL, available_memory

    available = available_memory()
    if available is None:
        return None
    return int(np.sqrt(available / max(1, sharing) / ANALYZE_BYTES_PER_PIXEL)) // 64 * 64


def _require_memory(shape: tuple[int, ...], source: Any) -> None:
    from .resources import ANALYZE_BYTES_PER_PIXEL, require_memory

    pixels = int(shape[0]) * int(shape[1])
    fits = fitting_tile_px() or 0
    require_memory(pixels * ANALYZE_BYTES_PER_PIXEL,
                   what=f"analysing a {shape[0]} x {shape[1]} px image", path=source,
                   hint=(f"analyse it in tiles that fit, --tile {fits} or --tile auto (ddcsem.analyze.tiles "
                         "in Python), or free memory" if fits >= MIN_TILE_PX
                         else "free memory, or crop or bin the image"))


@dataclass(frozen=True)
class AnalysisOptions:
    """Parameters of an analysis (the CLI and a ``--config`` TOML file set these).

    Attributes
    ----------
    mode : {"overlay", "density"}
        Colouring of the DDC image written beside the results.
    clip : (float, float)
        Percentiles each channel is stretched between.
    threshold : str or float
        ``auto`` (Li's for the ``edges`` split, else Otsu's), ``otsu``, ``li``, ``yen``,
        ``triangle`` or a density value in [0, 1].
    split : {"auto", "shape", "edm", "edges", "none"}
        How touching particles are split (see :func:`ddcsem.segment_particles`). ``auto``:
        ``edges`` for a single image from an SE detector (topography: flat-topped
        particles outlined by edges) unless its particles are too small to hold a core
        inside their edges (:data:`ddcsem.segment.EDGES_MIN_DEPTH`), ``shape`` for those
        and everything else (BSE density peaks at the particle centres).
    min_diameter_nm : float or None
        Smallest particle kept, as an equivalent circle diameter (needs a calibration);
        ``None`` keeps particles of at least ``min_area_px``.
    min_diameter_px : float or None
        The same in pixels, for images without a calibration (not with ``min_diameter_nm``).
    min_area_px : float
        Smallest particle kept in pixels (the detection floor).
    max_diameter_nm : float or None
        Largest particle kept, as an equivalent circle diameter (needs a calibration), as
        the upper end of ImageJ's *Size* range; ``None`` keeps all.
    max_diameter_px : float or None
        The same in pixels (not with ``max_diameter_nm``).
    circularity : (float, float)
        Range of circularity (4πA/P², ImageJ's) of the particles kept, as ImageJ's
        *Circularity* field; the default ``(0, 1)`` keeps all.
    min_distance_nm : float or None
        Smallest distance between particle centres (needs a calibration).
    min_distance_px : float or None
        The same in pixels (not with ``min_distance_nm``).
    keep_edge_particles : bool
        Keep particles that touch the border (marked, without edge weight).
    register : bool
        Align BSE onto SE.
    se_rims : bool
        Let the SE image's bright particle rims guide the splitting of touching particles,
        and its brightness corroborate dim particles (pairs and composites; see
        :func:`ddcsem.segment_particles`). Turn off for SE images without edge
        brightening.
    off_sample : bool
        Leave out of the field an area off the sample (much darker than the matrix in the
        BSE image, or the single image of bright particles, with few particles if any: the stub or
        tape beyond a section's edge, a hole through it), whose edge is then a border of
        the field; where a ``region`` is given, it is the field. Pairs, composites (black
        there) and single images of bright particles.
    basis : ((float, float, float), (float, float, float)) or None
        The colours of a composite's BSE (orange) and SE (green) images, RGB in any
        scale; ``None`` estimates them from each composite
        (:func:`ddcsem.separate.estimate_basis`).
    dark_particles : bool
        The particles of a single image are darker than their surroundings (a transmission
        or bright-field image: mass-thickness contrast): the image is inverted within its
        own range before the analysis, the ``auto`` split is ``shape`` whatever the
        detector, and the ``auto`` profile ``flat``. Pairs and composites are not affected.
    profile : {"auto", "sphere", "flat"}
        The particles' density profile, which places their edges (see
        :func:`ddcsem.segment_particles`): ``sphere`` for partial-volume spheres (BSE at
        10 keV and above), ``flat`` for flat-topped particles (opaque in a transmission
        image, or imaged at a low beam energy, about 5 keV). ``auto``: ``flat`` for the
        single images of ``dark_particles``, else ``sphere``.

    Raises
    ------
    ParameterError
        When made with a value an option does not take (a misspelt split, a threshold
        outside [0, 1], a negative ``min_area_px``, a circularity range out of order).

    Examples
    --------
    >>> options = AnalysisOptions(threshold="li", min_diameter_nm=50.0)
    >>> options.to_dict()["threshold"], options.to_dict()["clip"]
    ('li', [0.5, 99.5])
    """

    mode: Literal["overlay", "density"] = "overlay"
    clip: tuple[float, float] = (0.5, 99.5)
    threshold: str | float = "auto"
    split: Literal["auto", "shape", "edm", "edges", "none"] = "auto"
    min_diameter_nm: float | None = None
    min_diameter_px: float | None = None
    min_area_px: float = 9.0
    max_diameter_nm: float | None = None
    max_diameter_px: float | None = None
    circularity: tuple[float, float] = (0.0, 1.0)
    min_distance_nm: float | None = None
    min_distance_px: float | None = None
    keep_edge_particles: bool = False
    register: bool = True
    se_rims: bool = True
    off_sample: bool = True
    basis: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None
    dark_particles: bool = False
    profile: Literal["auto", "sphere", "flat"] = "auto"

    def __post_init__(self) -> None:
        # checked here, where a config file's values and an API call's meet: each image failed alike
        for name, allowed in _choices().items():  # (in any case: Shape, as a config file may write it)
            object.__setattr__(self, name, require_choice(getattr(self, name), name, allowed))
        object.__setattr__(self, "threshold", _checked_threshold(self.threshold))
        for name in ("keep_edge_particles", "register", "se_rims", "off_sample", "dark_particles"):
            object.__setattr__(self, name, require_switch(getattr(self, name), name))
        object.__setattr__(self, "min_area_px", require_positive(self.min_area_px, "min_area_px", zero=True))
        try:
            low, high = (float(v) for v in self.circularity)
        except (TypeError, ValueError):
            low = high = float("nan")
        if not 0 <= low <= high <= 1:
            raise ParameterError(f"circularity must be a range (low, high) with 0 <= low <= high <= 1, "
                                 f"not {self.circularity!r}")
        object.__setattr__(self, "circularity", (low, high))
        from .colorize import _clip_percentiles

        object.__setattr__(self, "clip", _clip_percentiles(self.clip))  # (1,) and None failed each image alike
        if self.basis is not None:
            from .separate import _checked_basis

            _checked_basis(self.basis)  # as "orange" and one colour did
            object.__setattr__(self, "basis", tuple(tuple(float(v) for v in colour) for colour in self.basis))
        for size in _SIZES:
            given = [f"{size}_{unit}" for unit in ("nm", "px") if getattr(self, f"{size}_{unit}") is not None]
            for name in given:
                object.__setattr__(self, name, require_positive(getattr(self, name), name))
            if len(given) == 2:
                raise ParameterError(f"{size} is given both in nm and in px", hint="give one of them")
        for unit in ("nm", "px"):
            smallest, largest = getattr(self, f"min_diameter_{unit}"), getattr(self, f"max_diameter_{unit}")
            if smallest is not None and largest is not None and largest < smallest:
                raise ParameterError(f"max_diameter ({largest:g} {unit}) is under min_diameter ({smallest:g} {unit})")

    def to_dict(self) -> dict[str, Any]:
        """Plain values for a manifest."""
        out = asdict(self)
        out["clip"] = list(self.clip)
        out["circularity"] = list(self.circularity)
        out["basis"] = None if self.basis is None else [list(colour) for colour in self.basis]
        return out


#: The sizes of :class:`AnalysisOptions` that are given in nm or in px (``min_diameter_nm``
#: or ``min_diameter_px``, ...).
_SIZES = ("min_diameter", "max_diameter", "min_distance")


def _choices() -> dict[str, tuple[str, ...]]:
    """The values each option of :class:`AnalysisOptions` typed as a ``Literal`` takes."""
    from typing import get_args, get_type_hints

    hints = get_type_hints(AnalysisOptions)
    return {name: get_args(hint) for name, hint in hints.items() if getattr(hint, "__origin__", None) is Literal}


def _checked_threshold(threshold: object) -> str | float:
    """``threshold`` as :class:`AnalysisOptions` keeps it: ``"auto"``, a method of
    :data:`ddcsem.segment.THRESHOLDS` (in any case), or a density in [0, 1] as a float (a
    numpy scalar too, as a manifest writes it); else a :class:`ParameterError`."""
    from numbers import Real

    if isinstance(threshold, Real) and not isinstance(threshold, (bool, np.bool_)) and 0 <= threshold <= 1:
        return float(threshold)
    return require_choice(threshold, "threshold", ("auto", *THRESHOLDS), or_="a density in [0, 1]")


@dataclass(frozen=True, eq=False)
class ImageAnalysis:
    """Everything measured on one image.

    Attributes
    ----------
    image_id : str
        Name of the field.
    kind : {"pair", "single", "composite"}
        Input kind.
    split : str
        How touching particles were split (``AnalysisOptions.split`` resolved; ``given``
        for labels drawn or corrected by hand).
    profile : str
        The particle profile their edges followed (``AnalysisOptions.profile`` resolved;
        ``given`` for labels drawn by hand).
    sources : dict
        Input paths (``se``, ``bse`` or ``image``); "" for an array.
    pixel_size : PixelSize
        Calibration and its source.
    ddc : ndarray, shape (M, N, 3), uint8
        The DDC image (the composite itself for a composite).
    density : ndarray, shape (M, N), float32
        Density map.
    labels : ndarray, shape (M, N), int32
        Particles measured.
    table : dict of ndarray
        Per-particle measurements (:func:`ddcsem.particle_table`).
    distribution : dict
        Size statistics of the ECD (:func:`ddcsem.size_distribution`), in µm when
        calibrated, else in pixels.
    mineral_area_fraction : float
        Fraction of the field (of the ``region``, when given) above the density threshold
        (edge particles included), or covered by the labels given.
    shift_px : (float, float)
        Shift estimated between the channels (pairs only).
    timings : dict
        Seconds per step.
    region : ndarray of bool, shape (M, N), or None
        The part of the image analysed, when one was given.
    smallest_ecd : float or None
        The equivalent diameter of the smallest particle the size filter keeps (µm when
        calibrated, else pixels): the distribution's small end is cut there. None for
        labels given, which it does not filter.
    markers : ndarray of int, shape (M, N), or None
        The seeds marked by hand that the split started from, when given.
    beam_kv : float or None
        The accelerating voltage the image was taken at (kV), as its metadata records it
        (:attr:`ddcsem.SEMImage.beam_kv`).

    Examples
    --------
    >>> from ddcsem.synthetic import make_pair
    >>> syn = make_pair(shape=(256, 256), n_particles=12, seed=1)
    >>> result = analyze_single(SEMImage(syn.bse, "20nm"), image_id="field_1")
    >>> result.kind, result.pixel_size.source, result.labels.shape == result.density.shape
    ('single', 'argument', True)
    >>> len(result.table["ecd_um"]) == result.distribution["count"]
    True
    """

    image_id: str
    kind: str
    split: str
    profile: str
    sources: dict[str, str]
    pixel_size: PixelSize
    ddc: np.ndarray
    density: np.ndarray
    labels: np.ndarray
    table: dict[str, np.ndarray]
    distribution: dict[str, Any]
    mineral_area_fraction: float
    shift_px: tuple[float, float] = (0.0, 0.0)
    timings: dict[str, float] = field(default_factory=dict)
    region: np.ndarray | None = None
    smallest_ecd: float | None = None
    markers: np.ndarray | None = None
    beam_kv: float | None = None

    __repr__ = dataclass_repr

    @property
    def field_area(self) -> float:
        """Area analysed (the image without its data bar, or the region given): µm² when
        calibrated, else px²."""
        um = (self.pixel_size.nm or 0.0) / 1000
        pixels = self.labels.size if self.region is None else np.count_nonzero(self.region)
        return float(pixels) * (um * um if um else 1.0)

    @property
    def number_density(self) -> float:
        """Particles per unit of :attr:`field_area` (per µm², or per px² uncalibrated).

        The particles kept are counted with their Miles-Lantuejoul edge weights, which
        makes it an unbiased estimate of the number of particles per area although those
        cut by the border are left out; particles kept on the border (no weight) count 1.
        """
        from .measure import _counted

        return float(_counted(self.table["edge_weight"]).sum()) / self.field_area


def _segment(
    kind: str,
    density: np.ndarray,
    options: AnalysisOptions,
    bse: np.ndarray | None,
    se: np.ndarray | None,
    role: str | None,
    hidden: np.ndarray | None,
    min_area: float,
    distance: float | None,
    region: np.ndarray | None = None,
    markers: np.ndarray | None = None,
    beam_kv: float | None = None,
    binary: bool = False,
) -> tuple[np.ndarray, str, str, float, float]:
    """The particles of ``density`` (border ones too), the split and the profile used, the
    fraction of the field the particles cover and that of the ``region`` (the mineral
    area fraction, those touching annotations included), with :func:`_measure`'s
    warnings about their polarity, the annotations they touch and a profile that does not
    suit the beam energy ``beam_kv``. A ``binary`` mask's density (0 and 1) is taken as
    drawn: neither smoothed nor its edges refined, its touching particles split by shape."""
    from .segment import EDGES_MIN_DEPTH, _drop_labels, median_depth, segment_particles

    split = options.split
    if split == "auto":  # SE images along their edges, unless the particles are too small
        edges = not binary and kind == "single" and role == "SE" and median_depth(
            density, threshold="li" if options.threshold == "auto" else options.threshold,
            min_area=min_area) >= EDGES_MIN_DEPTH
        split = "edges" if edges else "shape"
    profile = options.profile
    if profile == "auto":  # opaque particles of a transmission image are flat-topped
        profile = "flat" if kind == "single" and options.dark_particles else "sphere"
        if profile == "sphere" and beam_kv and beam_kv <= LOW_BEAM_KV and kind != "composite" and role != "SE":
            warnings.warn(
                f"imaged at {beam_kv:g} kV: at a beam energy this low, spheres of a few hundred nm look "
                "flat-topped in the BSE image, and the sphere profile sizes them large (synthetic 500 nm spheres "
                "at 5 kV: 5.3 % sparse, 3.5 % crowded); profile='flat' (--profile flat) sizes them to about "
                "2.5 %, but may miss dim small ones (a wide size range at 5 kV: F1 0.96 against 0.91)",
                LowBeamEnergyWarning,
                stacklevel=4,
            )
    # a single image (an SE one, under "auto") guides the edges split with its own edges
    guide = bse if kind == "single" and split == "edges" else (se if options.se_rims else None)
    labels = segment_particles(
        density,
        threshold=0.5 if binary else options.threshold,
        split=split,
        min_area=min_area,
        min_distance=distance or None,
        exclude_border=False,
        smooth_sigma=0.0 if binary else "auto",
        refine_edges=not binary,
        profile=profile,
        se=guide,
        region=region,
        markers=markers,
    )
    fraction, mineral = _covered(labels, None), _covered(labels, region)
    if kind != "composite" and fraction > MAX_PARTICLE_FRACTION:
        which, option = (("brighter", "without dark_particles (--dark-particles)") if options.dark_particles
                         else ("darker", "with dark_particles=True (--dark-particles)"))
        given = ("" if isinstance(options.threshold, str) else
                 f"the threshold given, {options.threshold:g}, may be too low; or ")
        warnings.warn(
            f"the particles found cover {fraction:.0%} of the field: " + given
            + (f"if they are {which} than their surroundings (a transmission or bright-field image "
               f"has dark ones), analyse it {option}" if kind == "single" else
               "if the BSE image shows them darker than their surroundings (its signal inverted), "
               "invert it and analyse the pair again"),
            ParticlePolarityWarning,
            stacklevel=4,
        )
    if hidden is not None and hidden.any():
        from scipy import ndimage

        before = int(labels.max())
        labels = _drop_labels(labels, labels[ndimage.binary_dilation(hidden)])
        dropped = before - int(labels.max())
        warnings.warn(
            f"{int(hidden.sum())} px hold annotations (a scale bar, lettering, marks, "
            + ("in colours that no mix of the composite's two gives, or a scale bar drawn in one"
               if kind == "composite" else
               "drawn into the grey micrograph") + ", and a box under them, black or white): they were masked"
            + (f", and the {format_count(dropped, 'particle')} touching them left out" if dropped else ""),
            stacklevel=4,
        )
    return labels, split, profile, fraction, mineral


def _covered(labels: np.ndarray, region: np.ndarray | None) -> float:
    """The fraction of the field, or of ``region``, that the particles cover."""
    if region is None:
        return float(np.count_nonzero(labels)) / labels.size
    return float(np.count_nonzero(labels[region])) / np.count_nonzero(region)


def _filled(image: np.ndarray, outside: np.ndarray) -> np.ndarray:
    """A copy of ``image`` with its pixels ``outside`` set to the median of the others:
    what is not analysed (a composite's annotations, what lies outside the region) makes
    no particle, and no edge for the flat field or the smoothing to carry in."""
    out = np.array(image, copy=True)
    if outside.any() and not outside.all():
        out[outside] = np.median(image[~outside])
    return out


def _within(image: np.ndarray | None, region: np.ndarray | None) -> np.ndarray | None:
    """``image`` as the analysis sees it: filled outside the ``region`` (:func:`_filled`),
    when one is given."""
    return image if region is None or image is None else _filled(image, ~region)


def _colorized(se: np.ndarray, bse: np.ndarray, frame: np.ndarray, **options: Any) -> np.ndarray:
    """The DDC image (:func:`ddcsem.colorize`), its channels stretched by the field's pixels
    alone: a plain ``frame`` (a mosaic's padding, a figure's margin) sets no stretch, and
    is black."""
    from .colorize import colorize

    if not frame.any():
        return colorize(se, bse, **options)
    inside = bse[~frame]
    if inside.size and inside.min() == inside.max():  # the colouring said "the SE image is constant", of a
        # single image too
        raise ParameterError(f"the image less its plain white or black areas (a background painted out, the padding "
                             f"of a rotated or stitched image, a frame) is of one level ({inside[0]:g}): it shows no "
                             "particles", hint="check that the right file was given")
    ddc = colorize(_filled(se, frame), _filled(bse, frame), **options)
    ddc[frame] = 0
    return ddc


def _off_the_sample(grey: np.ndarray | None, region: np.ndarray | None, outside: np.ndarray,
                    off_sample: bool) -> np.ndarray | None:
    """The area of the ``grey`` image (bright particles; None: not searched) that lies off
    the sample (see ``separate.OFF_SAMPLE_GRID``), where ``off_sample`` asks for it and no
    ``region`` was given (that is the field); ``outside`` (a frame, annotations) is no
    part of the field. None where there is none."""
    from .separate import _off_sample

    if grey is None or region is not None or not off_sample:
        return None
    return _off_sample(grey, outside)


def _pair_colours(pair: SEMPair, *, region: np.ndarray | None = None, off_sample: bool = True, **colour: Any
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The DDC image of ``pair`` (:func:`ddcsem.colorize` with the ``colour`` options),
    with what is no part of its field: its plain frame and plain white or black areas,
    in both channels (a figure's margin, a mosaic's or a rotated image's padding), the
    annotations drawn into either (a scale bar, Fiji's Flatten) and, with ``off_sample``
    where no ``region`` is given, the area off the sample. None of them sets the stretch
    of the colours, and all are black in the image. Returns the image, the frame, the
    annotations and the area off the sample (None where there are none): ``ddcsem
    colorize`` makes the image as ``analyze_pair`` does."""
    from .separate import _frame_mask

    frame = _frame_mask(pair.bse.data)
    if frame.any():  # a frame is plain in both channels (a mosaic's padding, a figure's margin)
        frame &= _frame_mask(pair.se.data)
    # annotations drawn into either channel (a scale bar, Fiji's Flatten): no part of the field
    se_marks, bse_marks = _annotations(pair.se, frame), _annotations(pair.bse, frame)
    hidden = se_marks if bse_marks is None else bse_marks if se_marks is None else se_marks | bse_marks
    _warn_of_scale_bar(pair.pixel_size, (se_marks, pair.se.data), (bse_marks, pair.bse.data), stacklevel=4)
    outside = frame if hidden is None else frame | hidden
    off = _off_the_sample(pair.bse.data, region, outside, off_sample)
    return _colorized(pair.se.data, pair.bse.data, outside if off is None else outside | off, **colour), frame, \
        hidden, off


def _field_region(region: np.ndarray | None, shape: tuple[int, ...], frame: np.ndarray,
                  hidden: np.ndarray | None = None, off: np.ndarray | None = None) -> np.ndarray | None:
    """The part of the field analysed: ``region`` (checked against ``shape``; None, all of
    it) less the image's plain ``frame`` (a figure panel's margin: see
    ``separate.FRAME_TOLERANCE``), which is no part of the field and whose edge is its
    border, with a warning that says so, and less its annotations, ``hidden``. The area
    ``off`` the sample (:func:`_off_the_sample`, found where no region was given) is left
    out as well, with a warning, and its edge is a border too."""
    from .measure import _check_region

    if off is not None:
        warnings.warn(f"{off.mean():.0%} of the field is much darker than its matrix, with few particles if any, "
                      "and lies off the sample (the stub or tape beyond its edge, a hole through it): left out of "
                      "the field, its edge taken for the field's border; keep it with off_sample=False "
                      "(--keep-off-sample), or give the region to analyse", stacklevel=3)
        region = ~off
    region = _check_region(region, shape)
    if frame.any():  # the rows and columns it fills whole from an edge in (a frame's, not a seam's)
        lines = _from_edges(frame.all(axis=1))[:, None] | _from_edges(frame.all(axis=0))[None, :]
        rows, cols = np.flatnonzero(~frame.all(axis=1)), np.flatnonzero(~frame.all(axis=0))
        if (frame & ~lines).any():  # (the lines a plain area fills whole are part of it)
            warnings.warn(f"a plain white or black area ({frame.mean():.0%} of the image: a background painted out "
                          "around the sample, or the padding or seams of a rotated or stitched image) is no part of "
                          "the field: left out, its edge taken for the field's border", stacklevel=3)
        else:
            warnings.warn(f"a plain frame around the image (rows {rows[0]}-{rows[-1]} and columns {cols[0]}-"
                          f"{cols[-1]} lie inside it) is no part of the field: left out, its edge taken for the "
                          "field's border", stacklevel=3)
        region = ~frame if region is None else _less(region, frame, "the image's plain frame or area")
    if hidden is not None and hidden.any() and not hidden.all():  # its area, mineral and particles
        region = ~hidden if region is None else _less(region, hidden, "what is drawn into the image (a scale bar)")
    return region


def _from_edges(full: np.ndarray) -> np.ndarray:
    """The lines of ``full`` (bool, one per row or column) in its runs from either end."""
    return np.logical_and.accumulate(full) | np.logical_and.accumulate(full[::-1])[::-1]


def _less(region: np.ndarray, outside: np.ndarray, what: str) -> np.ndarray:
    """``region`` less the pixels ``outside`` the field, which are ``what`` (in the error
    raised where they hold all of it)."""
    rest = region & ~outside
    if not rest.any():
        raise ParameterError(f"the region lies wholly in {what}, which is no part of the field",
                             hint="draw it over the sample")
    return rest


def _warn_of_scale_bar(pixel: PixelSize, *drawn: tuple[np.ndarray | None, np.ndarray], stacklevel: int = 3) -> None:
    """Where an image without a pixel size has a scale bar drawn into it, say how long it
    is, for the pixel size its label gives: ``drawn`` are its pictures (a pair's two) with
    the annotations of each (None where it has none; :func:`ddcsem.read._scale_bars`),
    warned of at ``stacklevel`` (that of the public function's caller)."""
    if pixel.calibrated:
        return
    from .read import _scale_bars

    lengths = sorted({n for hidden, picture in drawn if hidden is not None for n in _scale_bars(hidden, picture)})
    if lengths:
        across = " or ".join(f"{n} px" for n in lengths)
        warnings.warn(f"a scale bar {across} long is drawn into the image, which has no pixel size: give the "
                      f"length its label reads, over those pixels: --pixel-size LENGTH/{lengths[0]}px (e.g. "
                      f"5um/{lengths[0]}px; in Python, read the file with pixel_size=\"5um/{lengths[0]}px\")",
                      stacklevel=stacklevel)


def _annotations(image: SEMImage, frame: np.ndarray) -> np.ndarray | None:
    """The annotations drawn into a grey ``image`` (its ``marks``: a scale bar, lettering),
    with the black box under them (``separate._with_box``); None if none."""
    from .separate import ANNOTATION_BLACK, _with_box

    if image.marks is None:
        return None
    data = image.data
    full = float(np.iinfo(data.dtype).max) if data.dtype.kind in "ui" else float(data.max())
    return _with_box(image.marks, data <= ANNOTATION_BLACK * full, frame)


def _drawn_labels(labels: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``labels`` checked against the image's ``shape`` and numbered 1..K (int32)."""
    from .measure import _check
    from .segment import _drop_labels

    if np.shape(labels) != shape:
        raise ParameterError(f"labels must have the image's shape {shape}, not {np.shape(labels)}",
                             hint="read drawn or corrected particles with ddcsem.read_labels")
    labels, _ = _check(labels, None, None)  # integers, none negative, sparse ids numbered
    return _drop_labels(labels, np.zeros(1, np.int64))  # numbered 1..K as a segmentation's


def _warn_if_clipped(image: np.ndarray, fraction: float, *, inverted: bool) -> None:
    """:class:`ClippedSignalWarning` when the ``image`` (``inverted``: its particles dark)
    was clipped at its matrix's end reaching the particles (that cover ``fraction`` of the
    field), or at the particles' end."""
    sample = image[::4]  # every 4th row: the fractions that matter are percents
    low, high = sample.min(), sample.max()
    if low == high:  # a constant field, warned of as such (see separate._density): no end clipped
        return
    lowest, highest = np.mean(sample == low), np.mean(sample == high)
    if inverted:
        lowest, highest = highest, lowest
    matrix = 1.0 - fraction
    if matrix > 0 and lowest >= MAX_CLIPPED_MATRIX * matrix:
        warnings.warn(
            f"{lowest:.0%} of the image's pixels sit at its {'highest' if inverted else 'lowest'} level: its "
            "matrix was clipped up to the particles' edges, which sizes them small (on synthetic pairs so "
            "exported, by 3-65 %); export it without clipping that end", ClippedSignalWarning, stacklevel=4)
    if highest >= MIN_SATURATED and highest >= MAX_SATURATED_PARTICLES * fraction:
        share = (f"{highest / fraction:.0%} of the particles' area" if highest < fraction else
                 f"more than the particles found cover ({fraction:.1%})")
        warnings.warn(
            f"{highest:.1%} of the image's pixels sit at its {'lowest' if inverted else 'highest'} level, "
            f"{share}: their tops were clipped, which "
            "sizes them wrong and can merge neighbours or make particles of the noise (on synthetic pairs so "
            "exported, sizes off by up to 15 %); export it without saturating", ClippedSignalWarning, stacklevel=4)


def _warn_if_darker(dark: float, kind: str, *, inverted: bool = False) -> None:
    """:class:`ParticlePolarityWarning` where a ``dark`` fraction of the image was set aside
    as darker than its matrix (``separate.DARKER_THAN_MATRIX``): cracks or pores, or the
    particles themselves, of the other polarity (``inverted``: a single image read so)."""
    if not dark:
        return
    if kind == "single":
        reading, fix = (("brighter than their surroundings (as the image shows them)",
                         "analyse it without dark_particles (--dark-particles)") if inverted else
                        ("darker than their surroundings (as a transmission or bright-field image shows them)",
                         "analyse it with dark_particles=True (--dark-particles)"))
    else:
        reading = "darker than their surroundings (an inverted BSE signal)"
        fix = ("invert the BSE image and analyse the pair again" if kind == "pair" else
               "analyse the pair it was made of, its BSE image inverted")
    warnings.warn(f"{dark:.1%} of the image lies well below its matrix's level: taken for cracks, pores or holes "
                  f"(no phase of the field, no particles); if these are the particles, {reading}, {fix}",
                  ParticlePolarityWarning, stacklevel=3)


def _measure(
    image_id: str,
    kind: str,
    sources: dict[str, str],
    pixel: PixelSize,
    ddc: np.ndarray,
    density: np.ndarray,
    options: AnalysisOptions,
    bse: np.ndarray | None,
    se: np.ndarray | None,
    timings: dict[str, float],
    shift: tuple[float, float] = (0.0, 0.0),
    role: str | None = None,
    hidden: np.ndarray | None = None,
    drawn: np.ndarray | None = None,
    region: np.ndarray | None = None,
    markers: np.ndarray | None = None,
    beam_kv: float | None = None,
    binary: bool = False,
) -> ImageAnalysis:
    """Segment and measure; ``role`` is the detector of a single image (``"SE"`` or
    ``"BSE"``), which picks the ``auto`` split; particles touching ``hidden`` (an
    image's annotations) are left out; ``drawn`` labels are measured instead of those
    found, or the split starts from the ``markers``; only the particles within ``region``
    count, when given; ``beam_kv`` is recorded; a ``binary`` mask is segmented as drawn
    (:func:`_segment`)."""
    from .measure import _check_region, _region_edge, particle_table, size_distribution
    from .segment import _drop_labels, drop_border_labels

    if (not isinstance(image_id, str) or not image_id.strip(".")
            or any(sep and sep in image_id for sep in ("/", os.sep, os.altsep))):
        # it names the result's files and folder (write_image_results): "../x" wrote them above
        raise ParameterError(f"the image id {image_id!r} cannot name the result's files",
                             hint="give a name (a str) without / (or \\ on Windows), nor of dots only")
    region = _check_region(region, density.shape)
    if drawn is not None and markers is not None:
        raise ParameterError("labels and markers were both given: markers seed the segmentation, "
                             "which labels replace", hint="give one of them")

    if min(density.shape) < MIN_SIDE_PX:
        raise ParameterError(
            f"the image is {density.shape[0]} x {density.shape[1]} px, too small to find particles in",
            hint=f"images must be at least {MIN_SIDE_PX} px on each side",
        )
    lengths = [n for n in _SIZES if getattr(options, f"{n}_nm")]
    if lengths and not pixel.calibrated:
        named = (f"{n}_nm {format_length(getattr(options, f'{n}_nm'))} (--{n.replace('_', '-')})" for n in lengths)
        raise ParameterError(
            f"{', '.join(named)} needs a calibrated image, and this one has no pixel size",
            hint=f"give the pixel size (--pixel-size), or the size in pixels (e.g. --{lengths[0].replace('_', '-')} "
                 f"12px, or {lengths[0]}_px=12)",
        )

    def in_px(size: str) -> float | None:
        """A size of ``sizes`` in pixels, from whichever unit it was given in."""
        nm = getattr(options, f"{size}_nm")
        px = nm / pixel.nm if nm else getattr(options, f"{size}_px")
        upper = size == "max_diameter"
        if px and px > max(density.shape) and not upper:  # a slip of the unit; no particle could pass
            given = f"{nm:g} nm ({px:.3g} px)" if nm else f"{px:g} px"
            raise ParameterError(f"{size} {given} is larger than the image "
                                 f"({density.shape[0]} x {density.shape[1]} px)",
                                 hint="check its unit: a bare number is in nm")
        if nm and nm < pixel.nm:  # a slip of the unit, most likely: a bare number is read in nm
            warnings.warn(f"{size} {nm:g} nm is under one pixel ({pixel.nm:g} nm) of this image, so it "
                          f"{'leaves no particle' if upper else 'does nothing'}; a bare number is in nm: "
                          f"did you mean {nm:g}px or {nm:g}um?", stacklevel=4)
        return px

    diameter, largest, distance = in_px("min_diameter"), in_px("max_diameter"), in_px("min_distance")
    if diameter and largest and largest < diameter:
        raise ParameterError(f"max_diameter ({largest:.3g} px) is under min_diameter ({diameter:.3g} px)")
    min_area = options.min_area_px if not diameter else max(options.min_area_px, np.pi / 4 * diameter**2)
    t = time.perf_counter()
    if drawn is None:  # guided by the images as they are within the region, the rest filled
        labels, split, profile, fraction, mineral = _segment(
            kind, density, options, _within(bse, region), _within(se, region), role, hidden, min_area, distance,
            region, markers, beam_kv, binary)
    else:  # drawn or corrected by hand: measured as they are
        labels, split, profile = _drawn_labels(drawn, density.shape), "given", "given"
        fraction, mineral = _covered(labels, None), _covered(labels, region)
    if region is not None:  # the particles that lie wholly outside it go
        inside = np.zeros(int(labels.max()) + 1, bool)
        inside[labels[region]] = True
        labels = _drop_labels(labels, np.flatnonzero(~inside))
    found = int(labels.max())
    if not options.keep_edge_particles:  # those that reach the border (the image's, or the region's)
        labels = (drop_border_labels(labels) if region is None
                  else _drop_labels(labels, labels[_region_edge(region)]))
    timings["segment"] = time.perf_counter() - t
    t = time.perf_counter()
    # the table's intensities under their detector's name: a lone SE image's are se_mean
    channels = {"bse": None, "se": bse} if kind == "single" and role == "SE" else {"bse": bse, "se": se}
    table = particle_table(labels, pixel_size_nm=pixel.nm, region=region, **channels)
    low, high = options.circularity
    outside = (table["circularity"] < low) | (table["circularity"] > high)
    if largest:
        outside |= table["ecd_px"] > largest
    if outside.any():  # ImageJ's Size and Circularity ranges
        labels = _drop_labels(labels, table["label"][outside])
        table = particle_table(labels, pixel_size_nm=pixel.nm, region=region, **channels)
    ecd = table["ecd_um"] if pixel.calibrated else table["ecd_px"]
    weights = None if options.keep_edge_particles else table["edge_weight"]
    distribution = size_distribution(ecd, weights=weights)
    median_px = float(np.median(table["ecd_px"])) if table["ecd_px"].size else np.inf
    if median_px < SIZING_MIN_PX and drawn is None:  # the errors it quotes are the segmentation's
        warnings.warn(
            f"the median particle is {median_px:.1f} px across: under {SIZING_MIN_PX:g} px, sizes are good to "
            "only 4-11 % (measured on synthetic spheres: errors spread 4 % at 6-8 px, 7 % at 5-6 px and 11 % "
            "under 5 px, and are biased by up to 10 % with the size); image them at a higher magnification "
            "to size them",
            SmallParticleWarning,
            stacklevel=3,
        )
    if drawn is None and kind != "composite" and not binary:  # in the part analysed; a mask is all clipped
        _warn_if_clipped(bse if region is None else bse[region], fraction if region is None else mineral,
                         inverted=kind == "single" and options.dark_particles)
    if found and not labels.any():  # every particle found touches the border
        distribution["warning"] = (
            f"no particles away from the border: every one found ({format_count(found, 'particle')}) "
            "touches it; keep_edge_particles=True (--keep-edge-particles) keeps them")
    timings["measure"] = time.perf_counter() - t
    smallest = None if drawn is not None else 2 * np.sqrt(min_area / np.pi) * (pixel.um or 1.0)
    return ImageAnalysis(image_id, kind, split, profile, sources, pixel, ddc, density, labels, table,
                         distribution, mineral, shift, timings, region, smallest, markers, beam_kv)


def analyze_pair(pair: SEMPair | SEMImage | np.ndarray, bse: SEMImage | np.ndarray | None = None, *,
                 options: AnalysisOptions | Mapping[str, Any] = AnalysisOptions(),
                 labels: np.ndarray | None = None, region: np.ndarray | None = None,
                 markers: np.ndarray | None = None) -> ImageAnalysis:
    """Analyse a registered SE/BSE pair (:class:`ddcsem.SEMPair`), or an SE and a BSE image.

    Parameters
    ----------
    pair : SEMPair, SEMImage or ndarray
        The pair, as :func:`ddcsem.read_pair` reads it; or, with ``bse``, its SE image (an
        array is taken as uncalibrated: ``ddcsem.SEMImage(array, "20nm")`` gives its pixel
        size).
    bse : SEMImage or ndarray, shape (M, N), optional
        The BSE image of the field, with the SE image as ``pair``: the two are checked and
        registered (unless ``options.register`` is off) as :func:`ddcsem.read_pair` does it,
        and named after the SE image's file (else the BSE image's; ``pair`` for two arrays).
    options : AnalysisOptions or dict, optional
        How to segment and measure (a dict: the fields of an AnalysisOptions).
    labels : ndarray of int, shape (M, N), optional
        Particles drawn or corrected by hand (:func:`ddcsem.read_labels`), measured
        instead of those the segmentation would find: the segmentation options are not
        used, the border rule and the diameter and circularity ranges are (``split`` and
        ``profile`` are recorded as ``given``).
    region : ndarray of bool, shape (M, N), optional
        The part of the image to analyse (:func:`ddcsem.read_region`: the tissue, say,
        drawn around in Fiji): particles that reach its edge count as those on the
        image's border do (left out, with edge weights of the region, or kept and marked
        with ``keep_edge_particles``), those outside it not at all, and the mineral area
        fraction, ``field_area`` and ``number_density`` are the region's.
    markers : ndarray of int, shape (M, N), optional
        Seeds marked by hand (:func:`ddcsem.read_markers`: the particles' centres clicked
        in Fiji), one id per particle: in the clusters they fall in, the split parts the
        particles at these seeds and no others, and places their outlines itself; other
        clusters are split as without them (:func:`ddcsem.segment_particles`'s
        ``markers``). Not with ``labels``.

    Returns
    -------
    ImageAnalysis
        The DDC image, density map, labels, particle table and size distribution.

    Raises
    ------
    ParameterError
        If ``pair`` is not an :class:`SEMPair` (nor an image, with ``bse``), or an option
        does not suit the image.
    PairingError
        If the two images given differ in shape or pixel size.

    Warns
    -----
    ParticlePolarityWarning
        When the particles found cover more than ``MAX_PARTICLE_FRACTION`` of the field:
        the BSE image's signal may be inverted.
    SmallParticleWarning
        When the median particle is under ``SIZING_MIN_PX`` across.
    ClippedSignalWarning
        When the BSE image was exported clipped: its matrix black up to the particles, or
        their tops saturated.
    UserWarning
        When a plain frame or a plain white or black area in both channels (a figure
        panel's margin, a mosaic's or a rotated image's padding), or an area off the
        sample, was left out of the field.

    Examples
    --------
    >>> import tempfile, os, tifffile
    >>> from ddcsem.synthetic import make_pair
    >>> from ddcsem.pair import read_pair
    >>> syn = make_pair(shape=(256, 256), n_particles=20, clustered_fraction=0, seed=2)
    >>> d = tempfile.mkdtemp()
    >>> tifffile.imwrite(os.path.join(d, "a_SE.tif"), syn.se)
    >>> tifffile.imwrite(os.path.join(d, "a_BSE.tif"), syn.bse)
    >>> result = analyze_pair(read_pair(os.path.join(d, "a_SE.tif"), os.path.join(d, "a_BSE.tif"),
    ...                                 pixel_size="20nm"))
    >>> result.distribution["count"] == int(result.labels.max()) > 10
    True
    >>> arrays = analyze_pair(SEMImage(syn.se, "20nm"), syn.bse)   # images of one's own
    >>> arrays.image_id, int(arrays.labels.max()) == int(result.labels.max())
    ('pair', True)
    """
    from .pair import _pair_images, _pair_key
    from .separate import _density

    options = _as_options(options)
    if bse is not None:
        if isinstance(pair, SEMPair):
            raise ParameterError("bse is given with a pair that has its own: give the pair alone, or its two images")
        if isinstance(pair, (str, PathLike)) or isinstance(bse, (str, PathLike)):
            raise ParameterError("analyze_pair takes images, not files",
                                 hint="read them first: ddcsem.analyze_pair(ddcsem.read_pair(se_path, bse_path))")
        se_image, bse_image = _as_image(pair, "read_sem", "se"), _as_image(bse, "read_sem", "bse")
        pair = _pair_images(_pair_key(se_image.path or bse_image.path), se_image, bse_image,
                            register=options.register)
    if not isinstance(pair, SEMPair):
        raise ParameterError(f"pair must be an SEMPair, not {type(pair).__name__}",
                             hint="read it first: ddcsem.analyze_pair(ddcsem.read_pair(pair))"
                             if isinstance(pair, Pair) else "read one with ddcsem.read_pair(se_path, bse_path), or "
                             "give its two images: ddcsem.analyze_pair(se, bse)")
    _require_memory(pair.se.data.shape, pair.se.path)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    ddc, frame, hidden, off = _pair_colours(pair, region=region, off_sample=options.off_sample,
                                           mode=options.mode, clip=options.clip)
    timings["colorize"] = time.perf_counter() - t
    t = time.perf_counter()
    region = _field_region(region, pair.bse.data.shape, frame, hidden, off)
    density, dark = _density(_within(pair.bse.data, region), name="the BSE image's field", blank=True)
    _warn_if_darker(dark, "pair")
    timings["separate"] = time.perf_counter() - t
    sources = {"se": _source(pair.se), "bse": _source(pair.bse)}
    return _measure(pair.key, "pair", sources, pair.pixel_size, ddc, density, options,
                    pair.bse.data, pair.se.data, timings, pair.shift, hidden=hidden, drawn=labels, region=region,
                    markers=markers, beam_kv=pair.bse.beam_kv or pair.se.beam_kv)


def analyze_single(image: SEMImage | np.ndarray, *, image_id: str | None = None,
                   options: AnalysisOptions | Mapping[str, Any] = AnalysisOptions(),
                   labels: np.ndarray | None = None, region: np.ndarray | None = None,
                   markers: np.ndarray | None = None) -> ImageAnalysis:
    """Analyse one grey micrograph whose particles are brighter than their surroundings
    (or darker, with ``options.dark_particles``).

    The DDC image written for it is the ``density`` colouring of the image (or of its
    inverse) with itself. An image from an SE detector (``image.role``) is split along its
    edges (the ``auto`` split of :class:`AnalysisOptions`) unless its particles are too
    small for that or dark, any other by the shape of its density. A binary mask (every
    pixel 0 or one other value: full scale, as Fiji's *Convert to Mask* saves it, or 1) is
    measured as drawn, with a warning: its particles keep their pixels, touching ones split
    by their shape; one of black particles on white (its set value covering most of the
    field in one piece that reaches every side) as its 0s.

    Parameters
    ----------
    image : SEMImage or ndarray, shape (M, N)
        The micrograph, as :func:`ddcsem.read_sem` reads it; an array is taken as an
        uncalibrated image (sizes in pixels).
    image_id : str, optional
        Name of the result; default the file's stem, or ``image``.
    options : AnalysisOptions or dict, optional
        How to segment and measure (a dict: the fields of an AnalysisOptions).
    labels : ndarray of int, shape (M, N), optional
        Particles drawn or corrected by hand, measured instead of segmenting (as in
        :func:`analyze_pair`).
    region : ndarray of bool, shape (M, N), optional
        The part of the image to analyse (as in :func:`analyze_pair`).
    markers : ndarray of int, shape (M, N), optional
        Seeds for the split, marked by hand (as in :func:`analyze_pair`).

    Returns
    -------
    ImageAnalysis
        As :func:`analyze_pair` returns it.

    Warns
    -----
    ParticlePolarityWarning
        When the particles found cover more than ``MAX_PARTICLE_FRACTION`` of the field.
    SmallParticleWarning
        When the median particle is under ``SIZING_MIN_PX`` across.
    ClippedSignalWarning
        When the image was exported clipped: its matrix up to the particles, or their tops.
    UserWarning
        When a plain frame around the image (a figure panel's margin), a plain white area
        (a background painted out), a plain black one (a rotated image's padding) or an
        area off the sample was left out of the field, and when the image is a binary
        mask, measured as drawn.

    Examples
    --------
    >>> from ddcsem.synthetic import make_pair
    >>> syn = make_pair(shape=(200, 200), n_particles=15, clustered_fraction=0, seed=4)
    >>> result = analyze_single(SEMImage(syn.bse), image_id="bse-only")
    >>> result.kind, int(result.labels.max()) > 8, result.pixel_size.calibrated
    ('single', True, False)
    """
    from .read import _particles_set
    from .separate import _constant, _density, _frame_mask, _is_binary

    image = _as_image(image, "read_sem")
    require_image(image.data, "image")  # else the colouring names it by its roles there ("se must be ...")
    options = _as_options(options)
    _require_memory(image.data.shape, image.path)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    grey = _inverted(image.data) if options.dark_particles else image.data
    frame = _frame_mask(image.data, dark_particles=options.dark_particles)
    hidden = _annotations(image, frame)  # drawn into the image (a scale bar, Fiji's Flatten)
    _warn_of_scale_bar(image.pixel_size, (hidden, image.data))
    outside = frame if hidden is None else frame | hidden
    off = _off_the_sample(None if options.dark_particles else grey, region, outside, options.off_sample)
    try:
        ddc = _colorized(grey, grey, outside if off is None else outside | off, mode="density", clip=options.clip)
    except ParameterError as exc:  # it names the image by its two roles in the colouring
        require_finite(grey, "the image", path=image.path)
        if _constant(grey):
            raise ParameterError(f"the image is constant ({np.min(image.data):g}): it shows no particles",
                                 path=image.path, hint="check that the right file was given") from exc
        raise
    timings["colorize"] = time.perf_counter() - t
    t = time.perf_counter()
    region = _field_region(region, grey.shape, frame, hidden, off)
    binary = _is_binary(grey)
    if binary:  # its particles are drawn: at full scale, and as dense as one another
        density = (_particles_set(grey, image.path or "the image") > 0).astype(np.float32)
        if labels is None:  # said, as a mask among a batch's micrographs would join their statistics
            warnings.warn(f"a binary mask (only 0 and {grey.max()}): its particles are measured as drawn, touching "
                          "ones split by shape; to measure it on the micrograph it was made from, give it as that "
                          "image's labels (--labels)", stacklevel=2)
    else:
        density, dark = _density(_within(grey, region), name="the image's field", blank=True)
        _warn_if_darker(dark, "single", inverted=options.dark_particles)
    timings["separate"] = time.perf_counter() - t
    name = image_id or (short_id(image.path.stem) if image.path else "image")
    sources = {"image": _source(image)}
    # the table's intensities are the image's own; its edges lie where the inverse's do.
    # Dark particles show mass thickness, a density: no SE role, so the shape split
    return _measure(name, "single", sources, image.pixel_size, ddc, density, options,
                    image.data, None, timings, role=None if options.dark_particles else image.role, hidden=hidden,
                    drawn=labels, region=region, markers=markers, beam_kv=image.beam_kv, binary=binary)


def _as_options(options: AnalysisOptions | Mapping[str, Any]) -> AnalysisOptions:
    """``options``, or the AnalysisOptions of a dict of its fields (as a config file or a
    JSON record gives them; a dict failed with "'dict' object has no attribute 'mode'")."""
    if isinstance(options, AnalysisOptions):
        return options
    if not isinstance(options, Mapping):
        raise ParameterError(f"options must be an AnalysisOptions or a dict of its fields, not "
                             f"{type(options).__name__}")
    known = [f.name for f in fields(AnalysisOptions)]
    unknown = sorted(set(options) - set(known))
    if unknown:
        from difflib import get_close_matches

        meant = [close[0] for key in unknown if (close := get_close_matches(key, known, 1))]
        raise ParameterError(f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
                             + (f" (did you mean {', '.join(meant)}?)" if meant else ""),
                             hint=f"AnalysisOptions has {', '.join(known)}")
    return AnalysisOptions(**options)


def _source(image: SEMImage) -> str:
    """The file ``image`` was read from, or "" for an array of one's own (it was "None")."""
    return "" if image.path is None else str(image.path)


def _as_image(image: SEMImage | np.ndarray, reader: str, name: str = "image") -> SEMImage:
    """``image`` (the argument ``name``), or an array taken as an uncalibrated image."""
    if isinstance(image, SEMImage):
        return image
    if isinstance(image, np.ndarray):
        return SEMImage(image)
    raise ParameterError(f"{name} must be an SEMImage or an array, not {type(image).__name__}",
                         hint="a pair is analysed by ddcsem.analyze_pair(pair), one of its channels by "
                         "ddcsem.analyze_single(pair.bse)" if isinstance(image, SEMPair)
                         else f"read a file with ddcsem.{reader}(path)")


def _inverted(image: np.ndarray) -> np.ndarray:
    """``image`` mirrored within its own range (its darkest pixel becomes its brightest),
    in its own type."""
    if image.dtype == bool:
        return ~image
    lo, hi = image.min(), image.max()
    if image.dtype.kind in "ui":  # in a wider type: lo + hi may overflow the image's own
        return (np.int64(lo) + np.int64(hi) - image.astype(np.int64)).astype(image.dtype)
    return (lo + hi) - image


def analyze_composite(image: SEMImage | np.ndarray, *, image_id: str | None = None,
                      options: AnalysisOptions | Mapping[str, Any] = AnalysisOptions(),
                      labels: np.ndarray | None = None, region: np.ndarray | None = None,
                      markers: np.ndarray | None = None) -> ImageAnalysis:
    """Analyse an existing DDC composite (read by :func:`ddcsem.read_composite`).

    Parameters
    ----------
    image : SEMImage or ndarray, shape (M, N, 3)
        The composite, as :func:`ddcsem.read_composite` reads it; an array is taken as an
        uncalibrated image (sizes in pixels).
    image_id, options, labels, region, markers
        As in :func:`analyze_single` (the default ``image_id`` is ``composite``;
        ``options.basis`` gives the composite's two colours).

    Returns
    -------
    ImageAnalysis
        As :func:`analyze_pair` returns it.

    Warns
    -----
    SmallParticleWarning
        When the median particle is under ``SIZING_MIN_PX`` across.
    UserWarning
        When annotations (a burned-in scale bar, lettering, the black box under them) were
        masked, with the particles touching them, or a plain frame around the composite (a
        figure panel's margin), a plain white area (a background painted out), a plain
        black one (a rotated image's padding) or an area off the sample (black) was left
        out of the field.

    Examples
    --------
    >>> from ddcsem.synthetic import make_pair
    >>> from ddcsem.colorize import colorize
    >>> syn = make_pair(shape=(200, 200), n_particles=15, clustered_fraction=0, seed=4)
    >>> result = analyze_composite(SEMImage(colorize(syn.se, syn.bse)), image_id="fig")
    >>> result.kind, int(result.labels.max()) > 8
    ('composite', True)
    """
    from .separate import _density, _unmix

    image = _as_image(image, "read_composite")
    options = _as_options(options)
    _require_memory(image.data.shape, image.path)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    # the pair it was made of, its annotations (a scale bar, text: no particles there) and
    # its frame (a figure panel's margin, whose edge is the field's border)
    bse, se, hidden, frame = _unmix(image.data, options.basis, annotations=True)
    _warn_of_scale_bar(image.pixel_size, (hidden, image.data))
    outside = hidden | frame
    bse, se = _filled(bse, outside), _filled(se, outside)
    # black there in both colours: the sum of the two parts is its brightness
    off = _off_the_sample(bse + se, region, outside, options.off_sample)
    region = _field_region(region, bse.shape, frame, hidden, off)
    density, dark = _density(_within(bse, region), subtract=True, name="the BSE colour of the composite's field",
                             blank=True)
    _warn_if_darker(dark, "composite")
    timings["separate"] = time.perf_counter() - t
    name = image_id or (short_id(image.path.stem) if image.path else "composite")
    sources = {"image": _source(image)}
    return _measure(name, "composite", sources, image.pixel_size, image.data, density, options,
                    bse, se, timings, hidden=hidden, drawn=labels, region=region,
                    markers=markers, beam_kv=image.beam_kv)


def pool_analyses(analyses: Sequence[ImageAnalysis]) -> dict[str, Any]:
    """The statistics of a sample imaged in several fields: their particles taken together.

    What ``ddcsem analyze`` writes to ``samples.csv`` for each sample
    (:func:`ddcsem.measure.pool_fields` of the fields' tables and areas).

    Parameters
    ----------
    analyses : sequence of ImageAnalysis
        The sample's fields, all calibrated (sizes in µm) or none (in pixels).

    Returns
    -------
    dict
        ``unit`` (``"um"`` or ``"px"``), ``n_fields``, the size statistics of
        :func:`ddcsem.size_distribution` of all the particles with their edge weights,
        ``field_area`` (summed, µm² or px²), ``number_density`` (particles per µm² or px²)
        and ``mineral_area_fraction`` (over the summed area).

    Raises
    ------
    ParameterError
        If some fields are calibrated and others not: their sizes cannot be added up; or
        if one field is given twice.

    Examples
    --------
    >>> from ddcsem.read import PixelSize, SEMImage
    >>> from ddcsem.synthetic import make_pair
    >>> fields = [analyze_single(SEMImage(make_pair(shape=(128, 128), n_particles=12, seed=s).bse,
    ...                                   PixelSize(20.0, "argument"))) for s in (1, 2)]
    >>> pooled = pool_analyses(fields)
    >>> pooled["unit"], pooled["n_fields"], pooled["count"] == sum(len(f.table["label"]) for f in fields)
    ('um', 2, True)
    >>> round(pooled["field_area"], 3)  # two fields of 2.56 µm x 2.56 µm
    13.107
    """
    from .measure import pool_fields

    wanted = "analyses must be a list of ImageAnalysis (a sample's fields)"
    if isinstance(analyses, ImageAnalysis):
        raise ParameterError(f"{wanted}, not one", hint="give [analysis] for one field")
    try:
        analyses = list(analyses)
    except TypeError:
        raise ParameterError(f"{wanted}, not {type(analyses).__name__}") from None
    others = [type(a).__name__ for a in analyses if not isinstance(a, ImageAnalysis)]
    if others:
        raise ParameterError(f"{wanted}; one is a {others[0]}")
    twice = next((a for i, a in enumerate(analyses) if any(a is b for b in analyses[:i])), None)
    if twice is not None:  # [a] * 3, or a list grown twice
        raise ParameterError(f"one field ({twice.image_id}) is given more than once: its particles would count "
                             "as often", hint="give each field once")
    calibrated = {a.pixel_size.calibrated for a in analyses}
    if len(calibrated) > 1:
        names = [a.image_id for a in analyses if not a.pixel_size.calibrated]
        raise ParameterError(f"uncalibrated fields among calibrated ones ({len(names)} of {len(analyses)}: "
                             f"{', '.join(names[:3])}{', …' if len(names) > 3 else ''}): sizes in pixels cannot "
                             "be added to sizes in µm",
                             hint="give those images their pixel size (SEMImage's pixel_size, or --pixel-size)")
    unit = "um" if calibrated == {True} else "px"
    return {"unit": unit, **pool_fields([a.table[f"ecd_{unit}"] for a in analyses],
                                        weights=[a.table["edge_weight"] for a in analyses],
                                        field_areas=[a.field_area for a in analyses],
                                        mineral_area_fractions=[a.mineral_area_fraction for a in analyses])}


@dataclass(frozen=True)
class Tile:
    """One part of a field too large to analyse whole (:func:`tiles`).

    Attributes
    ----------
    image : SEMPair, SEMImage or ndarray
        The field's pixels in ``window`` (views, not copies), with its calibration; a
        pair's ``key`` gets ``_<name>``.
    name : str
        ``r<row>c<col>``, its place in the grid, zero-padded so that names sort in order.
    window : (slice, slice)
        Its rows and columns in the whole field.

    Examples
    --------
    >>> parts = tiles(np.zeros((1000, 500), np.uint8), size=512)
    >>> [(t.name, t.origin, t.image.shape) for t in parts]
    [('r0c0', (0, 0), (500, 500)), ('r1c0', (500, 0), (500, 500))]
    """

    image: SEMPair | SEMImage | np.ndarray
    name: str
    window: tuple[slice, slice]

    __repr__ = dataclass_repr

    @property
    def origin(self) -> tuple[int, int]:
        """(row, col) of its top-left pixel in the whole field."""
        return self.window[0].start, self.window[1].start

    @property
    def blank(self) -> bool:
        """Whether each of its channels holds one level only, as a mosaic's padding: no field."""
        image = self.image
        parts = ((image.se.data, image.bse.data) if isinstance(image, SEMPair)
                 else (image.data if isinstance(image, SEMImage) else image,))
        return all(bool(np.all(np.ptp(p.reshape(-1, p.shape[2] if p.ndim == 3 else 1), axis=0) == 0))
                   for p in parts)


def _cut(image: SEMImage, window: tuple[slice, slice]) -> SEMImage:
    """The part of ``image`` in ``window``: its pixels and its marks (views, not copies)."""
    return replace(image, data=image.data[window], marks=None if image.marks is None else image.marks[window])


def tiles(image: SEMPair | SEMImage | np.ndarray, *, size: int) -> list[Tile]:
    """Cut a field into a grid of tiles, each analysed as a field of its own.

    The grid is the coarsest whose tiles are at most ``size`` px on a side, its rows and
    columns as even as the pixels allow. Each tile is a field: the particles its border
    cuts are left out and the others weighted for it (Miles-Lantuéjoul), so the tiles'
    particles pooled (:func:`pool_analyses`) give the field's size distribution and
    number density without bias. Tiles many particle diameters across lose few.

    Parameters
    ----------
    image : SEMPair, SEMImage or ndarray, shape (M, N) or (M, N, 3)
        The field: a pair (both channels are cut alike), a micrograph or composite, or
        its pixels.
    size : int
        Longest side of a tile, px (at least ``MIN_TILE_PX``).

    Returns
    -------
    list of Tile
        Row by row.

    Raises
    ------
    ParameterError
        If ``size`` is under ``MIN_TILE_PX``, or ``image`` is not a field.

    Examples
    --------
    >>> grid = tiles(np.zeros((1000, 1500)), size=512)
    >>> [t.name for t in grid[:4]], len(grid)
    (['r0c0', 'r0c1', 'r0c2', 'r1c0'], 6)
    >>> grid[4].origin, grid[4].image.shape   # 1000 rows in 2, 1500 columns in 3
    ((500, 500), (500, 500))
    >>> mosaic = np.zeros((1000, 1500)); mosaic[:, :700] = np.random.default_rng(0).random((1000, 700))
    >>> [t.name for t in tiles(mosaic, size=512) if t.blank]  # padding only: no field
    ['r0c2', 'r1c2']
    """
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < MIN_TILE_PX:
        raise ParameterError(f"size must be a whole number of pixels, at least {MIN_TILE_PX}, not {size!r}",
                             hint="tiles many particle diameters across lose few particles at their borders")
    data = image.se.data if isinstance(image, SEMPair) else image.data if isinstance(image, SEMImage) else image
    if not isinstance(data, np.ndarray) or data.ndim not in (2, 3):
        raise ParameterError(f"image must be an SEMPair, SEMImage or array of 2 or 3 dimensions, not "
                             f"{type(image).__name__}")

    def cuts(n: int) -> np.ndarray:
        return np.round(np.linspace(0, n, -(-n // int(size)) + 1)).astype(int)

    rows, cols = cuts(data.shape[0]), cuts(data.shape[1])
    width = len(str(max(len(rows), len(cols)) - 2))
    out = []
    for i in range(len(rows) - 1):
        for j in range(len(cols) - 1):
            window = (slice(int(rows[i]), int(rows[i + 1])), slice(int(cols[j]), int(cols[j + 1])))
            name = f"r{i:0{width}d}c{j:0{width}d}"
            if isinstance(image, SEMPair):
                part: Any = replace(image, key=f"{image.key}_{name}", se=_cut(image.se, window),
                                    bse=_cut(image.bse, window))
            elif isinstance(image, SEMImage):
                part = _cut(image, window)
            else:
                part = image[window]
            out.append(Tile(part, name, window))
    return out
