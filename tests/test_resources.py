"""The allocator setting the command line uses: freed frames are reused, not faulted in again."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ddcsem.resources import _glibc

SCRIPT = """
import resource, sys
import numpy as np
from ddcsem.resources import release_freed_memory, reuse_freed_memory
if sys.argv[1] == "reuse":
    assert reuse_freed_memory()
for _ in range(2):
    np.ones(1 << 24, np.float32)  # a 4096 x 4096 float frame, freed at once
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
np.ones(1 << 24, np.float32)
after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
release_freed_memory()
print(after - before)
"""


def faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(_glibc() is None, reason="the setting exists on Linux with glibc only")
def test_reused_frames_are_not_faulted_in_again():
    fresh = faults("default")
    assert fresh >= (1 << 26) // (2 << 20)    # 64 MB mapped afresh: every page (huge or not) faulted in
    assert faults("reuse") * 10 < fresh       # the freed block comes back from the heap


def test_windows_memory_is_its_available_physical_memory(monkeypatch):
    """Windows has no /proc/meminfo nor SC_AVPHYS_PAGES: memory was unknown there, so no
    field was refused before it ran out and --tile auto analysed it whole. It is now read
    with GlobalMemoryStatusEx (a fake kernel32 here); where it stays unknown, the advice
    for an image that runs out names a tile size to try instead of auto."""
    import ctypes

    from ddcsem import cli, resources

    answers = []

    class Kernel32:
        @staticmethod
        def GlobalMemoryStatusEx(status):
            assert status._obj.dwLength == ctypes.sizeof(status._obj)  # the structure's size, as Windows checks
            if answers.pop(0):
                status._obj.ullAvailPhys = 6 * 1024**3
                return 1
            return 0

    monkeypatch.setattr(ctypes, "windll", type("WinDLL", (), {"kernel32": Kernel32}), raising=False)
    monkeypatch.setattr(resources.os, "name", "nt")
    answers += [True, False]
    assert resources.available_memory() == 6 * 1024**3
    assert resources.available_memory() is None  # the call failed
    monkeypatch.setattr(resources, "available_memory", lambda: None)
    assert cli._analyze_less() == "analyse it in tiles (--tile 4096, say), or with fewer --jobs"
    monkeypatch.setattr(resources, "available_memory", lambda: 6 * 1024**3)
    assert cli._analyze_less() == "analyse it in tiles (--tile auto), or with fewer --jobs"


VM_STAT = """Mach Virtual Memory Statistics: (page size of 16384 bytes)
Pages free:                                9000.
Pages active:                            300000.
Pages inactive:                          291144.
Pages speculative:                         5000.
Pages wired down:                        100000.
"""


def test_macos_memory_is_its_free_and_inactive_pages(monkeypatch):
    """macOS has no /proc/meminfo nor SC_AVPHYS_PAGES: memory was unknown there. It is now
    the free and inactive pages that vm_stat counts (a canned vm_stat here), as psutil
    counts what is available."""
    import subprocess

    from ddcsem import resources

    outputs = [VM_STAT, "no pages here"]
    monkeypatch.setattr(resources.sys, "platform", "darwin")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, outputs.pop(0), ""))
    assert resources.available_memory() == (9000 + 291144) * 16384  # 4.6 GiB
    assert resources.available_memory() is None
