"""Scoring against ground truth: instance F1 and centroid detection scores."""

import numpy as np
import pytest

from ddcsem.errors import ParameterError
from ddcsem.evaluate import detection_scores, instance_errors, instance_f1, match_detections


def squares(shape=(40, 40), boxes=((5, 15, 5, 15), (20, 30, 20, 30))):
    lab = np.zeros(shape, int)
    for k, (r0, r1, c0, c1) in enumerate(boxes, 1):
        lab[r0:r1, c0:c1] = k
    return lab


def test_instance_f1_counts_matches_at_half_iou():
    truth = squares()
    assert instance_f1(truth, truth) == (1.0, 2, 2, 2)
    shifted = np.roll(truth, 4, axis=1)  # 10 x 10 squares moved 4 px: IoU 60 / 140 < 0.5
    assert instance_f1(shifted, truth)[3] == 0
    shifted = np.roll(truth, 3, axis=1)  # IoU 70 / 130 > 0.5
    assert instance_f1(shifted, truth)[3] == 2
    merged = np.where(truth > 0, 1, 0)  # one detection over both: IoU 100 / 200 with each
    f1, n_true, n_found, matched = instance_f1(merged, truth)
    assert (n_true, n_found, matched) == (2, 1, 1) and f1 == pytest.approx(2 / 3)


def test_instance_f1_frame_leaves_out_particles_cut_by_a_blank_outer_line():
    # hand-drawn masks that leave their outer line blank: the cut particle starts at row 1
    truth = squares(boxes=((1, 8, 10, 20), (20, 30, 20, 30)))
    found = squares(boxes=((20, 30, 20, 30),))  # the cut particle is not reported
    assert instance_f1(found, truth)[:2] == (pytest.approx(2 / 3), 2)
    assert instance_f1(found, truth, frame=2)[:2] == (1.0, 1)
    with pytest.raises(ParameterError, match="frame"):
        instance_f1(found, truth, frame=0)



def test_instance_errors_name_what_became_of_each_particle():
    # ten 10 x 10 squares, true; what was found of each
    boxes = [(5 + 20 * (k // 4), 15 + 20 * (k // 4), 5 + 20 * (k % 4), 15 + 20 * (k % 4)) for k in range(10)]
    boxes[1] = (5, 15, 15, 25)  # touches the first
    truth = squares((80, 80), boxes)
    found = truth.copy()
    found[truth == 2] = 1  # 1 and 2 in one: IoU 1/2 with each, so one of them matches
    found[truth == 3] = 0
    found[5:15, 45:48], found[5:15, 48:52], found[5:15, 52:55] = 30, 31, 32  # 3 cut in three
    found[truth == 4] = 0
    found[5:8, 65:68] = 40  # 4 found as a speck: 9 px of 100, missed
    found[23:38, 3:18] = 50  # 5 found 15 x 15: IoU 100 / 225, and mostly background: spurious too
    found[70:75, 70:75] = 99  # nothing there
    errors = instance_errors(found, truth)
    n_true, n_found, matched = instance_f1(found, truth)[1:]
    assert errors == dict(n_true=10, n_found=n_found, matched=matched, merged=1, split=1, missed=1,
                          misshapen=1, spurious=2)
    assert (n_true, matched) == (10, 6)  # 1 (or 2), 6-10 match
    assert instance_errors(truth, truth) == dict(n_true=10, n_found=10, matched=10, merged=0, split=0,
                                                 missed=0, misshapen=0, spurious=0)
    with pytest.raises(ParameterError, match="frame"):
        instance_errors(found, truth, frame=0)

def test_detection_scores_match_within_half_the_true_radius():
    labels = squares(boxes=((5, 15, 5, 15), (20, 30, 20, 30)))  # centroids (9.5, 9.5), (24.5, 24.5)
    centers = np.array([[9.5, 11.0], [24.5, 28.0]])  # 1.5 and 3.5 px off
    s = detection_scores(labels, centers, np.array([8.0, 8.0]))  # matches within 2 px
    assert (s.n_matched, s.f1) == (1, 0.5)
    assert s.median_ecd_error == pytest.approx(2 * np.sqrt(100 / np.pi) / 8 - 1)


def test_match_detections_names_the_pairs_that_detection_scores_counts():
    # particles 1 and 2 (centroids (9.5, 9.5), (24.5, 24.5)); 3 on the border; 4 a false one
    labels = squares(boxes=((5, 15, 5, 15), (20, 30, 20, 30), (0, 6, 32, 40), (33, 37, 3, 7)))
    centers = np.array([
        [2.5, 36.0],    # 0: cut by the frame: not scored
        [24.5, 26.0],   # 1: 1.5 px from particle 2
        [9.5, 14.0],    # 2: 4.5 px from particle 1: missed (the limit is 2 px)
        [24.0, 25.0],   # 3: 0.7 px from particle 2: nearer than sphere 1, so it takes it
        [9.5, 10.5],    # 4: 1 px from particle 1
    ])
    diameters = np.full(5, 8.0)
    sphere, label = match_detections(labels, centers, diameters)
    assert sorted(zip(sphere.tolist(), label.tolist())) == [(3, 2), (4, 1)]
    s = detection_scores(labels, centers, diameters)
    assert (s.n_true, s.n_found, s.n_matched) == (4, 3, 2)  # particle 3 on the border, 4 found nothing
    sphere, label = match_detections(labels, centers, diameters, ignore_border=False)
    assert sorted(zip(sphere.tolist(), label.tolist())) == [(0, 3), (3, 2), (4, 1)]
    none = match_detections(np.zeros((10, 10), int), centers, diameters)
    assert none[0].size == none[1].size == 0


@pytest.mark.parametrize(("call", "message"), [
    # each raised numpy's own error from inside (an IndexError, a TypeError, a broadcasting ValueError)
    (lambda lab: detection_scores(lab, np.array([[7, 7]]), np.array([5.0, 3.0])),
     "centers and diameters_px must be of one sphere each, not 1 centres and 2 diameters"),
    (lambda lab: detection_scores(lab.astype(float), np.array([[7, 7]]), np.array([5.0])),
     "labels must be an integer image, not float64"),
    (lambda lab: instance_f1(lab, lab[:10]), r"labels and truth must be of one shape, not \(32, 32\) and \(10, 32\)"),
    (lambda lab: instance_errors(lab, -lab), r"truth must not be negative"),
    # each scored silently: a NaN IoU matched every overlap (F1 1), one over 1 none, a NaN
    # centre or a diameter of 0 or less was a sphere nothing could match; a frame of 2.5
    # raised a TypeError
    (lambda lab: instance_f1(lab, lab, iou=float("nan")), "^iou must be a finite number above 0, not nan"),
    (lambda lab: instance_f1(lab, lab, iou=0), "^iou must be a finite number above 0, not 0"),
    (lambda lab: instance_errors(lab, lab, iou=1.5), r"^iou must be above 0 and at most 1, not 1.5"),
    (lambda lab: instance_f1(lab, lab, frame=2.5), "^frame must be a whole number of rows and columns, at least 1"),
    (lambda lab: detection_scores(lab, np.array([[np.nan, 7]]), np.array([5.0])), "^centers must be finite"),
    (lambda lab: match_detections(lab, np.array([[7, 7]]), np.array([0.0])), "diameters_px finite and above 0"),
])
def test_what_is_scored_is_checked_by_name(call, message):
    labels = np.zeros((32, 32), int)
    labels[5:10, 5:10] = 1
    with pytest.raises(ParameterError, match=message):
        call(labels)


def test_match_detections_names_the_callers_own_ids_however_sparse():
    # checked as particle_table checks labels, which numbers sparse ids 1..K for its kernels
    labels = np.zeros((8, 8), np.int64)
    labels[2:5, 2:5] = 10**6
    true, found = match_detections(labels, np.array([[3.0, 3.0]]), np.array([3.0]), ignore_border=False)
    assert true.tolist() == [0] and found.tolist() == [10**6]


@pytest.mark.parametrize("score", [detection_scores, match_detections])
def test_ignore_border_is_true_or_false(score):
    """``ignore_border="no"`` was true: the border's particles were left out."""
    labels = np.zeros((20, 20), int)
    labels[0:6, 0:6] = 1
    with pytest.raises(ParameterError, match=r"^ignore_border must be True or False, not 'no'$"):
        score(labels, np.array([[2.5, 2.5]]), np.array([6.0]), ignore_border="no")
    with pytest.raises(ParameterError, match=r"^ignore_border must be True or False, not 'no'$"):
        instance_f1(labels, labels, ignore_border="no")
    assert detection_scores(labels, np.array([[2.5, 2.5]]), np.array([6.0]), ignore_border=0).n_matched == 1
