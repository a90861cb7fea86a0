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
