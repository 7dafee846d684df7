"""The frame colourizer: gray frames + a colour reference -> colour frames at full resolution.

    from vidcolor import Colorizer
    colorizer = Colorizer.from_pretrained()          # shipped weights, GPU when there is one
    colorizer.set_reference(reference_rgb_uint8)     # encoded once, reused for every frame (None: automatic)
    rgb_uint8 = colorizer.colorize(gray_frames)      # (b, h, w) or (h, w) -> (b, h, w, 3)

Several references: ``set_references([a, b, c])`` encodes each once; ``choose_reference(frames)``
returns the index of the best-matching one, which the colouring calls take as ``reference=``
(the video loop in :mod:`vidcolor.clip` does this at every scene cut). The Colorizer keeps no
per-clip state: the reference in force is always passed in.

Inside: the network predicts ab at a working resolution (short side ``work_size``); ab is
upsampled by a guided filter steered by the full-resolution lightness and merged with the
ORIGINAL lightness, so every detail of the source is kept and only chroma comes from the model.
No file I/O here.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import defaults, flow, photo
from .clip import colorize_stream
from .color import (
    denormalize_ab,
    gray_to_lightness,
    lab_hwc_to_rgb_uint8,
    lab_to_rgb_uint8,
    normalize_ab,
    normalize_lightness,
    rgb_to_lab,
    to_gray_batch,
)
from .errors import ReferenceWarning, TooLargeError, VidcolorError, megapixels
from .guided import guided_coefficients_hwc, guided_upsample, guided_upsample_lab_hwc
from .models import Generator, ModelNotFoundError, ReferenceFeatures, load_model, match_score


# Below this mean chroma (Lab units) a reference is called colourless.
COLOURLESS_CHROMA = 4.0


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/"auto" -> CUDA when available, else CPU."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise VidcolorError("the CUDA device was requested but no CUDA GPU is available")
    return device


def working_shape(height: int, width: int, work_size: int) -> tuple[int, int]:
    """Scale so the short side is ``work_size``; both sides rounded to multiples of 8.

    A picture more than ``MAX_WORK_ASPECT`` times as long as it is short is scaled so its long
    side is that many times ``work_size`` instead (its short side at least ``MIN_WORK_SIZE``), so
    that the network's memory is bounded by the work size whatever the picture's shape (a 16:1
    panorama at work size 1024 would take ~8 GB). Beyond ``MAX_ASPECT_RATIO`` it is refused.
    """
    short, long = min(height, width), max(height, width)
    if long > defaults.MAX_ASPECT_RATIO * short:
        raise VidcolorError(
            f"the picture is {width}x{height} pixels: more than {defaults.MAX_ASPECT_RATIO} times as wide "
            "as high (or high as wide) is not supported"
        )
    scale = min(work_size / short, defaults.MAX_WORK_ASPECT * work_size / long)
    scale = max(scale, defaults.MIN_WORK_SIZE / short)
    return max(8, round(height * scale / 8) * 8), max(8, round(width * scale / 8) * 8)


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles (Intel Xeon 4th generation and later).

    With AMX, oneDNN runs the network in bf16 about 1.4x faster than in fp32 (480p on 2 cores:
    68 vs 95 ms per frame, channels-last both).
    """
    # Private torch helpers (absent means "don't know" -> fp32): the CPU must have the tiles and
    # the kernel must let this process use them (_init_amx asks for that permission).
    supported = getattr(torch.cpu, "_is_amx_tile_supported", None)
    usable = getattr(torch.cpu, "_init_amx", None)
    return bool(supported and usable and supported() and usable())


def cpu_has_avx512_bf16() -> bool:
    """Whether this CPU has AVX512-BF16 dot products (AMD Zen 4 and later; Intel Cooper Lake and AMX CPUs).

    On 2 cores of an AMD EPYC with it (no AMX) the network took 34.6 instead of 40.7 ms per
    256x456 frame in bf16, with the same evaluation scores (docs/keyframes.md, session 17). An
    earlier measurement of AVX512-BF16 alone on an Intel CPU found bf16 slower (100 vs 89 ms):
    ``precision="fp32"`` may be the faster choice there. With AVX2 alone bf16 is emulated and much
    slower (1.1 s), so such CPUs get fp32.
    """
    supported = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    return bool(supported and supported())


@dataclass
class Reference:
    """A reference image prepared once: network features and its Lab for flow propagation."""

    features: ReferenceFeatures
    lab: torch.Tensor | None  # (1, 3, h, w) at the working scale (short side work_size, or its own), on the CPU
    chroma: float  # mean chroma in Lab units
    digest: str  # sha256 of the image's pixels: identifies the reference for a resumed run
    # lab's L and ab planes resized to a working shape, per shape (Colorizer._flow_planes)
    flow_planes: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def automatic(self) -> bool:
        """The stand-in for "no reference": the model colours from its learned prior."""
        return self.lab is None


AUTOMATIC = "automatic"  # the digest of the no-reference stand-in


class Colorizer:
    """Colourise gray frames from a colour reference with a trained generator."""

    def __init__(
        self,
        model: Generator,
        device: str | torch.device | None = None,
        work_size: int = defaults.WORK_SIZE,
        precision: str = defaults.PRECISION,
        compile: bool = False,
        network_batch: int | None = None,
        hedge: bool = True,
    ):
        """``precision``: "fp32", "fp16" or "bf16" autocast for the network; "auto" is fp16 on
        CUDA, bf16 on a CPU with AMX or AVX512-BF16 and fp32 on other CPUs (where half precision
        is emulated and slower).
        The k kept attention similarities stay fp32 whatever the precision. ``compile`` wraps the
        network in ``torch.compile`` (opt-in: the first batches are slow while it compiles).
        ``network_batch``: at most this many frames per network call (default: one at a time
        on a CPU, the whole batch on a GPU). ``hedge``: scale each frame's colour by the model's
        fitted chroma hedge, which mutes it where the reference matches the frame badly (False:
        the network's full colour everywhere).
        """
        if precision not in defaults.PRECISIONS:
            raise VidcolorError(f"unknown precision {precision!r}; choose from {', '.join(defaults.PRECISIONS)}")
        if work_size < defaults.MIN_WORK_SIZE:
            raise VidcolorError(f"the work size must be at least {defaults.MIN_WORK_SIZE} pixels, got {work_size}")
        self.device = resolve_device(device)
        # Channels-last picks the faster cuDNN and oneDNN kernels (CPU fp32: 95 vs 107 ms/frame).
        self.model = model.to(self.device).eval().to(memory_format=torch.channels_last)
        self.network = torch.compile(self.model) if compile else self.model
        if precision == "auto":
            if self.device.type == "cuda":
                precision = "fp16"
            else:
                precision = "bf16" if cpu_has_amx() or cpu_has_avx512_bf16() else "fp32"
        self.precision = precision
        self.work_size = work_size
        # On a CPU a batch gains nothing and its activations spill out of cache: 480p on 2 cores
        # ran the network at 96 ms/frame with a 1.07 GB peak one frame per call, 154 ms and
        # 1.51 GB eight per call.
        self.network_batch = network_batch or (1 if self.device.type == "cpu" else None)
        self.hedge = hedge
        # The stand-in for "no reference", encoded once; until references are set, the
        # colourizer is in automatic mode.
        self._automatic = self._automatic_reference()
        self.references: list[Reference] = [self._automatic]

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | Path | None = None, device: str | torch.device | None = None, **options
    ) -> "Colorizer":
        """Load shipped weights by name (default: the shipped default model) or a checkpoint path.

        ``options`` are the constructor's (``work_size``, ``precision``, ``compile``, ``hedge``).
        """
        try:
            model = load_model(name_or_path)
        except (ModelNotFoundError, ValueError) as exc:
            raise VidcolorError(str(exc)) from exc
        return cls(model, device=device, **options)

    # ---- reference

    def prepare_reference(self, image) -> Reference:
        """Encode a colour reference (RGB ``(h, w, 3)`` uint8, numpy or torch) without keeping it."""
        rgb = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image)
        if rgb.ndim != 3 or rgb.shape[-1] != 3 or rgb.dtype != torch.uint8:
            raise VidcolorError("the reference must be an RGB image (h, w, 3) of uint8")
        h, w = rgb.shape[:2]
        if min(h, w) < 16:
            raise VidcolorError(f"the reference is too small ({w}x{h}); use at least 16x16 pixels")
        # The network's features: fit inside ref_size x ref_size (bounded memory and attention
        # cost for any reference), multiples of 8.
        scale = min(1.0, self.model.config.ref_size / max(h, w))
        size = (max(8, round(h * scale / 8) * 8), max(8, round(w * scale / 8) * 8))
        rgb_float = rgb.permute(2, 0, 1).unsqueeze(0).float() / 255.0
        lab = rgb_to_lab(F.interpolate(rgb_float, size=size, mode="area"))
        # The flow candidate: at the working scale (short side work_size, never enlarged), as
        # sharp as the frames it is carried onto. Blown up from ref_size it was blurred, and the
        # network mostly copies it (near clips: colourfulness 0.862 -> 0.867, CIEDE2000 2.439 ->
        # 2.435 with this; see models/README.md).
        flow_scale = min(1.0, self.work_size / min(h, w))
        flow_size = (max(8, round(h * flow_scale)), max(8, round(w * flow_scale)))
        flow_lab = rgb_to_lab(F.interpolate(rgb_float, size=flow_size, mode="area"))
        chroma = float(lab[:, 1:].norm(dim=1).mean())
        if chroma < COLOURLESS_CHROMA:
            warnings.warn(
                f"the reference is nearly colourless (mean chroma {chroma:.1f}); the colours will be weak",
                ReferenceWarning,
                stacklevel=2,
            )
        lab_device = lab.to(self.device)
        with torch.inference_mode():
            features = self.model.encode_reference(
                normalize_lightness(lab_device[:, :1]), normalize_ab(lab_device[:, 1:])
            )
        digest = hashlib.sha256(rgb.contiguous().numpy().tobytes()).hexdigest()
        return Reference(features, flow_lab, chroma, digest)

    def _automatic_reference(self) -> Reference:
        with torch.inference_mode():
            features = self.model.encode_empty_reference()
        return Reference(features, None, 0.0, AUTOMATIC)

    def set_reference(self, image) -> None:
        """Use this colour image (RGB uint8 ``(h, w, 3)``) as the only reference; ``None``: no
        reference (automatic mode: colours from the model's learned prior)."""
        self.set_references([] if image is None else [image])

    def set_references(self, images) -> None:
        """Encode several colour references once each (index 0, 1, ... in the colouring calls);
        an empty list is automatic mode (index 0: no reference)."""
        self.references = [self.prepare_reference(image) for image in images] or [self._automatic]

    @property
    def automatic(self) -> bool:
        """Whether no reference is set: colours come from the model's learned prior."""
        return self.references[0].automatic

    def _reference(self, index: int) -> Reference:
        return self.references[index]

    def identity(self) -> dict:
        """What makes this colourizer's output what it is: weights, references and settings (JSON-able).

        A resumed run must match the interrupted one in all of it (see :mod:`vidcolor.runner`).
        """
        weights = hashlib.sha256()
        for name, tensor in sorted(self.model.state_dict().items()):
            weights.update(name.encode())
            weights.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        return {
            "model": weights.hexdigest(),
            "references": [reference.digest for reference in self.references],
            "device": self.device.type,
            "work_size": self.work_size,
            "precision": self.precision,
            "hedge": self.hedge,
        }

    def reference_scores(self, lightness_work: torch.Tensor) -> list[float]:
        """How well each reference matches working-resolution lightness ``(b, 1, h, w)`` (L units).

        The mean best cosine similarity of the frames' matching features against each reference's
        keys (see :func:`vidcolor.models.match_score`), averaged over the batch.
        """
        with torch.inference_mode():
            query = self.model.match_query(normalize_lightness(lightness_work.to(self.device, torch.float32)))
            return [float(match_score(query, ref.features.keys).mean()) for ref in self.references]

    def choose_reference(self, lightness_work: torch.Tensor) -> int:
        """The index of the reference that best matches these frames (0 when there is one)."""
        if len(self.references) <= 1:
            return 0
        scores = self.reference_scores(lightness_work)
        return max(range(len(scores)), key=scores.__getitem__)

    def colour_kept(self, confidence: torch.Tensor) -> list[float]:
        """The share of the network's colour each frame keeps: the hedge's factor for flow confidence ``(b, 1, h, w)``.

        1.0 everywhere with the hedge off; below 1 where the reference matches the frame badly.
        """
        if not self.hedge:
            return [1.0] * confidence.shape[0]
        return self.model.chroma_scale(confidence).flatten().tolist()

    # ---- colourisation

    def working_lightness(self, lightness: torch.Tensor) -> torch.Tensor:
        """Full-resolution lightness ``(b, 1, H, W)`` -> the working resolution, on the device."""
        if self.device.type == "cuda":
            # Page-locked memory lets the copy overlap with work already queued on the GPU.
            lightness = lightness.pin_memory().to(self.device, non_blocking=True)
        lightness = lightness.to(self.device, torch.float32)
        return F.interpolate(lightness, size=working_shape(*lightness.shape[-2:], self.work_size), mode="area")

    def predict_ab(
        self,
        lightness_work: torch.Tensor,
        reference: int = 0,
        candidate: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """ab ``(b, 2, h, w)`` in Lab units for working-resolution lightness ``(b, 1, h, w)``.

        ``reference`` is the index of the reference to colour from; ``candidate`` is
        :meth:`flow_candidate`'s result for it when the caller already has it.
        """
        features = self._reference(reference).features
        flow_ab, confidence = candidate if candidate is not None else self.flow_candidate(lightness_work, reference)
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(self.precision)
        chunk = self.network_batch or lightness_work.shape[0]
        parts = []
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None):
            for start in range(0, lightness_work.shape[0], chunk):
                frames = slice(start, start + chunk)
                ab = self.network(
                    normalize_lightness(lightness_work[frames]), features,
                    normalize_ab(flow_ab[frames]), confidence[frames],
                )[-1].float()
                parts.append(ab * self.model.chroma_scale(confidence[frames]) if self.hedge else ab)
        return denormalize_ab(torch.cat(parts))

    def reference_fields(self, lightness_work: torch.Tensor, reference: int = 0) -> list[np.ndarray] | None:
        """DIS flow fields ``(h, w, 2)`` from each frame of ``(b, 1, h, w)`` into reference ``reference``
        (the costly part of :meth:`flow_candidate`); None for the no-reference stand-in."""
        planes = self._flow_planes(reference, lightness_work.shape[-2:])
        if planes is None:
            return None
        ref_u8 = flow.to_uint8(planes[0])
        return [flow.dis_flow(flow.to_uint8(frame), ref_u8) for frame in lightness_work[:, 0].cpu().numpy()]

    def flow_candidate(
        self, lightness_work: torch.Tensor, reference: int = 0, fields: list[np.ndarray] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Reference ``reference``'s ab carried onto each frame by DIS optical flow, with its confidence.

        Returns ab ``(b, 2, h, w)`` in Lab units and confidence ``(b, 1, h, w)`` in [0, 1].
        ``fields``: the flows into the reference when the caller already has them
        (:meth:`reference_fields`, or composed from frame to frame by :mod:`vidcolor.keyframes`).
        """
        planes = self._flow_planes(reference, lightness_work.shape[-2:])
        if planes is None:  # the no-reference stand-in: nothing to carry
            b, _, h, w = lightness_work.shape
            zeros = torch.zeros(b, 3, h, w, device=self.device)
            return zeros[:, :2], zeros[:, 2:]
        fields = fields if fields is not None else self.reference_fields(lightness_work, reference)
        frames = lightness_work[:, 0].cpu().numpy()
        ab, confidence = zip(*(flow.propagate_along(f, frame, *planes) for f, frame in zip(fields, frames)))
        ab_t = torch.from_numpy(np.stack(ab)).permute(0, 3, 1, 2)
        conf_t = torch.from_numpy(np.stack(confidence)).unsqueeze(1)
        return ab_t.to(self.device), conf_t.to(self.device)

    def flow_confidence(
        self, lightness_work: torch.Tensor, reference: int = 0, fields: list[np.ndarray] | None = None
    ) -> torch.Tensor:
        """:meth:`flow_candidate`'s confidence ``(b, 1, h, w)`` alone, for callers that only weigh the match
        (the chroma hedge, the choice of reference): the reference's ab is not carried."""
        planes = self._flow_planes(reference, lightness_work.shape[-2:])
        if planes is None:  # the no-reference stand-in: nothing matches
            b, _, h, w = lightness_work.shape
            return torch.zeros(b, 1, h, w, device=self.device)
        fields = fields if fields is not None else self.reference_fields(lightness_work, reference)
        frames = lightness_work[:, 0].cpu().numpy()
        confidence = [flow.confidence_along(f, frame, planes[0]) for f, frame in zip(fields, frames)]
        return torch.from_numpy(np.stack(confidence)).unsqueeze(1).to(self.device)

    def _flow_planes(self, reference: int, shape) -> tuple[np.ndarray, np.ndarray] | None:
        """Reference ``reference``'s L ``(h, w)`` and ab ``(h, w, 2)`` resized to the working ``shape``
        (kept per size: a video has one); None for the no-reference stand-in."""
        prepared = self._reference(reference)
        if prepared.automatic:
            return None
        key = tuple(shape)
        if key not in prepared.flow_planes:
            ref_lab = F.interpolate(prepared.lab, size=key, mode="bilinear", align_corners=False, antialias=True)
            # Contiguous planes once, not a strided copy for every frame.
            prepared.flow_planes[key] = (ref_lab[0, 0].contiguous().numpy(),
                                         ref_lab[0, 1:].permute(1, 2, 0).contiguous().numpy())
        return prepared.flow_planes[key]

    def merge(self, lightness: torch.Tensor, lightness_work: torch.Tensor, ab_work: torch.Tensor) -> torch.Tensor:
        """Guided-upsample ab to full resolution and merge with the original lightness -> RGB uint8 ``(b, H, W, 3)``.

        On a GPU everything stays on the device; on a CPU the full-resolution steps run in
        OpenCV, frame by frame (several times faster, and no batch-sized full-resolution
        temporaries).
        """
        ab_work = ab_work.to(lightness_work)
        if self.device.type != "cpu":
            lightness = lightness.to(self.device, torch.float32)
            return lab_to_rgb_uint8(torch.cat([lightness, guided_upsample(lightness_work, ab_work, lightness)], 1))
        lightness_work_np = lightness_work[:, 0].numpy()
        ab_work_hwc = ab_work.permute(0, 2, 3, 1).contiguous().numpy()
        lightness_np = lightness[:, 0].float().numpy()
        out = np.empty((*lightness_np.shape, 3), np.uint8)
        lab = np.empty((*lightness_np.shape[1:], 3), np.float32)
        scratch = (np.empty_like(lab), np.empty_like(lab))
        for i, frame_lightness in enumerate(lightness_np):
            a_low, b_low = guided_coefficients_hwc(lightness_work_np[i], ab_work_hwc[i])
            guided_upsample_lab_hwc(a_low, b_low, frame_lightness, out=lab, scratch=scratch)
            lab_hwc_to_rgb_uint8(lab, out=out[i])
        return torch.from_numpy(out)

    def colorize_lightness(self, lightness: torch.Tensor, reference: int = 0) -> torch.Tensor:
        """CIE L ``(b, 1, H, W)`` in [0, 100] -> RGB uint8 ``(b, H, W, 3)`` on the colourizer's device."""
        lightness_work = self.working_lightness(lightness)
        return self.merge(lightness, lightness_work, self.predict_ab(lightness_work, reference))

    def colorize(self, frames, reference: int = 0) -> np.ndarray:
        """Gray (or colour, reduced to luma) frames -> RGB uint8 ``(b, h, w, 3)`` numpy, from reference ``reference``."""
        lightness = gray_to_lightness(to_gray_batch(frames)).unsqueeze(1)
        return self.colorize_lightness(lightness, reference).cpu().numpy()

    def colorize_photo(self, image, reference=None, *, max_pixels: int = defaults.MAX_PHOTO_PIXELS) -> np.ndarray:
        """One photo (gray or colour, numpy) -> RGB uint8 ``(h, w, 3)``; optionally set the reference first.

        With several references set, the best-matching one is used. A photo of more than
        ``max_pixels`` is refused (:class:`TooLargeError`). The full-resolution steps run in
        strips of rows on the CPU (:mod:`vidcolor.photo`): besides the photo and the result, the
        memory taken grows with the work size, not with the photo.
        """
        if reference is not None:
            self.set_reference(reference)
        image = photo.photo_array(image)
        height, width = image.shape[:2]
        if height * width > max_pixels:
            raise TooLargeError(
                f"the photo is {width}x{height} pixels ({megapixels(height * width)} Mpixel), more than the "
                f"{megapixels(max_pixels)} Mpixel accepted"
            )
        size = working_shape(height, width, self.work_size)
        lightness_work = photo.working_lightness(image, size).to(self.device)
        ab_work = self.predict_ab(lightness_work, self.choose_reference(lightness_work))
        return photo.merge(image, lightness_work[0, 0].cpu().numpy(),
                           ab_work[0].permute(1, 2, 0).float().cpu().contiguous().numpy())

    def stream(self, frames, batch_size: int = defaults.BATCH_SIZE, smooth: bool = True,
               keyframes: str = defaults.KEYFRAMES):
        """Colourise an iterator of frames lazily, carrying the temporal state: RGB uint8 ``(h, w, 3)`` out.

        ``frames``: gray ``(h, w)`` or colour ``(h, w, 3)`` arrays of one size, e.g. from a PyAV
        decode loop or an OpenCV capture loop. ``keyframes="auto"`` runs the network on adaptive
        keyframes only (faster; see :func:`vidcolor.clip.colorize_batches`).
        See :func:`vidcolor.clip.colorize_stream`.
        """
        return colorize_stream(self, frames, batch_size=batch_size, smooth=smooth, keyframes=keyframes)
