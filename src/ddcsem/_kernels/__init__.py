"""Numba kernels (private). Each has a plain-numpy reference in the public module that wraps it."""

from __future__ import annotations

import os
import tempfile
from typing import Any


def _ensure_cache_dir() -> None:
    """Give numba a writable folder for its cache of these kernels where it finds none.

    numba keeps compiled kernels beside their source, else in the user's cache folder;
    where neither is writable (an installation read-only to its user, whose home is too,
    as in a container run as another user) it refuses, when a module of them is imported,
    to define a kernel with ``cache=True``. The cache then goes to a folder of this user's
    in the temporary directory: one only they can write to, else a new one each run.
    ``NUMBA_CACHE_DIR``, when set, is numba's own choice and left alone."""
    from numba.core import caching, config

    if config.CACHE_DIR:
        return
    try:
        caching.FunctionCache(_ensure_cache_dir)  # finds a place for this folder's kernels, or raises
        return
    except RuntimeError:  # numba's "no locator available"
        pass
    except Exception:  # another numba's internals: its cache is its own business
        return
    uid = os.getuid() if hasattr(os, "getuid") else None
    folder = os.path.join(tempfile.gettempdir(), f"ddcsem-numba-cache-{'user' if uid is None else uid}")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.stat(folder)
        # another user's folder, or one others may write to, could hand us their code
        mine = uid is None or (info.st_uid == uid and not info.st_mode & 0o022)
    except OSError:
        mine = False
    if not mine:
        folder = tempfile.mkdtemp(prefix="ddcsem-numba-cache-")
    # the environment too: numba rereads its settings from it, and worker processes inherit it
    os.environ["NUMBA_CACHE_DIR"] = config.CACHE_DIR = folder


_ensure_cache_dir()


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


def as_taken(image: Any, types: tuple[Any, ...], other: Any) -> Any:
    """``image`` C-contiguous for a kernel: in its own type where the kernel takes that as
    it is (one of the numpy dtypes ``types``, in the machine's byte order), else as
    ``other``. A copy of a large image into a wider type costs more than the kernel's
    pass over it; numba compiles the kernel once per type it meets."""
    import numpy as np

    image = np.asarray(image)
    return np.ascontiguousarray(image, dtype=image.dtype if image.dtype in types else other)
