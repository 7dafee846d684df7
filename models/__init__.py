"""Network definitions and the shipped weights (installed as ``vidcolor.models``).

Checkpoints are ``{"config": {...}, "state_dict": {...}}``: :func:`load_model` rebuilds the
generator from the stored config and loads the weights strictly.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from .network import (
    HEDGE_EDGES,
    PRESETS,
    Generator,
    ModelConfig,
    PatchDiscriminator,
    ReferenceFeatures,
    ab_histogram,
    attend,
    match_score,
)

__all__ = [
    "HEDGE_EDGES",
    "PRESETS",
    "Generator",
    "ModelConfig",
    "PatchDiscriminator",
    "ReferenceFeatures",
    "ab_histogram",
    "attend",
    "match_score",
    "available_models",
    "build_model",
    "config_from_dict",
    "load_model",
    "save_checkpoint",
    "ModelNotFoundError",
]

WEIGHTS_DIR = Path(__file__).resolve().parent
# Shipped weights by name; the first is the default.
SHIPPED = {"base": WEIGHTS_DIR / "vidcolor-base.pt"}


class ModelNotFoundError(FileNotFoundError):
    """Raised for an unknown model name or a missing weights file."""


def available_models() -> list[str]:
    """Names of the shipped weights that are present in this installation."""
    return [name for name, path in SHIPPED.items() if path.is_file()]


def build_model(preset: str | ModelConfig = "base") -> Generator:
    """A freshly initialised generator from a preset name or a config."""
    if isinstance(preset, ModelConfig):
        return Generator(preset)
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
    return Generator(PRESETS[preset])


def config_from_dict(config: dict) -> ModelConfig:
    """Inverse of ``dataclasses.asdict`` for a stored config (tuples survive a pickle as lists)."""
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = set(config) - fields
    if unknown:
        raise ValueError(f"checkpoint config has unknown fields: {', '.join(sorted(unknown))}")
    return ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})


def save_checkpoint(path: str | Path, model: Generator, **extra) -> None:
    """Write ``{"config", "state_dict", **extra}``; written to a temporary name, then renamed."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    payload = {"config": dataclasses.asdict(model.config), "state_dict": model.state_dict(), **extra}
    torch.save(payload, tmp)
    tmp.replace(path)


def resolve_weights(name_or_path: str | Path | None) -> Path:
    """Map a shipped model name (or None for the default) or a file path to a weights file."""
    if name_or_path is None:
        name_or_path = next(iter(SHIPPED))
    if str(name_or_path) in SHIPPED:
        path = SHIPPED[str(name_or_path)]
        if not path.is_file():
            raise ModelNotFoundError(
                f"the shipped weights for {name_or_path!r} are missing ({path}); "
                "train a model with `vidcolor train` and pass its checkpoint"
            )
        return path
    path = Path(name_or_path)
    if not path.is_file():
        raise ModelNotFoundError(
            f"no model named {str(name_or_path)!r} and no such file; "
            f"shipped models: {', '.join(SHIPPED)}"
        )
    return path


def load_model(name_or_path: str | Path | None = None, device: str | torch.device = "cpu") -> Generator:
    """Load a generator from a shipped name or a checkpoint path, strictly, in eval mode."""
    path = resolve_weights(name_or_path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        model = Generator(config_from_dict(checkpoint["config"]))
        state = checkpoint["state_dict"]
        # Checkpoints from before the chroma hedge existed load without one (every scale 1).
        state.setdefault("hedge_scales", torch.ones(len(HEDGE_EDGES) - 1))
        model.load_state_dict(state)
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise ValueError(f"{path} is not a vidcolor checkpoint: {exc}") from exc
    return model.to(device).eval()
