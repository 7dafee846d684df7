import numpy as np
import pytest

from vidcolor import flow, temporal


def textured(h=64, w=80, seed=0):
    import cv2

    noise = np.random.default_rng(seed).random((h // 4, w // 4)).astype(np.float32)
    return cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC) * 60 + 20


def test_warp_follows_a_known_shift():
    lightness = textured()
    shifted = np.roll(lightness, 3, axis=1)  # content moved 3 px right
    warped, confidence = flow.propagate(shifted, lightness, lightness)
    interior = (slice(8, -8), slice(12, -12))
    assert np.abs(warped - shifted)[interior].mean() < 1.0
    assert confidence[interior].mean() > 0.9


def test_dis_flow_is_the_same_whatever_sizes_came_before():
    # DIS instances are reused. OpenCV's changes an instance's scales for good when an image is too
    # small for its pyramid; a video's flows must not depend on what the process did before it.
    import cv2

    def picture(h: int, w: int, seed: int) -> np.ndarray:
        small = np.random.default_rng(seed).random((max(2, h // 8), max(2, w // 8))).astype(np.float32)
        return (cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1) * 255).astype(np.uint8)

    a, b = picture(160, 224, 1), picture(160, 224, 2)
    fresh = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(a, b, None)
    for h, w, seed in [(37, 65, 3), (24, 32, 5)]:
        flow.dis_flow(picture(h, w, seed), picture(h, w, seed + 1))
    assert np.array_equal(flow.dis_flow(a, b), fresh)
    # and at a size too small for the pyramid, call after call
    c, d = picture(32, 40, 8), picture(32, 40, 9)
    fresh_small = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(c, d, None)
    assert all(np.array_equal(flow.dis_flow(c, d), fresh_small) for _ in range(3))


def test_confidence_drops_where_the_warp_fails():
    lightness = textured()
    other = lightness.copy()
    other[20:40, 20:40] = 100 - other[20:40, 20:40]  # a newly visible object
    conf = flow.photometric_confidence(lightness, other)
    assert conf[25:35, 25:35].mean() < 0.2 and conf[50:, 50:].mean() > 0.95


def test_smoothing_keeps_tracked_chroma_and_takes_new_prediction_where_occluded():
    lightness = textured()
    previous_ab = np.full(lightness.shape + (2,), 30.0, np.float32)
    predicted = np.full_like(previous_ab, -30.0)
    occluded = lightness.copy()
    occluded[20:40, 20:40] = 100 - occluded[20:40, 20:40]
    out = temporal.smooth_ab(occluded, predicted, lightness, previous_ab, strength=0.8)
    assert out[50:, 50:].mean() == pytest.approx(0.8 * 30 - 0.2 * 30, abs=2)  # tracked: mostly previous
    assert out[27:33, 27:33].mean() < -20  # occluded: the new prediction


def test_cut_detector_fires_on_cuts_not_on_motion():
    a, b = textured(seed=1), textured(seed=2)
    frames = [np.roll(a, i, axis=1) for i in range(10)] + [np.roll(b, i, axis=0) for i in range(10)]
    detector = temporal.CutDetector()
    cuts = [i for i, frame in enumerate(frames) if detector.update(frame)]
    assert cuts == [0, 10]


def test_smoother_resets_at_a_new_shot_and_blends_within_one():
    lightness = textured()
    smoother = temporal.Smoother()
    first = smoother.update(lightness, np.full(lightness.shape + (2,), 30.0, np.float32), new_shot=True)
    assert np.all(first == 30.0)
    blended = smoother.update(lightness, np.full_like(first, -30.0), new_shot=False)
    assert blended.mean() > 0  # the static frame keeps mostly the previous chroma
    reset = smoother.update(lightness, np.full_like(first, -30.0), new_shot=True)
    assert np.all(reset == -30.0)


def test_flicker_is_the_mean_absolute_chroma_change():
    a = np.zeros((4, 4, 2), np.float32)
    assert temporal.flicker(None, a, new_shot=False) == 0.0
    assert temporal.flicker(a, a + 3, new_shot=False) == pytest.approx(3.0)
    assert temporal.flicker(a, a + 3, new_shot=True) == 0.0


def test_cut_threshold_adapts_to_fast_motion():
    assert temporal.is_cut(0.5, [0.01] * 10)
    assert not temporal.is_cut(0.5, [0.3] * 10)
    assert not temporal.is_cut(0.1, [])
