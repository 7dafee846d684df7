"""The model card's picture: old photos coloured automatically and from a similar-scene reference.

    python benchmarks/photo_sheet.py --photos ../shared/data/bw/deoldify_photos \
        --candidates runs/data.npz --out docs/images/deoldify_photos.jpg

For every photo: the gray input, the automatic result (no reference), the reference and the
result with that reference. The references of benchmarks/deoldify_references.json were chosen by
looking (a photo of a similar scene: a street for a street, a desert for the Sphinx; paths under
--data); for the others (portraits and interiors with nothing alike among the candidates) one is
found without labels, as a user with a folder of colour photos could: the 12 nearest colour photos
by the colour-free descriptor of training/pack.py, then the one whose content the model's
matching features cover best (the score that chooses a reference per shot in a film).
Candidates are the photos of a file packed by `vidcolor pack` (their source paths are stored in
it). Writes the sheet and a JSON list of the references used.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from vidcolor import Colorizer, read_image
from vidcolor.colorizer import working_shape
from vidcolor.example import to_gray_rgb
from vidcolor.photo import working_lightness
from vidcolor.training.pack import descriptor, load_packed

TILE = 120  # tile height in pixels


def tile(rgb_uint8: np.ndarray, width: int) -> np.ndarray:
    h, w = rgb_uint8.shape[:2]
    scale = min(TILE / h, width / w)
    small = cv2.resize(rgb_uint8, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    canvas = np.full((TILE, width, 3), 255, np.uint8)
    y, x = (TILE - small.shape[0]) // 2, (width - small.shape[1]) // 2
    canvas[y:y + small.shape[0], x:x + small.shape[1]] = small
    return canvas


def choose_reference(colorizer: Colorizer, photo: np.ndarray, candidates: list[tuple[str, np.ndarray]],
                     descriptors: np.ndarray) -> str:
    """The candidate nearest in descriptor, re-ranked by the model's match score; its path."""
    nearest = np.argsort(-(descriptors @ descriptor(photo)))[:12]
    lightness_work = working_lightness(photo, working_shape(*photo.shape[:2], colorizer.work_size))
    colorizer.set_references([candidates[i][1] for i in nearest])
    scores = colorizer.reference_scores(lightness_work)
    return candidates[nearest[int(np.argmax(scores))]][0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, required=True, help="folder of black-and-white photos")
    parser.add_argument("--candidates", type=Path, required=True, help="a file packed by `vidcolor pack`")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parent.parent.parent / "shared" / "data")
    parser.add_argument("--checkpoint", default=None, help="model name or checkpoint (default: the shipped model)")
    parser.add_argument("--out", type=Path, required=True, help="the sheet to write (.jpg or .png)")
    args = parser.parse_args()
    if not args.photos.is_dir() or not args.candidates.is_file():
        print("photo_sheet: --photos or --candidates is missing", file=sys.stderr)
        return 2
    packed = load_packed(args.candidates)
    candidates = [(source, image) for source, image in zip(packed.sources, packed.photos) if "/images/" in source]
    descriptors = np.stack([descriptor(image) for _, image in candidates])
    colorizer = Colorizer.from_pretrained(args.checkpoint)
    picked = json.loads((Path(__file__).resolve().parent / "deoldify_references.json").read_text())
    rows, chosen = [], {}
    for path in sorted(p for p in args.photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")):
        photo = to_gray_rgb(read_image(path))
        colorizer.set_reference(None)
        automatic = colorizer.colorize_photo(photo)
        reference_path = (str(args.data / picked[path.name]) if path.name in picked
                          else choose_reference(colorizer, photo, candidates, descriptors))
        reference = read_image(reference_path)
        colorizer.set_reference(reference)
        guided = colorizer.colorize_photo(photo)
        chosen[path.name] = reference_path.split("/data/", 1)[-1]  # relative to the data folder
        width = round(TILE * 1.4)
        rows.append(np.concatenate([tile(photo, width), tile(automatic, width), tile(reference, width),
                                    tile(guided, width)], 1))
        print(f"{path.name}: {reference_path}", file=sys.stderr)
    half = (len(rows) + 1) // 2
    left, right = rows[:half], rows[half:] + [np.full_like(rows[0], 255)] * (2 * half - len(rows))
    gap = np.full((TILE * half, 12, 3), 255, np.uint8)
    sheet = np.concatenate([np.concatenate(left, 0), gap, np.concatenate(right, 0)], 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 85] if args.out.suffix.lower() in (".jpg", ".jpeg") else [])
    args.out.with_suffix(".json").write_text(json.dumps(chosen, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
