"""Refuse work that would not fit in memory, instead of being killed by the system."""

from __future__ import annotations

import os
import re
import sys
from os import PathLike

from .errors import ResourceError

__all__ = ["available_memory", "require_memory", "reuse_freed_memory", "release_freed_memory",
           "ANALYZE_BYTES_PER_PIXEL", "BENCH_BYTES_PER_PIXEL", "COLORIZE_BYTES_PER_PIXEL"]

#: Peak working memory of ``analyze`` per pixel of the field (peak resident memory beyond
#: the inputs, measured at 4096 x 4096: 43 bytes, 55 with freed blocks kept as the command
#: line keeps them; rounded up).
ANALYZE_BYTES_PER_PIXEL = 80
#: Working memory of ``colorize`` per pixel beyond its inputs (the RGB output).
COLORIZE_BYTES_PER_PIXEL = 3
#: Peak memory of ``ddcsem bench`` per pixel of its largest image: its float64 numpy
#: reference of the colouring dominates (peak resident memory at 4096 x 4096, float32
#: pair: 2.4 GB, 143 bytes per pixel; rounded up).
BENCH_BYTES_PER_PIXEL = 150


def available_memory() -> int | None:
    """Bytes of memory available to new work (Linux's ``MemAvailable``, Windows' available
    physical memory, macOS's free and inactive pages), or None if unknown.

    Examples
    --------
    >>> m = available_memory()
    >>> m is None or m > 0
    True
    """
    if os.name == "nt":
        return _windows_available_memory()
    if sys.platform == "darwin":
        return _macos_available_memory()
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


def _windows_available_memory() -> int | None:
    """Windows' available physical memory (``GlobalMemoryStatusEx``), or None."""
    import ctypes

    class MemoryStatus(ctypes.Structure):  # MEMORYSTATUSEX
        _fields_ = [("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
                    *[(name, ctypes.c_ulonglong) for name in (
                        "ullTotalPhys", "ullAvailPhys", "ullTotalPageFile", "ullAvailPageFile",
                        "ullTotalVirtual", "ullAvailVirtual", "ullAvailExtendedVirtual")]]

    status = MemoryStatus()
    status.dwLength = ctypes.sizeof(MemoryStatus)
    try:
        if not ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
            return None
    except (AttributeError, OSError):
        return None
    return int(status.ullAvailPhys) or None


def _macos_available_memory() -> int | None:
    """macOS's free and inactive pages (``vm_stat``, as psutil counts what is available),
    in bytes, or None."""
    import subprocess

    try:
        text = subprocess.run(["vm_stat"], capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    page = re.search(r"page size of (\d+) bytes", text)
    pages = dict(re.findall(r"^Pages (free|inactive):\s+(\d+)\.", text, re.MULTILINE))
    if page is None or len(pages) < 2:
        return None
    return (int(pages["free"]) + int(pages["inactive"])) * int(page.group(1)) or None


def _gib(n: float) -> str:
    return f"{n / 1024**3:.1f} GiB"


def require_memory(nbytes: int, *, what: str, path: str | PathLike | None = None,
                   hint: str = "crop or bin the image, or free memory; tiled processing is not there yet",
                   ) -> None:
    """Raise :class:`ResourceError` when ``nbytes`` exceed the memory available (``hint``:
    what to do about it).

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
            hint=hint,
        )


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_KEEP = 2**31 - 1  # mallopt takes an int
#: Whether :func:`reuse_freed_memory` took effect in this process (the benchmark reports it).
_REUSING = False


def _glibc():
    import ctypes

    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:  # musl and others: nothing to tune
        return None


def reuse_freed_memory() -> bool:
    """Let the C allocator keep large freed blocks for the next array (glibc only).

    numpy allocates every full-frame temporary afresh. glibc serves blocks above 128 kB
    to 32 MB straight from the kernel and hands them back on free, so each temporary of
    an analysis is faulted in and zeroed again, page by page: at 4096 x 4096 this costs
    about a third of ``analyze``. Raising glibc's mmap and trim thresholds keeps freed
    blocks in the heap for reuse. It changes the whole process, so the command line sets
    it and library code does not; :func:`release_freed_memory` hands the blocks back.

    Returns
    -------
    bool
        True when the allocator took the setting (Linux with glibc).

    Examples
    --------
    >>> reuse_freed_memory() in (True, False)
    True
    """
    global _REUSING
    libc = _glibc()
    if libc is not None:
        _REUSING = bool(libc.mallopt(_M_MMAP_THRESHOLD, _KEEP)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, _KEEP))
    return _REUSING


def release_freed_memory() -> None:
    """Return the heap's free blocks to the system (glibc's ``malloc_trim``); a no-op elsewhere.

    Examples
    --------
    >>> release_freed_memory()
    """
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
