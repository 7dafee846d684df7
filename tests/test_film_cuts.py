"""Scene cuts in worn film: each fault of old film on synthetic shots (see benchmarks/film_cuts.py for real ones)."""

import cv2
import numpy as np
import pytest

from vidcolor import temporal

H, W = 96, 128


def scene(seed: int) -> np.ndarray:
    """A picture in L units (H, W): smooth shapes at several scales, like a photographed scene."""
    rng = np.random.default_rng(seed)
    picture = np.zeros((H, W), np.float32)
    for cells, weight in ((3, 30.0), (8, 15.0), (24, 6.0)):
        noise = rng.random((cells, cells * W // H)).astype(np.float32)
        picture += weight * cv2.resize(noise, (W, H), interpolation=cv2.INTER_CUBIC)
    return np.clip(picture + 20.0, 0.0, 100.0)


def shot(seed: int, frames: int) -> list[np.ndarray]:
    """A slow pan over a scene."""
    picture = scene(seed)
    return [np.roll(picture, i, axis=1) for i in range(frames)]


def cuts(frames: list[np.ndarray]) -> list[int]:
    detector = temporal.CutDetector()
    return [i for i, frame in enumerate(frames) if detector.update(frame)]


def grain(frames: list[np.ndarray], sigma: float, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.clip(f + rng.normal(0.0, sigma, f.shape).astype(np.float32), 0, 100) for f in frames]


def test_a_clean_cut_is_found_and_a_pan_is_not():
    assert cuts(shot(1, 20) + shot(2, 20)) == [0, 20]


def test_exposure_flicker_is_not_a_cut():
    # Slight flicker on every frame and, now and then, a jump in exposure that stays (up to 35%).
    rng = np.random.default_rng(3)
    level = np.cumsum(np.where(np.arange(40) % 9 == 5, rng.choice([-0.35, 0.35], 40), 0.0)) + 1.0
    frames = [np.clip(f * (level[i] + rng.normal(0, 0.03)) + rng.normal(0, 2), 0, 100) for i, f in enumerate(shot(1, 40))]
    assert cuts(frames) == [0]


def test_uneven_flicker_is_not_a_cut():
    rng = np.random.default_rng(4)
    ramp = np.linspace(-0.5, 0.5, W, dtype=np.float32)[None, :]
    frames = [np.clip(f * (1 + rng.normal(0, 0.3) * ramp), 0, 100) for f in shot(1, 40)]
    assert cuts(frames) == [0]


@pytest.mark.parametrize("gain, offset", [(1.5, 20.0), (2.0, 40.0), (4.0, 80.0)])  # the last is a white-out
def test_a_single_frame_flash_is_not_a_cut(gain, offset):
    frames = shot(1, 40)
    for i in (12, 25):
        frames[i] = np.clip(frames[i] * gain + offset, 0, 100)
    assert cuts(frames) == [0]


def test_a_flash_on_the_first_frame_of_a_shot_delays_its_cut_at_most_one_frame():
    frames = shot(1, 20) + shot(2, 20)
    frames[20] = np.clip(frames[20] * 1.8 + 30, 0, 100)
    assert cuts(frames) in ([0, 20], [0, 21])


def test_gate_weave_is_not_a_cut():
    # A few pixels of weave and a little rotation on every frame, and two jolts of 4 pixels (4%).
    rng = np.random.default_rng(5)
    frames = []
    for i, frame in enumerate(shot(1, 40)):
        matrix = cv2.getRotationMatrix2D((W / 2, H / 2), rng.normal(0, 0.4), 1.0)
        matrix[:, 2] += rng.uniform(-3, 3, 2) + (4.0 if i in (14, 29) else 0.0)
        frames.append(cv2.warpAffine(frame, matrix, (W, H), borderMode=cv2.BORDER_REFLECT))
    assert cuts(frames) == [0]


def test_dust_and_scratches_are_not_cuts():
    rng = np.random.default_rng(6)
    frames = []
    for frame in shot(1, 40):
        frame = frame.copy()
        for _ in range(20):
            cv2.circle(frame, (int(rng.integers(W)), int(rng.integers(H))), int(rng.integers(1, 3)), float(rng.choice([3, 97])), -1)
        column = int(rng.integers(W - 2))
        frame[:, column : column + 2] += 30.0
        frames.append(np.clip(frame, 0, 100))
    assert cuts(frames) == [0]


def test_a_cut_under_heavy_grain_is_a_cut_and_the_grain_is_not():
    assert cuts(grain(shot(1, 30) + shot(2, 30), sigma=14.0)) == [0, 30]


def test_a_fade_through_black_is_one_cut_where_the_new_picture_shows():
    a, b = shot(1, 30), shot(2, 30)
    frames = [f * (1 - (i + 1) / 6) if i >= 24 else f for i, f in enumerate(a)]
    frames += [f * min(1.0, (i + 1) / 6) for i, f in enumerate(b)]
    found = cuts(grain(frames, sigma=4.0))
    assert len(found) == 2 and 24 <= found[1] <= 36


def test_a_dissolve_is_a_soft_transition_not_a_cut():
    # vidcolor's choice (docs/film.md): no cut, so no jump in the colours; the clip loop
    # re-chooses the reference once the new picture has settled (tests/test_shots.py).
    a, b = shot(1, 40), shot(2, 40)
    frames = a[:28] + [(1 - (i + 0.5) / 12) * a[28 + i] + (i + 0.5) / 12 * b[i] for i in range(12)] + b[12:]
    assert cuts(frames) == [0]


def test_the_detector_state_resumes_exactly():
    frames = grain(shot(1, 20) + shot(2, 20), sigma=6.0)
    frames[30] = np.clip(frames[30] * 1.8 + 30, 0, 100)
    whole = temporal.CutDetector()
    expected = [whole.update(f) for f in frames]
    first = temporal.CutDetector()
    found = [first.update(f) for f in frames[:30]]
    second = temporal.CutDetector(**first.state_dict())  # what a resumed run restores
    assert found + [second.update(f) for f in frames[30:]] == expected
