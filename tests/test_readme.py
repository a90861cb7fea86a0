"""The README's Python examples run as written, from the top of the repository."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_examples_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    assert blocks
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        for block in blocks:
            exec(compile(block, "README.md", "exec"), {})
    finally:
        os.chdir(here)
    out = capsys.readouterr().out
    assert "25.0 fei:[Scan]PixelWidth" in out and "CBS (BSE) 37 (448, 512)" in out
    assert "1 given" in out
    assert "PixelSize(nm=20.0, source='argument')" in out
    assert "pair True" in out


def test_every_function_of_the_top_level_api_is_documented_in_numpydoc():
    """``ddcsem.<function>`` docstrings have Parameters, Returns and Examples; a reference
    implementation names the function whose parameters and result it shares."""
    import inspect

    import ddcsem

    functions = [name for name in ddcsem.__all__ if inspect.isfunction(getattr(ddcsem, name))]
    assert len(functions) >= 15
    for name in functions:
        doc = inspect.getdoc(getattr(ddcsem, name))
        if name.endswith("_reference"):
            assert f":func:`{name.removesuffix('_reference')}`" in doc and "Examples\n--------" in doc, name
            continue
        for section in ("Parameters", "Returns", "Examples"):
            assert f"\n{section}\n{'-' * len(section)}\n" in doc, (name, section)
