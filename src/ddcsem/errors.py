"""The one error hierarchy of ddcsem.

Every error ddcsem raises on purpose derives from :class:`DDCSEMError`. Errors about a
file name the file and say what to do about it, so a batch can record them and go on.
"""

from __future__ import annotations

import warnings
from os import PathLike

import numpy as np

__all__ = [
    "DDCSEMError",
    "ReadError",
    "UnsupportedFormatError",
    "CalibrationError",
    "PairingError",
    "OutputError",
    "ParameterError",
    "ResourceError",
]


class DDCSEMError(Exception):
    """Base class of every error raised by ddcsem.

    Parameters
    ----------
    message : str
        What went wrong.
    path : path-like, optional
        The file concerned; it is named at the start of the message.
    hint : str, optional
        What the user can do about it; appended to the message.

    Examples
    --------
    >>> err = ReadError("file is empty", path="a_SE.tif", hint="re-export it")
    >>> str(err)
    'a_SE.tif: file is empty (re-export it)'
    >>> isinstance(err, DDCSEMError), err.path
    (True, 'a_SE.tif')
    """

    def __init__(
        self, message: str, *, path: str | PathLike | None = None, hint: str | None = None
    ) -> None:
        self.path = None if path is None else str(path)
        self.hint = hint
        self.reason = message
        text = message if self.path is None else f"{self.path}: {message}"
        if hint:
            text = f"{text} ({hint})"
        super().__init__(text)


class ReadError(DDCSEMError):
    """A file could not be read as a micrograph (missing, truncated, corrupt, wrong content)."""


class UnsupportedFormatError(ReadError):
    """A file is of a format or layout ddcsem does not read."""


class CalibrationError(DDCSEMError):
    """A pixel size is malformed, in an unknown unit, or inconsistent."""


class PairingError(DDCSEMError):
    """SE and BSE images could not be paired (ambiguous, mismatched or missing partner)."""


class OutputError(DDCSEMError):
    """An output could not be written (exists, folder not writable, disk full)."""


class ParameterError(DDCSEMError, ValueError):
    """An argument has an invalid value."""


class ResourceError(DDCSEMError):
    """The work needs more memory than the machine has available."""


def require_positive(value: object, name: str, *, zero: bool = False) -> float:
    """``value`` as a float when it is a finite number above 0 (or 0 with ``zero``), else a
    :class:`ParameterError` naming ``name``.

    Examples
    --------
    >>> require_positive(2, "pixel_size_nm")
    2.0
    >>> require_positive(0, "pixel_size_nm")
    Traceback (most recent call last):
    ...
    ddcsem.errors.ParameterError: pixel_size_nm must be a finite number above 0, not 0
    """
    bound = "0 or more" if zero else "above 0"
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, (bool, str)) or not (number >= 0 if zero else number > 0) or number == float("inf"):
        # an image's PixelSize, given whole where its nm is asked for
        hint = f"give its size in nm: {name}=image.pixel_size.nm" if hasattr(value, "nm") else None
        raise ParameterError(f"{name} must be a finite number {bound}, not {value!r}", hint=hint)
    return number


def require_switch(value: object, name: str, *, hint: str | None = None) -> bool:
    """``value`` as a bool when it is one (numpy's too, or 0 or 1), else a
    :class:`ParameterError` naming ``name``: a string such as ``"false"`` is true.

    Examples
    --------
    >>> require_switch(np.True_, "clip"), require_switch(0, "clip")
    (True, False)
    >>> require_switch("false", "clip")
    Traceback (most recent call last):
    ...
    ddcsem.errors.ParameterError: clip must be True or False, not 'false'
    """
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1)):
        return bool(value)
    raise ParameterError(f"{name} must be True or False, not {value!r}", hint=hint)


def require_choice(value: object, name: str, choices: tuple[str, ...], *, or_: str = "",
                   hint: str | None = None) -> str:
    """``value`` in lower case when it names one of ``choices`` (in any case: ``"Otsu"``, as
    Fiji names it), else a :class:`ParameterError` naming ``name``, the choices (and
    ``or_``, what else it may be) and the value as given (an array by its shape), with
    ``hint``.

    Examples
    --------
    >>> require_choice("EDM", "split", ("shape", "edm"))
    'edm'
    >>> require_choice(np.zeros((4, 4)), "threshold", ("otsu", "li"), or_="a number")
    Traceback (most recent call last):
    ...
    ddcsem.errors.ParameterError: threshold must be 'otsu', 'li' or a number, not an array of shape (4, 4)
    """
    if isinstance(value, str) and value.lower() in choices:
        return value.lower()
    named = [repr(choice) for choice in choices] + ([or_] if or_ else [])
    given = f"an array of shape {np.shape(value)}" if isinstance(value, np.ndarray) and value.ndim else repr(value)
    raise ParameterError(f"{name} must be {', '.join(named[:-1])} or {named[-1]}, not {given}", hint=hint)


def require_real(image: np.ndarray, name: str, *, kind: str) -> None:
    """A :class:`ParameterError` naming ``name``, a ``kind`` of image, unless the pixels of
    ``image`` are real numbers (or bools): not complex, text, dates, or objects numpy could
    not make numbers of.

    Examples
    --------
    >>> require_real(np.ones((2, 2), np.complex64), "bse", kind="grey image")
    Traceback (most recent call last):
    ...
    ddcsem.errors.ParameterError: bse must be a grey image of real numbers, not of complex64 (take the magnitude, np.abs(image))
    """
    if image.dtype.kind not in "buif":
        raise ParameterError(f"{name} must be a {kind} of real numbers, not of {image.dtype}",
                             hint="take the magnitude, np.abs(image)" if image.dtype.kind == "c" else
                             "make it numbers first, np.asarray(image, dtype=float)" if image.dtype == object else None)


def not_finite(count: int, name: str, *, path: str | PathLike | None = None,
               error: type[DDCSEMError] = ParameterError) -> DDCSEMError:
    """An ``error`` (a :class:`DDCSEMError` class) for ``count`` NaN or infinite pixels in
    ``name``, with what to do about them: one wording wherever an image is refused for them.

    Examples
    --------
    >>> error = not_finite(1, "the SE image")
    >>> error.reason
    'the SE image holds 1 NaN or infinite pixel'
    >>> error.hint[:50]
    'give it a finite value (numpy: np.nan_to_num(image'
    """
    it = "it" if count == 1 else "them"
    return error(f"{name} holds {count} NaN or infinite pixel{'' if count == 1 else 's'}", path=path,
                 hint=f"give {it} a finite value (numpy: np.nan_to_num(image); Fiji: Process > Noise > Remove "
                      f"NaNs...), and to leave {it} out, a region drawn without {it} (region=, --region)")


def require_finite(image: np.ndarray, name: str, *, path: str | PathLike | None = None,
                   error: type[DDCSEMError] = ParameterError) -> None:
    """:func:`not_finite` raised unless every pixel of ``image`` is finite; a colour
    image's (M, N, 3 or 4) pixels are counted once, whichever of their channels is not.

    Examples
    --------
    >>> require_finite(np.array([[0.0, np.inf], [np.nan, 1.0]]), "bse")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ddcsem.errors.ParameterError: bse holds 2 NaN or infinite pixels (give them a finite value (numpy: ...)
    """
    if image.dtype.kind == "f" and not (finite := np.isfinite(image)).all():
        colour = image.ndim == 3 and image.shape[-1] in (3, 4)
        raise not_finite(int(np.count_nonzero(~finite.all(axis=-1) if colour else ~finite)), name, path=path,
                         error=error)


def require_image(value: object, name: str, *, kind: str = "grey image", hint: str | None = None,
                  reader: str = "read_sem", empty: bool = False) -> np.ndarray:
    """``value`` as a 2-D array (an array, or an :class:`~ddcsem.SEMImage`'s pixels), else a
    :class:`ParameterError` naming ``name`` and what was given instead, with ``hint`` when
    that is no array at all (a pair's channels ``se`` and ``bse`` are hinted at unasked; a
    file's name, at ``ddcsem.<reader>``, which reads it).
    Its pixels must be real numbers (or bools), and there must be some unless ``empty``.
    An array of more dimensions is refused with a hint: one image of a stack, or for a
    colour image (M, N, 3 or 4) ``analyze_composite`` or one of its channels.
    An SEMImage given as the ``se`` or ``bse`` channel whose detector records the other is
    warned about (from the caller of the public function, three frames up): a pair's two
    swapped coloured particles green and measured each channel's mean as the other's.

    Examples
    --------
    >>> require_image([[0, 1], [2, 3]], "bse").shape
    (2, 2)
    >>> require_image(np.zeros((2, 8, 8)), "bse")
    Traceback (most recent call last):
    ...
    ddcsem.errors.ParameterError: bse must be a 2-D grey image, got shape (2, 8, 8) (give one image of the stack, bse[0])
    """
    if isinstance(value, (str, PathLike)):
        raise ParameterError(f"{name} must be a 2-D {kind}, not a file name ({str(value)!r})",
                             hint=f"read the file first: ddcsem.{reader}(path)" + (f"; {hint}" if hint else ""))
    image = np.asarray(value)
    if image.dtype == object and image.ndim == 0:
        if hint is None and name in ("se", "bse") and hasattr(value, name):
            hint = f"give the pair's channel, pair.{name}"
        raise ParameterError(f"{name} must be a 2-D {kind}, not a {type(value).__name__}", hint=hint)
    if image.ndim != 2:
        colour = image.ndim == 3 and image.shape[-1] in (3, 4) and image.shape[0] > image.shape[-1]
        raise ParameterError(f"{name} must be a 2-D {kind}, got shape {image.shape}",
                             hint=f"a DDC composite is measured by ddcsem.analyze_composite (its density map: "
                                  f"density_from_composite); a grey image stored in colour, by one of its channels, "
                                  f"{name}[..., 0]" if colour
                             else f"give one image of the stack, {name}[0]" if image.ndim == 3 else None)
    require_real(image, name, kind=kind)
    if not empty and image.size == 0:
        raise ParameterError(f"{name} is empty (shape {image.shape})")
    role = getattr(value, "role", None)  # an SEMImage's, as its detector records it
    if name in ("se", "bse") and role in ("SE", "BSE") and role.lower() != name:
        warnings.warn(f"{name} is given {getattr(value, 'path', None) or 'an image'}, whose detector "
                      f"({getattr(value, 'detector', None)}) records {'an' if role == 'SE' else 'a'} {role} image: "
                      f"if a pair's two are swapped, give pair.{name}", stacklevel=4)
    return image
