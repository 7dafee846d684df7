"""Decode the training data once into one array file, with colour-free neighbours for semantic pairs.

    vidcolor pack --data ../shared/data/train ../shared/data/train_more --out runs/data.npz

Decoding 3,000 JPEGs and 30 videos takes minutes on a 2-core CPU; a training run that did it
at every start (and in every loader worker) would spend its cores decoding instead of training.
The file holds every photo and every kept video frame at a short side of ``short_side``
(uint8 RGB, one flat buffer), which shot each frame belongs to, which file it came from, and
for every item the ``neighbours`` most similar items in a colour-free descriptor (gradient
orientations and lightness layout of the gray image, GIST-like): the references of "semantic"
pairs, a different image of similar content, found without labels. Frames are never neighbours
of frames of their own shot (those are motion pairs), so a video's other shots come first when
they look alike.

A folder whose images are named by consecutive numbers (``00000012.png``) is a frame sequence.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidcolor.defaults import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from vidcolor.errors import VidcolorError

NEIGHBOURS = 8
FORMAT_VERSION = 1


@dataclass
class Packed:
    """Training images in memory: ``photos`` and ``shots`` (lists of frames), as load_sources returns,
    plus ``neighbours[i]`` (item indices, most similar first) where item i is photo i, or the
    frames of the shots in order after the photos."""

    photos: list[np.ndarray]
    shots: list[list[np.ndarray]]
    neighbours: np.ndarray  # (items, NEIGHBOURS) int32
    sources: list[str]  # per item: the file or folder it came from

    def items(self) -> list[np.ndarray]:
        """Every image in item order: the photos, then each shot's frames."""
        return self.photos + [frame for shot in self.shots for frame in shot]

    def shot_of(self) -> np.ndarray:
        """Per item, the index of its shot (-1 for a photo)."""
        return np.array([-1] * len(self.photos) + [i for i, shot in enumerate(self.shots) for _ in shot], np.int32)


def resize_short_side(rgb_uint8: np.ndarray, short_side: int) -> np.ndarray:
    h, w = rgb_uint8.shape[:2]
    scale = short_side / min(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb_uint8, size, interpolation=cv2.INTER_AREA)


def split_shots(frames: list[np.ndarray], threshold: float = 30.0) -> list[list[np.ndarray]]:
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


def _is_frame_folder(folder: Path) -> bool:
    """Images named by consecutive numbers (photo sets numbered by id, such as COCO or BSDS, are not)."""
    stems = [p.stem for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    if len(stems) < 3 or not all(stem.isdigit() for stem in stems):
        return False
    numbers = sorted(map(int, stems))
    return numbers[-1] - numbers[0] == len(numbers) - 1


def _read_rgb(path: Path) -> np.ndarray | None:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def collect(dirs: list[str | Path], short_side: int, frame_step: int) -> tuple[list, list, list[str], list[str]]:
    """Photos and shots under ``dirs`` (files or folders), resized; with the source of each."""
    from vidcolor.media import read_rgb_frames  # only videos need the PyAV module

    photos, shots, photo_sources, shot_sources = [], [], [], []
    for entry in map(Path, dirs):
        if not entry.exists():
            raise VidcolorError(f"training data not found: {entry}")
        files = sorted(p for p in entry.rglob("*") if p.is_file()) if entry.is_dir() else [entry]
        # Frame sequences are found inside given folders; an image given by name is a photo.
        frame_folders = {p.parent for p in files if _is_frame_folder(p.parent)} if entry.is_dir() else set()
        for folder in sorted(frame_folders):
            frames = [resize_short_side(rgb, short_side)
                      for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES
                      if (rgb := _read_rgb(p)) is not None]
            for shot in split_shots(frames):
                shots.append(shot)
                shot_sources.append(str(folder))
        for path in files:
            suffix = path.suffix.lower()
            if suffix in IMAGE_SUFFIXES and path.parent not in frame_folders:
                rgb = _read_rgb(path)
                if rgb is not None:
                    photos.append(resize_short_side(rgb, short_side))
                    photo_sources.append(str(path))
            elif suffix in VIDEO_SUFFIXES:
                frames = [resize_short_side(rgb, short_side)
                          for i, (_, rgb) in enumerate(read_rgb_frames(path)) if i % frame_step == 0]
                for shot in split_shots(frames):
                    shots.append(shot)
                    shot_sources.append(str(path))
    if not photos and not shots:
        raise VidcolorError(f"no images or videos found under {', '.join(map(str, dirs))}")
    return photos, shots, photo_sources, shot_sources


def descriptor(rgb_uint8: np.ndarray) -> np.ndarray:
    """A colour-free scene descriptor (unit length): gradient-orientation energy in a 4x4 grid
    (8 orientations) at two scales, and the 4x4 lightness layout, of the gray image."""
    gray = cv2.cvtColor(cv2.resize(rgb_uint8, (96, 96), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    gray = gray.astype(np.float32) / 255.0
    parts = []
    for image in (gray, cv2.pyrDown(gray)):
        gx, gy = cv2.Sobel(image, cv2.CV_32F, 1, 0), cv2.Sobel(image, cv2.CV_32F, 0, 1)
        magnitude, angle = np.hypot(gx, gy), np.mod(np.arctan2(gy, gx), np.pi)
        bins = np.minimum((angle / np.pi * 8).astype(int), 7)
        n = image.shape[0] // 4
        cells = np.zeros((4, 4, 8), np.float32)
        for row in range(4):
            for col in range(4):
                sl = np.s_[row * n:(row + 1) * n, col * n:(col + 1) * n]
                cells[row, col] = np.bincount(bins[sl].ravel(), magnitude[sl].ravel(), minlength=8)
        cells = np.sqrt(cells / (cells.sum() + 1e-6))
        parts.append(cells.ravel())
    layout = cv2.resize(gray, (4, 4), interpolation=cv2.INTER_AREA).ravel()
    parts.append(0.5 * (layout - layout.mean()))
    vector = np.concatenate(parts)
    return vector / (np.linalg.norm(vector) + 1e-6)


def nearest_neighbours(descriptors: np.ndarray, shot_of: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
    """For each item the ``k`` most similar other items (cosine), never from its own shot
    (``shot_of`` -1 for photos) and never a near-duplicate (similarity above 0.995)."""
    sims = descriptors @ descriptors.T
    same_shot = (shot_of[:, None] == shot_of[None, :]) & (shot_of[:, None] >= 0)
    sims[same_shot | (sims > 0.995)] = -np.inf
    np.fill_diagonal(sims, -np.inf)
    k = min(k, len(descriptors) - 1)
    order = np.argpartition(-sims, k, axis=1)[:, :k]
    ranked = np.take_along_axis(order, np.argsort(-np.take_along_axis(sims, order, 1), 1), 1)
    return ranked.astype(np.int32)


def decode(dirs: list[str | Path], short_side: int, frame_step: int) -> Packed:
    """Photos and shots under ``dirs``, resized, with each item's semantic neighbours."""
    photos, shots, photo_sources, shot_sources = collect(dirs, short_side, frame_step)
    sources = photo_sources + [src for src, shot in zip(shot_sources, shots) for _ in shot]
    decoded = Packed(photos, shots, np.zeros((0, NEIGHBOURS), np.int32), sources)
    descriptors = np.stack([descriptor(item) for item in decoded.items()]).astype(np.float32)
    decoded.neighbours = nearest_neighbours(descriptors, decoded.shot_of())
    return decoded


def pack(dirs: list[str | Path], out: str | Path, short_side: int = 192, frame_step: int = 2) -> Path:
    """Decode ``dirs`` and write the packed file ``out`` (.npz, uncompressed; written then renamed)."""
    packed = decode(dirs, short_side, frame_step)
    items = packed.items()
    sizes = np.array([item.size for item in items], np.int64)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez(
        tmp, version=FORMAT_VERSION, pixels=np.concatenate([item.ravel() for item in items]),
        offsets=np.concatenate([[0], np.cumsum(sizes)]), shapes=np.array([item.shape for item in items], np.int32),
        shot_of=packed.shot_of(), neighbours=packed.neighbours, sources=np.array(packed.sources),
    )
    tmp.replace(out)
    print(f"packed {len(packed.photos)} photos and {len(packed.shots)} shots ({len(items) - len(packed.photos)} "
          f"frames), {sizes.sum() / 1e6:.0f} MB, into {out}", file=sys.stderr)
    return out


def load_packed(path: str | Path) -> Packed:
    """Read a file written by :func:`pack`."""
    try:
        data = np.load(path)
        if int(data["version"]) != FORMAT_VERSION:
            raise VidcolorError(f"{path} was packed by another version (format {int(data['version'])}); pack it again")
        pixels, offsets, shapes, shot_of = data["pixels"], data["offsets"], data["shapes"], data["shot_of"]
        neighbours, sources = data["neighbours"], [str(s) for s in data["sources"]]
    except (OSError, KeyError, ValueError) as exc:
        raise VidcolorError(f"{path} is not a packed training file: {exc}") from exc
    items = [pixels[offsets[i]:offsets[i + 1]].reshape(shapes[i]) for i in range(len(shapes))]
    photos = [item for item, shot in zip(items, shot_of) if shot < 0]
    shots: list[list[np.ndarray]] = [[] for _ in range(int(shot_of.max()) + 1)] if (shot_of >= 0).any() else []
    for item, shot in zip(items, shot_of):
        if shot >= 0:
            shots[shot].append(item)
    return Packed(photos, shots, neighbours, sources)


def is_packed(path: str | Path) -> bool:
    return Path(path).suffix == ".npz" and Path(path).is_file()
