"""--keyframes: "every" is the network on every frame as before; "auto" runs it on adaptive keyframes
and carries colour along the motion between them (vidcolor/keyframes.py)."""

import cv2
import numpy as np
import pytest
import torch

from vidcolor import Colorizer, flow
from vidcolor.clip import colorize_batches, lightness_batch, load_state, save_state
from vidcolor.color import gray_to_lightness_numpy, lab_hwc_to_rgb_uint8
from vidcolor.keyframes import FrameFlow, KeyframeState, carry_ab, frame_flow
from vidcolor.models import build_model
from vidcolor.report import RunReport


def texture(seed: int, mean: float) -> np.ndarray:
    """A smooth random gray picture ``(240, 320)`` in [0, 1] around ``mean``."""
    small = np.random.default_rng(seed).random((12, 16)).astype(np.float32)
    return np.clip(cv2.resize(small, (320, 240), interpolation=cv2.INTER_CUBIC) * 0.6 + mean - 0.3, 0, 1)


def pan(picture: np.ndarray, frames: int) -> list[np.ndarray]:
    return [picture[i : i + 160, 2 * i : 2 * i + 224] for i in range(frames)]


def two_shots() -> list[np.ndarray]:
    return pan(texture(1, 0.35), 20) + pan(texture(2, 0.7), 20)


@pytest.fixture(scope="module")
def colorizer() -> Colorizer:
    torch.manual_seed(0)
    colorizer = Colorizer(build_model("tiny"), device="cpu", work_size=48)
    reference = np.stack([texture(1, 0.4)[:160, :224] * 255] * 3, -1).astype(np.uint8)
    reference[..., 0] = 220  # a colourful reference: the network's colours differ from frame to frame
    colorizer.set_reference(reference)
    return colorizer


class Recorder:
    """Wraps a colourizer's predict_ab: the working lightness of each frame the network colours."""

    def __init__(self, colorizer: Colorizer, monkeypatch) -> None:
        self.frames: list[np.ndarray] = []
        predict = colorizer.predict_ab

        def recorded(lightness_work, *args, **kwargs):
            self.frames.extend(lightness_work[:, 0].numpy())
            return predict(lightness_work, *args, **kwargs)

        monkeypatch.setattr(colorizer, "predict_ab", recorded)

    def indices(self, colorizer: Colorizer, frames: list[np.ndarray]) -> list[int]:
        work = colorizer.working_lightness(lightness_batch(np.stack(frames)))[:, 0].numpy()
        return sorted(next(i for i, w in enumerate(work) if np.array_equal(w, f)) for f in self.frames)


def run(colorizer, frames, batch_size=8, state=None, report=None, **options) -> np.ndarray:
    lightness = lightness_batch(np.stack(frames))
    batches = ((part, None) for part in lightness.split(batch_size))
    return torch.cat(list(colorize_batches(colorizer, batches, state=state, report=report, **options))).numpy()


def test_auto_is_the_output_without_the_option(colorizer):
    frames = two_shots()
    assert np.array_equal(run(colorizer, frames, keyframes="auto"), run(colorizer, frames))
    assert not np.array_equal(run(colorizer, frames, keyframes="every"), run(colorizer, frames))


def test_auto_runs_the_network_on_fewer_frames_and_at_every_cut(colorizer, monkeypatch):
    frames = two_shots()
    every = Recorder(colorizer, monkeypatch)
    run(colorizer, frames, keyframes="every")
    assert len(every.frames) == len(frames)
    monkeypatch.undo()
    auto, report = Recorder(colorizer, monkeypatch), RunReport()
    run(colorizer, frames, keyframes="auto", report=report)
    keys = auto.indices(colorizer, frames)
    assert [shot.start for shot in report.shots] == [0, 20]
    assert 0 in keys and 20 in keys  # each shot starts with the network
    # A slow pan stays trusted: keyframes KEYFRAME_MAX_INTERVAL (4) frames apart, 5 per 20-frame shot.
    assert keys == [0, 4, 8, 12, 16, 20, 24, 28, 32, 36]
    assert len(report.colour_kept) == len(report.flicker) == len(frames)


def test_auto_does_not_depend_on_the_batch_size(colorizer):
    frames = two_shots()
    assert np.array_equal(run(colorizer, frames, 3, keyframes="auto"), run(colorizer, frames, 8, keyframes="auto"))


def test_a_resumed_auto_run_is_the_uninterrupted_one(colorizer):
    frames = two_shots()
    whole = run(colorizer, frames, 4, keyframes="auto")
    state, report = None, RunReport()
    from vidcolor.clip import ClipState
    state = ClipState()
    first = run(colorizer, frames[:12], 4, state=state, report=report, keyframes="auto")
    assert state.keyframes.since > 0  # stopped between keyframes
    state, report = load_state(save_state(state, report))
    rest = run(colorizer, frames[12:], 4, state=state, report=report, keyframes="auto")
    assert np.array_equal(np.concatenate([first, rest]), whole)


def test_an_uncovered_area_forces_a_keyframe():
    shape = (40, 50)
    trusted = FrameFlow(np.zeros((*shape, 2), np.float32), np.ones(shape, np.float32))
    state = KeyframeState(max_interval=100, untrusted=0.1)
    assert state.decide(None, True, shape)
    assert not state.decide(trusted, False, shape) and state.since == 1
    uncovered = np.ones(shape, np.float32)
    uncovered[:, :8] = 0.0  # 16% of the frame newly visible
    assert state.decide(FrameFlow(trusted.flow, uncovered), False, shape) and state.since == 0
    # Small untrusted areas accumulate along the carried trust map until they are too many.
    patch = np.ones(shape, np.float32)
    patch[:3] = 0.0  # 7.5% each frame, at the same place: carried, it stays 7.5%
    assert not state.decide(FrameFlow(trusted.flow, patch), False, shape)
    moved = np.ones(shape, np.float32)
    moved[-3:] = 0.0  # another 7.5% elsewhere: 15% untrusted since the keyframe
    assert state.decide(FrameFlow(trusted.flow, moved), False, shape)


def test_carried_colour_follows_the_motion_and_fills_the_uncovered_edge():
    picture = (texture(3, 0.5) * 100).astype(np.float32)
    previous, current = picture[:, :200], picture[:, 4:204]  # the camera pans 4 pixels right
    ab = np.zeros((*previous.shape, 2), np.float32)
    ab[..., 0] = np.linspace(-40, 40, previous.shape[1])[None, :]
    step = frame_flow(current, previous)
    carried = carry_ab(ab, step)
    inside = slice(20, 180)
    expected = np.linspace(-40, 40, 200)[4:204][inside]
    assert np.abs(carried[40:200, inside, 0] - expected[None, :]).mean() < 1.5
    assert np.isfinite(carried).all() and np.abs(carried).max() <= 40.01


def test_flows_compose_through_the_frame_between():
    shape = (30, 40)
    step = np.zeros((*shape, 2), np.float32)
    step[..., 0] = 1.5  # this frame's x is the previous frame's x + 1.5
    field = np.zeros((*shape, 2), np.float32)
    field[..., 0] = np.arange(40, dtype=np.float32) * 0.1  # previous x -> reference x + 0.1 x
    field[..., 1] = -2.0
    composed = flow.compose(field, step)
    x = np.arange(10, 30, dtype=np.float32)
    assert np.allclose(composed[5:25, 10:30, 0], 1.5 + 0.1 * (x + 1.5), atol=1e-4)
    assert np.allclose(composed[..., 1], -2.0)


def test_carried_frames_take_their_own_hedge(monkeypatch):
    # The hedge mutes colour where the reference matches a frame badly. Here the reference is the
    # pan's first frame in colour, so the match changes as the camera moves on: carried frames
    # are muted or restored by their own match, as `every` would, not kept at their keyframe's.
    picture = texture(1, 0.35)
    frames = [picture[:160, 8 * i : 8 * i + 224] for i in range(12)]
    lab = np.zeros((*frames[0].shape, 3), np.float32)
    # The match worsens to the right (lightness off by up to 8) and beyond the reference's edge.
    lab[..., 0] = gray_to_lightness_numpy(frames[0]) + np.linspace(0, 8, 224, dtype=np.float32)
    lab[..., 1] = 30.0
    torch.manual_seed(0)
    colorizer = Colorizer(build_model("tiny"), device="cpu", work_size=48)
    colorizer.set_reference(lab_hwc_to_rgb_uint8(lab))
    colorizer.model.hedge_scales.copy_(torch.linspace(0.2, 1.0, 6))
    recorder, own = Recorder(colorizer, monkeypatch), RunReport()
    run(colorizer, frames, keyframes="auto", report=own)
    next_key = recorder.indices(colorizer, frames)[1]  # the pan uncovers too much after a few frames
    assert next_key >= 4
    assert len(set(own.colour_kept[:4])) == 4 and all(0.2 <= kept <= 1.0 for kept in own.colour_kept)
    # Each frame up to the next keyframe is the keyframe's unhedged colour carried along and
    # scaled by the frame's own hedge (in place of the keyframe's).
    colorizer.hedge = False
    unhedged = RunReport()
    run(colorizer, frames, keyframes="auto", report=unhedged)
    assert unhedged.colour_kept[:next_key] == [1.0] * next_key
    for i in range(next_key):
        ratio = own.chroma_energy[i] / unhedged.chroma_energy[i]
        assert ratio == pytest.approx(own.colour_kept[i], rel=1e-4)


def test_an_unknown_mode_is_refused(colorizer):
    with pytest.raises(ValueError, match="keyframes"):
        run(colorizer, two_shots()[:2], keyframes="sometimes")


def test_the_command_line_takes_keyframes_auto(tmp_path, tiny_checkpoint, reference):
    from media import frame_pts, make_clip

    from vidcolor.cli import main

    clip = make_clip(tmp_path / "in.mp4", frames=24, width=64, height=48, color=False)
    out = tmp_path / "out.mp4"
    assert main([str(clip), "-r", str(reference), "-o", str(out), "--model", str(tiny_checkpoint), "-q",
                 "--work-size", "32", "--keyframes", "auto"]) == 0
    assert frame_pts(out) == frame_pts(clip)
