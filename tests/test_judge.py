"""Choosing each shot's reference from several of its frames (vidcolor.judge through the clip loop)."""

import cv2
import numpy as np
import pytest
import torch

from vidcolor.clip import ClipState, FramePosition, ReferencePin, colorize_batches, load_state, save_state
from vidcolor.report import RunReport

H, W = 64, 96


class FakeColourer:
    """Reference r fits frames of mean lightness CENTRES[r] (its feature match falls off with the
    difference; no flow confidence), and colours a frame with ab = 20 * r."""

    CENTRES = (30.0, 70.0)

    def __init__(self):
        self.references = [None] * len(self.CENTRES)
        self.scored = 0

    def working_lightness(self, lightness):
        return lightness.float()

    def reference_scores(self, lightness_work):
        self.scored += 1
        mean = float(lightness_work.mean())
        return [0.9 - abs(mean - centre) / 200 for centre in self.CENTRES]

    def reference_fields(self, lightness_work, reference):
        return None  # no flow into the references

    def flow_candidate(self, lightness_work, reference, fields=None):
        b, _, h, w = lightness_work.shape
        return torch.zeros(b, 2, h, w), torch.zeros(b, 1, h, w)

    def flow_confidence(self, lightness_work, reference, fields=None):
        return self.flow_candidate(lightness_work, reference, fields)[1]

    def predict_ab(self, lightness_work, reference, candidate):
        b, _, h, w = lightness_work.shape
        return torch.full((b, 2, h, w), 20.0 * reference)

    def colour_kept(self, confidence):
        return [1.0] * confidence.shape[0]

    def merge(self, lightness, lightness_work, ab_work):
        return torch.zeros(lightness.shape[0], lightness.shape[2], lightness.shape[3], 3, dtype=torch.uint8)


def scene(seed: int, mean: float) -> np.ndarray:
    """A smooth random picture (H, W) in L units with the given mean."""
    noise = np.random.default_rng(seed).random((6, 9)).astype(np.float32)
    picture = cv2.resize(noise, (W, H), interpolation=cv2.INTER_CUBIC)
    return (picture - picture.mean()) * 40.0 + mean


def pan(picture: np.ndarray, frames: int, start: int = 0) -> list[np.ndarray]:
    return [np.roll(picture, start + i, axis=1) for i in range(frames)]


def run(frames: list[np.ndarray], batch_size: int = 8, pins=(), state=None, report=None):
    """Colour the frames with the fake colourer; returns the report (and the state)."""
    colourer, state, report = FakeColourer(), state or ClipState(), report or RunReport()
    batches = [(torch.from_numpy(np.stack(frames[i : i + batch_size]))[:, None], None)
               for i in range(0, len(frames), batch_size)]
    for _ in colorize_batches(colourer, batches, report=report, pins=pins, state=state):
        pass
    return report, state


def late_evidence_clip() -> list[np.ndarray]:
    """Shot 1 (16 frames) fits reference 0; shot 2 (32 frames) looks like reference 0 for its first
    4 frames (an exposure the reference does not show), then clearly like reference 1."""
    second = scene(2, 30.0)
    return pan(scene(1, 30.0), 16) + pan(second, 4) + pan(second - 30.0 + 70.0, 28, start=4)


def shots(report: RunReport) -> list[tuple]:
    return [(s.start, s.reference, s.cut) for s in report.shots]


def test_a_shot_switches_once_to_the_reference_its_later_frames_fit():
    report, _ = run(late_evidence_clip())
    assert report.scene_cuts == [16]
    (a, b, switch) = shots(report)
    assert a == (0, 0, True) and b == (16, 0, True)
    # Every other frame is judged; the switch comes when reference 1 leads over the last three.
    assert switch[1:] == (1, False) and 20 < switch[0] <= 24
    assert report.shots[2].match == pytest.approx(0.9, abs=0.01)
    # No cut at the switch: the smoother keeps going, so the colours cross-fade, not jump.
    assert 0.0 < report.flicker[switch[0]] < 20.0


@pytest.mark.parametrize("batch_size", [1, 5, 48])
def test_the_choice_does_not_depend_on_the_batch_size(batch_size):
    assert shots(run(late_evidence_clip(), batch_size)[0]) == shots(run(late_evidence_clip())[0])


def test_a_resumed_run_judges_as_an_uninterrupted_one():
    frames = late_evidence_clip()
    whole, _ = run(frames)
    first, state = run(frames[:20], batch_size=4)  # stopped in the middle of judging shot 2
    state, report = load_state(save_state(state, first))
    resumed, _ = run(frames[20:], batch_size=4, state=state, report=report)
    assert shots(resumed) == shots(whole)
    assert [s.match for s in resumed.shots] == pytest.approx([s.match for s in whole.shots])


def test_pinned_shots_are_not_judged():
    pins = [ReferencePin(FramePosition(0), 0), ReferencePin(FramePosition(16), 0)]
    report, _ = run(late_evidence_clip(), pins=pins)
    assert shots(report) == [(0, 0, True), (16, 0, True)]


def test_after_a_dissolve_the_reference_is_chosen_again():
    # A dissolve is no cut (docs/film.md); once the picture has changed as much as at a cut,
    # judging opens again and the shot switches to the reference of the new picture.
    a, b = pan(scene(1, 30.0), 48), pan(scene(2, 70.0), 40)
    dissolve = [(1 - (i + 0.5) / 12) * a[30 + i] + (i + 0.5) / 12 * b[i] for i in range(12)]
    report, _ = run(a[:30] + dissolve + b[12:])
    assert report.scene_cuts == []
    assert shots(report)[0] == (0, 0, True)
    assert len(report.shots) == 2 and report.shots[1].reference == 1 and not report.shots[1].cut
    assert 30 <= report.shots[1].start <= 56


def test_one_reference_costs_no_judging():
    colourer = FakeColourer()
    colourer.references = [None]
    frames = late_evidence_clip()
    batches = [(torch.from_numpy(np.stack(frames))[:, None], None)]
    report = RunReport()
    for _ in colorize_batches(colourer, batches, report=report):
        pass
    assert shots(report) == [(0, 0, True), (16, 0, True)] and colourer.scored == 2  # the match of each shot
