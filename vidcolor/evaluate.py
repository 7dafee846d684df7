"""``vidcolor evaluate``: quality of a model against non-learned baselines on colour clips.

Protocol (../shared/design/evaluation.md): the gray input is L of each frame; the reference is
the first frame that is not a fade (not dark, not colourless) or, with ``--ref-offset K``, the
frame K frames after it (the far-reference protocol; the evaluated frames stay the first N).
The model runs exactly as the CLI runs it (same Colorizer defaults, temporal smoothing on).
The reference frame itself is left out of the scores when it lies among the evaluated frames:
every method (flow especially) reproduces it exactly, which says nothing.

Cross-image protocol: a source written ``SOURCE=REFERENCE`` takes its reference from another
image, or from the first content frame of another clip (a similar scene, never the same shot).
Automatic protocol (``--automatic``): no reference at all; the model colours from its learned
prior, and only the gray baseline applies (the palette and flow baselines need a reference).
``--encoded`` scores what a user receives by default: every method's frames (baselines too) go
through x264 at crf 18 in 4:2:0 before they are compared; without it the frames are scored as
coloured (what ``--crf 0 --pix-fmt yuv444p`` writes).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from . import baselines, defaults, metrics
from .color import rgb_uint8_to_lab
from .colorizer import Colorizer
from .errors import VidcolorError
from .defaults import IMAGE_SUFFIXES
from .images import read_image
from .clip import colorize_batches
from .runner import yuv420_output
from .yuv420 import lightness_planes

METHODS = ("model", "gray", "palette", "flow")
METRICS = ("psnr", "ssim", "ciede2000", "colourfulness_ratio", "cdc", "warp_error")


def read_clip(source: Path, count: int) -> list[np.ndarray]:
    """The first ``count`` RGB uint8 frames of a colour video or a folder of frames (a photo: one frame)."""
    if source.is_file() and source.suffix.lower() in IMAGE_SUFFIXES:
        return [read_image(source)]
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        return [read_image(p) for p in files[:count]]
    from .media import read_rgb_frames

    frames = []
    for _, rgb in read_rgb_frames(source):
        frames.append(rgb)
        if len(frames) == count:
            break
    return frames


def first_content_frame(frames_lab: Iterable[np.ndarray], min_lightness: float = 15.0, min_chroma: float = 2.0) -> int:
    """Index of the first frame that is neither dark nor colourless (fade-ins are skipped).

    The chroma bar is low on purpose: a fade or a title card is near 0, while muted real scenes
    (Sintel's snow: mean chroma 3.5) must still count as content.
    """
    for i, lab in enumerate(frames_lab):
        if lab[..., 0].mean() > min_lightness and np.hypot(lab[..., 1], lab[..., 2]).mean() > min_chroma:
            return i
    raise VidcolorError("no frame is bright and colourful enough to serve as the reference")


def to_lab(rgb_uint8: np.ndarray) -> np.ndarray:
    return rgb_uint8_to_lab(torch.from_numpy(rgb_uint8)[None])[0].permute(1, 2, 0).numpy()


def _reference_of(source: Path, clip: list[np.ndarray], ref_offset: int, other: Path | None) -> tuple[np.ndarray, int]:
    """The reference (RGB uint8) and its frame index in the evaluated clip (-1: from another source)."""
    if other is not None:
        if not other.exists():
            raise VidcolorError(f"{other}: no such file or folder")
        if other.is_file() and other.suffix.lower() in IMAGE_SUFFIXES:
            return read_image(other), -1
        frames = read_clip(other, ref_offset + 200)
        return frames[first_content_frame(to_lab(rgb) for rgb in frames) + ref_offset], -1
    # Lab only of the frames used (converted lazily while looking for content): float Lab of
    # every frame read made the peak 9.9 GB instead of 4.5 for a 720p clip with --ref-offset 160.
    ref_index = first_content_frame(to_lab(rgb) for rgb in clip) + ref_offset
    if ref_index >= len(clip):
        raise VidcolorError(f"{source}: the reference frame {ref_index} is past the end of the clip")
    return clip[ref_index], ref_index


def through_encoder(frames: list, folder: Path) -> list[np.ndarray]:
    """The frames (RGB, or 4:2:0 planes) as a user receives them by default: x264, crf 18, preset
    medium, 4:2:0, decoded again to RGB."""
    from .media import EncoderOptions, read_rgb_frames, write_clip

    path = write_clip(folder / "encoded.mp4", frames, 25, options=EncoderOptions())
    decoded = [rgb for _, rgb in read_rgb_frames(path)]
    path.unlink()
    return decoded


def _model_frames(colorizer: Colorizer, lightness: list[np.ndarray], batch_size: int, smooth: bool, keyframes: str,
                  encoded: bool) -> list:
    """The model's frames from CIE L ``(h, w)`` each: RGB uint8, or (``encoded``, where the command line
    writes its default 4:2:0 output so) 4:2:0 planes made as it makes them (:mod:`vidcolor.yuv420`)."""
    planar = encoded and yuv420_output(*lightness[0].shape, colorizer.work_size, defaults.PIX_FMT) is not None
    batches = ((part, None) for part in torch.from_numpy(np.stack(lightness))[:, None].split(batch_size))
    coloured = colorize_batches(colorizer, batches, smooth=smooth, keyframes=keyframes,
                                output="ab" if planar else "rgb")
    if not planar:
        return [rgb for batch in coloured for rgb in batch.cpu().numpy()]
    pairs = ((work, ab) for works, abs_ in coloured for work, ab in zip(works, abs_))
    return [lightness_planes(full, work, ab) for full, (work, ab) in zip(lightness, pairs)]


def evaluate_clip(
    source: Path, colorizer: Colorizer, frames: int, ref_offset: int, batch_size: int, smooth: bool = True,
    reference: Path | None = None, encoded: bool = False, keyframes: str = defaults.KEYFRAMES,
    automatic: bool = False,
) -> dict:
    """Scores of every method on one clip: ``{method: {metric: value}}`` plus bookkeeping.

    ``reference``: take the reference from this image or clip (cross-image protocol) instead of
    the clip itself. ``encoded``: score every method's frames after the default encoding.
    ``automatic``: no reference (the model's prior; palette and flow are not scored: NaN).
    """
    clip = read_clip(source, frames + ref_offset + 200 if reference is None and not automatic else frames)
    if not clip:
        raise VidcolorError(f"{source}: no frames")
    if automatic:
        reference_rgb, ref_index = None, -1
    else:
        reference_rgb, ref_index = _reference_of(source, clip, ref_offset, reference)
    ground_truth, evaluated_labs = clip[:frames], [to_lab(rgb) for rgb in clip[:frames]]
    del clip  # the frames past the evaluated ones (up to ~200 + the offset) are not needed
    scored = [i for i in range(len(ground_truth)) if i != ref_index]

    colorizer.set_reference(reference_rgb)
    outputs = {
        "model": _model_frames(colorizer, [lab[..., 0] for lab in evaluated_labs], batch_size, smooth, keyframes,
                               encoded),
        "gray": [baselines.lab_to_rgb_uint8(lab[..., 0], baselines.gray_ab(lab[..., 0])) for lab in evaluated_labs],
    }
    if reference_rgb is not None:
        reference_lab = to_lab(reference_rgb)
        outputs["palette"] = [baselines.lab_to_rgb_uint8(lab[..., 0], baselines.palette_ab(lab[..., 0], reference_lab))
                              for lab in evaluated_labs]
        outputs["flow"] = [baselines.lab_to_rgb_uint8(lab[..., 0], baselines.flow_ab(lab[..., 0], reference_lab))
                           for lab in evaluated_labs]
    if encoded:
        with tempfile.TemporaryDirectory() as folder:
            outputs = {method: through_encoder(frames, Path(folder)) for method, frames in outputs.items()}
    result = {"source": str(source), "reference": str(reference) if reference else None,
              "frames": len(ground_truth), "reference_frame": ref_index}
    for method, frames_rgb in outputs.items():
        scores = metrics.clip_metrics([frames_rgb[i] for i in scored], [ground_truth[i] for i in scored])
        # CDC and the warping error are properties of the sequence: measured on all evaluated frames.
        scores["cdc"] = metrics.cdc(frames_rgb)
        scores["warp_error"] = metrics.chroma_warp_error(frames_rgb, ground_truth)
        result[method] = {k: scores[k] for k in METRICS}
    for method in METHODS:
        result.setdefault(method, {k: math.nan for k in METRICS})
    result["cdc_ground_truth"] = metrics.cdc(ground_truth)
    result["warp_error_ground_truth"] = metrics.chroma_warp_error(ground_truth, ground_truth)
    return result


def summarise(results: list[dict]) -> dict:
    return {
        method: {metric: float(np.mean([r[method][metric] for r in results])) for metric in METRICS}
        for method in METHODS
    }


def format_table(results: list[dict], mean: dict) -> str:
    header = f"{'clip':28s} {'method':8s} " + " ".join(
        f"{m:>10s}" for m in ("PSNR", "SSIM", "dE2000", "colourful", "CDC", "warp err"))
    lines = [header, "-" * len(header)]
    for name, scores in [(Path(r["source"]).stem, r) for r in results] + [("MEAN", mean)]:
        for method in METHODS:
            values = " ".join(
                f"{scores[method][m]:10.4f}" if m == "cdc" else f"{scores[method][m]:10.3f}" for m in METRICS
            )
            lines.append(f"{name[:28]:28s} {method:8s} {values}")
    return "\n".join(lines)


def _nan_to_none(value):
    """JSON has no NaN: a score that does not apply (no reference for the baselines) is null."""
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="vidcolor evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", help="colour videos or folders of colour frames; SOURCE=REFERENCE "
                        "takes the reference from another image or clip (the cross-image protocol)")
    parser.add_argument("--checkpoint", default=None, help="model name or checkpoint (default: the shipped model)")
    parser.add_argument("--frames", type=int, default=60, help="evaluated frames per clip (default 60)")
    parser.add_argument("--ref-offset", type=int, default=0, help="reference K frames after the first content frame")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--temporal", choices=["flow", "off"], default="flow", help="the model's chroma smoothing")
    parser.add_argument("--keyframes", choices=defaults.KEYFRAME_MODES, default=defaults.KEYFRAMES,
                        help="where the network runs: every frame, or adaptive keyframes with colour carried between")
    parser.add_argument("--full-colour", action="store_true", help="the model without its chroma hedge")
    parser.add_argument("--automatic", action="store_true", help="no reference: the model's learned prior alone")
    parser.add_argument("--encoded", action="store_true",
                        help="score what a user receives by default: every method through x264 crf 18 4:2:0")
    parser.add_argument("--json", default="evaluation.json", help="where to write the results (default evaluation.json)")
    args = parser.parse_args(argv)

    colorizer = Colorizer.from_pretrained(args.checkpoint, device=args.device, hedge=not args.full_colour)
    results = []
    for value in args.sources:
        source_text, _, reference_text = value.partition("=")
        source = Path(source_text)
        if not source.exists():
            raise VidcolorError(f"{source}: no such file or folder")
        results.append(evaluate_clip(
            source, colorizer, args.frames, args.ref_offset, args.batch_size, args.temporal == "flow",
            reference=Path(reference_text) if reference_text else None, encoded=args.encoded,
            keyframes=args.keyframes, automatic=args.automatic,
        ))
    mean = summarise(results)
    print(format_table(results, mean))
    payload = {"checkpoint": args.checkpoint or "default", "ref_offset": args.ref_offset, "frames": args.frames,
               "temporal": args.temporal, "keyframes": args.keyframes, "full_colour": args.full_colour, "encoded": args.encoded,
               "automatic": args.automatic,
               "clips": results, "mean": mean}
    Path(args.json).write_text(json.dumps(_nan_to_none(payload), indent=2))
    print(f"wrote {args.json}")
    return 0
