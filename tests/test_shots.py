"""Shots and references: reference choice, pins, scene cuts and the --report of a run."""

import json

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vidcolor import Colorizer, VidcolorError
from vidcolor.cli import main
from vidcolor.references import parse_references, parse_time
from vidcolor.images import write_image
from vidcolor.models import build_model, match_score, save_checkpoint
from vidcolor.clip import ReferencePin, pinned_reference
from vidcolor.media import write_clip


def texture(seed: int, h: int = 64, w: int = 96, tint=(1.0, 1.0, 1.0)) -> np.ndarray:
    """A smooth random colour texture, RGB uint8 (h, w, 3)."""
    noise = np.random.default_rng(seed).random((h // 8, w // 8)).astype(np.float32)
    gray = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1) * 200 + 20
    return np.clip(gray[..., None] * np.array(tint, np.float32), 0, 255).astype(np.uint8)


def test_match_score_is_highest_for_the_matching_reference():
    query = F.normalize(torch.randn(2, 8, 4, 5), dim=1)
    same = query[:1].flatten(2)
    other = F.normalize(torch.randn(1, 8, 20), dim=1)
    scores_same, scores_other = match_score(query[:1], same), match_score(query[:1], other)
    assert scores_same.item() == pytest.approx(1.0, abs=1e-5)
    assert scores_other.item() < 0.99


def test_colorizer_chooses_the_reference_that_matches_the_frame():
    torch.manual_seed(0)
    colorizer = Colorizer(build_model("tiny"), device="cpu", work_size=64)
    frame = texture(1, 64, 64, tint=(1.0, 0.6, 0.3))
    colorizer.set_references([texture(7, 64, 64, tint=(0.3, 0.6, 1.0)), frame])
    lightness = torch.from_numpy(cv2.cvtColor(frame, cv2.COLOR_RGB2Lab)[..., 0].astype(np.float32) * 100 / 255)
    assert colorizer.choose_reference(colorizer.working_lightness(lightness[None, None])) == 1


def test_pinned_reference_is_the_last_pin_at_or_before_the_time():
    pins = [ReferencePin(90.0, 1), ReferencePin(0.0, 0), ReferencePin(200.0, 2)]
    assert [pinned_reference(pins, t) for t in (0.0, 89.9, 90.0, 150.0, 500.0)] == [0, 0, 1, 1, 2]
    assert pinned_reference([ReferencePin(10.0, 3)], 0.0) == 3  # before the first pin: the first


def test_reference_arguments(tmp_path):
    assert parse_time("1:30") == 90 and parse_time("1:02:03.5") == 3723.5 and parse_time("7") == 7
    folder = tmp_path / "refs"
    folder.mkdir()
    for name in ("b.png", "a.jpg", "notes.txt"):
        (folder / name).write_bytes(b"")
    paths, pins = parse_references([str(folder)])
    assert [p.name for p in paths] == ["a.jpg", "b.png"] and pins == []
    paths, pins = parse_references(["0:00=x.png", "1:30=y.png"])
    assert [str(p) for p in paths] == ["x.png", "y.png"] and pins == [(0.0, 0), (90.0, 1)]
    with pytest.raises(VidcolorError, match="pin every reference"):
        parse_references(["0:00=x.png", "y.png"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(VidcolorError, match="no images"):
        parse_references([str(empty)])


@pytest.fixture(scope="module")
def three_shot_clip(tmp_path_factory):
    """24 frames at 8 fps: three 8-frame shots of different panning textures (cuts at 8, 16)."""
    frames = [
        np.roll(texture(seed, tint=tint), 2 * i, axis=1)
        for seed, tint in ((1, (1.0, 0.7, 0.4)), (2, (0.4, 0.8, 1.0)), (3, (0.6, 1.0, 0.5)))
        for i in range(8)
    ]
    gray = [np.repeat(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)[..., None], 3, -1) for f in frames]
    folder = tmp_path_factory.mktemp("shots")
    clip = write_clip(folder / "shots.mp4", gray, 8, audio=np.zeros((2, 48000 * 3), np.float32))
    write_image(folder / "ref_a.png", frames[0])
    write_image(folder / "ref_b.png", frames[12])
    torch.manual_seed(0)
    save_checkpoint(folder / "tiny.pt", build_model("tiny"))
    return folder, clip


def test_report_lists_scene_cuts_and_pinned_references(three_shot_clip):
    folder, clip = three_shot_clip
    report_path = folder / "report.json"
    code = main([
        str(clip), "-r", f"0:00={folder / 'ref_a.png'}", "-r", f"0:01.5={folder / 'ref_b.png'}",
        "-o", str(folder / "out.mp4"), "--report", str(report_path), "--model", str(folder / "tiny.pt"), "-q",
    ])
    assert code == 0
    report = json.loads(report_path.read_text())
    # Cuts at 8 and 16; the pin at 1.5 s (frame 12) starts a shot of its own with reference 1.
    assert report["scene_cuts"] == [8, 12, 16]
    assert [s["reference"] for s in report["shots"]] == [0, 0, 1, 1]
    assert report["references"] == [str(folder / "ref_a.png"), str(folder / "ref_b.png")]
    assert len(report["chroma_energy"]) == len(report["flicker"]) == report["frames"] == 24
    assert all(report["flicker"][i] == 0.0 for i in (0, 8, 12, 16))
    assert 0.0 < report["cdc"] < 1.0


def test_unpinned_references_are_chosen_per_shot(three_shot_clip):
    folder, clip = three_shot_clip
    report_path = folder / "report_auto.json"
    # The shipped model: a random one's matching features cannot tell the textures apart.
    assert main([
        str(clip), "-r", str(folder / "ref_a.png"), "-r", str(folder / "ref_b.png"), "-o", str(folder / "auto.mp4"),
        "--report", str(report_path), "-q", "--work-size", "64",
    ]) == 0
    report = json.loads(report_path.read_text())
    assert report["scene_cuts"] == [8, 16]
    # Shot 1 starts with ref_a's own frame, shot 2 a few frames before ref_b's: each gets its own;
    # shot 3 (neither) takes whichever matches better, with a lower match score. The match is
    # the mean over the frames judged (the first and every other one after it, panning away).
    shots = report["shots"]
    assert [s["start"] for s in shots] == [0, 8, 16] and [s["reference"] for s in shots[:2]] == [0, 1]
    assert all(s["cut"] for s in shots)
    assert shots[0]["match"] > 0.95 and shots[2]["match"] < min(shots[0]["match"], shots[1]["match"])
