"""The numba kernels' installation: their on-disk cache (the kernels themselves are tested
beside the functions that wrap them)."""

import os
import subprocess
import sys

import pytest


def test_uncompiled_names_the_kernels_numba_has_not_cached(tmp_path, monkeypatch):
    import importlib

    from ddcsem._kernels import uncompiled

    # a first run says numba compiles the kernels (tests/test_cli.py) when this names any
    (tmp_path / "fresh_kernel.py").write_text(
        "import numba\n\n@numba.njit(cache=True)\ndef add_one(x):\n    return x + 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("fresh_kernel")
    assert uncompiled(module.add_one, len) == ["add_one"]  # a plain function: no word on it
    assert module.add_one(1) == 2  # compiled, and cached beside the module
    assert uncompiled(module.add_one) == []
    (tmp_path / "fresh_kernel.py").write_text(
        "import numba\n\n@numba.njit(cache=True)\ndef add_one(x):\n    return x + 100\n")
    module = importlib.reload(module)
    del sys.modules["fresh_kernel"]
    assert uncompiled(module.add_one) == ["add_one"]  # its source changed: compiled again


def _cache_dir_chosen(tmp_path) -> str:
    """NUMBA_CACHE_DIR after importing a module of kernels where numba finds nowhere to
    cache them (as in a read-only installation whose user's home is read-only too: here
    numba is told to look only where nothing is set up), the temporary directory ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(NUMBA_CACHE_LOCATOR_CLASSES="UserProvidedCacheLocator,ZipCacheLocator", TMPDIR=str(tmp_path))
    code = "import os, ddcsem._kernels.colorize; print(os.environ['NUMBA_CACHE_DIR'])"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr  # was: RuntimeError: cannot cache function ...: no locator available
    return run.stdout.strip()


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="the folder is named by the user id")
def test_kernels_without_a_writable_cache_folder_cache_in_the_temporary_directory(tmp_path):
    mine = tmp_path / f"ddcsem-numba-cache-{os.getuid()}"
    assert _cache_dir_chosen(tmp_path) == str(mine)
    assert mine.is_dir() and mine.stat().st_mode & 0o777 == 0o700
    mine.chmod(0o777)  # one that others may write to (another user could have made it) is not used
    other = _cache_dir_chosen(tmp_path)
    assert other != str(mine) and os.path.dirname(other) == str(tmp_path)
    assert os.path.basename(other).startswith("ddcsem-numba-cache-")
