"""Detector names: which signal (SE topography or BSE density) a detector records.

Shared by the reader (detector from metadata or filename) and the pairing step.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["SE_TOKENS", "BSE_TOKENS", "detector_role", "split_detector_token"]

Role = Literal["SE", "BSE"]

#: Filename tokens (case-insensitive) that name a secondary-electron detector.
SE_TOKENS: tuple[str, ...] = (
    "SE", "SE1", "SE2", "HE-SE2", "InLens", "In-Lens", "Inlens", "ETD", "TLD",
    "SEI", "LEI", "SE(U)", "SE(L)", "SESI", "VPSE", "T2", "T3",
    "C2D", "LVD", "GSED", "In-Beam SE",  # Zeiss's and Thermo's low-vacuum SE detectors; TESCAN's in-lens one
)
#: Filename tokens (case-insensitive) that name a backscattered-electron detector.
BSE_TOKENS: tuple[str, ...] = (
    "BSE", "BSD", "ESB", "EsB", "AsB", "CBS", "vCD", "ABS", "BEI", "BEC", "COMPO",
    "4QBSD", "YAG", "CZ BSD", "R-BSE", "T1", "DBS",
    "QBSD", "aBSD", "HDBSD", "GAD", "In-Beam BSE",  # Zeiss's quadrant, annular and HD BSDs; Thermo's gaseous one
)

_SEPARATORS = "_-. "


def _normalise(name: str) -> str:
    return re.sub(r"\s+", " ", name.strip()).lower()


def detector_role(
    name: str | None,
    *,
    se_tokens: tuple[str, ...] = SE_TOKENS,
    bse_tokens: tuple[str, ...] = BSE_TOKENS,
) -> Role | None:
    """Return ``"SE"`` or ``"BSE"`` for a detector name, or None when unknown.

    Vendor names carry suffixes (``AsB4 Ch1``, ``InLens Duo``); the first word decides,
    and a trailing channel number is ignored.

    Examples
    --------
    >>> detector_role("InLens"), detector_role("AsB4 Ch1"), detector_role("Mirror")
    ('SE', 'BSE', None)
    >>> detector_role("ETD (BSE)"), detector_role("SE(U)")
    ('BSE', 'SE')
    """
    if not name:
        return None
    full = _normalise(name)
    first = full.split(" ")[0]
    # "ETD (BSE)": a multi-purpose detector with its mode in brackets; the mode decides
    mode = re.search(r"\(([^()]+)\)\s*$", full)
    candidates = [full, mode.group(1) if mode else "", first, re.sub(r"\d+$", "", first)]
    se = {t.lower() for t in se_tokens}
    bse = {t.lower() for t in bse_tokens}
    for cand in candidates:
        if cand in bse:
            return "BSE"
        if cand in se:
            return "SE"
    return None


def split_detector_token(
    stem: str,
    *,
    se_tokens: tuple[str, ...] = SE_TOKENS,
    bse_tokens: tuple[str, ...] = BSE_TOKENS,
) -> tuple[str, Role, str] | None:
    """Find a detector token in a file stem.

    The token must be delimited by ``_ - . space`` or the ends of the stem. When several
    tokens occur, the last one wins (names usually end with the detector).

    Returns
    -------
    (key, role, token) or None
        ``key`` is the lower-cased stem with the token and its delimiter removed.

    Examples
    --------
    >>> split_detector_token("Aorta_ROI1_InLens_001")
    ('aorta_roi1_001', 'SE', 'InLens')
    >>> split_detector_token("img-HE-SE2")
    ('img', 'SE', 'HE-SE2')
    >>> split_detector_token("aorta roi1-EsB")
    ('aorta roi1', 'BSE', 'EsB')
    """
    best = None
    for role, tokens in (("SE", se_tokens), ("BSE", bse_tokens)):
        for token in tokens:
            pattern = (
                rf"(?:(?<=^)|(?<=[{re.escape(_SEPARATORS)}]))"
                rf"({re.escape(token)})"
                rf"(?=$|[{re.escape(_SEPARATORS)}])"
            )
            for m in re.finditer(pattern, stem, flags=re.IGNORECASE):
                # prefer the last occurrence; at equal end the longer token
                rank = (m.end(), m.end() - m.start())
                if best is None or rank > best[0]:
                    best = (rank, m, role)
    if best is None:
        return None
    _, m, role = best
    left, right = stem[: m.start()], stem[m.end():]
    if left and left[-1] in _SEPARATORS:
        left = left[:-1]
    elif right and right[0] in _SEPARATORS:
        right = right[1:]
    return (left + right).lower(), role, m.group(1)
