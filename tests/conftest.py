"""Shared fixtures: synthetic clips (see ``media.py``) and a tiny random model, made once per session."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from media import make_clip, write_reference
from vidcolor.models import build_model, save_checkpoint


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def mp4_clip(clip_dir: Path) -> Path:
    """H.264 yuv420p 96x64, 24 frames at 24 fps, AAC stereo, rotated 90 degrees, with a title."""
    return make_clip(
        clip_dir / "rotated.mp4", rotation=90, metadata={"title": "Test Title", "artist": "Nobody"}
    )


@pytest.fixture(scope="session")
def vfr_mp4_clip(clip_dir: Path) -> Path:
    """Variable frame rate H.264 + AAC clip with irregular pts."""
    return make_clip(clip_dir / "vfr.mp4", vfr=True)


@pytest.fixture(scope="session")
def mkv_clip_with_subtitles(clip_dir: Path) -> Path:
    """Matroska clip with H.264, AAC and a SubRip stream."""
    return make_clip(clip_dir / "subtitled.mkv", subtitles=True)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of the ``tiny`` preset with fixed random weights (tests check plumbing, not colours)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(path, build_model("tiny"))
    return path


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A colourful reference image."""
    return write_reference(tmp_path_factory.mktemp("ref") / "ref.png")


@pytest.fixture(autouse=True)
def shared_inputs_are_never_modified(clip_dir: Path, reference: Path):
    """After every test, the session's input clips and reference are byte for byte as before it."""

    def digests() -> dict[Path, str]:
        return {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in [*clip_dir.iterdir(), reference]}

    before = digests()
    yield
    after = digests()
    assert {path: after.get(path) for path in before} == before, "a test modified a shared input file"
