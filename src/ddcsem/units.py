"""Lengths with units: parsing ``3.2nm`` / ``0.5 µm`` and formatting for people."""

from __future__ import annotations

import re

from .errors import CalibrationError, require_positive

__all__ = ["parse_length", "parse_pixel_size", "parse_size", "format_length", "format_count", "PIXEL_SIZE_RANGE_NM"]

_TO_NM = {
    "pm": 1e-3,
    "nm": 1.0,
    "um": 1e3,
    "µm": 1e3,
    "μm": 1e3,  # Greek mu as well as the micro sign
    "micron": 1e3,
    "microns": 1e3,
    "mm": 1e6,
    "cm": 1e7,
    "m": 1e9,
    "a": 0.1,
    "å": 0.1,
    "angstrom": 0.1,
}
# the names spelled out, as typed into Fiji's Set Scale (nanometer, micrometres, ...)
_TO_NM.update({f"{prefix}{metre}{plural}": _TO_NM[short]
               for prefix, short in (("pico", "pm"), ("nano", "nm"), ("micro", "um"), ("milli", "mm"),
                                     ("centi", "cm"), ("", "m"))
               for metre in ("meter", "metre") for plural in ("", "s")})

_LENGTH = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\d\s].*?)?\s*$")


def unit_to_nm(unit: str) -> float:
    """Return how many nanometres one ``unit`` is; raise CalibrationError if unknown."""
    key = unit.strip().lower()
    if key not in _TO_NM:
        raise CalibrationError(
            f"unknown length unit {unit!r}", hint="use one of nm, um, µm, mm, m"
        )
    return _TO_NM[key]


def parse_length(text: str | float, *, default_unit: str | None = None) -> float:
    """Parse a length such as ``"3.2nm"``, ``"0.5 um"`` or ``"20 µm"`` into nanometres.

    Parameters
    ----------
    text : str or float
        The length. A bare number needs ``default_unit``.
    default_unit : str, optional
        Unit of a bare number.

    Returns
    -------
    float
        The length in nanometres, positive and finite.

    Raises
    ------
    CalibrationError
        If the text is not a positive number with a known unit.

    Examples
    --------
    >>> parse_length("3.2nm")
    3.2
    >>> parse_length("0.5 µm")
    500.0
    >>> parse_length(7, default_unit="nm")
    7.0
    >>> parse_length("2,5 nm")
    Traceback (most recent call last):
    ddcsem.errors.CalibrationError: cannot read '2,5 nm' as a length: it has a decimal comma (write it with a decimal point, like '2.5 nm')
    """
    if isinstance(text, (int, float)):
        number, unit = float(text), None
    else:
        match = _LENGTH.match(str(text))
        if (match is None or match.group(2)) and re.match(r"^\s*[-+]?\d+,\d", str(text)):
            given, decimal = str(text).strip(), str(text).strip().replace(",", ".", 1)
            # thousands are grouped from a first group without a leading zero: "0,025" is 0.025
            grouped = re.match(r"^[-+]?[1-9]\d{0,2}(?:,\d{3})+(\.\d*)?(?![\d,])", given)
            if grouped and (given.count(",") > 1 or grouped.group(1)):  # "1,000.5 nm"
                raise CalibrationError(f"cannot read {text!r} as a length: it has thousands separators",
                                       hint=f"write it without them, like {given.replace(',', '')!r}")
            if grouped:  # "1,000 nm": a thousand, or one?
                raise CalibrationError(
                    f"cannot read {text!r} as a length: its comma may part thousands or decimals",
                    hint=f"write it without one, like {given.replace(',', '')!r} or {decimal!r}")
            raise CalibrationError(  # "25,0 nm" as a spreadsheet in German or French writes it
                f"cannot read {text!r} as a length: it has a decimal comma",
                hint=f"write it with a decimal point, like {decimal!r}")
        if match is None:
            raise CalibrationError(
                f"cannot read {text!r} as a length", hint="write it like 3.2nm or 0.5um"
            )
        number, unit = float(match.group(1)), match.group(2)
    if unit is None:
        if default_unit is None:
            raise CalibrationError(
                f"length {text!r} has no unit", hint="write it like 3.2nm or 0.5um"
            )
        unit = default_unit
    return _positive(number * unit_to_nm(unit), text, "length")


#: The pixel sizes an SEM gives (nm): from beyond its resolution (0.1 nm) to its widest
#: field (about 10 cm over 1000 pixels). A given size outside is a slip of the unit.
PIXEL_SIZE_RANGE_NM = (0.1, 1e5)


#: A length per pixel, as ddcsem prints pixel sizes (``12 nm/px``, ``12 nm per pixel``),
#: or per so many pixels, as a scale bar is read (``5 µm / 400 px``).
_PER_PIXEL = re.compile(r"^(.*?)\s*(?:/|\bper\s)\s*(\d+\.?\d*|\.\d+)?\s*(?:px|pix|pixels?)\s*$", re.IGNORECASE)

#: A length over a bare number (``5um/400``): the pixels' unit left out.
_OVER_NUMBER = re.compile(r"^\s*(.*?)\s*/\s*(\d+\.?\d*|\.\d+)\s*$")

#: Pixels per length, as Fiji's *Set Scale* states a scale (``83.3 pixels/µm``), or per a
#: length, as its distance in pixels and known distance give it (``400 px / 5 µm``).
_PIXELS_PER = re.compile(r"^\s*(.*?)\s*(?:px|pixels?)\s*(?:/|\bper\s)\s*(.+?)\s*$", re.IGNORECASE)


def parse_pixel_size(text: str | float, *, default_unit: str = "nm") -> float:
    """Parse a pixel size someone gives, in nanometres: a length (see
    :func:`parse_length`), that length per pixel (``12 nm/px``, as ddcsem prints it), or
    pixels per length (``83.3 px/um``, as Fiji's *Set Scale* gives a scale), or a scale
    bar read off the image: a length over its pixels (``5 µm / 400 px``, ``400 px / 5 µm``).

    Raises
    ------
    CalibrationError
        If it cannot be read, or lies outside ``PIXEL_SIZE_RANGE_NM``: a slip of the unit
        (``0.02`` meant in µm is read in nm) would size every particle wrong.

    Examples
    --------
    >>> parse_pixel_size("3.2nm"), parse_pixel_size(20), parse_pixel_size("12 nm/px")
    (3.2, 20.0, 12.0)
    >>> round(parse_pixel_size("80 pixels/µm"), 6), parse_pixel_size("400 px / 5 µm")
    (12.5, 12.5)
    >>> parse_pixel_size("0.02")
    Traceback (most recent call last):
    ...
    ddcsem.errors.CalibrationError: pixel size '0.02' is 0.02 nm, outside what an SEM gives (0.1 nm to 100 µm) (give one pixel's size with its unit, e.g. 0.02um)
    """
    length = text
    per = _PIXELS_PER.match(text) if isinstance(text, str) else None
    if per:
        pixels = _positive(_number(per.group(1), text), text, "pixels per length")
        span = per.group(2)  # "µm", or a length: "5 µm" (it read as 15 µm)
        nm = parse_length(span if _LENGTH.match(span) else f"1{span}") / pixels
    else:
        pixels = 1.0
        if isinstance(text, str) and (match := _PER_PIXEL.match(text)):
            length = match.group(1)
            pixels = _positive(float(match.group(2) or 1), text, "pixels")
        elif isinstance(text, str) and (match := _OVER_NUMBER.match(text)):
            raise CalibrationError(f"cannot read {text!r} as a pixel size: {match.group(2)} of what?",
                                   hint=f"a length over the pixels it spans names them: "
                                        f"{match.group(1)}/{match.group(2)}px")
        nm = parse_length(length, default_unit=default_unit) / pixels
    if not _sem_pixel(nm):
        number = float(_LENGTH.match(str(length)).group(1)) if not per and pixels == 1 else None  # as read
        fits = [f"{number:g}{unit}" for unit in _units_that_fit(number, ("nm", "um"))]
        raise CalibrationError(
            f"pixel size {text!r} is {format_length(nm)}, outside what an SEM gives {_sem_range()}",
            hint="give one pixel's size with its unit" + (f", e.g. {' or '.join(fits)}" if fits else ""),
        )
    return nm


def require_pixel_size(value: object, name: str = "pixel_size_nm") -> float:
    """``value``, a pixel size in nanometres given to a function, as a float: a
    :class:`~ddcsem.errors.ParameterError` naming ``name`` unless it is a finite number
    above 0, a :class:`~ddcsem.errors.CalibrationError` unless it lies in
    ``PIXEL_SIZE_RANGE_NM``, as :func:`parse_pixel_size` checks a size someone types: a
    size given in metres or micrometres would size every particle wrong.

    Examples
    --------
    >>> require_pixel_size(20)
    20.0
    >>> require_pixel_size(2e-8)
    Traceback (most recent call last):
    ...
    ddcsem.errors.CalibrationError: pixel_size_nm=2e-08 lies outside the pixel sizes an SEM gives (0.1 nm to 100 µm) (pixel_size_nm is in nanometres: 2e-08 m is pixel_size_nm=20)
    """
    nm = require_positive(value, name)
    if not _sem_pixel(nm):
        fits = [f"{nm:g} {unit} is {name}={nm * _TO_NM[unit]:g}" for unit in _units_that_fit(nm, ("µm", "mm", "m"))]
        raise CalibrationError(f"{name}={value!r} lies outside the pixel sizes an SEM gives {_sem_range()}",
                               hint=f"{name} is in nanometres" + (f": {' or '.join(fits)}" if fits else ""))
    return nm


def _sem_pixel(nm: float) -> bool:
    """Whether ``nm`` lies in ``PIXEL_SIZE_RANGE_NM``."""
    low, high = PIXEL_SIZE_RANGE_NM
    return low <= nm <= high


def _sem_range() -> str:
    """``PIXEL_SIZE_RANGE_NM`` for people: ``(0.1 nm to 100 µm)``."""
    return f"({format_length(PIXEL_SIZE_RANGE_NM[0])} to {format_length(PIXEL_SIZE_RANGE_NM[1])})"


def _units_that_fit(number: float | None, units: tuple[str, ...]) -> list[str]:
    """Which of ``units`` would put ``number`` of them in ``PIXEL_SIZE_RANGE_NM``: the
    unit a size out of range was likely meant in."""
    return [unit for unit in units if number and _sem_pixel(number * _TO_NM[unit])]


def _number(text: str, whole: str) -> float:
    """``text`` as a number, else a CalibrationError naming ``whole``."""
    try:
        return float(text)
    except ValueError:
        raise CalibrationError(f"cannot read {whole!r} as a pixel size",
                               hint="write it like 12nm, 12 nm/px or 83.3 px/um") from None


def _positive(value: float, text: str | float, what: str) -> float:
    """``value`` if positive and finite, else a CalibrationError naming ``text``."""
    if not (value > 0 and value < float("inf")):
        raise CalibrationError(f"{what} {text!r} must be positive and finite")
    return value


#: Units of a size given in pixels of the image rather than as a length.
_PIXELS = ("px", "pixel", "pixels")


def parse_size(text: str | float, *, default_unit: str = "nm") -> tuple[float, str]:
    """Parse a size given as a length (``"30nm"``, ``"0.5 um"``) or in pixels (``"12px"``).

    Sizes in pixels serve images without a calibration, where a length means nothing.

    Parameters
    ----------
    text : str or float
        The size. A bare number is in ``default_unit``.
    default_unit : str, optional
        Unit of a bare number.

    Returns
    -------
    (float, str)
        The size and its unit: nanometres (``"nm"``) or pixels (``"px"``), positive and finite.

    Raises
    ------
    CalibrationError
        If the text is not a positive number with a known unit.

    Examples
    --------
    >>> parse_size("0.5um"), parse_size("12 px"), parse_size(40)
    ((500.0, 'nm'), (12.0, 'px'), (40.0, 'nm'))
    """
    match = None if isinstance(text, (int, float)) else _LENGTH.match(str(text))
    if match is None or (match.group(2) or "").strip().lower() not in _PIXELS:
        try:
            return parse_length(text, default_unit=default_unit), "nm"
        except CalibrationError as exc:
            raise CalibrationError(exc.reason, hint="write it like 30nm, 0.5um or 12px") from None
    return _positive(float(match.group(1)), text, "size"), "px"


def format_length(nm: float) -> str:
    """Format a length in nm with a unit people read easily.

    Examples
    --------
    >>> format_length(12.5)
    '12.5 nm'
    >>> format_length(2500)
    '2.5 µm'
    """
    if nm >= 1e6:
        return f"{nm / 1e6:.4g} mm"
    if nm >= 1e3:
        return f"{nm / 1e3:.4g} µm"
    return f"{nm:.4g} nm"


def format_count(n: int, noun: str) -> str:
    """A count with its noun, plural but for one.

    Examples
    --------
    >>> format_count(1, "particle"), format_count(3, "image")
    ('1 particle', '3 images')
    """
    return f"{n} {noun}{'' if n == 1 else 's'}"


def cut_to_bytes(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8, not within a character: what a
    file name may hold (most file systems allow 255 bytes a name).

    Examples
    --------
    >>> cut_to_bytes("µm_field", 3), cut_to_bytes("field", 64)
    ('µm', 'field')
    """
    return text.encode("utf-8", "surrogateescape")[:limit].decode("utf-8", "ignore")
