import pytest

from ddcsem.errors import CalibrationError, DDCSEMError
from ddcsem.units import format_length, parse_length, parse_pixel_size, parse_size


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


@pytest.mark.parametrize(("text", "fixed"), [("25,0", "'25.0'"), ("2,5 nm", "'2.5 nm'"), (" 0,05µm", "'0.05µm'"),
                                             ("0,025um", "'0.025um'"), ("-0,500 nm", "'-0.500 nm'")])
def test_a_decimal_comma_is_named_with_the_fix(text, fixed):
    """As a spreadsheet in German or French writes a pair table's pixel sizes; it was an
    'unknown length unit ,0'. A leading zero groups no thousands: "0,025um" was told to
    be written "0025um" or "0.025um"."""
    with pytest.raises(CalibrationError, match=f"decimal comma .write it with a decimal point, like {fixed}"):
        parse_length(text, default_unit="nm")


@pytest.mark.parametrize(("text", "words"), [
    # "1,000 nm" was told to be written "1.000 nm": a user who meant a thousand got 1 nm
    ("1,000nm", r"its comma may part thousands or decimals .write it without one, like '1000nm' or '1.000nm'"),
    ("2,500 nm", r"may part thousands or decimals .write it without one, like '2500 nm' or '2.500 nm'"),
    ("1,000,000 pm", r"it has thousands separators .write it without them, like '1000000 pm'"),
    ("1,000.5nm", r"it has thousands separators .write it without them, like '1000.5nm'"),
])
def test_a_comma_that_may_part_thousands_is_not_taken_for_a_decimal_one(text, words):
    with pytest.raises(CalibrationError, match=words):
        parse_length(text)


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


@pytest.mark.parametrize("text, nm", [("0.1nm", 0.1), ("3.2", 3.2), ("0.02um", 20.0), ("100um", 1e5),
                                      # per pixel, as ddcsem prints it ("12 nm/px (fei:...)")
                                      ("12 nm/px", 12.0), ("12nm/pixel", 12.0), ("0.012 µm per pixel", 12.0),
                                      # pixels per length, as Fiji's Set Scale states a scale
                                      ("80 pixels/µm", 12.5), ("80px/um", 12.5), ("0.5 pixels per nm", 2.0),
                                      ("80 pixels per micron", 12.5),
                                      # a scale bar read: a length over its pixels ("400 px/5 µm" read as
                                      # 400 px per 15 µm, 37.5 nm)
                                      ("400px/5um", 12.5), ("400 px / 5 µm", 12.5), ("400 pixels per 0.5 um", 1.25),
                                      ("5um/400px", 12.5), ("5 µm / 400 pixels", 12.5), ("2 µm per 160 px", 12.5)])
def test_parse_pixel_size(text, nm):
    assert parse_pixel_size(text) == pytest.approx(nm)


@pytest.mark.parametrize("text, words", [("abc px/um", "write it like 12nm, 12 nm/px or 83.3 px/um"),
                                         ("0 px/um", "must be positive"), ("12 px", "unknown length unit 'px'"),
                                         ("12 nm/furlong", "unknown length unit"),
                                         ("5um/0px", "pixels '5um/0px' must be positive"),
                                         ("5 um / 400", r"'5 um / 400' as a pixel size: 400 of what\? \(a length "
                                                        r"over the pixels it spans names them: 5 um/400px\)")])
def test_a_pixel_size_per_pixel_or_in_pixels_per_length_that_is_no_size_is_refused(text, words):
    with pytest.raises(CalibrationError, match=words):
        parse_pixel_size(text)


@pytest.mark.parametrize("text", ["0.02", "0.09nm", "5mm", "0.2 m", "0.02/px", "5 px/m"])
def test_pixel_size_outside_what_an_sem_gives_is_refused(text):
    with pytest.raises(CalibrationError, match="outside what an SEM gives") as info:
        parse_pixel_size(text)
    assert "with its unit" in str(info.value)


def test_read_refuses_an_impossible_pixel_size(tmp_path):
    import numpy as np
    import tifffile

    from ddcsem.read import read_sem

    tifffile.imwrite(tmp_path / "x.tif", np.zeros((8, 8), np.uint8))
    with pytest.raises(CalibrationError, match="0.05 nm"):
        read_sem(tmp_path / "x.tif", pixel_size=0.05)
    assert read_sem(tmp_path / "x.tif", pixel_size="5nm").pixel_size.nm == 5.0


@pytest.mark.parametrize(("nm", "hint"), [(2e-8, r": 2e-08 m is pixel_size_nm=20\)"),
                                          (0.02, r": 0.02 µm is pixel_size_nm=20 or 0.02 mm is pixel_size_nm=20000\)"),
                                          (2e5, r"\)")])
def test_a_pixel_size_in_nm_outside_what_an_sem_gives_is_refused(nm, hint):
    from ddcsem.units import require_pixel_size

    assert require_pixel_size(20) == 20.0 and require_pixel_size(0.1) == 0.1 and require_pixel_size(1e5) == 1e5
    with pytest.raises(CalibrationError, match=rf"^pixel_size_nm={nm!r} lies outside the pixel sizes an SEM gives "
                                               rf"\(0.1 nm to 100 µm\) \(pixel_size_nm is in nanometres{hint}$"):
        require_pixel_size(nm)


def test_every_function_given_a_pixel_size_in_nm_refuses_one_in_metres(tmp_path):
    """A size in metres (2e-8) or µm (0.02) given as pixel_size_nm sized every particle a
    billion or a thousand times too small, silently; ``--pixel-size`` and the files'
    metadata were checked, the arrays' functions were not."""
    import numpy as np

    from ddcsem import particle_table, particle_table_reference, segment_particles
    from ddcsem.report import with_scale_bar, write_preview_png, write_tile_overview, write_tiff
    from ddcsem.synthetic import make_pair

    labels = np.zeros((40, 40), np.int32)
    labels[10:20, 10:20] = 1
    rgb = np.zeros((40, 40, 3), np.uint8)
    calls = [lambda nm: particle_table(labels, pixel_size_nm=nm),
             lambda nm: particle_table_reference(labels, pixel_size_nm=nm),
             lambda nm: segment_particles(labels > 0, pixel_size_nm=nm),
             lambda nm: with_scale_bar(rgb, pixel_size_nm=nm),
             lambda nm: write_preview_png(tmp_path / "p.png", rgb, pixel_size_nm=nm),
             lambda nm: write_tiff(tmp_path / "t.tif", rgb, pixel_size_nm=nm),
             lambda nm: write_tile_overview(tmp_path / "o.png", (40, 40), [], pixel_size_nm=nm),
             lambda nm: make_pair((64, 64), pixel_size_nm=nm, n_particles=1)]
    for call in calls:
        with pytest.raises(CalibrationError, match=r"^pixel_size_nm=2e-08 lies outside .* 2e-08 m is pixel_size_nm=20"):
            call(2e-8)
        call(20.0)  # the same size in nm is taken
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.png", "p.png", "t.tif"]  # each written once, in nm
