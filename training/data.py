"""Self-supervised training pairs: (target, reference) built from colour photos and video shots.

No labels are needed. Six kinds of pair (warp, motion and unrelated from ../shared/design/model.md):
- warp: the reference is the same photo under a strong geometric warp (crop, scale, flip,
  rotation, elastic), so colours must be found by matching, not by position;
- motion: target and reference are frames t and t+k of one video shot (real motion, occlusion);
- distant: the reference is another, barely overlapping window of the same photo or shot
  frame - the same scene and light, but most of the target is not in it, as with a reference
  taken seconds away in a film;
- semantic: the reference is a different image of similar content (a near neighbour in a
  colour-free descriptor, see pack.py; for video, often another shot of the same video), so that
  matching learns "sky matches sky" rather than "pixel matches its warped self";
- unrelated: the reference is another image (see PairConfig.unrelated_mode);
- none: no reference; the network colours from the gray content alone (its learned prior).
For warp, motion and distant pairs (and some semantic ones) the same random hue rotation is
applied to the target's ground truth and the reference, so the network cannot win by memorising
"grass is green" where a reference is given: it has to take colours from it. Prior-teaching
pairs keep their true colours.

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
from vidcolor.errors import VidcolorError

from .pack import Packed, decode, is_packed, load_packed



@dataclass(frozen=True)
class PairConfig:
    crop: int = 128  # training crop side (multiple of 8)
    load_short_side: int = 192  # photos and frames are stored at this short side
    motion_fraction: float = 0.3  # of pairs, when video shots are available
    distant_fraction: float = 0.0  # of pairs: a barely overlapping window of the same image
    unrelated_fraction: float = 0.25
    semantic_fraction: float = 0.0  # of pairs: the reference is a similar-looking other image
    none_fraction: float = 0.0  # of pairs: no reference at all (the model's own colour prior)
    # "palette": an unrelated reference's colours are the answer's palette (hue-rotated like the
    # reference, histogram loss, pixel loss down-weighted); "prior": the network should ignore
    # it and colour from the content (true colours, full pixel loss, no histogram loss).
    unrelated_mode: str = "palette"
    unrelated_pixel_weight: float = 0.1  # "palette" mode: the exact colours are unknowable
    hue_rotation_prob: float = 0.8  # warp, motion and distant pairs
    semantic_hue_rotation_prob: float = 0.3  # some rotated, so the reference must be read, not ignored
    max_frame_gap: int = 24  # motion pairs: reference up to this many frames away
    video_frame_step: int = 2  # keep every n-th decoded frame of a training video
    flow_preset: str = "medium"

    def __post_init__(self) -> None:
        shares = {"unrelated": self.unrelated_fraction, "motion": self.motion_fraction,
                  "distant": self.distant_fraction, "semantic": self.semantic_fraction, "none": self.none_fraction}
        # Warp pairs take what is left, so the other shares must leave a non-negative rest.
        if any(not 0.0 <= share <= 1.0 for share in shares.values()) or sum(shares.values()) > 1.0:
            listed = " + ".join(f"{kind} {share:g}" for kind, share in shares.items())
            raise VidcolorError(f"pair shares must each be in [0, 1] and add up to at most 1: {listed}")
        if self.unrelated_mode not in ("palette", "prior"):
            raise VidcolorError(f"unrelated mode must be palette or prior, not {self.unrelated_mode!r}")


def load_sources(dirs: list[str | Path], config: PairConfig) -> Packed:
    """Photos, video shots and semantic neighbours: from a file packed by ``vidcolor pack``
    (given alone), or decoded now from images, videos and folders of both (small data, tests)."""
    if len(dirs) == 1 and is_packed(dirs[0]):
        return load_packed(dirs[0])
    if any(is_packed(entry) for entry in dirs):
        raise VidcolorError("a packed training file is given alone: pack every source into it with `vidcolor pack`")
    return decode(dirs, config.load_short_side, config.video_frame_step)


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

    def __init__(self, data: Packed, config: PairConfig, seed: int, length: int):
        self.photos, self.shots, self.neighbours = data.photos, data.shots, data.neighbours
        self.config, self.seed, self.length = config, seed, length
        # Item index of each shot's first frame (items: photos, then every shot's frames in order).
        self.shot_starts = np.cumsum([len(self.photos)] + [len(shot) for shot in self.shots])
        self.items = data.items()

    def __len__(self) -> int:
        return self.length

    def _random_item(self, rng: np.random.Generator) -> int:
        """A photo or a frame of a shot (each shot weighs as much as one photo); its item index."""
        pick = int(rng.integers(len(self.photos) + len(self.shots)))
        if pick < len(self.photos):
            return pick
        shot = pick - len(self.photos)
        return int(self.shot_starts[shot] + rng.integers(len(self.shots[shot])))

    def _random_image(self, rng: np.random.Generator) -> np.ndarray:
        return self.items[self._random_item(rng)]

    def _kind(self, rng: np.random.Generator) -> str:
        cfg = self.config
        shares = [("unrelated", cfg.unrelated_fraction), ("motion", cfg.motion_fraction if self.shots else 0.0),
                  ("distant", cfg.distant_fraction), ("semantic", cfg.semantic_fraction), ("none", cfg.none_fraction)]
        roll = rng.random()
        for kind, share in shares:
            if roll < share:
                return kind
            roll -= share
        return "warp"

    def _pair(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None, str]:
        cfg, size = self.config, self.config.crop
        kind = self._kind(rng)
        if kind in ("unrelated", "semantic", "none"):
            index = self._random_item(rng)
            target_img = self.items[index]
            target = _view(target_img, rng, size, *_random_window(target_img, rng, 0.5), flip=rng.random() < 0.5)
            if kind == "none":
                return target, None, kind
            if kind == "semantic":  # one of the 4 most similar other images (colour-free descriptor)
                ref_img = self.items[int(self.neighbours[index][rng.integers(min(4, self.neighbours.shape[1]))])]
            else:
                ref_img = self._random_image(rng)
            reference = _view(ref_img, rng, size, *_random_window(ref_img, rng, 0.5), flip=rng.random() < 0.5)
            return target, reference, kind
        if kind == "motion":
            shot = self.shots[int(rng.integers(len(self.shots)))]
            t = int(rng.integers(len(shot)))
            gap = int(rng.integers(1, cfg.max_frame_gap + 1)) * (1 if rng.random() < 0.5 else -1)
            r = int(np.clip(t + gap, 0, len(shot) - 1))
            centre, side = _random_window(shot[t], rng, 0.5)
            flip = rng.random() < 0.5
            target = _view(shot[t], rng, size, centre, side, flip=flip)
            jitter = (centre[0] + rng.normal(0, side * 0.05), centre[1] + rng.normal(0, side * 0.05))
            reference = _view(shot[r], rng, size, jitter, side * rng.uniform(0.85, 1.2), flip=flip)
            return target, reference, kind
        image = self._random_image(rng)
        if kind == "distant":
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
            return target, reference, kind
        centre, side = _random_window(image, rng, 0.4)
        target = _view(image, rng, size, centre, side, flip=rng.random() < 0.5)
        ref_centre = (centre[0] + rng.normal(0, side * 0.15), centre[1] + rng.normal(0, side * 0.15))
        reference = _view(
            image, rng, size, ref_centre, side * rng.uniform(0.8, 1.6),
            angle_deg=rng.uniform(-30, 30), flip=rng.random() < 0.5, elastic=size * 0.04,
        )
        return target, reference, "warp"

    def _rules(self, kind: str) -> tuple[float, float, float, float]:
        """(hue rotation probability, pixel-, histogram- and chroma-loss weights) of a kind of pair.

        Hue rotation (the same for reference and truth) makes the reference the only source of
        the right colours; pairs meant to teach the prior (no reference, or one to ignore) keep
        the true colours, their histogram loss is off (the reference's palette is not the answer)
        and so is the chroma-deficit loss: without knowing the hue, the cheapest way to match the
        truth's chroma is one warm cast over everything (seen: a sepia prior after 1,400 steps).
        """
        cfg = self.config
        if kind == "none" or (kind == "unrelated" and cfg.unrelated_mode == "prior"):
            return 0.0, 1.0, 0.0, 0.0
        if kind == "unrelated":
            return cfg.hue_rotation_prob, cfg.unrelated_pixel_weight, 1.0, cfg.unrelated_pixel_weight
        if kind == "semantic":
            return cfg.semantic_hue_rotation_prob, 1.0, 1.0, 1.0
        return cfg.hue_rotation_prob, 1.0, 1.0, 1.0

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        """Returns normalised tensors: ``lightness`` (1, s, s), ``ab`` (2, s, s) ground truth,
        ``ref_lightness`` (1, s, s), ``ref_ab`` (2, s, s), ``flow_ab`` (2, s, s) and
        ``flow_confidence`` (1, s, s) (the reference propagated onto the target by DIS flow,
        exactly as at inference), and the scalars ``pixel_weight``, ``hist_weight``,
        ``chroma_weight`` and ``has_reference``. A pair without a reference has a flat mid-gray one (all zeros) and no
        flow candidate, as :func:`vidcolor.models.empty_reference` gives at inference."""
        rng = np.random.default_rng([self.seed, index])
        target_rgb, ref_rgb, kind = self._pair(rng)
        hue_probability, pixel_weight, hist_weight, chroma_weight = self._rules(kind)
        target_lab = _lab(target_rgb)
        ref_lab = _lab(ref_rgb) if ref_rgb is not None else np.zeros_like(target_lab)
        if rng.random() < hue_probability:
            angle = rng.uniform(0, 2 * np.pi)
            target_lab[..., 1:] = _rotate_hue(target_lab[..., 1:], angle)
            ref_lab[..., 1:] = _rotate_hue(ref_lab[..., 1:], angle)
        if ref_rgb is None:
            ref_lab[..., 0] = 50.0  # normalised lightness 0
            flow_ab, confidence = np.zeros_like(target_lab[..., 1:]), np.zeros_like(target_lab[..., 0])
        else:
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
            "pixel_weight": torch.tensor(pixel_weight),
            "hist_weight": torch.tensor(hist_weight),
            "chroma_weight": torch.tensor(chroma_weight),
            "has_reference": torch.tensor(float(ref_rgb is not None)),
        }
