"""Short reprs for the dataclasses that carry images.

A notebook shows the repr of the last value in a cell. Printed whole, an
:class:`~ddcsem.ImageAnalysis` runs to thousands of lines of pixel values; here each array
shows its shape and type, numbers four significant digits, and a dict its first entries.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np

ENTRIES = 4  # a dict's entries shown before "… N more"


def brief(value: Any, *, depth: int = 0) -> str:
    """A short text for ``value``: an array's shape and type, a float to four digits, a
    dict's first entries (a dict inside another by its size alone).

    Examples
    --------
    >>> brief(np.zeros((400, 600, 3), np.uint8))
    '<400×600×3 uint8>'
    >>> brief({"count": 92, "d50": 0.30113, "d10": 0.19716, "d90": 0.4753, "sd": 0.119})
    "{'count': 92, 'd50': 0.3011, 'd10': 0.1972, 'd90': 0.4753, … 1 more}"
    """
    if isinstance(value, np.ndarray):
        return f"<{'×'.join(map(str, value.shape))} {value.dtype}>"
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    if isinstance(value, dict):
        if depth:
            return f"{{… {len(value)} entries}}"
        shown = [f"{k!r}: {brief(v, depth=depth + 1)}" for k, v in list(value.items())[:ENTRIES]]
        if len(value) > ENTRIES:
            shown.append(f"… {len(value) - ENTRIES} more")
        return "{" + ", ".join(shown) + "}"
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return "(" + ", ".join(brief(v, depth=depth) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def dataclass_repr(obj: Any) -> str:
    """``Name(field=value, ...)`` of a dataclass, each value as :func:`brief` gives it."""
    shown = ", ".join(f"{f.name}={brief(getattr(obj, f.name))}" for f in fields(obj) if f.repr)
    return f"{type(obj).__name__}({shown})"
