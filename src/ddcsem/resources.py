"""Refuse work that would not fit in memory, instead of being killed by the system."""

from __future__ import annotations

import os
from os import PathLike

from .errors import ResourceError

__all__ = ["available_memory", "require_memory", "ANALYZE_BYTES_PER_PIXEL", "COLORIZE_BYTES_PER_PIXEL"]

#: Peak working memory of ``analyze`` per pixel of the field (measured: about 53 bytes of
#: numpy arrays plus the numba kernels' buffers; rounded up).
ANALYZE_BYTES_PER_PIXEL = 80
#: Working memory of ``colorize`` per pixel beyond its inputs (the RGB output).
COLORIZE_BYTES_PER_PIXEL = 3


def available_memory() -> int | None:
    """Bytes of memory available to new work (``MemAvailable``), or None if unknown.

    Examples
    --------
    >>> m = available_memory()
    >>> m is None or m > 0
    True
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _gib(n: float) -> str:
    return f"{n / 1024**3:.1f} GiB"


def require_memory(nbytes: int, *, what: str, path: str | PathLike | None = None) -> None:
    """Raise :class:`ResourceError` when ``nbytes`` exceed the memory available.

    Examples
    --------
    >>> require_memory(1024, what="a tiny job")
    >>> require_memory(1 << 62, what="a huge job")
    Traceback (most recent call last):
    ...
    ddcsem.errors.ResourceError: a huge job needs about 4294967296.0 GiB of memory, ...
    """
    available = available_memory()
    if available is not None and nbytes > available:
        raise ResourceError(
            f"{what} needs about {_gib(nbytes)} of memory, {_gib(available)} is available",
            path=path,
            hint="crop or bin the image, or free memory; tiled processing is not there yet",
        )
