"""Train (or fine-tune) the colourization GAN. Reads top to bottom, nanoGPT style.

    vidcolor train --data ../shared/data/train ../shared/data/clips/bbb_480p_30s.mp4 --out runs/base

Stage 1 (steps < adv_start): pixel + histogram + TV losses. Stage 2: a spectral-normalised
PatchGAN joins with a low weight. After the last step the chroma hedge (how much colour to keep
where the reference fits badly) is fitted on fresh pairs, see calibrate.py; ``--steps 0
--init-from CKPT`` re-fits only that. Every checkpoint holds the resolved configs, so a run can be
resumed (``--resume``) and a generator can be loaded on its own by ``vidcolor.models.load_model``.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from vidcolor.color import denormalize_ab, lab_to_rgb_uint8
from vidcolor.errors import VidcolorError
from vidcolor.models import (
    HEDGE_EDGES, ModelNotFoundError, PatchDiscriminator, build_model, config_from_dict, load_model, save_checkpoint,
)

from . import losses
from .calibrate import choose_scales, hedge_errors
from .data import PairConfig, PairDataset, load_sources


@dataclass
class TrainConfig:
    data: list[str]
    out: str
    preset: str = "base"
    steps: int = 4000
    batch_size: int = 16
    lr: float = 2e-4
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    adv_start: int = 3000  # stage 2 begins here (skipped if >= steps)
    w_pixel: float = 1.0
    w_hist: float = 0.02
    w_tv: float = 0.01
    w_chroma: float = 0.0  # one-sided chroma-deficit term against washed-out output (0: off)
    w_adv: float = 0.005
    seed: int = 0
    workers: int = 1
    device: str = "auto"
    log_every: int = 10
    sample_every: int = 250
    checkpoint_every: int = 250
    resume: bool = False
    init_from: str | None = None  # fine-tune: start from this checkpoint's generator
    freeze: list[str] = field(default_factory=list)  # generator submodules to keep fixed, e.g. encoder
    pairs: PairConfig = field(default_factory=PairConfig)
    calibration_pairs: int = 768  # fresh pairs the chroma hedge is fitted on after training (0: keep it)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def save_samples(path: Path, batch: dict, prediction: torch.Tensor, count: int = 6) -> None:
    """Rows of (gray input, reference, output, ground truth) as one PNG."""
    import cv2

    def rgb(lightness: torch.Tensor, ab: torch.Tensor) -> np.ndarray:
        lab = torch.cat([(lightness + 1) * 50, denormalize_ab(ab)], 1)
        return lab_to_rgb_uint8(lab.float().cpu()).numpy()

    n = min(count, prediction.shape[0])
    gray = rgb(batch["lightness"][:n], torch.zeros_like(batch["ab"][:n]))
    columns = [gray, rgb(batch["ref_lightness"][:n], batch["ref_ab"][:n]),
               rgb(batch["lightness"][:n], prediction[:n].detach()), rgb(batch["lightness"][:n], batch["ab"][:n])]
    grid = np.concatenate([np.concatenate(list(col), 0) for col in columns], 1)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


def plot_losses(csv_path: Path, png_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(8, 4))
    steps = [int(r["step"]) for r in rows]
    for key in ("pixel", "hist", "chroma", "adv_g", "adv_d"):
        ax.plot(steps, [float(r[key]) for r in rows], label=key)
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_xlabel("step")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path)
    plt.close(fig)


@dataclasses.dataclass
class _Models:
    """The networks and their optimisers; ``g_params`` are the generator's trainable parameters."""

    generator: torch.nn.Module
    discriminator: torch.nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    g_params: list


def train(cfg: TrainConfig) -> Path:
    """Run training; returns the path of the final checkpoint."""
    if cfg.steps < 0 or cfg.calibration_pairs < 0:
        raise VidcolorError("--steps and --calibration-pairs must be 0 or more")
    out = Path(cfg.out)
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          "cpu" if cfg.device == "auto" else cfg.device)
    torch.manual_seed(cfg.seed)
    models = _build_models(cfg, device)
    # AMP only on CUDA: bf16 keeps fp32's range, so no loss scaling is needed.
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    last = out / "last.pt"
    start_step = _resume(models, last) if cfg.resume and last.is_file() else 0

    # ---- data: sample i of the run is always the same pair, so resuming just skips ahead
    data = load_sources(cfg.data, cfg.pairs)
    print(f"data: {len(data.photos)} photos, {len(data.shots)} video shots ({sum(map(len, data.shots))} frames)")
    loader = _loader(PairDataset(data, cfg.pairs, cfg.seed, length=cfg.steps * cfg.batch_size),
                     start_step, cfg)

    out.mkdir(parents=True, exist_ok=True)  # only now: bad model or data settings leave no run folder
    log_path = out / "losses.csv"
    if not (cfg.resume and log_path.is_file()):
        with open(log_path, "w", newline="") as f:
            csv.writer(f).writerow(LOG_FIELDS)
    t0 = time.time()
    for step, batch in enumerate(loader, start=start_step):
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        lr = lr_at(step, cfg)
        for group in models.opt_g.param_groups + models.opt_d.param_groups:
            group["lr"] = lr
        output, logged = _train_step(models, batch, step >= cfg.adv_start, cfg, autocast, device)

        # ---- logging, samples, checkpoints
        done = step + 1
        if done % cfg.log_every == 0:
            row = [done, f"{lr:.3g}", *(f"{v.item():.5f}" for v in logged), f"{time.time() - t0:.0f}"]
            with open(log_path, "a", newline="") as f:
                csv.writer(f).writerow(row)
            print(" ".join(f"{k}={v}" for k, v in zip(LOG_FIELDS, row)), flush=True)
        if done % cfg.sample_every == 0 or done == cfg.steps:
            save_samples(out / f"samples_{done:06d}.png", batch, output)
            plot_losses(log_path, out / "losses.png")
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            save_checkpoint(
                last, models.generator, discriminator=models.discriminator.state_dict(),
                opt_g=models.opt_g.state_dict(), opt_d=models.opt_d.state_dict(), step=done, train_config=_plain(cfg),
            )
    if cfg.calibration_pairs:
        _fit_hedge(models.generator, PairDataset(data, cfg.pairs, cfg.seed + 1, length=cfg.calibration_pairs),
                   device, cfg.batch_size)
    final = out / "generator.pt"
    save_checkpoint(final, models.generator, train_config=_plain(cfg))
    return final


LOG_FIELDS = ["step", "lr", "pixel", "hist", "tv", "chroma", "adv_g", "adv_d", "seconds"]


def _build_models(cfg: TrainConfig, device: torch.device) -> _Models:
    """The generator (new, or from ``init_from``) with its frozen parts, the discriminator, the optimisers."""
    try:  # an unknown preset or checkpoint is the user's input: one line, as Colorizer.from_pretrained says it
        generator = load_model(cfg.init_from).train() if cfg.init_from else build_model(cfg.preset)
    except (ModelNotFoundError, ValueError) as exc:
        raise VidcolorError(str(exc)) from exc
    if cfg.init_from and cfg.steps > 0:
        # A hedge was fitted to the old weights' errors; new weights get their own (or none).
        generator.hedge_scales.fill_(1.0)
    generator = generator.to(device)
    discriminator = PatchDiscriminator().to(device)
    parts = dict(generator.named_children())
    unknown = [name for name in cfg.freeze if name not in parts]
    if unknown:
        raise VidcolorError(f"--freeze: unknown part {', '.join(unknown)}; the generator's parts are {', '.join(parts)}")
    for name in cfg.freeze:
        for p in parts[name].parameters():
            p.requires_grad_(False)
    g_params = [p for p in generator.parameters() if p.requires_grad]
    opt_g = torch.optim.AdamW(g_params, lr=cfg.lr, betas=(0.5, 0.99), weight_decay=cfg.weight_decay)
    opt_d = torch.optim.AdamW(discriminator.parameters(), lr=cfg.lr, betas=(0.5, 0.99), weight_decay=cfg.weight_decay)
    return _Models(generator, discriminator, opt_g, opt_d, g_params)


def _resume(models: _Models, last: Path) -> int:
    """Load the run's last checkpoint into the models and optimisers; returns the step it reached."""
    state = torch.load(last, map_location="cpu", weights_only=True)
    if config_from_dict(state["config"]) != models.generator.config:
        raise VidcolorError(f"{last} was trained with another model config (another --preset or --init-from)")
    models.generator.load_state_dict(state["state_dict"])
    models.discriminator.load_state_dict(state["discriminator"])
    models.opt_g.load_state_dict(state["opt_g"])
    models.opt_d.load_state_dict(state["opt_d"])
    print(f"resumed from {last} at step {state['step']}")
    return state["step"]


def _loader(dataset: PairDataset, start_step: int, cfg: TrainConfig) -> DataLoader:
    """Batches of the pairs from ``start_step`` on."""
    indices = range(start_step * cfg.batch_size, len(dataset))
    # No steps left (``--steps 0`` re-fits the hedge alone, or a finished run resumed): no workers
    # to start for an empty dataset.
    workers = cfg.workers if len(indices) else 0
    # Workers are spawned, not forked: forking after torch/OpenCV have started their thread
    # pools can deadlock the child on an inherited lock (seen here when resuming).
    return DataLoader(torch.utils.data.Subset(dataset, indices), batch_size=cfg.batch_size,
                      num_workers=workers, persistent_workers=workers > 0, drop_last=True,
                      multiprocessing_context="spawn" if workers > 0 else None)


def _train_step(models: _Models, batch: dict, adversarial: bool, cfg: TrainConfig, autocast, device: torch.device):
    """One generator step and (once the GAN loss has started) one discriminator step.

    Returns the generator's output ab and the losses to log (pixel, hist, tv, chroma, adv_g, adv_d).
    """
    generator, discriminator = models.generator, models.discriminator
    with autocast:
        reference = generator.encode_reference(batch["ref_lightness"], batch["ref_ab"])
        predictions = generator(batch["lightness"], reference, batch["flow_ab"], batch["flow_confidence"])
        output = predictions[-1]
        pixel = losses.multiscale_pixel_loss(predictions, batch["ab"], batch["pixel_weight"])
        hist = losses.histogram_loss(output.float(), reference.histogram.float(), generator.config.hist_bins,
                                     batch["hist_weight"])
        tv = losses.total_variation(output)
        chroma = losses.chroma_deficit(output, batch["ab"], batch["chroma_weight"])
        loss = cfg.w_pixel * pixel + cfg.w_hist * hist + cfg.w_tv * tv + cfg.w_chroma * chroma
        adv_g = torch.zeros((), device=device)
        if adversarial:
            adv_g = losses.generator_adversarial_loss(discriminator(batch["lightness"], output))
            loss = loss + cfg.w_adv * adv_g
    models.opt_g.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(models.g_params, 1.0)
    models.opt_g.step()

    adv_d = torch.zeros((), device=device)
    if adversarial:
        with autocast:
            adv_d = losses.discriminator_hinge_loss(
                discriminator(batch["lightness"], batch["ab"]),
                discriminator(batch["lightness"], output.detach()),
            )
        models.opt_d.zero_grad(set_to_none=True)
        adv_d.backward()
        models.opt_d.step()
    return output, (pixel, hist, tv, chroma, adv_g, adv_d)


def _fit_hedge(generator, held_out: PairDataset, device: torch.device, batch_size: int) -> None:
    """Fit the chroma hedge on the finished weights, on pairs of another seed than the run's."""
    errors, counts = hedge_errors(generator, held_out, device, batch_size)
    generator.hedge_scales.copy_(choose_scales(errors, counts))
    print("chroma hedge (frame-mean flow confidence band: ab scale): " + ", ".join(
        f"{lo:g}-{hi:g}: {scale:.2f}"
        for lo, hi, scale in zip(HEDGE_EDGES, HEDGE_EDGES[1:], generator.hedge_scales.tolist())))


def _plain(cfg: TrainConfig) -> dict:
    """The resolved config as plain types (checkpoints load with weights_only=True)."""
    return dataclasses.asdict(cfg)
