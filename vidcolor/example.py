"""``vidcolor example``: a built-in end-to-end run that needs no downloads.

A slow pan and zoom over scikit-image's bundled CC0 photo "coffee" becomes a 2-second clip with a
tone as its audio track; the clip is made black-and-white, its middle frame in colour serves as
the reference, and the gray clip is colourised by the normal video pipeline.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from . import defaults
from .colorizer import Colorizer
from .images import write_image
from .runner import VideoOptions, colorize_video
from .media import read_rgb_frames, write_clip

SIZE = (480, 320)  # width, height
FPS = 24
SECONDS = 2
SAMPLE_RATE = 48000


def camera_move(photo_rgb: np.ndarray, frames: int, size: tuple[int, int] = SIZE) -> list[np.ndarray]:
    """Frames of a slow pan (left to right) and zoom-in (1.0x to 1.25x) over a photo."""
    h, w = photo_rgb.shape[:2]
    out_w, out_h = size
    clip = []
    for t in np.linspace(0.0, 1.0, frames):
        zoom = 1.0 + 0.25 * t
        view_w = min(w, h * out_w / out_h) / zoom
        scale = out_w / view_w
        left = (w - view_w) * (0.2 + 0.6 * t)
        top = (h - view_w * out_h / out_w) / 2
        matrix = np.array([[scale, 0, -left * scale], [0, scale, -top * scale]], dtype=np.float32)
        clip.append(cv2.warpAffine(photo_rgb, matrix, size, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT))
    return clip


def to_gray_rgb(rgb_uint8: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(cv2.cvtColor(rgb_uint8, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


def write_example_input(clip_path: Path, reference_path: Path, seconds: int = SECONDS) -> list[np.ndarray]:
    """Write the gray example clip (camera move over "coffee", a 440 Hz tone as audio) and its
    reference (the middle frame in colour); return the colour frames (the ground truth)."""
    from skimage import data

    colour_clip = camera_move(data.coffee(), FPS * seconds)
    t = np.arange(SAMPLE_RATE * seconds) / SAMPLE_RATE
    tone = (0.2 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    write_clip(clip_path, [to_gray_rgb(f) for f in colour_clip], FPS, audio=np.stack([tone, tone]), sample_rate=SAMPLE_RATE)
    write_image(reference_path, colour_clip[len(colour_clip) // 2])
    return colour_clip


def run_example(
    out_dir: Path, model=None, device="auto", batch_size=defaults.BATCH_SIZE, work_size=defaults.WORK_SIZE,
    smooth=True, hedge=True,
) -> dict[str, Path]:
    """Write the example's input, reference, output and preview under ``out_dir``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / f"{name}{suffix}" for name, suffix in
             [("input", ".mp4"), ("reference", ".png"), ("output", ".mp4"), ("preview", ".png")]}
    colour_clip = write_example_input(paths["input"], paths["reference"])
    reference = colour_clip[len(colour_clip) // 2]

    colorizer = Colorizer.from_pretrained(model, device=device, work_size=work_size, hedge=hedge)
    colorizer.set_reference(reference)
    paths["output"].unlink(missing_ok=True)
    colorize_video(paths["input"], paths["output"], colorizer, VideoOptions(batch_size=batch_size, smooth=smooth))

    middle = len(colour_clip) // 2 + 6
    gray_frame = to_gray_rgb(colour_clip[middle])
    output_frame = next(rgb for i, (_, rgb) in enumerate(read_rgb_frames(paths["output"])) if i == middle)
    write_image(paths["preview"], np.concatenate([gray_frame, output_frame, colour_clip[middle]], axis=1))
    return paths
