"""The README's Python examples run: every ```python block is executed, so an example that
crashes fails the suite. Shell blocks (```bash) are not run.

Each block runs on its own (a fresh namespace) in an empty temporary folder that holds the input
files the README's examples name: small clips (64x48, 8 frames) and colourful reference images
made here, so the shipped model runs in seconds. A block that needs another input file fails
until it is added to ``INPUT_CLIPS`` or ``INPUT_IMAGES``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# Everything a user reads: no links or paths into the developers' data folder beside the checkout.
USER_DOCS = [README, ROOT / "models" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

INPUT_CLIPS = ("movie.mp4", "in.mp4")  # black-and-white clips
INPUT_IMAGES = {"still.jpg": "colour", "ref.png": "colour", "photo.jpg": "gray"}
CLIP_SIZE = (64, 48)  # width, height
CLIP_FRAMES = 8

_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line number, code)`` of every fenced ```python block."""
    return [(text.count("\n", 0, match.start()) + 1, match.group(1)) for match in _BLOCK.finditer(text)]


def colourful(width: int, height: int, shift: int = 0) -> np.ndarray:
    """RGB uint8: hue across, brightness down, and a yellow square that moves with ``shift``."""
    ys, xs = np.mgrid[0:height, 0:width]
    hsv = np.empty((height, width, 3), np.uint8)
    hsv[..., 0] = (xs * 179 // max(width - 1, 1) + shift) % 180
    hsv[..., 1] = 200
    hsv[..., 2] = 80 + ys * 170 // max(height - 1, 1)
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    side = height // 3
    x0 = (2 * shift) % (width - side)
    rgb[side : 2 * side, x0 : x0 + side] = (240, 220, 30)
    return rgb


def write_inputs(folder: Path) -> None:
    from vidcolor.media import write_clip

    width, height = CLIP_SIZE
    gray = [cv2.cvtColor(cv2.cvtColor(colourful(width, height, i), cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
            for i in range(CLIP_FRAMES)]
    for name in INPUT_CLIPS:
        write_clip(folder / name, gray, 24)
    for name, kind in INPUT_IMAGES.items():
        rgb = colourful(width, height, shift=3)
        if kind == "gray":
            rgb = cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        assert cv2.imwrite(str(folder / name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def test_readme_has_python_examples():
    assert BLOCKS, "README.md has no ```python blocks"


@pytest.mark.parametrize("code", [code for _, code in BLOCKS], ids=[f"README.md:{line}" for line, _ in BLOCKS])
def test_readme_python_block_runs(code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})


def test_block_runner_reports_failures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A README block that raises must fail its test, not pass silently."""
    (line, code), = python_blocks("text\n```python\nraise RuntimeError('broken example')\n```\n")
    assert line == 2
    with pytest.raises(RuntimeError, match="broken example"):
        test_readme_python_block_runs(code, tmp_path, monkeypatch)


def test_readme_lists_every_command_line_option():
    """Every option ``vidcolor --help`` prints appears in the README."""
    help_text = subprocess.run(
        [sys.executable, "-m", "vidcolor", "--help"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    options = set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", help_text.split("options:", 1)[-1]))
    readme = README.read_text(encoding="utf-8")
    missing = sorted(option for option in options if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", readme))
    assert not missing, f"README.md does not describe these `vidcolor --help` options: {missing}"


@pytest.mark.parametrize("path", USER_DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_user_docs_have_no_links_into_the_data_folder(path: Path):
    assert "../shared" not in path.read_text(encoding="utf-8"), f"{path}: mentions ../shared"
