"""Shared fixtures: synthetic clips (see ``media.py``), made once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from media import make_clip


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
