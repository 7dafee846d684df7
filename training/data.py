"""Self-supervised training pairs: (target, reference) built from colour photos and video shots.

No labels are needed. Four kinds of pair (all but "distant" from ../shared/design/model.md):
- warp: the reference is the same photo under a strong geometric warp (crop, scale, flip,
  rotation, elastic), so colours must be found by matching, not by position;
- motion: target and reference are frames t and t+k of one video shot (real motion, occlusion);
- distant: the reference is another, barely overlapping window of the same photo or shot
  frame - the same scene and light, but most of the target is not in it, as with a reference
  taken seconds away in a film;
- unrelated: the reference is another image; only its palette can help (histogram loss).
The same random hue rotation is applied to the target's ground truth and the reference, so the
network cannot win by memorising "grass is green": it has to take colours from the reference.

Every sample is a pure function of (seed, index): workers and resumed runs see the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from vidcolor import flow
from vidcolor.color import normalize_ab, normalize_lightness
from vidcolor.defaults import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from vidcolor.errors import VidcolorError



@dataclass(frozen=True)
class PairConfig:
    crop: int = 128  # training crop side (multiple of 8)
    load_short_side: int = 192  # photos and frames are stored at this short side
    motion_fraction: float = 0.3  # of pairs, when video shots are available
    distant_fraction: float = 0.0  # of pairs: a barely overlapping window of the same image
    unrelated_fraction: float = 0.25
    hue_rotation_prob: float = 0.8
    max_frame_gap: int = 24  # motion pairs: reference up to this many frames away
    video_frame_step: int = 2  # keep every n-th decoded frame of a training video
    flow_preset: str = "medium"

    def __post_init__(self) -> None:
        shares = {"unrelated": self.unrelated_fraction, "motion": self.motion_fraction, "distant": self.distant_fraction}
        # Warp pairs take what is left, so the other shares must leave a non-negative rest.
        if any(not 0.0 <= share <= 1.0 for share in shares.values()) or sum(shares.values()) > 1.0:
            listed = " + ".join(f"{kind} {share:g}" for kind, share in shares.items())
            raise VidcolorError(f"pair shares must each be in [0, 1] and add up to at most 1: {listed}")


def _resize_short_side(rgb_uint8: np.ndarray, short_side: int) -> np.ndarray:
    h, w = rgb_uint8.shape[:2]
    scale = short_side / min(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb_uint8, size, interpolation=cv2.INTER_AREA)


def _split_shots(frames: list[np.ndarray], threshold: float = 30.0) -> list[list[np.ndarray]]:
    """Split frames at hard cuts: mean absolute difference of 32x32 gray thumbnails."""
    shots: list[list[np.ndarray]] = [[]]
    previous = None
    for frame in frames:
        thumb = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (32, 32), interpolation=cv2.INTER_AREA)
        thumb = thumb.astype(np.float32)
        if previous is not None and np.abs(thumb - previous).mean() > threshold:
            shots.append([])
        shots[-1].append(frame)
        previous = thumb
    return [shot for shot in shots if len(shot) >= 2]


def load_sources(dirs: list[str | Path], config: PairConfig) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    """Photos (RGB uint8) and video shots (lists of RGB uint8 frames) under the given paths.

    A path may be an image, a video file or a folder searched recursively for both.
    """
    files: list[Path] = []
    for entry in map(Path, dirs):
        if entry.is_dir():
            files += sorted(p for p in entry.rglob("*") if p.is_file())
        elif entry.is_file():
            files.append(entry)
        else:
            raise VidcolorError(f"training data not found: {entry}")
    photos, shots = [], []
    for path in files:
        suffix = path.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is not None:
                photos.append(_resize_short_side(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), config.load_short_side))
        elif suffix in VIDEO_SUFFIXES:
            from vidcolor.media import read_rgb_frames  # only videos need the PyAV module

            frames = [
                _resize_short_side(rgb, config.load_short_side)
                for i, (_, rgb) in enumerate(read_rgb_frames(path))
                if i % config.video_frame_step == 0
            ]
            shots += _split_shots(frames)
    if not photos and not shots:
        raise VidcolorError(f"no images or videos found under {', '.join(map(str, dirs))}")
    return photos, shots


def _view(
    rgb_uint8: np.ndarray,
    rng: np.random.Generator,
    size: int,
    centre: tuple[float, float],
    side: float,
    angle_deg: float = 0.0,
    flip: bool = False,
    elastic: float = 0.0,
) -> np.ndarray:
    """Resample a square ``side`` x ``side`` window around ``centre`` (x, y) to ``size``.

    Optional rotation, horizontal flip and a smooth random elastic displacement (amplitude in
    output pixels). Reflect padding hides the borders of windows that leave the image.
    """
    theta = np.deg2rad(angle_deg)
    scale = side / size
    cos, sin = np.cos(theta) * scale, np.sin(theta) * scale
    grid = np.arange(size, dtype=np.float32) - (size - 1) / 2
    u, v = np.meshgrid(-grid if flip else grid, grid)
    if elastic > 0:
        coarse = rng.normal(0.0, elastic, size=(2, 4, 4)).astype(np.float32)
        u = u + cv2.resize(coarse[0], (size, size), interpolation=cv2.INTER_CUBIC)
        v = v + cv2.resize(coarse[1], (size, size), interpolation=cv2.INTER_CUBIC)
    map_x = (centre[0] + cos * u - sin * v).astype(np.float32)
    map_y = (centre[1] + sin * u + cos * v).astype(np.float32)
    return cv2.remap(rgb_uint8, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def _random_window(
    rgb_uint8: np.ndarray, rng: np.random.Generator, min_frac: float, max_frac: float = 1.0
) -> tuple[tuple[float, float], float]:
    """A square window inside the image: side ``min_frac``-``max_frac`` of the short side, and its centre."""
    h, w = rgb_uint8.shape[:2]
    side = rng.uniform(min_frac, max_frac) * min(h, w)
    centre = (rng.uniform(side / 2, w - side / 2), rng.uniform(side / 2, h - side / 2))
    return centre, side


def _lab(rgb_uint8: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb_uint8.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _rotate_hue(ab: np.ndarray, angle: float) -> np.ndarray:
    cos, sin = np.cos(angle), np.sin(angle)
    return np.stack([cos * ab[..., 0] - sin * ab[..., 1], sin * ab[..., 0] + cos * ab[..., 1]], -1)


class PairDataset(Dataset):
    """Index -> one training pair, as normalised channel-first tensors (see ``__getitem__``)."""

    def __init__(self, photos: list[np.ndarray], shots: list[list[np.ndarray]], config: PairConfig, seed: int, length: int):
        self.photos, self.shots, self.config, self.seed, self.length = photos, shots, config, seed, length

    def __len__(self) -> int:
        return self.length

    def _random_image(self, rng: np.random.Generator) -> np.ndarray:
        pool = len(self.photos) + len(self.shots)
        pick = int(rng.integers(pool))
        if pick < len(self.photos):
            return self.photos[pick]
        shot = self.shots[pick - len(self.photos)]
        return shot[int(rng.integers(len(shot)))]

    def _pair(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
        cfg, size = self.config, self.config.crop
        kind_roll = rng.random()
        if kind_roll < cfg.unrelated_fraction:
            target_img, ref_img = self._random_image(rng), self._random_image(rng)
            target = _view(target_img, rng, size, *_random_window(target_img, rng, 0.5), flip=rng.random() < 0.5)
            reference = _view(ref_img, rng, size, *_random_window(ref_img, rng, 0.5), flip=rng.random() < 0.5)
            return target, reference, "unrelated"
        motion = cfg.motion_fraction if self.shots else 0.0
        if kind_roll < cfg.unrelated_fraction + motion:
            shot = self.shots[int(rng.integers(len(self.shots)))]
            t = int(rng.integers(len(shot)))
            gap = int(rng.integers(1, cfg.max_frame_gap + 1)) * (1 if rng.random() < 0.5 else -1)
            r = int(np.clip(t + gap, 0, len(shot) - 1))
            centre, side = _random_window(shot[t], rng, 0.5)
            flip = rng.random() < 0.5
            target = _view(shot[t], rng, size, centre, side, flip=flip)
            jitter = (centre[0] + rng.normal(0, side * 0.05), centre[1] + rng.normal(0, side * 0.05))
            reference = _view(shot[r], rng, size, jitter, side * rng.uniform(0.85, 1.2), flip=flip)
            return target, reference, "motion"
        image = self._random_image(rng)
        if kind_roll < cfg.unrelated_fraction + motion + cfg.distant_fraction:
            h, w = image.shape[:2]
            centre, side = _random_window(image, rng, 0.3, 0.5)
            # 0.75-1.4 window sides away (less where the image ends): on average about a third
            # of the target is in the reference (tests/test_training.py measures it).
            angle = rng.uniform(0, 2 * np.pi)
            distance = side * rng.uniform(0.75, 1.4)
            ref_centre = (
                float(np.clip(centre[0] + distance * np.cos(angle), side / 2, w - side / 2)),
                float(np.clip(centre[1] + distance * np.sin(angle), side / 2, h - side / 2)),
            )
            flip = rng.random() < 0.5
            target = _view(image, rng, size, centre, side, flip=flip)
            reference = _view(image, rng, size, ref_centre, side * rng.uniform(0.8, 1.3), flip=flip)
            return target, reference, "distant"
        centre, side = _random_window(image, rng, 0.4)
        target = _view(image, rng, size, centre, side, flip=rng.random() < 0.5)
        ref_centre = (centre[0] + rng.normal(0, side * 0.15), centre[1] + rng.normal(0, side * 0.15))
        reference = _view(
            image, rng, size, ref_centre, side * rng.uniform(0.8, 1.6),
            angle_deg=rng.uniform(-30, 30), flip=rng.random() < 0.5, elastic=size * 0.04,
        )
        return target, reference, "warp"

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        """Returns normalised tensors: ``lightness`` (1, s, s), ``ab`` (2, s, s) ground truth,
        ``ref_lightness`` (1, s, s), ``ref_ab`` (2, s, s), ``flow_ab`` (2, s, s) and
        ``flow_confidence`` (1, s, s) (the reference propagated onto the target by DIS flow,
        exactly as at inference), and ``unrelated`` (a 0/1 scalar)."""
        rng = np.random.default_rng([self.seed, index])
        target_rgb, ref_rgb, kind = self._pair(rng)
        target_lab, ref_lab = _lab(target_rgb), _lab(ref_rgb)
        if rng.random() < self.config.hue_rotation_prob:
            angle = rng.uniform(0, 2 * np.pi)
            target_lab[..., 1:] = _rotate_hue(target_lab[..., 1:], angle)
            ref_lab[..., 1:] = _rotate_hue(ref_lab[..., 1:], angle)
        flow_ab, confidence = flow.propagate(
            target_lab[..., 0], ref_lab[..., 0], ref_lab[..., 1:], self.config.flow_preset
        )

        def chw(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1) if array.ndim == 3 else array[None]))

        return {
            "lightness": chw(normalize_lightness(target_lab[..., 0])),
            "ab": chw(normalize_ab(target_lab[..., 1:])),
            "ref_lightness": chw(normalize_lightness(ref_lab[..., 0])),
            "ref_ab": chw(normalize_ab(ref_lab[..., 1:])),
            "flow_ab": chw(normalize_ab(flow_ab)),
            "flow_confidence": chw(confidence),
            "unrelated": torch.tensor(float(kind == "unrelated")),
        }
