import pytest

from ddcsem.errors import CalibrationError, DDCSEMError
from ddcsem.units import format_length, parse_length, parse_size


@pytest.mark.parametrize(
    ("text", "nm"),
    [("3.2nm", 3.2), ("3.2 nm", 3.2), ("0.5um", 500.0), ("0.5 µm", 500.0), ("0.5μm", 500.0),
     ("2e-3 mm", 2000.0), ("1.5e-9m", 1.5), ("12 micron", 12000.0), ("7", 7.0), (4.0, 4.0)],
)
def test_parse_length(text, nm):
    assert parse_length(text, default_unit="nm") == pytest.approx(nm)


@pytest.mark.parametrize("text", ["3.2 furlong", "nm", "", "-3nm", "0nm", "abc", "1..2nm"])
def test_parse_length_rejects(text):
    with pytest.raises(CalibrationError) as err:
        parse_length(text, default_unit="nm")
    assert isinstance(err.value, DDCSEMError)


def test_bare_number_needs_unit():
    with pytest.raises(CalibrationError, match="no unit"):
        parse_length("3.2")


def test_format_length():
    assert format_length(999) == "999 nm"
    assert format_length(1500) == "1.5 µm"
    assert format_length(2.5e6) == "2.5 mm"


@pytest.mark.parametrize(("text", "size"), [("12px", (12.0, "px")), ("2.5 pixels", (2.5, "px")),
                                            ("30nm", (30.0, "nm")), ("0.5 um", (500.0, "nm")),
                                            (40, (40.0, "nm")), ("40", (40.0, "nm"))])
def test_parse_size_in_length_or_pixels(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["0px", "-3px", "px", "3 furlong", "abc"])
def test_parse_size_rejects(text):
    with pytest.raises(CalibrationError, match="px"):  # the hint names the pixel form too
        parse_size(text)
