"""A film coloured in chunks (what a cluster does, see vidcolor.batch) equals one uninterrupted run."""

from __future__ import annotations

import av
import numpy as np
import pytest

from media import frame_pts, make_shot_clip, packets
from vidcolor import Colorizer, VideoOptions, colorize_video
from vidcolor.chunks import colorize_in_chunks, plan_chunks, scan_video
from vidcolor.images import read_image

LOSSLESS = VideoOptions(crf=0, batch_size=4)


def decoded(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


@pytest.fixture(scope="module")
def colorizer(tiny_checkpoint, reference):
    colorizer = Colorizer.from_pretrained(tiny_checkpoint, device="cpu", work_size=32)
    colorizer.set_reference(read_image(reference))
    return colorizer


def test_chunks_start_at_scene_cuts_and_equal_one_run(tmp_path, colorizer):
    clip = make_shot_clip(tmp_path / "shots.mp4", shots=3, frames_per_shot=16)
    whole = tmp_path / "whole.mp4"
    colorize_video(clip, whole, colorizer, LOSSLESS)
    chunked = tmp_path / "chunked.mp4"
    chunks = colorize_in_chunks(clip, chunked, colorizer, LOSSLESS, chunk_frames=16, work_folder=tmp_path)
    assert [(c.start, c.end) for c in chunks] == [(0, 16), (16, 32), (32, 48)] and all(c.exact for c in chunks)
    assert np.array_equal(decoded(chunked), decoded(whole))
    assert frame_pts(chunked) == frame_pts(clip)
    assert packets(chunked, "audio") == packets(clip, "audio")


def test_a_long_shot_is_split_with_a_warm_up_close_to_one_run(tmp_path, colorizer):
    clip = make_shot_clip(tmp_path / "long.mp4", shots=1, frames_per_shot=48)
    scan = scan_video(clip, colorizer)
    chunks = plan_chunks(scan, chunk_frames=16, warmup_frames=8)
    assert scan.cuts == [] and [(c.start, c.warmup_start) for c in chunks] == [(0, 0), (16, 8), (32, 24)]
    assert [c.exact for c in chunks] == [True, False, False]
    whole, chunked = tmp_path / "whole.mp4", tmp_path / "chunked.mp4"
    colorize_video(clip, whole, colorizer, LOSSLESS)
    colorize_in_chunks(clip, chunked, colorizer, LOSSLESS, chunk_frames=16, work_folder=tmp_path)
    difference = np.abs(decoded(chunked).astype(int) - decoded(whole))
    assert difference[:16].max() == 0 and difference.mean() < 1.0
    assert frame_pts(chunked) == frame_pts(clip)


def test_plan_prefers_cuts_near_the_chunk_length(tmp_path, colorizer):
    clip = make_shot_clip(tmp_path / "shots.mp4", shots=4, frames_per_shot=8)
    scan = scan_video(clip, colorizer)
    assert scan.cuts == [8, 16, 24] and scan.frames == 32
    assert [(c.start, c.end) for c in plan_chunks(scan, chunk_frames=16)] == [(0, 8), (8, 16), (16, 24), (24, 32)]
    assert [(c.start, c.end) for c in plan_chunks(scan, chunk_frames=20)] == [(0, 16), (16, 32)]
