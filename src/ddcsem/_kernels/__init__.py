"""Numba kernels (private). Each has a plain-numpy reference in the public module that wraps it."""

from __future__ import annotations

from typing import Any


def uncompiled(*kernels: Any) -> list[str]:
    """The names of those ``kernels`` (numba functions compiled with ``cache=True``) whose
    machine code numba's on-disk cache does not hold for their current source: their first
    call compiles them, seconds each. A kernel whose cache cannot be read (another numba's
    internals) counts as compiled: better no word than a wrong one."""
    missing = []
    for kernel in kernels:
        try:
            # {} where the index is absent, of another numba or of an older source
            index = kernel._cache._cache_file._load_index()
        except Exception:
            continue
        if not index:
            missing.append(kernel.__name__)
    return missing
