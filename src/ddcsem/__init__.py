"""ddcsem: density-dependent colour SEM (DDC-SEM) for SE/BSE micrograph pairs.

Read SEM files with their calibration, pair secondary-electron (topography) with
backscattered-electron (density) images, and colour them so that dense calcium
phosphate shows orange and matrix green.

Submodules are imported on first use so that ``import ddcsem`` stays fast; numba,
scikit-image and matplotlib load only when a function needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .colorize import colorize, colorize_reference  # eager: the function shares the module's name
from .errors import (
    CalibrationError,
    DDCSEMError,
    OutputError,
    PairingError,
    ParameterError,
    ReadError,
    UnsupportedFormatError,
)

_LAZY = {
    "read_sem": "read",
    "SEMImage": "read",
    "PixelSize": "read",
    "detect_databar": "read",
    "find_pairs": "pair",
    "read_pair": "pair",
    "Pair": "pair",
    "PairingResult": "pair",
    "SEMPair": "pair",
    "estimate_shift": "pair",
    "read_composite": "read",
    "read_labels": "read",
    "read_region": "read",
    "read_markers": "read",
    "read_pair_table": "pair",
    "density_map": "separate",
    "density_from_composite": "separate",
    "unmix_composite": "separate",
    "segment_particles": "segment",
    "particle_table": "measure",
    "particle_table_reference": "measure",
    "size_distribution": "measure",
    "pool_fields": "measure",
    "analyze_pair": "analyze",
    "analyze_single": "analyze",
    "analyze_composite": "analyze",
    "pool_analyses": "analyze",
    "tiles": "analyze",
    "Tile": "analyze",
    "AnalysisOptions": "analyze",
    "ImageAnalysis": "analyze",
    "plot_analysis": "report",
    "synthetic": None,
}

__all__ = [
    "__version__",
    "DDCSEMError",
    "ReadError",
    "UnsupportedFormatError",
    "CalibrationError",
    "PairingError",
    "OutputError",
    "ParameterError",
    "colorize",
    "colorize_reference",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'ddcsem' has no attribute {name!r}")
    module_name = _LAZY[name]
    if module_name is None:  # a submodule exposed as such
        value = importlib.import_module(f".{name}", __name__)
    else:
        value = getattr(importlib.import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover
    from . import synthetic
    from .analyze import (
        AnalysisOptions,
        ImageAnalysis,
        Tile,
        analyze_composite,
        analyze_pair,
        analyze_single,
        pool_analyses,
        tiles,
    )
    from .report import plot_analysis
    from .measure import particle_table, particle_table_reference, pool_fields, size_distribution
    from .segment import segment_particles
    from .separate import density_from_composite, density_map, unmix_composite
    from .pair import Pair, PairingResult, SEMPair, estimate_shift, find_pairs, read_pair, read_pair_table
    from .read import (PixelSize, SEMImage, detect_databar, read_composite, read_labels, read_markers, read_region,
                       read_sem)
