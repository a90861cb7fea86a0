"""read_sem: pixels, calibration in priority order, detector, data bar, bad files."""

from __future__ import annotations

import gzip
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from conftest import noise_image, write_fei, write_zeiss, zeiss_text
from PIL import Image

from ddcsem.errors import CalibrationError, DDCSEMError, ParameterError, ReadError, UnsupportedFormatError
from ddcsem.read import (MixedDetectorWarning, PixelSize, SEMImage, detect_databar, read_composite, read_labels,
                         read_sem)
from ddcsem.synthetic import make_pair


def write_imagej(path, data, um_per_px):
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / um_per_px, 1 / um_per_px),
                     metadata={"unit": "micron"})
    return path


# ----------------------------------------------------------------------------- pixels


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_reads_grey_tiff_of_each_dtype(tmp_path, dtype):
    if dtype == np.float32:
        data = (noise_image((40, 50), np.uint16) / 65535).astype(np.float32)
    else:
        data = noise_image((40, 50), dtype)
    tifffile.imwrite(tmp_path / "x.tif", data)
    img = read_sem(tmp_path / "x.tif")
    assert img.data.dtype == dtype
    np.testing.assert_array_equal(img.data, data)
    assert img.pixel_size == PixelSize(None, "none")
    assert not img.pixel_size.calibrated


def test_32bit_integers_become_float(tmp_path):
    data = np.arange(40 * 50, dtype=np.int32).reshape(40, 50) * 1000
    tifffile.imwrite(tmp_path / "x.tif", data)
    img = read_sem(tmp_path / "x.tif")
    assert img.data.dtype == np.float64
    np.testing.assert_array_equal(img.data, data)


def test_palette_tiff_is_mapped_through_palette(tmp_path):
    # an inverted grey palette with one reserved annotation colour (as Zeiss writes)
    index = np.tile(np.arange(256, dtype=np.uint8), (8, 1))
    ramp = (255 - np.arange(256)) * 257
    colormap = np.stack([ramp, ramp, ramp]).astype(np.uint16)
    colormap[:, 9] = [65535, 0, 0]  # red, used only in the data bar
    tifffile.imwrite(tmp_path / "p.tif", index, photometric="palette", colormap=colormap)
    img = read_sem(tmp_path / "p.tif", crop_databar="off")
    assert img.data.dtype == np.uint8
    assert img.data[0, 0] == 255 and img.data[0, 255] == 0  # not the raw indices
    assert img.data[0, 9] == round(0.299 * 255)  # luminance of pure red
    np.testing.assert_array_equal(np.flatnonzero(img.marks.any(axis=0)), [9])  # an annotation colour: a mark


@pytest.mark.parametrize("tint, suffix", [((1, 0, 0), ".png"), ((0, 1, 0), ".jpg"), ((1, 0.85, 0.6), ".jpg")],
                         ids=["red", "green-jpeg", "sepia-jpeg"])
def test_a_tinted_grey_micrograph_reads_as_grey(tmp_path, tint, suffix):
    """A channel that Fiji showed red or green and exported as RGB, or a sepia scan: one
    hue at many brightnesses. It had been taken for a DDC composite, and refused as one
    without orange and green."""
    grey = make_pair((64, 80), n_particles=6, seed=4).bse
    Image.fromarray(np.rint(grey[..., None] * np.array(tint)).astype(np.uint8)).save(tmp_path / f"t_BSE{suffix}")
    img = read_sem(tmp_path / f"t_BSE{suffix}")
    assert img.data.shape == grey.shape and img.marks is None
    if suffix == ".png":
        np.testing.assert_array_equal(img.data, grey)  # its brightest channel: every level kept
    else:
        assert np.corrcoef(img.data.ravel(), grey.ravel())[0, 1] > 0.99
    with pytest.raises(ReadError, match=r"one colour at many brightnesses \(a grey micrograph tinted"):
        read_composite(tmp_path / f"t_BSE{suffix}")


@pytest.mark.parametrize("colours, suffix", [("red-green", ".png"), ("magenta-green", ".png"), ("red-green", ".jpg"),
                                             ("magenta-green", ".jpg")])
def test_a_merge_of_two_channels_as_they_are_is_a_composite_not_a_tint(tmp_path, colours, suffix):
    """Fiji's Merge Channels of an SE and a BSE image left at their own brightness, made
    RGB: their colours lie close to one hue (the second singular value 0.05-0.08 of the
    first), and magenta-green merges of the bundled samples, red-green ones of synthetic
    pairs at 10 and 20 keV, were refused as "one colour at many brightnesses". Across the
    main axis, their colours spread as a tint's do not."""
    from ddcsem.analyze import analyze_composite, analyze_pair

    syn = make_pair((256, 256), kev=20.0, seed=5)
    rgb = np.stack([syn.bse, syn.se, syn.bse if colours == "magenta-green" else np.zeros_like(syn.se)], axis=-1)
    Image.fromarray(rgb).save(tmp_path / f"merge{suffix}", quality=90)
    with pytest.raises(UnsupportedFormatError, match="colour image"):
        read_sem(tmp_path / f"merge{suffix}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a JPEG's subsampled colours, few particles
        merged = read_composite(tmp_path / f"merge{suffix}")
        if suffix == ".png":  # its particles are the pair's
            count = analyze_composite(merged).distribution["count"]
            assert count == pytest.approx(analyze_pair(syn.se, syn.bse).distribution["count"], abs=1)


def test_gif_and_webp_read_as_what_they_show(tmp_path):
    """As a browser saves a journal's figure: they were refused as "not a TIFF, PNG, JPEG or
    BMP image"; a folder's were passed over."""
    from ddcsem.colorize import colorize
    from ddcsem.pair import collect_images

    syn = make_pair((64, 80), n_particles=6, seed=4)
    Image.fromarray(syn.bse).save(tmp_path / "f_BSE.gif")
    np.testing.assert_array_equal(read_sem(tmp_path / "f_BSE.gif").data, syn.bse)  # its grey palette
    rgb = colorize(syn.se, syn.bse)
    Image.fromarray(rgb).save(tmp_path / "fig.webp", lossless=True)
    np.testing.assert_array_equal(read_composite(tmp_path / "fig.webp").data, rgb)
    assert [p.name for p in collect_images(tmp_path)] == ["f_BSE.gif", "fig.webp"]
    frames = [Image.fromarray(np.full((16, 16), 40 * i, np.uint8)) for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(UnsupportedFormatError, match="anim.gif: holds 3 frames, where one micrograph was expected"):
        read_sem(tmp_path / "anim.gif")


def _luts():
    import matplotlib

    banded = np.repeat(np.random.default_rng(0).random((16, 3)), 16, axis=0)  # as ImageJ's "16 colors"
    return {"magma": matplotlib.colormaps["magma"](np.linspace(0, 1, 256))[:, :3], "16 colors": banded}


@pytest.mark.parametrize("lut", ["magma", "16 colors"])
@pytest.mark.parametrize("suffix", [".tif", ".png"])
def test_a_micrograph_shown_through_a_colour_lut_reads_as_its_intensities(tmp_path, lut, suffix):
    """Fiji saves an 8-bit image shown through a LUT (Fire, 16 colors) as a palette image:
    its indices are the data. Through the colours' brightness, a BSE image had read with a
    tenth less mineral; as a PNG it was taken for a DDC composite."""
    grey = noise_image((40, 60), seed=2)
    palette = np.rint(_luts()[lut] * 255).astype(np.uint8)
    path = tmp_path / f"lut_BSE{suffix}"
    if suffix == ".tif":
        tifffile.imwrite(path, grey, photometric="palette", colormap=palette.T.astype(np.uint16) * 257)
    else:
        image = Image.fromarray(grey).convert("P")
        image.putpalette(palette.ravel().tolist())
        image.save(path)
    img = read_sem(path)
    np.testing.assert_array_equal(img.data, grey)
    assert img.marks is None
    with pytest.raises(ReadError, match="not a colour image"):
        read_composite(path)


@pytest.mark.parametrize("suffix", [".tif", ".png"])
def test_a_composite_in_indexed_colour_reads_as_a_composite(tmp_path, suffix):
    """Reduced to a palette of 256 colours (median cut, as a GIF-like export): its palette
    is in no order, so its colours are the image."""
    from ddcsem.colorize import colorize

    syn = make_pair((96, 96), n_particles=8, seed=1)
    indexed = Image.fromarray(colorize(syn.se, syn.bse)).quantize(256)
    path = tmp_path / f"fig{suffix}"
    if suffix == ".tif":
        palette = np.reshape(indexed.getpalette(), (-1, 3))
        palette = np.vstack([palette, np.zeros((256 - len(palette), 3), int)])
        tifffile.imwrite(path, np.asarray(indexed), photometric="palette", colormap=palette.T.astype(np.uint16) * 257)
    else:
        indexed.save(path)
    np.testing.assert_array_equal(read_composite(path).data, np.asarray(indexed.convert("RGB")))
    with pytest.raises(UnsupportedFormatError, match="colour image"):
        read_sem(path)


@pytest.mark.parametrize(
    "stored, bits, shown",
    [
        (np.array([[0, 200]], np.uint8), 8, [[255, 55]]),
        (np.array([[0, 4000]], np.uint16), 12, [[4095, 95]]),  # 12-bit data: 4095 is black
        (np.array([[0.25, 1.0]], np.float32), 32, [[1.0, 0.25]]),
    ],
)
def test_a_white_is_zero_tiff_reads_as_it_is_shown(tmp_path, stored, bits, shown):
    # MinIsWhite: 0 is white. Read raw, a BSE image would be its negative (particles dark)
    data = np.repeat(np.repeat(stored, 8, axis=0), 8, axis=1)
    tifffile.imwrite(tmp_path / "w.tif", data, photometric="miniswhite", bitspersample=bits)
    img = read_sem(tmp_path / "w.tif", crop_databar="off")
    assert img.data.dtype == data.dtype
    np.testing.assert_array_equal(img.data[::8, ::8], np.asarray(shown, data.dtype))


def test_rgb_with_grey_content_is_accepted(tmp_path):
    grey = noise_image((30, 40))
    Image.fromarray(np.dstack([grey] * 3)).save(tmp_path / "g.png")
    np.testing.assert_array_equal(read_sem(tmp_path / "g.png").data, grey)


def test_rgb_with_colour_content_is_refused(tmp_path):
    rgb = np.dstack([noise_image((30, 40), seed=s) for s in range(3)])
    tifffile.imwrite(tmp_path / "c.tif", rgb, photometric="rgb")
    with pytest.raises(ReadError, match="colour image") as err:
        read_sem(tmp_path / "c.tif")
    assert "c.tif" in str(err.value)


def test_a_grey_micrograph_with_a_coloured_scale_bar_reads_as_grey_with_its_marks(tmp_path):
    """Fiji's Flatten of a BSE image with a yellow scale bar and label: 0.9 % of it
    coloured, it was taken for a DDC composite (12 particles found for 91)."""
    grey = noise_image((120, 200), seed=3)
    rgb = np.dstack([grey] * 3)
    rgb[100:104, 130:190] = (255, 255, 0)  # the bar
    rgb[86:96, 140:144] = rgb[86:96, 150:154] = (255, 255, 0)  # strokes of its label
    rgb[20, 20:23] = (200, 0, 0)  # a speck of 3 px: colour noise, no mark
    Image.fromarray(rgb).save(tmp_path / "fig_BSE.png")
    image = read_sem(tmp_path / "fig_BSE.png")
    assert image.data.shape == grey.shape and image.data.dtype == np.uint8
    np.testing.assert_array_equal(image.data[30:80], grey[30:80])  # grey where grey
    expected = np.zeros(grey.shape, bool)
    expected[100:104, 130:190] = expected[86:96, 140:144] = expected[86:96, 150:154] = True
    np.testing.assert_array_equal(image.marks, expected)
    assert image.to_record()["marks_px"] == 320
    with pytest.raises(ReadError, match=r"a grey micrograph with coloured marks on 1.3% of it \(a scale bar"):
        read_composite(tmp_path / "fig_BSE.png")
    # cropped with the data bar below the field
    assert read_sem(tmp_path / "fig_BSE.png", crop_databar=35).marks is None
    np.testing.assert_array_equal(read_sem(tmp_path / "fig_BSE.png", crop_databar=18).marks, expected[:102])
    # a grey image has none; one coloured beyond marks (6 %) is a colour image
    assert read_sem(tmp_path / "fig_BSE.png", crop_databar="off").marks is not None
    Image.fromarray(np.dstack([grey] * 3)).save(tmp_path / "plain.png")
    assert read_sem(tmp_path / "plain.png").marks is None
    rgb[:12, :] = (255, 255, 0)
    Image.fromarray(rgb).save(tmp_path / "coloured.png")
    with pytest.raises(ReadError, match=r"colour image \(1[0-9].[0-9]% of pixels are coloured\)"):
        read_sem(tmp_path / "coloured.png")
    assert read_composite(tmp_path / "coloured.png").data.shape == rgb.shape
    with pytest.raises(DDCSEMError, match=r"marks must have the image's shape \(120, 200\), not \(3, 3\)"):
        SEMImage(grey, marks=np.zeros((3, 3), bool))


def test_a_white_scale_bar_drawn_into_an_8bit_image_is_found_with_its_label_not_a_saturated_particle(tmp_path,
                                                                                                     monkeypatch):
    """Fiji's default scale bar, white, burned in or flattened; saturated particles, round,
    and white along the image's edge are no bar."""
    from skimage.draw import disk

    rng = np.random.default_rng(5)
    grey = rng.normal(60, 12, (300, 400)).clip(0, 255).astype(np.uint8)
    for centre in ((60, 80), (150, 300), (250, 60), (240, 405)):  # particles clipped at 255, with noise
        rr, cc = disk(centre, 25, shape=grey.shape)
        grey[rr, cc] = np.minimum(255, rng.normal(262, 6, rr.size)).astype(np.uint8)
    drawn = grey.copy()
    drawn[270:275, 250:370] = 255  # the bar, 5 x 120 px
    drawn[248:262, 280:282] = drawn[248:262, 290:292] = drawn[248:250, 300:310] = 255  # its label's strokes
    drawn[230:250, 230:250] = rng.normal(230, 12, (20, 20)).clip(0, 255)  # a bright particle's white specks
    drawn[0:3, :] = 255  # white along the edge: a margin, not a bar
    bar = np.zeros(grey.shape, bool)
    bar[270:275, 250:370] = bar[248:262, 280:282] = bar[248:262, 290:292] = bar[248:250, 300:310] = True
    tifffile.imwrite(tmp_path / "bar_BSE.tif", drawn)
    np.testing.assert_array_equal(read_sem(tmp_path / "bar_BSE.tif", crop_databar="off").marks, bar)
    Image.fromarray(drawn).save(tmp_path / "bar_BSE.jpg", quality=90)  # JPEG's ringing about it
    found = read_sem(tmp_path / "bar_BSE.jpg", crop_databar="off").marks
    assert found[bar].mean() > 0.97 and not found[:240].any()
    tifffile.imwrite(tmp_path / "none_BSE.tif", grey)  # saturated particles alone
    assert read_sem(tmp_path / "none_BSE.tif").marks is None
    short = grey.copy()
    short[270:275, 250:265] = 255  # 15 px: too short for a bar
    tifffile.imwrite(tmp_path / "short_BSE.tif", short)
    assert read_sem(tmp_path / "short_BSE.tif").marks is None
    # a 16-bit image is as the microscope wrote it, a montage too large to search: nothing is looked for
    tifffile.imwrite(tmp_path / "deep_BSE.tif", drawn.astype(np.uint16) * 257)
    assert read_sem(tmp_path / "deep_BSE.tif", crop_databar="off").marks is None
    import ddcsem.read

    monkeypatch.setattr(ddcsem.read, "BAR_MAX_IMAGE_PX", drawn.size - 1)
    assert read_sem(tmp_path / "bar_BSE.tif", crop_databar="off").marks is None


def test_a_white_legend_box_with_a_dark_scale_bar_is_found_with_what_is_in_it(tmp_path):
    """A figure's legend: a white box, a black bar and label in it. Such a box, 140 x 50 px,
    was measured as a particle of 1.7 µm at 20 nm. A saturated square, with nothing dark
    in it, is no box."""
    from ddcsem.analyze import analyze_single

    syn = make_pair((300, 400), n_particles=20, seed=3)
    drawn = syn.bse.copy()
    drawn[240:280, 250:370] = 255  # the box
    drawn[268:273, 260:360] = 0  # its bar
    drawn[246:260, 280:282] = drawn[246:260, 290:292] = 0  # its label's strokes
    box = np.zeros(drawn.shape, bool)
    box[240:280, 250:370] = True
    tifffile.imwrite(tmp_path / "legend_BSE.tif", drawn)
    image = read_sem(tmp_path / "legend_BSE.tif", crop_databar="off", pixel_size="20nm")
    np.testing.assert_array_equal(image.marks, box)
    with pytest.warns(UserWarning, match=r"hold annotations .*drawn into the grey micrograph, and a box under them"):
        assert not analyze_single(image).labels[box].any()
    plain = syn.bse.copy()
    plain[230:280, 240:290] = 255  # a saturated square: nothing drawn in it
    tifffile.imwrite(tmp_path / "square_BSE.tif", plain)
    assert read_sem(tmp_path / "square_BSE.tif", crop_databar="off").marks is None


def test_rgb_stored_channel_by_channel_reads_as_interleaved(tmp_path):
    # Photoshop's "per channel" pixel order: planar configuration 2
    rgb = np.dstack([noise_image((30, 40), seed=s) for s in range(3)])
    tifffile.imwrite(tmp_path / "i.tif", rgb, photometric="rgb")
    tifffile.imwrite(tmp_path / "p.tif", np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate")
    np.testing.assert_array_equal(read_composite(tmp_path / "p.tif").data, read_composite(tmp_path / "i.tif").data)
    grey = noise_image((30, 40))
    tifffile.imwrite(tmp_path / "g.tif", np.stack([grey] * 3), photometric="rgb", planarconfig="separate")
    np.testing.assert_array_equal(read_sem(tmp_path / "g.tif").data, grey)


def test_a_jpeg_composite_with_its_colours_at_half_resolution_is_warned_about(tmp_path):
    """4:2:0 chroma subsampling cost a synthetic crowded field's F1 0.98 -> 0.96: the
    unmixing sees colours blurred over two pixels."""
    from ddcsem.colorize import colorize

    syn = make_pair(shape=(120, 140), n_particles=12, seed=3)
    rgb = Image.fromarray(colorize(syn.se, syn.bse))
    rgb.save(tmp_path / "half.jpg", quality=95, subsampling=2)  # 4:2:0, most software's default
    rgb.save(tmp_path / "full.jpg", quality=95, subsampling=0)
    with pytest.warns(UserWarning, match=r"half.jpg: a JPEG whose colours are kept at half resolution \(4:2:0"):
        read_composite(tmp_path / "half.jpg")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_composite(tmp_path / "full.jpg")


def test_a_cmyk_figure_made_for_print_reads_in_its_colours(tmp_path):
    """Its C, M and Y channels were read as R, G and B: every colour inverted, orange
    particles taken for the matrix."""
    from ddcsem.colorize import colorize

    syn = make_pair(shape=(120, 140), n_particles=12, seed=3)
    rgb = colorize(syn.se, syn.bse)
    cmyk = np.dstack([255 - rgb, np.zeros(rgb.shape[:2], np.uint8)])
    cmyk[:10, :10] = (0, 0, 0, 255)  # black ink
    rgb[:10, :10] = 0
    tifffile.imwrite(tmp_path / "i.tif", cmyk, photometric="separated")
    tifffile.imwrite(tmp_path / "p.tif", np.moveaxis(cmyk, -1, 0), photometric="separated", planarconfig="separate")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "f.jpg", quality=95)
    for name in ("i.tif", "p.tif"):
        np.testing.assert_array_equal(read_composite(tmp_path / name).data, rgb)
    assert np.abs(read_composite(tmp_path / "f.jpg").data.astype(int) - rgb).mean() < 3


def test_a_thumbnail_is_no_second_image_but_a_second_full_image_is(tmp_path):
    grey = noise_image((64, 80))
    for name, first_thumbnail in (("after.tif", False), ("before.tif", True)):
        with tifffile.TiffWriter(tmp_path / name) as tif:
            if first_thumbnail:
                tif.write(grey[::4, ::4], subfiletype=1)  # reduced-resolution copy
            tif.write(grey)
            if not first_thumbnail:
                tif.write(grey[::4, ::4], subfiletype=1)
        np.testing.assert_array_equal(read_sem(tmp_path / name, crop_databar="off").data, grey)
    with tifffile.TiffWriter(tmp_path / "stack.tif") as tif:
        for image in (grey, grey[::-1], grey[::4, ::4]):
            tif.write(image, subfiletype=1 if image.shape[0] < 64 else 0)
    with pytest.raises(UnsupportedFormatError, match="holds 2 images .a stack or several channels") as err:
        read_sem(tmp_path / "stack.tif")
    assert "read_sem(path, page=N)" in str(err.value)


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "JPEG"])
def test_reads_other_formats(tmp_path, fmt):
    grey = np.tile(np.arange(0, 250, 5, dtype=np.uint8), (30, 1))
    path = tmp_path / f"img.{fmt.lower()}"
    Image.fromarray(grey).save(path, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    data = read_sem(path).data
    assert data.shape == grey.shape
    assert np.abs(data.astype(int) - grey).max() <= (3 if fmt == "JPEG" else 0)


# ------------------------------------------------------------------------ calibration


def test_imagej_calibration(tmp_path):
    img = read_sem(write_imagej(tmp_path / "a_SE.tif", noise_image(), 0.0125))
    assert img.pixel_size.nm == pytest.approx(12.5)
    assert img.pixel_size.source == "imagej:resolution+unit"
    assert img.vendor == "imagej"


@pytest.mark.parametrize("unit, per_unit", [("nanometer", 0.08), ("Micrometres", 80.0), ("nm", 0.08)])
def test_imagej_units_spelled_out_calibrate(tmp_path, unit, per_unit):
    """Set Scale takes any word: 'nanometer' left the image uncalibrated."""
    tifffile.imwrite(tmp_path / "x.tif", noise_image(), imagej=True, resolution=(per_unit, per_unit),
                     metadata={"unit": unit})
    assert read_sem(tmp_path / "x.tif").pixel_size.nm == pytest.approx(12.5)


@pytest.mark.parametrize("unit, per_unit", [("pixel", 2), ("inch", 300), ("cm", 118.11), ("centimeter", 118.11)])
def test_imagej_pixel_unit_or_print_resolution_is_not_a_calibration(tmp_path, unit, per_unit):
    # a TIFF of 300 dpi in cm opened in Fiji and saved again got 85 µm pixels
    tifffile.imwrite(tmp_path / "x.tif", noise_image(), imagej=True, resolution=(per_unit, per_unit),
                     metadata={"unit": unit})
    assert read_sem(tmp_path / "x.tif").pixel_size.nm is None


def test_explicit_pixel_size_wins_over_metadata(tmp_path):
    from ddcsem.read import OverriddenCalibrationWarning

    path = write_imagej(tmp_path / "x.tif", noise_image(), 0.0125)
    with pytest.warns(OverriddenCalibrationWarning):
        assert read_sem(path, pixel_size="0.1um").pixel_size == PixelSize(100.0, "argument")
    with pytest.warns(OverriddenCalibrationWarning):
        assert read_sem(path, pixel_size=7).pixel_size == PixelSize(7.0, "argument")
    # a PixelSize keeps its source, as SEMImage takes it ("cannot read PixelSize(...) as a length")
    with pytest.warns(OverriddenCalibrationWarning):
        assert read_sem(path, pixel_size=PixelSize(7.0, "scale bar")).pixel_size == PixelSize(7.0, "scale bar")
    assert read_sem(path, pixel_size=PixelSize(None, "none")).pixel_size.nm == pytest.approx(12.5)  # nothing given
    with pytest.raises(ParameterError, match=r"PixelSize.nm must be a finite number above 0, not -7.0"):
        read_sem(path, pixel_size=PixelSize(-7.0, "typo"))


def test_zeiss_image_pixel_size_preferred(tmp_path):
    text = zeiss_text(pixel_nm=12.33, header_m=2.465e-8)
    img = read_sem(write_zeiss(tmp_path / "z.tif", noise_image((60, 2048 // 16)), text))
    assert img.vendor == "zeiss"
    assert img.pixel_size == PixelSize(pytest.approx(12.33), "zeiss:ap_image_pixel_size")
    assert img.detector == "InLens" and img.role == "SE"


def test_zeiss_header_value_scaled_to_width(tmp_path):
    # old SmartSEM files lack ap_image_pixel_size; header [3] refers to a 1024-px frame
    text = zeiss_text(pixel_nm=None, header_m=5.825e-9)
    img = read_sem(write_zeiss(tmp_path / "z.tif", noise_image((60, 512)), text))
    assert img.pixel_size.nm == pytest.approx(11.65)
    assert img.pixel_size.source == "zeiss:header[3]*1024/width"


def test_zeiss_mixing_warns(tmp_path):
    text = zeiss_text(pixel_nm=5.0, header_m=None, detector="HE-SE2", mixing="On")
    with pytest.warns(MixedDetectorWarning, match="mixing"):
        img = read_sem(write_zeiss(tmp_path / "z.tif", noise_image(), text))
    assert img.mixing


def test_fei_calibration_detector_and_databar(tmp_path):
    data = noise_image((70, 64))
    data[60:] = 0
    path = write_fei(tmp_path / "f.tif", data, pixel_m=3.3724e-06, rows=60, name="CBS", mode="BSE")
    img = read_sem(path)
    assert img.pixel_size == PixelSize(pytest.approx(3372.4), "fei:[Scan]PixelWidth")
    assert img.detector == "CBS (BSE)" and img.role == "BSE"
    assert img.databar_rows == 10 and img.shape == (60, 64)


def test_fei_etd_in_bse_mode_is_bse(tmp_path):
    path = write_fei(tmp_path / "f.tif", noise_image(), pixel_m=1e-8, rows=64, name="ETD", mode="BSE")
    assert read_sem(path).role == "BSE"


def test_fei_without_bar_is_not_cropped(tmp_path):
    data = noise_image((64, 80))
    data[-5:] = 0  # dark rows, but metadata says the whole frame is image
    path = write_fei(tmp_path / "f.tif", data, pixel_m=1e-8, rows=64)
    assert read_sem(path).databar_rows == 0


def test_tescan_tag(tmp_path):
    ini = "Description\r\n[MAIN]\r\nDevice=MIRA3\r\n[SEM]\r\nPixelSizeX=4.5e-09\r\nPixelSizeY=4.5e-09\r\nDetector=BSE\r\n"
    tifffile.imwrite(tmp_path / "t.tif", noise_image(), extratags=[(50431, "B", len(ini), ini.encode(), True)])
    img = read_sem(tmp_path / "t.tif")
    assert img.vendor == "tescan"
    assert img.pixel_size == PixelSize(pytest.approx(4.5), "tescan:PixelSizeX")
    assert img.role == "BSE"


def test_jeol_sidecar(tmp_path):
    data = noise_image((74, 80))
    data[64:] = 255
    tifffile.imwrite(tmp_path / "img.tif", data)
    (tmp_path / "img.txt").write_text(
        "$CM_FORMAT JEOL-SEM\n$CM_SIGNAL_NAME COMPO\n$$SM_MICRON_BAR 101\n"
        "$$SM_MICRON_MARKER 100um\n$CM_FULL_SIZE 80 64\n")
    img = read_sem(tmp_path / "img.tif")
    assert img.vendor == "jeol" and img.detector == "COMPO" and img.role == "BSE"
    assert img.pixel_size.nm == pytest.approx(100_000 / 101)
    assert img.pixel_size.source.startswith("jeol-sidecar")
    assert img.databar_rows == 10


def test_hitachi_sidecar(tmp_path):
    tifffile.imwrite(tmp_path / "h.tif", noise_image((70, 80)))
    (tmp_path / "h.txt").write_text(
        "[SemImageFile]\nInstructName=S-4800\nPixelSize=3.307\nSignalName=SE(U)\nDataSize=80x64\n")
    img = read_sem(tmp_path / "h.tif")
    assert img.vendor == "hitachi" and img.role == "SE"
    assert img.pixel_size == PixelSize(pytest.approx(3.307), "hitachi-sidecar:PixelSize")
    assert img.databar_rows == 6


def _beam_files(tmp_path):
    """A file of each vendor, with the accelerating voltage as it records it."""
    data = noise_image((64, 80))
    zeiss = write_zeiss(tmp_path / "z.tif", data, zeiss_text(pixel_nm=5.0, header_m=None)
                        + "AP_ACTUALKV\r\nEHT = 3.00 kV\r\nAP_MANUALKV\r\nEHT Target = 5.00 kV\r\n")
    target = write_zeiss(tmp_path / "zt.tif", data, zeiss_text(pixel_nm=5.0, header_m=None)
                         + "AP_MANUALKV\r\nEHT Target = 5.00 kV\r\n")
    ini = "[Beam]\nHV=15000\n[Scan]\nPixelWidth=1e-08\n[Detectors]\nName=CBS\nMode=BSE\n"
    tifffile.imwrite(tmp_path / "f.tif", data, extratags=[(34682, "s", 0, ini, True)])
    ini = "[MAIN]\r\nDevice=MIRA3\r\n[SEM]\r\nHV=7000.0\r\nPixelSizeX=4.5e-09\r\nDetector=BSE\r\n"
    tifffile.imwrite(tmp_path / "t.tif", data, extratags=[(50431, "B", len(ini), ini.encode(), True)])
    for stem, text in (("j", "$CM_FORMAT JEOL-SEM\n$CM_ACCEL_VOLT 10.00\n$$SM_MICRON_BAR 50\n$$SM_MICRON_MARKER 1um\n"),
                       ("h", "[SemImageFile]\nPixelSize=3.3\nAcceleratingVoltage=1500 Volt\n"),
                       ("hk", "[SemImageFile]\nPixelSize=3.3\nAcceleratingVoltage=2.5 kV\n"),
                       ("hb", "[SemImageFile]\nPixelSize=3.3\nAcceleratingVoltage=3000\n"),
                       ("hbk", "[SemImageFile]\nPixelSize=3.3\nAcceleratingVoltage=15\n")):
        tifffile.imwrite(tmp_path / f"{stem}.tif", data)
        (tmp_path / f"{stem}.txt").write_text(text)
    tifffile.imwrite(tmp_path / "none.tif", data)
    return {zeiss: 3.0, target: 5.0, tmp_path / "f.tif": 15.0, tmp_path / "t.tif": 7.0, tmp_path / "j.tif": 10.0,
            tmp_path / "h.tif": 1.5, tmp_path / "hk.tif": 2.5, tmp_path / "hb.tif": 3.0, tmp_path / "hbk.tif": 15.0,
            tmp_path / "none.tif": None}


@pytest.mark.parametrize("vendor", ["zeiss", "fei"])
def test_a_stage_tilted_without_tilt_correction_is_warned_about(tmp_path, vendor):
    """A flat sample imaged at 30° tilt is foreshortened across the tilt axis by cos 30°:
    its particles' areas measured 13 % small. The microscope's tilt correction, or a level
    stage, leaves nothing to say."""
    data = noise_image((64, 80))

    def written(tilt_deg: float, corrected: bool) -> Path:
        path = tmp_path / f"{vendor}{tilt_deg:g}{corrected}.tif"
        if vendor == "zeiss":
            return write_zeiss(path, data, zeiss_text(pixel_nm=5.0, header_m=None)
                               + f"AP_STAGE_AT_T\r\nStage at T = {tilt_deg}\r\n"  # (its ° is no ASCII)
                               + f"DP_TILT_CORRECTION\r\nTilt Corrn. = {'On' if corrected else 'Off'}\r\n")
        ini = (f"[Scan]\nPixelWidth=5e-09\n[Stage]\nStageT={np.radians(tilt_deg)}\n"
               f"[EBeam]\nTiltCorrectionIsOn={'yes' if corrected else 'no'}\n")
        tifffile.imwrite(path, data, extratags=[(34682, "s", 0, ini, True)])
        return path

    with pytest.warns(UserWarning, match=r"stage tilted -?30° and the microscope's tilt correction off: .* "
                                         r"cos -?30° = 0\.866, so its particles' areas are measured 13% small"):
        read_sem(written(30.0, False))
    with pytest.warns(UserWarning, match="stage tilted -30°"):  # either way
        read_sem(written(-30.0, False))
    for tilt, corrected in ((30.0, True), (5.0, False), (0.0, False)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert read_sem(written(tilt, corrected)).pixel_size.nm == pytest.approx(5.0)


def test_the_beam_energy_is_read_from_each_vendors_metadata(tmp_path):
    """The accelerating voltage: Zeiss's EHT (else its target), FEI's [Beam] HV in volts,
    TESCAN's HV in volts, JEOL's CM_ACCEL_VOLT in kV, Hitachi's in volts or kV (without
    a unit, volts above 100, else kV)."""
    for path, kv in _beam_files(tmp_path).items():
        image = read_sem(path)
        assert image.beam_kv == (None if kv is None else pytest.approx(kv)), path.name
        assert image.to_record()["beam_kv"] == image.beam_kv


def test_a_jeol_sidecar_in_the_windows_code_page_still_calibrates(tmp_path):
    """'2µm' written in cp1252 (0xB5) was read as '2\ufffdm': the image came out uncalibrated."""
    tifffile.imwrite(tmp_path / "x_SEI.tif", noise_image((100, 120)))
    (tmp_path / "x_SEI.txt").write_bytes(
        "$CM_FORMAT JEOL-SEM\n$$SM_MICRON_BAR 50\n$$SM_MICRON_MARKER 2µm\n".encode("cp1252"))
    assert read_sem(tmp_path / "x_SEI.tif").pixel_size == PixelSize(40.0, "jeol-sidecar:MICRON_MARKER/MICRON_BAR")


def test_imagej_comes_before_jeol_sidecar(tmp_path):
    path = write_imagej(tmp_path / "x.tif", noise_image(), 0.01)
    (tmp_path / "x.txt").write_text("$CM_FORMAT JEOL-SEM\n$$SM_MICRON_BAR 10\n$$SM_MICRON_MARKER 1um\n")
    assert read_sem(path).pixel_size.source == "imagej:resolution+unit"


def test_detector_from_filename(tmp_path):
    tifffile.imwrite(tmp_path / "valve_03_AsB.tif", noise_image())
    img = read_sem(tmp_path / "valve_03_AsB.tif")
    assert img.detector == "AsB" and img.role == "BSE"


# --------------------------------------------------------------------------- data bar


def test_detects_synthetic_databar():
    pair = make_pair(shape=(200, 180), databar=True, seed=5)
    assert detect_databar(pair.se) == pair.databar_rows
    assert detect_databar(pair.bse) == pair.databar_rows


def test_a_colour_frame_has_its_bar_found_and_anything_else_is_refused():
    # a composite's rows were looked at as grey pixel triples: its bar came out 7 rows of 16; a 1-D array's 0
    pair = make_pair(shape=(200, 180), databar=True, seed=5)
    composite = np.dstack([pair.bse, pair.se, pair.se // 2])
    assert detect_databar(composite) == pair.databar_rows
    for image, message in ((pair.se[0], r"got shape \(180,\)"), (np.stack([pair.se] * 2), r"image\[0\]")):
        with pytest.raises(ParameterError, match=message):
            detect_databar(image)


def test_never_crops_frame_without_bar():
    pair = make_pair(shape=(200, 180), seed=5)
    assert detect_databar(pair.se) == 0
    assert detect_databar(np.zeros((100, 100), np.uint8)) == 0  # blank frame


@pytest.mark.parametrize("seed, clipped", [(1, 70), (3, 70), (5, 50), (6, 70), (8, 70)])
def test_a_bse_image_with_its_matrix_clipped_to_black_keeps_its_rows(tmp_path, seed, clipped):
    """Its rows are mostly black, so a band at the bottom with few particles looked like a
    bar: 24-112 of 512 rows were cropped, and its pair refused as differing in shape."""
    pair = make_pair(shape=(512, 512), n_particles=60, seed=seed)
    bse = pair.bse.astype(float)
    low = np.percentile(bse, clipped)
    black = np.clip((bse - low) / (bse.max() - low) * 255, 0, 255).astype(np.uint8)
    assert np.mean(black == 0) >= clipped / 100 - 0.01
    assert detect_databar(black) == 0
    tifffile.imwrite(tmp_path / "f_EsB.tif", black)
    tifffile.imwrite(tmp_path / "f_InLens.tif", pair.se)
    from ddcsem.pair import read_pair

    assert read_pair(tmp_path / "f_InLens.tif", tmp_path / "f_EsB.tif", register=False).bse.shape == (512, 512)


def test_crop_options(tmp_path):
    pair = make_pair(shape=(120, 100), databar=True, seed=2)
    tifffile.imwrite(tmp_path / "x.tif", pair.se)
    assert read_sem(tmp_path / "x.tif").shape == pair.labels.shape
    assert read_sem(tmp_path / "x.tif", crop_databar="off").shape == pair.se.shape
    assert read_sem(tmp_path / "x.tif", crop_databar=3).databar_rows == 3


def test_record_keys(tmp_path):
    path = write_imagej(tmp_path / "a_SE.tif", noise_image((30, 40)), 0.02)
    record = read_sem(path).to_record()
    assert record == {"path": str(path), "vendor": "imagej", "detector": "SE", "role": "SE",
                      "pixel_size_nm": pytest.approx(20.0), "pixel_size_source": "imagej:resolution+unit",
                      "shape": [30, 40], "databar_rows": 0, "dtype": "uint8", "beam_kv": None, "marks_px": 0,
                      "scale_bar_px": []}


# -------------------------------------------------------------------------- bad input


def _truncated(path):
    tifffile.imwrite(path, noise_image((200, 200)))
    path.write_bytes(path.read_bytes()[:3000])


def _patched(path, tag, value, data=None):
    """A TIFF whose tag is overwritten, as a damaged header has it."""
    tifffile.imwrite(path, noise_image((64, 64)) if data is None else data, rowsperstrip=16)
    with tifffile.TiffFile(path, mode="r+") as tif:
        tif.pages[0].tags[tag].overwrite(value(tif.pages[0].tags[tag].value))


BAD_FILES = {
    "missing": (lambda p: None, ReadError, "not found"),
    "empty": (lambda p: p.write_bytes(b""), ReadError, "empty"),
    "text": (lambda p: p.write_text("this is not an image\n"), UnsupportedFormatError, "not a TIFF"),
    "truncated": (_truncated, ReadError, "decode"),
    "header-only": (lambda p: p.write_bytes(b"II*\x00garbage"), ReadError, "truncated or corrupt"),
    # tifffile reads a strip without an offset as zeros: a quarter of this image came back black
    "missing-strip": (lambda p: _patched(p, "StripOffsets", lambda v: (v[0], 0, *v[2:])), ReadError,
                      "lists 4 strips or tiles for 64 x 64 px, the file holds 3"),
    # a 1-bit image claiming 5 million rows with one strip: read as zeros, its bar search took minutes
    "tall-header": (lambda p: _patched(p, "ImageLength", lambda v: 5_000_000, np.zeros((64, 64), bool)), ReadError,
                    "for 5000000 x 64 px, the file holds"),
    "nan": (lambda p: tifffile.imwrite(p, np.full((20, 20), np.nan, np.float32)), ReadError, "NaN"),
    "two-channel": (lambda p: tifffile.imwrite(p, np.zeros((20, 20, 2), np.uint8), photometric="minisblack",
                                               planarconfig="contig"), UnsupportedFormatError, "2-D"),
    "one-pixel": (lambda p: tifffile.imwrite(p, np.zeros((1, 1), np.uint8)), ReadError, "too small"),
    "complex": (lambda p: tifffile.imwrite(p, np.zeros((20, 20), np.complex64)), UnsupportedFormatError,
                "pixel type complex64 is not supported .save the micrograph as 8- or 16-bit integers"),
    # files that hold a micrograph in a wrapper, each named with what to do
    "gzipped": (lambda p: p.write_bytes(gzip.compress(noise_image((8, 8)).tobytes())), UnsupportedFormatError,
                "a gzip-compressed file, not an image .decompress it first"),
    "zipped": (lambda p: p.write_bytes(b"PK\x03\x04" + bytes(40)), UnsupportedFormatError,
               "a zip archive, not an image .extract its images first"),
    "bruker-bcf": (lambda p: p.write_bytes(b"AAMVHFSS" + bytes(40)), UnsupportedFormatError,
                   "a Bruker Esprit file .* .export its images as TIFF from Esprit"),
    "hdf5": (lambda p: p.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(40)), UnsupportedFormatError,
             "an HDF5 file .*, not an image .export the micrograph as TIFF"),
    "zeiss-czi": (lambda p: p.write_bytes(b"ZISRAWFILE" + bytes(40)), UnsupportedFormatError,
                  "a Zeiss CZI file, not an image"),
}


def test_what_tifffile_logs_is_said_with_the_file_or_left_to_the_error(tmp_path, capsys):
    """tifffile logs what it finds amiss in a file; left to Python, its lines were printed
    bare on the terminal, without the file's name, even beside ddcsem's own error."""
    import struct

    path = tmp_path / "next.tif"
    tifffile.imwrite(path, noise_image((64, 64)))
    data = bytearray(path.read_bytes())
    ifd = struct.unpack("<I", data[4:8])[0]
    after = ifd + 2 + 12 * struct.unpack("<H", data[ifd:ifd + 2])[0]  # the next page's offset
    data[after:after + 4] = struct.pack("<I", 10**8)  # beyond the file
    path.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match=r"next.tif: tifffile: invalid page offset 100000000$") as said:
        image = read_sem(path)
    assert image.shape == (64, 64) and said[0].filename == __file__  # the first page is read, and said at the call
    with pytest.warns(UserWarning, match=r"next.tif: tifffile: invalid page offset 100000000$") as said:
        labels = read_labels(path, shape=(64, 64))  # a label image too
    assert labels.shape == (64, 64) and said[0].filename == __file__
    bare = tmp_path / "bare.tif"
    bare.write_bytes(b"II*\x00garbage")  # tifffile: "invalid offset to first page"
    with pytest.raises(ReadError, match="bare.tif: holds no image: the TIFF is truncated or corrupt"):
        read_sem(bare)
    assert capsys.readouterr().err == ""


def test_a_float_colour_image_with_nan_pixels_is_refused_by_name(tmp_path):
    # read as grey, its colours' SVD failed ("SVD did not converge", no DDCSEMError); read
    # as a composite, its NaNs were cast to 0 with a RuntimeWarning and analysed as black
    from ddcsem.colorize import colorize

    syn = make_pair((64, 64), seed=1)
    rgb = colorize(syn.se, syn.bse).astype(np.float32) / 255
    rgb[5:10, 5:10, 1] = np.nan
    tifffile.imwrite(tmp_path / "f.tif", rgb, photometric="rgb")
    for reader in (read_sem, read_composite):
        with pytest.raises(ReadError, match=r"f.tif: the image holds 25 NaN or infinite pixels \(give them a finite"):
            reader(tmp_path / "f.tif")
    rgb[:] = 0.5
    rgb[3, 4, 0] = np.inf
    tifffile.imwrite(tmp_path / "f.tif", rgb, photometric="rgb")
    with pytest.raises(ReadError, match="f.tif: the image holds 1 NaN or infinite pixel "):
        read_sem(tmp_path / "f.tif")


def test_nan_padding_reaching_the_edge_is_read_as_black(tmp_path):
    """A float image turned with NaN for padding (scipy's rotate with cval=nan) was
    refused whole; its NaNs, each part reaching the edge, are now its lowest level, black
    padding, and NaNs within the field are still refused."""
    from scipy import ndimage

    syn = make_pair((300, 300), seed=1)
    turned = ndimage.rotate(syn.bse.astype(np.float32), 7, reshape=True, order=1, cval=np.nan)
    tifffile.imwrite(tmp_path / "t.tif", turned)
    with pytest.warns(UserWarning, match=r"t.tif: \d+ NaN or infinite pixels, each reaching the image's edge \(a "
                      r"rotated, registered or stitched image's padding\): read as black"):
        image = read_sem(tmp_path / "t.tif")
    padding = np.isnan(turned)
    assert padding.mean() > 0.15 and np.isfinite(image.data).all()
    assert (image.data[padding] == np.nanmin(turned)).all() and np.array_equal(image.data[~padding], turned[~padding])
    turned[150:160, 150:160] = np.nan  # and within the field: all are refused
    tifffile.imwrite(tmp_path / "t.tif", turned)
    with pytest.raises(ReadError, match=rf"t.tif: the image holds {np.isnan(turned).sum()} NaN or infinite pixels \("):
        read_sem(tmp_path / "t.tif")


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_raise_ddcsem_error_naming_file(tmp_path, case):
    make, error, words = BAD_FILES[case]
    path = tmp_path / f"{case}.tif"
    make(path)
    with pytest.raises(error, match=words) as err:
        read_sem(path)
    assert isinstance(err.value, DDCSEMError)
    assert str(path) in str(err.value)


def test_missing_page(tmp_path):
    tifffile.imwrite(tmp_path / "x.tif", noise_image())
    with pytest.raises(UnsupportedFormatError, match="page 3"):
        read_sem(tmp_path / "x.tif", page=3)
    # parameters, not the file's fault: a page "1" was "cannot decode image ... the file may be corrupt"
    with pytest.raises(ParameterError, match=r"page must be a page number \(0 the first\), not '1'"):
        read_sem(tmp_path / "x.tif", page="1")
    with pytest.raises(ParameterError, match="crop_databar must be 'auto', 'off' or a row count, not 'yes'"):
        read_sem(tmp_path / "x.tif", crop_databar="yes")
    # (an array: numpy's "truth value of an array is ambiguous")
    with pytest.raises(ParameterError, match=r"crop_databar must be .* not an array of shape \(2,\)"):
        read_sem(tmp_path / "x.tif", crop_databar=np.array([1, 2]))
    assert read_sem(tmp_path / "x.tif", crop_databar="Off").data.shape == read_sem(tmp_path / "x.tif").data.shape


def test_a_pair_read_with_its_data_bar_named_in_capitals_is_cropped_alike(tmp_path):
    """read_pair crops a bar found in one image of a pair from both for "auto": "Auto",
    which read_sem takes too, would have left the other image taller, and the pair refused."""
    from ddcsem.pair import read_pair

    syn = make_pair((230, 240), seed=2)
    se = syn.se.copy()
    se[200:] = 255  # its data bar, and the bar's text; the BSE image's bar is as busy as its field
    se[205:209, 20:120] = 0
    tifffile.imwrite(tmp_path / "a_SE.tif", se)
    tifffile.imwrite(tmp_path / "a_BSE.tif", syn.bse)
    for spelling in ("auto", "Auto", True):
        with pytest.warns(UserWarning, match="a data bar of 30 rows was found in it, not in .*a_BSE.tif"):
            pair = read_pair(tmp_path / "a_SE.tif", tmp_path / "a_BSE.tif", crop_databar=spelling)
        assert pair.se.data.shape == pair.bse.data.shape == (200, 240)


def test_gigantic_header_refused_before_reading(tmp_path, monkeypatch):
    import ddcsem.read as read_module

    monkeypatch.setattr(read_module, "MAX_IMAGE_BYTES", 1000)
    tifffile.imwrite(tmp_path / "x.tif", noise_image((40, 40)))
    with pytest.raises(UnsupportedFormatError, match="GiB"):
        read_sem(tmp_path / "x.tif")


def test_large_png_read_without_pillows_warning_and_a_huge_one_refused(tmp_path, monkeypatch):
    """Pillow warns of "a decompression bomb DOS attack" over its pixel limit and refuses
    twice that: the warning said nothing true of a large micrograph (ddcsem's own limit
    guards the memory), and the refusal was reported as a corrupt file."""
    from PIL import Image

    Image.fromarray(noise_image((300, 400))).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)  # 120,000 px: over the limit, under twice it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_sem(tmp_path / "big.png").data.shape == (300, 400)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)
    with pytest.raises(UnsupportedFormatError, match="more than 100,000 pixels, .*save it as TIFF"):
        read_sem(tmp_path / "big.png")


# ------------------------------------------------------------------ particles drawn by hand


def write_rois(path, *rois):
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        for k, roi in enumerate(rois):
            archive.writestr(f"{k:04d}.roi", roi.tobytes())
    return path


def test_labels_from_every_area_roi_of_a_set_by_their_pixel_centres(tmp_path):
    """Fiji's shapes, each a particle in the set's order: a square polygon of pixel corners
    holds exactly the pixels inside it, a rectangle its pixels, an oval the pixels whose
    centres lie in it; a line is no area, nor a text (Fiji's Text tool, a rectangle of
    subtype text: it was a particle); a later ROI takes the pixels it overlaps. What is
    left out, and the overlap, are said (the set's 6 ROIs gave 4 particles, unsaid)."""
    from roifile import ROI_SUBTYPE, ROI_TYPE, ImagejRoi

    square = ImagejRoi.frompoints([[2, 1], [6, 1], [6, 5], [2, 5]])  # x, y: columns 2-5, rows 1-4
    rect = ImagejRoi(roitype=ROI_TYPE.RECT, left=10, top=2, right=14, bottom=9)
    oval = ImagejRoi(roitype=ROI_TYPE.OVAL, left=2, top=10, right=12, bottom=20)  # a disc 10 px across
    line = ImagejRoi(roitype=ROI_TYPE.LINE, x1=1.0, y1=1.0, x2=15.0, y2=15.0, name="scratch")
    over = ImagejRoi.frompoints([[5, 4], [8, 4], [8, 6], [5, 6]], name="late")  # over the square's corner pixel
    beyond = ImagejRoi.frompoints([[40, 40], [45, 40], [45, 45]], name="far")
    text = ImagejRoi(roitype=ROI_TYPE.RECT, subtype=ROI_SUBTYPE.TEXT, left=14, top=14, right=20, bottom=18,
                     name="note")
    with pytest.warns(UserWarning) as caught:
        labels = read_labels(write_rois(tmp_path / "set.zip", square, line, rect, oval, over, beyond, text),
                             shape=(24, 20))
    said = [str(w.message) for w in caught]
    assert said == [f"{tmp_path / 'set.zip'}: left out of its 7 ROIs: scratch (a line: no area), "
                    "far (outside the image), note (a text: no area)",
                    f"{tmp_path / 'set.zip'}: 1 ROI overlaps ones before them (late): the pixels they share are "
                    "the later one's, so the earlier are measured smaller than drawn (one particle per pixel)"]
    assert all(w.filename == __file__ for w in caught)  # where read_labels was called
    assert labels.dtype == np.int32 and labels.max() == 4
    expected = np.zeros((24, 20), np.int32)
    expected[1:5, 2:6] = 1
    expected[2:9, 10:14] = 2
    yy, xx = np.mgrid[0:24, 0:20]
    expected[(yy + 0.5 - 15) ** 2 + (xx + 0.5 - 7) ** 2 < 25] = 3
    expected[4:6, 5:8] = 4
    np.testing.assert_array_equal(labels, expected)


@pytest.mark.parametrize("shape, n, seed", [((200, 240), 40, 8), ((512, 512), 300, 0)])
def test_labels_read_back_exactly_as_analyze_writes_them(tmp_path, shape, n, seed):
    """The ROI set and label image of a segmentation give its labels again, with nothing
    to say: the crowded field's outlines overlap (one wraps a pixel of a neighbour that
    touches it at a corner), which its order resolves."""
    from ddcsem.report import write_imagej_rois, write_tiff
    from ddcsem.segment import segment_particles
    from ddcsem.separate import density_map

    syn = make_pair(shape=shape, n_particles=n, clustered_fraction=0.9 if n > 100 else 0.5, seed=seed)
    labels = segment_particles(density_map(syn.bse), se=syn.se if n > 100 else None)
    assert labels.max() > 0.6 * n
    write_imagej_rois(tmp_path / "x_rois.zip", labels)
    write_tiff(tmp_path / "x_labels.tif", labels, pixel_size_nm=20.0)
    for name in ("x_rois.zip", "x_labels.tif"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            np.testing.assert_array_equal(read_labels(tmp_path / name, shape=labels.shape), labels)


def test_labels_drawn_on_the_image_with_its_data_bar_fit_the_cropped_image(tmp_path):
    drawn = np.zeros((40, 30), np.uint16)  # a 10-row bar under a 30-row image
    drawn[5:9, 5:9] = 1
    tifffile.imwrite(tmp_path / "l.tif", drawn)
    assert read_labels(tmp_path / "l.tif", shape=(30, 30)).sum() == 16
    drawn[35, 5] = 2  # a particle in the bar: it was drawn on something else
    tifffile.imwrite(tmp_path / "l.tif", drawn)
    with pytest.raises(ReadError, match="the labels are 40 x 30 px, the image 30 x 30 px"):
        read_labels(tmp_path / "l.tif", shape=(30, 30))


def test_a_16_bit_png_label_image_reads(tmp_path):
    drawn = np.zeros((12, 16), np.uint16)
    drawn[2:5, 2:6] = 300
    Image.fromarray(drawn).save(tmp_path / "l.png")
    labels = read_labels(tmp_path / "l.png", shape=(12, 16))
    assert labels.max() == 1 and np.count_nonzero(labels) == 12


def test_a_binary_mask_given_as_labels_reads_as_its_spots(tmp_path):
    """Fiji's *Convert to Mask* saves 0 and 255: each 8-connected spot is a particle, as
    *Analyze Particles* traces them, not all of them one particle of id 255."""
    mask = np.zeros((12, 16), np.uint8)
    mask[1:4, 1:4] = 255      # a square
    mask[4:6, 4:7] = 255      # touching it at a corner only: the same spot
    mask[8:11, 10:15] = 255   # apart
    mask[1:3, 12:15] = 255    # apart
    tifffile.imwrite(tmp_path / "mask.tif", mask)
    labels = read_labels(tmp_path / "mask.tif", shape=(12, 16))
    assert labels.max() == 3
    assert [np.count_nonzero(labels == i) for i in (1, 2, 3)] == [15, 6, 15]  # in raster order
    mask[1:3, 12:15] = 7      # two ids: a label image, read as its numbers (255 one particle in two parts)
    tifffile.imwrite(tmp_path / "ids.tif", mask)
    labels = read_labels(tmp_path / "ids.tif", shape=(12, 16))
    assert labels.max() == 2 and np.count_nonzero(labels == 2) == 30


def test_a_mask_of_black_particles_on_white_reads_as_its_particles(tmp_path):
    """A PNG of a Fiji mask made without *Black background* (and many tools' masks) holds
    the particles as 0 on a set background: they, not the background, are the particles,
    said in a warning; a mask whose set pixels cover most of the field without being
    one piece that reaches every side (a large particle) is read as it is."""
    from PIL import Image

    from ddcsem.read import read_labels, read_markers

    yy, xx = np.mgrid[0:40, 0:50]
    mask = np.full((40, 50), 255, np.uint8)
    for y, x, r in ((10, 10, 4), (25, 30, 6), (30, 8, 3)):
        mask[(yy - y) ** 2 + (xx - x) ** 2 <= r ** 2] = 0
    Image.fromarray(mask).save(tmp_path / "mask.png")
    with pytest.warns(UserWarning, match=r"mask\.png: its 255s cover 9\d% of the field in one piece that "
                                         r"reaches every side, so they are read as the background"):
        labels = read_labels(tmp_path / "mask.png", shape=(40, 50))
    assert labels.max() == 3
    assert sorted(np.bincount(labels.ravel())[1:]) == [29, 49, 113]  # the discs of radius 3, 4 and 6
    assert np.array_equal(labels > 0, mask == 0)
    with pytest.warns(UserWarning, match="read as the background"):  # seeds drawn so are read so too
        assert read_markers(tmp_path / "mask.png", shape=(40, 50)).max() == 3
    big = np.zeros((40, 50), np.uint8)
    big[(yy - 20) ** 2 + (xx - 25) ** 2 <= 18 ** 2] = 1  # 51 % of the field, clear of the sides
    Image.fromarray(big).save(tmp_path / "big.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        labels = read_labels(tmp_path / "big.png", shape=(40, 50))
    assert labels.max() == 1 and np.array_equal(labels > 0, big > 0)


def test_a_label_image_saved_by_fiji_as_32_bit_float_reads_as_its_numbers(tmp_path):
    drawn = np.zeros((12, 16), np.float32)
    drawn[2:5, 2:6] = 40.0  # sparse ids, renumbered in order
    drawn[7:10, 9:14] = 7.0
    tifffile.imwrite(tmp_path / "l.tif", drawn, imagej=True)
    labels = read_labels(tmp_path / "l.tif", shape=(12, 16))
    assert labels[3, 3] == 2 and labels[8, 10] == 1 and labels.max() == 2 and np.count_nonzero(labels) == 27


@pytest.mark.parametrize("data, shape, message", [
    (np.zeros((10, 12), np.uint16), (10, 12), "the labels are empty"),
    (np.ones((10, 12), np.uint16), (10, 14), "the labels are 10 x 12 px, the image 10 x 14 px"),
    (np.full((10, 12), 1.5, np.float32), (10, 12), "whole numbers"),
    (np.full((10, 12), -2, np.int16), (10, 12), "whole numbers"),
    (np.ones((2, 10, 12), np.uint8), (10, 12), "must be 2-D"),
    (np.ones((10, 12, 3), np.uint8), (10, 12), "a colour image.*not its rendering in colour"),
])
def test_labels_that_do_not_fit_the_image_are_refused(tmp_path, data, shape, message):
    tifffile.imwrite(tmp_path / "l.tif", data)
    with pytest.raises(ReadError, match=message) as err:
        read_labels(tmp_path / "l.tif", shape=shape)
    assert "l.tif" in str(err.value)


def test_hand_drawn_areas_take_an_images_shape_colour_or_not(tmp_path):
    """``shape=composite.shape`` (M, N, 3) was refused as "the labels are 10 x 12 px, the
    image 10 x 12 px"; it is the field's. A shape that is no image's is named as such (an
    int had raised "'int' object is not subscriptable")."""
    from ddcsem.read import read_labels, read_markers, read_region

    data = np.zeros((10, 12), np.uint16)
    data[2:5, 3:7] = 1
    tifffile.imwrite(tmp_path / "l.tif", data)
    for read in (read_labels, read_region, read_markers):
        assert np.array_equal(read(tmp_path / "l.tif", shape=(10, 12, 3)) > 0, data > 0)
        assert np.array_equal(read(tmp_path / "l.tif", shape=np.empty((10, 12)).shape) > 0, data > 0)
        for shape in (10, (10,), (10.0, 12), (0, 12), "10x12"):
            with pytest.raises(ParameterError, match=r"shape must be the image's \(rows, columns\), as image.shape "
                               r"gives it, not "):
                read(tmp_path / "l.tif", shape=shape)


def composite_roi(*squares):
    """A composite ImageJ ROI (a ShapeRoi, as Fiji makes one by drawing with Alt or Shift
    held) of the outlines of ``squares`` (x0, y0, x1, y1), in that order."""
    from roifile import ROI_TYPE, ImagejRoi

    ops = []
    for x0, y0, x1, y1 in squares:  # moveto, lineto x3, close
        ops += [0, x0, y0, 1, x1, y0, 1, x1, y1, 1, x0, y1, 4]
    roi = ImagejRoi(roitype=ROI_TYPE.RECT, multi_coordinates=np.array(ops, np.float32), shape_roi_size=len(ops))
    roi.left, roi.top = min(q[0] for q in squares), min(q[1] for q in squares)
    roi.right, roi.bottom = max(q[2] for q in squares), max(q[3] for q in squares)
    return roi


def test_pixels_that_are_not_square_are_warned_about(tmp_path):
    # Fiji's Set Scale with a pixel aspect ratio of 1.125: every area would be 12 % off
    data = noise_image()
    tifffile.imwrite(tmp_path / "a.tif", data, imagej=True, resolution=(1 / 0.012, 1 / 0.0135),
                     metadata={"unit": "micron"})
    with pytest.warns(UserWarning, match=r"a\.tif: its pixels are not square \(12 nm wide, 13\.5 nm high\).*12% off"):
        image = read_sem(tmp_path / "a.tif")
    assert image.pixel_size.nm == pytest.approx(12.0) and image.metadata["pixel_height_nm"] == pytest.approx(13.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_sem(tmp_path / "a.tif", pixel_size="12nm").pixel_size.source == "argument"  # taken as square
        tifffile.imwrite(tmp_path / "b.tif", data, imagej=True, resolution=(1 / 0.012, 1 / 0.012),
                         metadata={"unit": "micron"})
        assert read_sem(tmp_path / "b.tif").metadata["pixel_height_nm"] == pytest.approx(12.0)
        fei = write_fei(tmp_path / "f.tif", data, pixel_m=5e-9, rows=data.shape[0])
        assert read_sem(fei).metadata["pixel_height_nm"] == pytest.approx(5.0)


def test_a_region_is_read_from_a_selection_a_set_or_a_mask(tmp_path):
    from roifile import ImagejRoi

    from ddcsem.read import read_labels, read_region

    # a selection with a hole cut out of it: the hole is not in the region, nor in a particle
    ring = tmp_path / "x_region.roi"
    ring.write_bytes(composite_roi((1, 1, 9, 9), (3, 3, 6, 6)).tobytes())
    region = read_region(ring, shape=(11, 12))
    assert region.dtype == bool and region.sum() == 8 * 8 - 3 * 3
    assert region[1:9, 1:9].sum() == 55 and not region[3:6, 3:6].any()
    assert np.array_equal(read_labels(ring, shape=(11, 12)) > 0, region)
    # a set: the union of its areas
    pieces = write_rois(tmp_path / "x_region.zip", ImagejRoi.frompoints([[0, 0], [4, 0], [4, 2], [0, 2]]),
                        ImagejRoi.frompoints([[2, 1], [6, 1], [6, 5], [2, 5]]))
    assert read_region(pieces, shape=(8, 8)).sum() == 8 + 16 - 2
    # a mask saved from Fiji (0 and 255), drawn on the image with its data bar
    mask = np.zeros((14, 12), np.uint8)
    mask[2:8, 3:10] = 255
    tifffile.imwrite(tmp_path / "x_region.tif", mask)
    assert read_region(tmp_path / "x_region.tif", shape=(10, 12)).sum() == 42
    tifffile.imwrite(tmp_path / "empty.tif", np.zeros((10, 12), np.uint8))
    with pytest.raises(ReadError, match="the region is empty") as err:
        read_region(tmp_path / "empty.tif", shape=(10, 12))
    assert "empty.tif" in str(err.value)
    with pytest.raises(ReadError, match="the region is 14 x 12 px, the image 10 x 13 px"):
        read_region(tmp_path / "x_region.tif", shape=(10, 13))


def test_markers_are_read_from_clicks_a_set_or_a_seed_image(tmp_path):
    from roifile import ROI_TYPE, ImagejRoi

    from ddcsem.read import read_markers

    def clicks(points):
        roi = ImagejRoi.frompoints(points)
        roi.roitype = ROI_TYPE.POINT
        return roi

    # Fiji's multi-point selection: each click the pixel it lies in; one outside the image left out, said
    path = tmp_path / "x_markers.roi"
    clicks(np.array([[2, 1], [7.5, 3.5], [30, 2]], float)).tofile(path)
    with pytest.warns(UserWarning, match=r"x_markers.roi: left out of its 1 ROI: 1 point of .* \(outside the image\)"):
        seeds = read_markers(path, shape=(6, 10))
    assert seeds.dtype == np.int32 and seeds[1, 2] == 1 and seeds[3, 7] == 2 and np.count_nonzero(seeds) == 2
    # a set: points and areas, each a seed, numbered in the set's order
    both = write_rois(tmp_path / "x_markers.zip", clicks(np.array([[1, 1], [8, 1]])),
                      ImagejRoi.frompoints([[3, 3], [6, 3], [6, 5], [3, 5]]))
    seeds = read_markers(both, shape=(6, 10))
    assert (seeds[1, 1], seeds[1, 8]) == (1, 2) and np.all(seeds[3:5, 3:6] == 3) and np.count_nonzero(seeds) == 8
    # a mask saved from Fiji: each connected spot a seed; a label image: its ids, numbered 1..K
    mask = np.zeros((6, 10), np.uint8)
    mask[1, 1] = mask[1, 2] = mask[4, 7] = 255
    tifffile.imwrite(tmp_path / "mask.tif", mask)
    assert np.array_equal(np.unique(read_markers(tmp_path / "mask.tif", shape=(6, 10))), [0, 1, 2])
    ids = np.zeros((6, 10), np.uint16)
    ids[1, 1], ids[4, 7] = 7, 3
    tifffile.imwrite(tmp_path / "ids.tif", ids)
    seeds = read_markers(tmp_path / "ids.tif", shape=(6, 10))
    assert (seeds[4, 7], seeds[1, 1]) == (1, 2)
    clicks(np.array([[30, 2], [40, 1]])).tofile(tmp_path / "outside.roi")
    with pytest.raises(ReadError, match="no points or areas inside the image .mark the particles with the multi-point"):
        read_markers(tmp_path / "outside.roi", shape=(6, 10))
    with pytest.raises(ReadError, match="the markers are 6 x 10 px, the image 6 x 11 px"):
        read_markers(tmp_path / "mask.tif", shape=(6, 11))


def test_a_roi_set_without_areas_or_not_a_roi_set_is_refused(tmp_path):
    from roifile import ROI_TYPE, ImagejRoi

    lines = write_rois(tmp_path / "lines.zip", ImagejRoi(roitype=ROI_TYPE.LINE, x1=1.0, y1=1.0, x2=5.0, y2=5.0))
    with pytest.raises(ReadError, match="no areas inside the image"):
        read_labels(lines, shape=(10, 10))
    outside = write_rois(tmp_path / "out.zip", ImagejRoi.frompoints([[20, 20], [25, 20], [25, 25]]))
    with pytest.raises(ReadError, match="no areas inside the image"):
        read_labels(outside, shape=(10, 10))
    (tmp_path / "junk.zip").write_bytes(b"PK not really")
    with pytest.raises(ReadError, match="cannot read labels"):
        read_labels(tmp_path / "junk.zip", shape=(10, 10))
    with pytest.raises(ReadError, match="no such file"):
        read_labels(tmp_path / "none.zip", shape=(10, 10))


@pytest.mark.parametrize("given, nm", [(20, 20.0), (12.5, 12.5), ("0.02um", 20.0), ("12 nm/px", 12.0),
                                       ("80 px/um", 12.5)])
def test_an_image_of_ones_own_takes_its_pixel_size_as_a_user_gives_it(given, nm):
    # SEMImage(array, 20) failed later, deep in the analysis: "'int' object has no attribute 'nm'"
    image = SEMImage(np.zeros((16, 16), np.uint8), given)
    assert image.pixel_size == PixelSize(pytest.approx(nm), "argument")
    assert SEMImage(np.zeros((16, 16), np.uint8), None).pixel_size == PixelSize(None, "none")


def test_an_image_of_ones_own_refuses_a_pixel_size_no_sem_gives():
    with pytest.raises(CalibrationError, match="outside what an SEM gives"):
        SEMImage(np.zeros((16, 16), np.uint8), 0.02)  # meant in µm


def test_an_image_or_pair_of_ones_own_refuses_a_pixel_size_made_by_hand_that_no_sem_gives():
    """A PixelSize made by hand was taken as it was: PixelSize(2e-8, ...) (metres) sized
    the particles a billion times small, and PixelSize(-5, ...) failed in the measuring,
    naming an argument no one gave."""
    from ddcsem.pair import SEMPair

    data = np.zeros((16, 16), np.uint8)
    with pytest.raises(CalibrationError, match=r"^PixelSize.nm=2e-08 lies outside the pixel sizes an SEM gives "
                                               r"\(0.1 nm to 100 µm\) \(PixelSize.nm is in nanometres: 2e-08 m is "
                                               r"PixelSize.nm=20\)"):
        SEMImage(data, PixelSize(2e-8, "mine"))
    with pytest.raises(ParameterError, match="^PixelSize.nm must be a finite number above 0, not -5"):
        SEMImage(data, PixelSize(-5, "mine"))
    assert SEMImage(data, PixelSize(20, "mine")).pixel_size == PixelSize(20.0, "mine")  # its source kept
    assert SEMImage(data, PixelSize(None, "mine")).pixel_size == PixelSize(None, "mine")
    image = SEMImage(data, 20)
    with pytest.raises(CalibrationError, match="^PixelSize.nm=2e-08 lies outside"):
        SEMPair("p", image, image, PixelSize(2e-8, "mine"))
    # a pair takes its size as an image does: SEMPair(..., 20) failed in the analysis (no .nm)
    assert SEMPair("p", image, image, 20).pixel_size == PixelSize(20.0, "argument")
    assert SEMPair("p", image, image, "12 nm/px").pixel_size == PixelSize(12.0, "argument")


def test_a_pixel_size_given_over_the_files_own_is_warned_about(tmp_path):
    # one --pixel-size for a folder of several magnifications sized all but one wrong, unsaid
    from ddcsem.read import OverriddenCalibrationWarning

    tifffile.imwrite(tmp_path / "c.tif", noise_image((40, 50)), imagej=True, resolution=(1 / 0.012, 1 / 0.012),
                     metadata={"unit": "um"})
    tifffile.imwrite(tmp_path / "u.tif", noise_image((40, 50)))
    with pytest.warns(OverriddenCalibrationWarning, match=r"c.tif: the pixel size given \(argument\), 20 nm, "
                      r"overrides the file's own, 12 nm \(imagej:resolution\+unit\): every size is 1.67 times"):
        assert read_sem(tmp_path / "c.tif", pixel_size="20nm").pixel_size == PixelSize(20.0, "argument")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_sem(tmp_path / "c.tif", pixel_size="12.2nm")  # within 2 %: the same, rounded
        read_sem(tmp_path / "u.tif", pixel_size="20nm")  # no size of its own to override


@pytest.mark.parametrize("metadata, nm", [
    ({"PhysicalSizeX": 0.0125, "PhysicalSizeY": 0.0125}, 12.5),  # µm, OME's default unit
    ({"PhysicalSizeX": 12.5, "PhysicalSizeXUnit": "nm", "PhysicalSizeY": 12.5, "PhysicalSizeYUnit": "nm"}, 12.5),
    ({"PhysicalSizeX": 2.0, "PhysicalSizeXUnit": "pixel"}, None),  # no length
    ({}, None),
])
def test_an_ome_tiff_is_calibrated_by_its_physical_size(tmp_path, metadata, nm):
    # as Bio-Formats, QuPath or napari export a micrograph: it was read uncalibrated
    tifffile.imwrite(tmp_path / "x.ome.tif", noise_image((40, 50)), ome=True, metadata=metadata)
    img = read_sem(tmp_path / "x.ome.tif")
    assert img.pixel_size == (PixelSize(pytest.approx(nm), "ome:PhysicalSizeX") if nm else PixelSize(None, "none"))
    assert img.vendor == ("ome" if nm else "generic")


def test_an_ome_tiffs_pixels_that_are_not_square_are_warned_about(tmp_path):
    tifffile.imwrite(tmp_path / "x.ome.tif", noise_image((40, 50)), ome=True,
                     metadata={"PhysicalSizeX": 12.5, "PhysicalSizeXUnit": "nm",
                               "PhysicalSizeY": 14.0, "PhysicalSizeYUnit": "nm"})
    with pytest.warns(UserWarning, match=r"not square \(12.5 nm wide, 14 nm high\)"):
        read_sem(tmp_path / "x.ome.tif")


def test_a_grey_tiff_with_an_alpha_channel_reads_as_its_grey(tmp_path):
    # as GIMP exports an image that has a layer's alpha: it was "an array of shape (40, 50, 2)"
    grey, alpha = noise_image((40, 50)), np.full((40, 50), 255, np.uint8)
    tifffile.imwrite(tmp_path / "x.tif", np.dstack([grey, alpha]), photometric="minisblack",
                     extrasamples=["unassalpha"])
    np.testing.assert_array_equal(read_sem(tmp_path / "x.tif", crop_databar="off").data, grey)


@pytest.mark.parametrize("resolution, unit, said",
                         [((1e-9, 1e-9), "micron", "1e\\+06 mm"), ((50, 50), "A", "0.002 nm")])
def test_a_pixel_size_in_the_metadata_that_no_sem_gives_is_no_calibration(tmp_path, resolution, unit, said):
    """A resolution tag of another meaning, or a unit lost (Ångström read as "A"): a metre a
    pixel was taken as it stood, and every size with it."""
    tifffile.imwrite(tmp_path / "r.tif", noise_image((32, 32)), imagej=True, resolution=resolution,
                     metadata={"unit": unit})
    with pytest.warns(UserWarning, match=rf"r.tif: its metadata gives a pixel size of {said} "
                                         r"\(imagej:resolution\+unit\), outside what an SEM gives \(0.1 nm to "
                                         r"100 µm\): taken as uncalibrated; give the pixel size"):
        assert not read_sem(tmp_path / "r.tif").pixel_size.calibrated
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # given, the size is the one given, and no file's size is overridden
        assert read_sem(tmp_path / "r.tif", pixel_size="10nm").pixel_size.nm == 10.0


def test_a_path_that_is_none_is_named(tmp_path):
    """``read_sem(None)`` raised pathlib's TypeError, and an array (an image already read)
    the same; a bytes path (``os.listdir(b".")``) is read as its name."""
    syn = make_pair(shape=(64, 64), n_particles=3, seed=1)
    tifffile.imwrite(tmp_path / "x_BSE.tif", syn.bse)
    assert read_sem(os.fsencode(tmp_path / "x_BSE.tif")).shape == (64, 64)
    with pytest.raises(ParameterError, match=r"^path must be a file's path \(a str or a Path\), not NoneType$"):
        read_sem(None)
    with pytest.raises(ParameterError, match=r"not ndarray \(an image already read is given as SEMImage\(array, "):
        read_composite(syn.bse)


def test_an_semimage_of_nested_lists_holds_their_array():
    """``SEMImage([[...], ...])`` was kept as a list, and its analysis failed on
    "'list' object has no attribute 'shape'"."""
    from ddcsem.analyze import analyze_single

    rows = make_pair(shape=(64, 64), n_particles=4, seed=2).bse.tolist()
    image = SEMImage(rows, "20nm")
    assert isinstance(image.data, np.ndarray) and image.shape == (64, 64) and image.data.dtype.kind == "i"
    assert analyze_single(image).labels.shape == (64, 64)
