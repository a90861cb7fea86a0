"""Pairing by detector token, metadata and page names; checks; registration."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import tifffile
from conftest import noise_image, write_fei
from scipy import ndimage

from ddcsem.detectors import detector_role, split_detector_token
from ddcsem.errors import PairingError, ParameterError
from ddcsem.pair import _pair_images, distinct_ids, estimate_shift, find_pairs, read_pair
from ddcsem.read import PixelSize, SEMImage
from ddcsem.synthetic import make_pair


@pytest.mark.parametrize(
    ("stem", "key", "role"),
    [
        ("aorta_ROI1_InLens_001", "aorta_roi1_001", "SE"),
        ("aorta_ROI1_EsB_001", "aorta_roi1_001", "BSE"),
        ("Valve-2-se", "valve-2", "SE"),
        ("valve-2-BSE", "valve-2", "BSE"),
        ("sample 4 In-Lens", "sample 4", "SE"),
        ("sample 4 4QBSD", "sample 4", "BSE"),
        ("x.SE(U)", "x", "SE"),
        ("x.YAG", "x", "BSE"),
        ("cbs_scan", "scan", "BSE"),
        ("img-HE-SE2", "img", "SE"),
        # Zeiss's quadrant, annular and HD BSDs, Thermo's gaseous BSE detector, and the
        # low-vacuum SE detectors of Zeiss and Thermo: each file was left unpaired
        ("sample_QBSD", "sample", "BSE"), ("x_aBSD_01", "x_01", "BSE"), ("x_HDBSD", "x", "BSE"),
        ("x_GAD", "x", "BSE"), ("x_C2D", "x", "SE"), ("x_LVD", "x", "SE"), ("x_GSED", "x", "SE"),
    ],
)
def test_detector_token(stem, key, role):
    assert split_detector_token(stem)[:2] == (key, role)


@pytest.mark.parametrize("stem", ["session_01", "sesame", "absent", "base_image", "inlensx"])
def test_token_must_be_delimited(stem):
    assert split_detector_token(stem) is None


def test_custom_tokens():
    assert split_detector_token("a_chanA", se_tokens=("chanA",), bse_tokens=("chanB",)) == ("a", "SE", "chanA")


@pytest.mark.parametrize(("name", "role"), [("InLens", "SE"), ("ESB", "BSE"), ("AsB4 Ch1", "BSE"),
                                            ("HE-SE2", "SE"), ("COMPO", "BSE"), ("ETD (BSE)", "BSE"),
                                            ("In-Beam SE", "SE"), ("In-Beam BSE", "BSE"),  # TESCAN's
                                            ("Mirror", None), (None, None)])
def test_detector_role(name, role):
    assert detector_role(name) == role


def touch(folder, *names):
    for name in names:
        (folder / name).write_bytes(b"")


def test_groups_pairs_case_insensitively_and_reports_unpaired(tmp_path):
    touch(tmp_path, "A1_InLens.tif", "a1_ESB.TIF", "b2_SE2.tif", "b2_AsB.tif", "lonely_SE.tif", "notes.txt")
    result = find_pairs([tmp_path], use_metadata=False)
    assert [(p.key, p.se.name, p.bse.name) for p in result.pairs] == [
        ("a1", "A1_InLens.tif", "a1_ESB.TIF"), ("b2", "b2_SE2.tif", "b2_AsB.tif")]
    assert [p.name for p in result.unpaired] == ["lonely_SE.tif"]
    assert result.problems == ()


def test_a_folder_given_alone_is_one_folder_not_its_letters(tmp_path):
    """find_pairs("data") took the string for a list of paths, and failed on "d: no such
    file or folder"; a Path failed as not iterable. One path is now a list of one."""
    (tmp_path / "out").mkdir()
    touch(tmp_path, "a1_InLens.tif", "a1_EsB.tif", "out/b_SE.tif", "out/b_BSE.tif")
    for given in (str(tmp_path), tmp_path):
        result = find_pairs(given, use_metadata=False, exclude=tmp_path / "out")
        assert [(p.key, p.se.name, p.bse.name) for p in result.pairs] == [("a1", "a1_InLens.tif", "a1_EsB.tif")]
    assert len(find_pairs(str(tmp_path / "out"), use_metadata=False).pairs) == 1


def test_two_candidates_for_one_partner_are_refused_by_name(tmp_path):
    touch(tmp_path, "s_SE.tif", "s_BSE.tif", "s_EsB.tif")
    result = find_pairs([tmp_path], use_metadata=False)
    assert result.pairs == ()
    (key, message), = result.problems
    assert key == "s" and "2 BSE candidates" in message
    assert "s_BSE.tif" in message and "s_EsB.tif" in message


def test_same_names_in_two_folders_pair_in_each_and_get_distinct_keys(tmp_path):
    for session in ("p1", "p2"):
        (tmp_path / session).mkdir()
        touch(tmp_path / session, "valve_InLens.tif", "valve_EsB.tif")
    (tmp_path / "p3").mkdir()
    touch(tmp_path / "p3", "valve_InLens.tif")  # a lone side stays unpaired
    result = find_pairs([tmp_path / "p1", tmp_path / "p2", tmp_path / "p3"], use_metadata=False)
    assert [(p.key, p.se.parent.name, p.bse.parent.name) for p in result.pairs] == [
        ("p1_valve", "p1", "p1"), ("p2_valve", "p2", "p2")]
    assert [(p.parent.name, p.name) for p in result.unpaired] == [("p3", "valve_InLens.tif")]
    assert result.problems == ()


def test_a_folder_named_twice_pairs_as_once(tmp_path):
    (tmp_path / "d").mkdir()
    touch(tmp_path / "d", "valve_InLens.tif", "valve_EsB.tif")
    again = tmp_path / "d" / ".." / "d"  # a second spelling of the folder, and one of its files
    result = find_pairs([tmp_path / "d", again, again / "valve_EsB.tif"], use_metadata=False)
    assert [(p.key, p.se.name, p.bse.name) for p in result.pairs] == [("valve", "valve_InLens.tif", "valve_EsB.tif")]
    assert result.problems == () and result.unpaired == ()


def test_sides_in_two_folders_still_pair_and_unresolved_ones_are_refused(tmp_path):
    for side, name in (("SE", "a_InLens.tif"), ("BSE", "a_EsB.tif")):
        (tmp_path / "s1" / side).mkdir(parents=True)
        touch(tmp_path / "s1" / side, name)
    result = find_pairs([tmp_path / "s1" / "SE", tmp_path / "s1" / "BSE"], use_metadata=False)
    assert [(p.key, p.se.parent.name, p.bse.parent.name) for p in result.pairs] == [("a", "SE", "BSE")]
    # two such sessions: no folder holds both sides, so which SE goes with which BSE is unknown
    for side, name in (("SE", "a_InLens.tif"), ("BSE", "a_EsB.tif")):
        (tmp_path / "s2" / side).mkdir(parents=True)
        touch(tmp_path / "s2" / side, name)
    result = find_pairs([tmp_path / s / side for s in ("s1", "s2") for side in ("SE", "BSE")],
                        use_metadata=False)
    assert result.pairs == ()
    (key, message), = result.problems
    assert key == "a" and "2 SE candidates" in message


def test_distinct_ids_part_shared_names_only(tmp_path):
    paths = [tmp_path / "a" / "x" / "v.tif", tmp_path / "b" / "x" / "v.tif", tmp_path / "a" / "w.tif",
             tmp_path / "c" / "x_v.tif", tmp_path / "d" / "u.tif", tmp_path / "d" / "u.TIF"]
    names = ["v", "v", "w", "x_v", "u", "u"]
    # the last folder parts "x" do not part the two v's, so two parts are taken; u is in
    # one folder twice (a case-sensitive file system), so the endings do not part them either
    assert distinct_ids(names, paths) == ["a_x_v", "b_x_v", "w", "x_v", "u_1", "u_2"]
    # a made name that another field has as its own is numbered on
    assert distinct_ids(["v", "v", "p_v"], [tmp_path / "p" / "v.tif", tmp_path / "q" / "v.tif",
                                            tmp_path / "p_v.tif"]) == ["p_v_2", "q_v", "p_v"]


def test_excluded_folder_is_not_searched(tmp_path):
    touch(tmp_path, "a_SE.tif", "a_BSE.tif")
    (tmp_path / "out").mkdir()
    touch(tmp_path / "out", "b_SE.tif", "b_BSE.tif")
    result = find_pairs([tmp_path, tmp_path / "out"], exclude=[tmp_path / "out"], use_metadata=False)
    assert [p.key for p in result.pairs] == ["a"]


def test_metadata_detector_places_file_without_token(tmp_path):
    write_fei(tmp_path / "field7_a.tif", noise_image(), pixel_m=1e-8, rows=64, name="TLD", mode="SE")
    write_fei(tmp_path / "field7_b.tif", noise_image(), pixel_m=1e-8, rows=64, name="CBS", mode="BSE")
    # names differ, so each is placed by metadata but has no partner of the same key
    result = find_pairs([tmp_path])
    assert result.pairs == () and len(result.unpaired) == 2
    write_fei(tmp_path / "field8.tif", noise_image(), pixel_m=1e-8, rows=64, name="CBS", mode="BSE")
    tifffile.imwrite(tmp_path / "field8_SE.tif", noise_image())
    result = find_pairs([tmp_path])
    assert [(p.key, p.se.name, p.bse.name) for p in result.pairs] == [("field8", "field8_SE.tif", "field8.tif")]


def fiji_merge(path, bse, se, luts, labels=None):
    """A two-channel composite as Fiji's Merge Channels saves it (C1, C2 with their LUTs)."""
    tables = []
    for rgb in luts:
        lut = np.zeros((3, 256), np.uint8)
        for k, on in enumerate(rgb):
            lut[k] = np.arange(256) * on
        tables.append(lut)
    metadata = {"axes": "CYX", "mode": "composite", "LUTs": tables, **({"Labels": labels} if labels else {})}
    tifffile.imwrite(path, np.stack([bse, se]), imagej=True, metadata=metadata)
    return path


def test_a_fiji_merge_channels_composite_is_a_pair(tmp_path):
    """Merge Channels (with Create composite) keeps the two images as channels, named by
    their source images' titles and coloured by their LUTs: the DDC workflow in Fiji. Such
    a file was "2 images where one micrograph was expected"."""
    syn = make_pair(shape=(96, 96), n_particles=6, seed=2)
    fiji_merge(tmp_path / "titled.tif", syn.bse, syn.se, [(1, 0, 0), (0, 1, 0)],
               labels=["valve_EsB.tif", "valve_InLens.tif"])
    fiji_merge(tmp_path / "red_green.tif", syn.bse, syn.se, [(1, 0, 0), (0, 1, 0)])
    fiji_merge(tmp_path / "green_magenta.tif", syn.se, syn.bse, [(0, 1, 0), (1, 0, 1)])  # BSE second
    fiji_merge(tmp_path / "grey.tif", syn.bse, syn.se, [(1, 1, 1), (1, 1, 1)])  # no colour tells them apart
    result = find_pairs([tmp_path])
    assert {(p.key, p.se_page, p.bse_page) for p in result.pairs} == {
        ("titled", 1, 0), ("red_green", 1, 0), ("green_magenta", 0, 1)}
    assert [p.name for p in result.unpaired] == ["grey.tif"]
    pair = read_pair(next(p for p in result.pairs if p.key == "green_magenta"), register=False)
    np.testing.assert_array_equal(pair.bse.data, syn.bse)
    np.testing.assert_array_equal(pair.se.data, syn.se)


def test_two_page_tiff_holding_both_channels(tmp_path):
    pair = make_pair(shape=(64, 64), seed=1)
    with tifffile.TiffWriter(tmp_path / "both.tif") as tif:
        tif.write(pair.bse, extratags=[(285, "s", 0, "BSE", True)])
        tif.write(pair.se, extratags=[(285, "s", 0, "InLens", True)])
    result = find_pairs([tmp_path])
    (p,) = result.pairs
    assert (p.key, p.se_page, p.bse_page) == ("both", 1, 0)
    images = read_pair(p, register=False)
    np.testing.assert_array_equal(images.se.data, pair.se)
    np.testing.assert_array_equal(images.bse.data, pair.bse)


def test_two_page_tiff_whose_last_page_points_back_to_itself(tmp_path):
    """A damaged file whose last image directory names itself as the next: iterating
    tifffile's pages never ended, and finding pairs in its folder hung."""
    import struct

    from ddcsem.errors import UnsupportedFormatError
    from ddcsem.read import read_sem

    pair = make_pair(shape=(64, 64), seed=1)
    path = tmp_path / "both.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(pair.bse, extratags=[(285, "s", 0, "BSE", True)])
        tif.write(pair.se, extratags=[(285, "s", 0, "InLens", True)])
    with tifffile.TiffFile(path) as tif:
        last = tif.pages[1].offset
    data = bytearray(path.read_bytes())
    (entries,) = struct.unpack_from("<H", data, last)
    struct.pack_into("<I", data, last + 2 + 12 * entries, last)
    path.write_bytes(bytes(data))
    (p,) = find_pairs([tmp_path]).pairs
    assert (p.se_page, p.bse_page) == (1, 0)
    with pytest.warns(UserWarning, match=r"both.tif: tifffile: invalid circular reference to IFD 1 at"):
        np.testing.assert_array_equal(read_pair(p, register=False).se.data, pair.se)
    with pytest.raises(UnsupportedFormatError, match="holds 2 images"):
        read_sem(path)


def write_pair(folder, se, bse, *, se_um=0.02, bse_um=0.02):
    paths = []
    for name, data, um in (("f_SE.tif", se, se_um), ("f_BSE.tif", bse, bse_um)):
        kwargs = {} if um is None else dict(imagej=True, resolution=(1 / um, 1 / um), metadata={"unit": "um"})
        tifffile.imwrite(folder / name, data, **kwargs)
        paths.append(folder / name)
    return paths


def test_shape_mismatch_names_both_files(tmp_path):
    se, bse = write_pair(tmp_path, noise_image((64, 64)), noise_image((64, 60)))
    with pytest.raises(PairingError, match="shape") as err:
        read_pair(se, bse)
    assert "f_SE.tif" in str(err.value) and "f_BSE.tif" in str(err.value)


def test_shape_mismatch_says_what_likely_caused_it(tmp_path):
    """The field stored at two resolutions got "pair images of the same frame size", which
    said nothing of the fix; a data bar found in one image only is cropped from both."""
    se, bse = write_pair(tmp_path, noise_image((64, 80)), noise_image((32, 40)), bse_um=0.04)
    with pytest.raises(PairingError, match=r"the BSE image may hold the field at 0\.5 of the SE image's resolution"):
        read_pair(se, bse)
    # a few pixels fewer: a crop, not a resolution of 0.997 as it had been called
    se, bse = write_pair(tmp_path, noise_image((300, 300)), noise_image((298, 299)))
    with pytest.raises(PairingError, match=r"\(they differ by 2 rows and 1 column: one was cropped, or trimmed where "
                                           r"it was registered; crop both to the field they share"):
        read_pair(se, bse)
    se, bse = write_pair(tmp_path, noise_image((300, 300)), noise_image((300, 297)))
    with pytest.raises(PairingError, match=r"\(they differ by 3 columns: one was cropped"):
        read_pair(se, bse)
    syn = make_pair((128, 128), databar=True, seed=2)  # the bar in both; the BSE one's metadata gives it
    write_fei(tmp_path / "g_BSE.tif", syn.bse, pixel_m=2e-8, rows=128, name="CBS", mode="BSE")
    se = syn.se.copy()
    se[128:] = noise_image(se[128:].shape)  # a bar that detection does not see (a photo of the sample in it)
    tifffile.imwrite(tmp_path / "g_SE.tif", se)
    # the bar is in both: cropped from both, said (it had been refused, with a hint to give its rows)
    with pytest.warns(UserWarning, match=rf"g_BSE.tif: a data bar of {syn.databar_rows} rows was found in it, "
                                         rf"not in .*g_SE.tif, which shows the same frame: {syn.databar_rows} "
                                         "cropped from both"):
        pair = read_pair(tmp_path / "g_SE.tif", tmp_path / "g_BSE.tif", crop_databar="auto")
    np.testing.assert_array_equal(pair.se.data, syn.se[:128])
    assert pair.se.databar_rows == pair.bse.databar_rows == syn.databar_rows
    assert read_pair(tmp_path / "g_SE.tif", tmp_path / "g_BSE.tif", crop_databar="off").se.data.shape == se.shape
    write_fei(tmp_path / "h_SE.tif", syn.se, pixel_m=2e-8, rows=120, name="ETD", mode="SE")  # a taller bar in one
    write_fei(tmp_path / "h_BSE.tif", syn.bse, pixel_m=2e-8, rows=128, name="CBS", mode="BSE")
    with pytest.warns(UserWarning, match=rf"h_SE.tif: a data bar of {syn.databar_rows + 8} rows was found in it, "
                                         rf"of {syn.databar_rows} in .*h_BSE.tif, which shows the same frame"):
        assert read_pair(tmp_path / "h_SE.tif", tmp_path / "h_BSE.tif").bse.data.shape == (120, 128)


def test_one_image_given_as_both_is_refused(tmp_path):
    # the SE file copied under the BSE name (or exported twice) had been coloured and
    # analysed with the SE image as the density, unsaid; as arrays, too
    image = noise_image((64, 64))
    se, bse = write_pair(tmp_path, image, image.copy())
    with pytest.raises(PairingError, match=r"SE and BSE hold the same pixels \(.*f_SE.tif and .*f_BSE.tif\): one image "
                                           "given as both .give the field's other detector's image"):
        read_pair(se, bse)
    with pytest.raises(PairingError, match="the SE image and the BSE image"):
        _pair_images("f", SEMImage(image), SEMImage(image.copy()))
    _pair_images("f", SEMImage(image), SEMImage(noise_image((64, 64), seed=1)), register=False)  # a pair


def test_pixel_size_mismatch_is_refused(tmp_path):
    se, bse = write_pair(tmp_path, noise_image(), noise_image(seed=1), bse_um=0.04)
    with pytest.raises(PairingError, match="pixel sizes disagree"):
        read_pair(se, bse)
    from ddcsem.read import OverriddenCalibrationWarning

    with pytest.warns(OverriddenCalibrationWarning, match="5 nm, overrides the file's own"):
        assert read_pair(se, bse, pixel_size="5nm", register=False).pixel_size.nm == 5.0  # an override settles it


def test_calibration_of_one_channel_serves_both(tmp_path):
    se, bse = write_pair(tmp_path, noise_image(), noise_image(seed=1), se_um=None, bse_um=0.03)
    pair = read_pair(se, bse, register=False)
    assert pair.pixel_size.nm == pytest.approx(30.0)
    assert pair.pixel_size.source == "imagej:resolution+unit"


def test_swapped_roles_warn(tmp_path):
    tifffile.imwrite(tmp_path / "x_BSE.tif", noise_image())
    tifffile.imwrite(tmp_path / "x_SE.tif", noise_image(seed=1))
    with pytest.warns(UserWarning) as caught:
        read_pair(tmp_path / "x_BSE.tif", tmp_path / "x_SE.tif", register=False)
    messages = " | ".join(str(w.message) for w in caught)
    assert "x_BSE.tif: used as the SE channel" in messages
    assert "x_SE.tif: used as the BSE channel" in messages


@pytest.mark.parametrize("true_shift", [(3.4, -2.2), (-0.3, 0.8), (0.0, 0.0)])
def test_estimate_shift_across_contrast(true_shift):
    pair = make_pair(shape=(256, 256), n_particles=60, seed=7)
    bse = ndimage.shift(pair.bse.astype(np.float32), true_shift, order=3, mode="nearest")
    est = estimate_shift(pair.se, bse)
    assert est == pytest.approx((-true_shift[0], -true_shift[1]), abs=0.2)


def test_estimate_shift_takes_images_only():
    # a 1-D array raised an IndexError from inside the correlation
    with pytest.raises(ParameterError, match=r"reference must be a 2-D grey image, got shape \(10,\)"):
        estimate_shift(np.zeros(10), np.zeros(10))


def test_read_pair_applies_large_shift(tmp_path):
    pair = make_pair(shape=(200, 200), n_particles=50, seed=8)
    moved = ndimage.shift(pair.bse.astype(np.float32), (4.0, -3.0), order=3, mode="nearest")
    se, bse = write_pair(tmp_path, pair.se, moved)
    images = read_pair(se, bse)
    assert images.shift_applied
    assert images.shift == pytest.approx((-4.0, 3.0), abs=0.25)
    inner = (slice(10, -10), slice(10, -10))
    err_before = np.abs(moved[inner] - pair.bse[inner]).mean()
    err_after = np.abs(images.bse.data[inner] - pair.bse[inner]).mean()
    assert err_after < 0.3 * err_before


def test_shift_the_halves_disagree_on_is_recorded_not_applied(tmp_path):
    """Left half moved down, right half up: the field has no one shift, so the shift found
    is recorded with a warning and the BSE is left as it was."""
    texture = ndimage.gaussian_filter(np.random.default_rng(4).random((160, 160)), 2)
    se = (texture * 60000).astype(np.uint16)
    bse = se.copy()
    bse[:, :80] = np.roll(se[:, :80], 5, axis=0)
    bse[:, 80:] = np.roll(se[:, 80:], -5, axis=0)
    se_path, bse_path = write_pair(tmp_path, se, bse)
    with pytest.warns(UserWarning, match="two halves of the field disagree") as caught:
        images = read_pair(se_path, bse_path)
    assert not images.shift_applied
    assert abs(images.shift[0]) > 3
    # the shift as it is recorded, to a hundredth of a pixel
    message = next(str(w.message) for w in caught if "halves" in str(w.message))
    assert f"shifted by ({images.shift[0]:.2f}, {images.shift[1]:.2f}) px (rows, columns)" in message
    np.testing.assert_array_equal(images.bse.data, bse)


def test_small_shift_recorded_not_applied(tmp_path):
    pair = make_pair(shape=(128, 128), seed=9)
    se, bse = write_pair(tmp_path, pair.se, pair.bse)
    images = read_pair(se, bse)
    assert not images.shift_applied
    assert max(map(abs, images.shift)) <= 0.5
    np.testing.assert_array_equal(images.bse.data, pair.bse)


def test_pair_table_in_excel_s_dialects(tmp_path):
    """Comma, semicolon (Excel in a locale with decimal commas) and tab, with Excel's
    byte-order mark; paths from the table's folder; an id, else the SE file's name without
    its token; other columns ignored; blank rows skipped."""
    from ddcsem.pair import read_pair_table

    rows = [["id", "SE", "BSE", "note"], ["valve A", "raw/img_0001.tif", "raw/img_0002.tif", "first"],
            [], ["", "raw/aorta_InLens.tif", "/abs/aorta_EsB.tif", ""]]
    for delimiter in (",", ";", "\t"):
        table = tmp_path / f"pairs{ord(delimiter)}.csv"
        table.write_text("\n".join(delimiter.join(r) for r in rows) + "\n", encoding="utf-8-sig")
        pairs = read_pair_table(table)
        assert [(p.key, p.se, p.bse) for p in pairs] == [
            ("valve A", tmp_path / "raw/img_0001.tif", tmp_path / "raw/img_0002.tif"),
            ("aorta", tmp_path / "raw/aorta_InLens.tif", Path("/abs/aorta_EsB.tif"))], delimiter
    # Excel's plain "CSV" on Windows is in its code page, not UTF-8
    (tmp_path / "cp.csv").write_bytes("id;se;bse\nMüller 3;müller/a_SE.tif;müller/a_BSE.tif\n".encode("cp1252"))
    (pair,) = read_pair_table(tmp_path / "cp.csv")
    assert (pair.key, pair.se) == ("Müller 3", tmp_path / "müller" / "a_SE.tif")
    # Excel's "Unicode Text" is UTF-16, tab-separated: it read as "ÿþs\x00e\x00", no header
    unicode_text = "id\tse\tbse\r\nMüller 3\tmüller/a_SE.tif\tmüller/a_BSE.tif\r\n"
    (tmp_path / "u.txt").write_bytes(unicode_text.encode("utf-16"))
    (pair,) = read_pair_table(tmp_path / "u.txt")
    assert (pair.key, pair.se) == ("Müller 3", tmp_path / "müller" / "a_SE.tif")
    # made on Windows, read elsewhere: its backslashes are separators where the files are so
    (tmp_path / "raw").mkdir()
    for name in ("img_0001.tif", "img_0002.tif"):
        (tmp_path / "raw" / name).write_bytes(b"")
    (tmp_path / "win.csv").write_text("se,bse\nraw\\img_0001.tif,raw\\img_0002.tif\n", encoding="utf-8")
    (pair,) = read_pair_table(tmp_path / "win.csv")
    assert (pair.key, pair.se, pair.bse) == ("img_0001", tmp_path / "raw" / "img_0001.tif",
                                             tmp_path / "raw" / "img_0002.tif")


@pytest.mark.parametrize("text, message", [
    ("id,se\nx,a.tif\n", "needs a header naming the columns se and bse"),
    ("se,bse\na.tif,\n", "row 2 lacks its bse file"),
    ("se,bse\na.tif,a.tif\n", "row 2 names a.tif as both images"),
    ("id,se,bse\nx,a.tif,b.tif\nx,c.tif,d.tif\n", "rows 2 and 3 share the id x"),
    ("se,bse\n", "lists no pairs"),
    ("se,bse,pixel_size\na.tif,b.tif,0.02\n", "row 2: pixel size '0.02' is 0.02 nm, outside what an SEM gives"),
    ("id,se,bse\nvalve/A,a.tif,b.tif\n", "row 2: the id 'valve/A' cannot name the pair's output folder"),
    ("id,se,bse\n..,a.tif,b.tif\n", "the id '..' cannot name"),
    ("id,se,bse\nx:1,a.tif,b.tif\n", "the id 'x:1' cannot name"),
    # a column misspelt was ignored: the pairs read uncalibrated, unsaid
    ("se,bse,pixelsize\na.tif,b.tif,20nm\n", r"the pair table's column 'pixelsize' is none that it reads: did you "
                                               r"mean pixel_size\? \(its columns: id, image_id, se, bse, pixel_size"),
    ("se,bse,Pixel Size nmm\na.tif,b.tif,20nm\n", "column 'pixel_size_nmm' .* did you mean pixel_size_nm"),
])
def test_pair_table_mistakes_name_the_table_and_row(tmp_path, text, message):
    from ddcsem.pair import read_pair_table

    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(PairingError, match=message) as err:
        read_pair_table(tmp_path / "t.csv")
    assert str(err.value).startswith(str(tmp_path / "t.csv"))


@pytest.mark.parametrize("header, value, nm", [("pixel_size", "20", 20.0), ("Pixel size (nm)", "20", 20.0),
                                              ("pixel-size [µm]", "0.02", 20.0), ("PIXEL_SIZE_UM", "20nm", 20.0),
                                              ("pixel_size_nm", "0.02um", 20.0)])
def test_a_pair_tables_columns_are_read_as_people_name_them(tmp_path, header, value, nm):
    """As Excel's users head them, and as ddcsem's own tables do (image_id,
    pixel_size_nm): such a column was ignored, the pairs uncalibrated. A unit in the
    column's name is the unit of a bare number under it; one in the cell wins."""
    from ddcsem.pair import read_pair_table

    (tmp_path / "t.csv").write_text(f"Image ID,SE,BSE,notes,{header}\nvalve,a.tif,b.tif,the second,{value}\n",
                                    encoding="utf-8")
    (pair,) = read_pair_table(tmp_path / "t.csv")
    assert (pair.key, pair.se.name, pair.bse.name, pair.pixel_size_nm) == ("valve", "a.tif", "b.tif",
                                                                          pytest.approx(nm))


def test_a_pixel_size_given_in_a_pair_table_calibrates_the_pair(tmp_path):
    """Exports without metadata often come at several magnifications: each row its own."""
    from ddcsem.pair import read_pair_table

    syn = make_pair(shape=(96, 96), n_particles=5, seed=2)
    tifffile.imwrite(tmp_path / "img_0001.tif", syn.se)
    tifffile.imwrite(tmp_path / "img_0002.tif", syn.bse)
    (tmp_path / "t.csv").write_text("se,bse,pixel_size\nimg_0001.tif,img_0002.tif,0.02um\nimg_0002.tif,img_0001.tif,\n")
    given, bare = read_pair_table(tmp_path / "t.csv")
    assert (given.pixel_size_nm, bare.pixel_size_nm) == (20.0, None)
    pair = read_pair(given, register=False)
    assert (pair.pixel_size.nm, pair.pixel_size.source, pair.se.pixel_size.source) == (20.0, "pair table", "pair table")
    assert read_pair(given, pixel_size="7nm", register=False).pixel_size == PixelSize(7.0, "argument")
    assert not read_pair(bare, register=False).pixel_size.calibrated


def test_detector_folders_pair_files_of_the_same_name(tmp_path):
    """Exports sorted into a folder per detector (SE/img001.tif, BSE/img001.tif), one set
    per session or not: the folder names the detector where the file's name and metadata
    do not. They were all left unpaired."""
    for session in ("s1", "s2"):
        for folder in ("SE", "EsB"):
            (tmp_path / session / folder).mkdir(parents=True)
            for name in ("img001.tif", "img002.tif"):
                (tmp_path / session / folder / name).write_bytes(b"")
        (tmp_path / session / "SE" / "extra.tif").write_bytes(b"")
    (tmp_path / "s1" / "SE" / "cut_BSE.tif").write_bytes(b"")  # its own token wins over its folder's
    result = find_pairs([tmp_path / "s1" / "SE", tmp_path / "s1" / "EsB"], use_metadata=False)
    assert [(p.key, p.se.parent.name, p.bse.parent.name) for p in result.pairs] == [
        ("img001", "SE", "EsB"), ("img002", "SE", "EsB")]
    assert sorted(p.name for p in result.unpaired) == ["cut_BSE.tif", "extra.tif"]
    both = find_pairs([tmp_path / s / f for s in ("s1", "s2") for f in ("SE", "EsB")], use_metadata=False)
    assert sorted((p.key, p.se.parts[-3], p.bse.parts[-3]) for p in both.pairs) == [
        ("s1_se_img001", "s1", "s1"), ("s1_se_img002", "s1", "s1"),
        ("s2_se_img001", "s2", "s2"), ("s2_se_img002", "s2", "s2")]
    assert not both.problems
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "img001.tif").write_bytes(b"")
    assert find_pairs([tmp_path / "images"], use_metadata=False).unpaired == (tmp_path / "images" / "img001.tif",)
    # a session's folder stands for its detector folders: nothing was found in it
    sessions = find_pairs([tmp_path / "s1", tmp_path / "s2"], use_metadata=False)
    assert sorted(p.key for p in sessions.pairs) == [p.key for p in both.pairs]
    (tmp_path / "s1" / "notes").mkdir()  # no detector's name: not searched
    (tmp_path / "s1" / "notes" / "img003_SE.tif").write_bytes(b"")
    assert find_pairs([tmp_path / "s1"], use_metadata=False).unpaired == (
        tmp_path / "s1" / "SE" / "cut_BSE.tif", tmp_path / "s1" / "SE" / "extra.tif")


def test_a_pair_tables_pixel_size_over_the_files_own_is_warned_about(tmp_path):
    from ddcsem.pair import read_pair_table
    from ddcsem.read import OverriddenCalibrationWarning

    for seed, side in enumerate(("SE", "BSE")):
        tifffile.imwrite(tmp_path / f"a_{side}.tif", noise_image((60, 60), seed=seed), imagej=True,
                         resolution=(1 / 0.012, 1 / 0.012), metadata={"unit": "um"})
    (tmp_path / "pairs.csv").write_text("se,bse,pixel_size\na_SE.tif,a_BSE.tif,20nm\n")
    (spec,) = read_pair_table(tmp_path / "pairs.csv")
    with pytest.warns(OverriddenCalibrationWarning, match=r"given \(pair table\), 20 nm, overrides the file's own, "
                      "12 nm") as caught:
        pair = read_pair(spec, register=False)
    assert pair.pixel_size.nm == 20.0 and len(caught) == 2  # each file named


def test_a_preferred_detector_chooses_among_several_of_one_side_in_each_folder(tmp_path):
    # a Zeiss session saved InLens, SE2 and EsB: every field was refused as "2 SE candidates"
    for folder in "abc":
        (tmp_path / folder).mkdir()
    touch(tmp_path / "a", "x_InLens.tif", "x_SE2.tif", "x_EsB.tif", "y_InLens.tif", "y_SE2.tif", "y_EsB.tif")
    touch(tmp_path / "b", "x_SE2.tif", "x_EsB.tif")  # a session without InLens: its SE2 serves
    assert not find_pairs([tmp_path / "a"], use_metadata=False).pairs
    result = find_pairs([tmp_path / "a", tmp_path / "b"], use_metadata=False, prefer=("inlens",))
    assert sorted((p.se.relative_to(tmp_path).as_posix(), p.bse.relative_to(tmp_path).as_posix())
                  for p in result.pairs) == [("a/x_InLens.tif", "a/x_EsB.tif"), ("a/y_InLens.tif", "a/y_EsB.tif"),
                                              ("b/x_SE2.tif", "b/x_EsB.tif")]
    assert not result.problems and not result.unpaired
    touch(tmp_path / "c", "z_InLens.tif", "z-InLens.tif", "z_EsB.tif")  # two of the preferred: still ambiguous
    assert find_pairs([tmp_path / "c"], use_metadata=False, prefer=("InLens",)).problems
    # a string is one detector, not its letters, as a path is one path
    assert find_pairs([tmp_path / "a", tmp_path / "b"], use_metadata=False, prefer="inlens") == result
    assert find_pairs(tmp_path / "a", use_metadata=False, se_tokens="InLens", bse_tokens="EsB") == find_pairs(
        tmp_path / "a", use_metadata=False, se_tokens=("InLens",), bse_tokens=("EsB",))


def test_names_that_are_not_utf8_stay_distinct_once_readable():
    # read as Windows-1252, b"caf\xe9" is "café": a field of that UTF-8 name must not share its id
    ids = distinct_ids(["café", "caf\udce9"], [Path("/d/a/café_SE.tif"), Path("/d/b/caf\udce9_SE.tif")])
    assert ids == ["a_café", "b_café"]
    assert distinct_ids(["x", "x"], [Path("/d/caf\udce9/x_SE.tif"), Path("/d/b/x_SE.tif")]) == ["café_x", "b_x"]


def test_long_names_are_cut_to_ids_that_leave_room_for_the_outputs_names():
    """An id starts its outputs' names (``<id>_r12c34_particles.csv``), which most file
    systems hold to 255 bytes: it is cut to MAX_ID_BYTES, not within a character, and two
    names alike in their first 200 bytes stay apart by their hashes."""
    from ddcsem.pair import MAX_ID_BYTES

    long, other, wide = "x" * 240, "x" * 239 + "y", "µ" * 150  # 300 bytes of UTF-8
    ids = distinct_ids([long, other, wide, "short"], [Path(f"/d/{i}_SE.tif") for i in range(4)])
    assert ids[3] == "short" and len(set(ids)) == 4
    assert all(len(i.encode("utf-8")) <= MAX_ID_BYTES for i in ids)
    assert re.fullmatch(r"x{191}_[0-9a-f]{8}", ids[0])
    assert re.fullmatch(r"µ{95}_[0-9a-f]{8}", ids[2])  # 191 bytes would split a µ: 190
    assert distinct_ids([long], [Path("/e/x_SE.tif")]) == ids[:1]  # the same name, the same id, run after run


def test_an_image_read_from_a_long_named_file_is_named_as_a_batch_names_it(tmp_path):
    """In Python too: a pair's key and a single image's or composite's id from a file
    named at 240 characters are cut as a batch's ids are, so that write_image_results can
    write their files (every one failed with "File name too long")."""
    from ddcsem.analyze import analyze_composite, analyze_single
    from ddcsem.colorize import colorize
    from ddcsem.pair import short_id
    from ddcsem.read import read_composite, read_sem
    from ddcsem.report import write_image_results

    syn, name = make_pair(shape=(96, 96), n_particles=6, seed=3), "field-" + "x" * 234
    for side, image in (("SE", syn.se), ("BSE", syn.bse)):
        tifffile.imwrite(tmp_path / f"{name}_{side}.tif", image)
    tifffile.imwrite(tmp_path / f"{name}.tif", colorize(syn.se, syn.bse), photometric="rgb")
    pair = read_pair(tmp_path / f"{name}_SE.tif", tmp_path / f"{name}_BSE.tif", pixel_size="20nm")
    single = analyze_single(read_sem(tmp_path / f"{name}_BSE.tif", pixel_size="20nm"))
    composite = analyze_composite(read_composite(tmp_path / f"{name}.tif", pixel_size="20nm"))
    assert (pair.key, single.image_id, composite.image_id) == (short_id(name), short_id(f"{name}_BSE"),
                                                                short_id(name))
    assert len(pair.key) == len(single.image_id) == len(composite.image_id) == 200
    for result in (single, composite):
        summary = write_image_results(result, tmp_path / "out", params_hash="t")
        assert (tmp_path / "out" / f"{result.image_id}_particles.csv").is_file()
        assert summary["image_id"] == result.image_id


def test_pairing_switches_are_true_or_false(tmp_path):
    """``use_metadata="no"`` and ``register="false"`` were true."""
    syn = make_pair(shape=(64, 64), n_particles=4, seed=1)
    with pytest.raises(ParameterError, match=r"^use_metadata must be True or False, not 'no'$"):
        find_pairs([tmp_path], use_metadata="no")
    pixel = PixelSize(20.0, "argument")
    with pytest.raises(ParameterError, match=r"^register must be True or False, not 'false'$"):
        _pair_images("x", SEMImage(syn.se, pixel), SEMImage(syn.bse, pixel), register="false")
    assert _pair_images("x", SEMImage(syn.se, pixel), SEMImage(syn.bse, pixel), register=0).shift == (0.0, 0.0)
