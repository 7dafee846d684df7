"""Pins by frame number, pins snapping to cuts, and the keyframe workflow (`vidcolor shots`, then the folder as references)."""

import json
import re

import cv2
import numpy as np
import pytest

from vidcolor import VidcolorError
from vidcolor.cli import main
from vidcolor.references import parse_references
from vidcolor.images import write_image
from vidcolor.media import write_clip
from vidcolor.pins import SNAP_FRAMES, FramePosition, ReferencePin, check_pins, pin_at


def test_frame_pins_are_parsed_and_not_mixed_with_time_pins():
    paths, pins = parse_references(["#0=a.png", "#134=b.png"])
    assert [str(p) for p in paths] == ["a.png", "b.png"] and pins == [(0, 0), (134, 1)]
    assert all(isinstance(place, FramePosition) for place, _ in pins)
    assert ReferencePin(*pins[1]).frame == 134 and ReferencePin(1.5, 0).frame is None
    with pytest.raises(VidcolorError, match="all to times"):
        parse_references(["0:00=a.png", "#134=b.png"])
    with pytest.raises(VidcolorError, match="pin every reference"):
        parse_references(["#0=a.png", "b.png"])
    with pytest.raises(VidcolorError, match="all by time or all by frame"):
        check_pins([ReferencePin(0.0, 0), ReferencePin(FramePosition(10), 1)])


def in_force(pins, cuts, frames, fps=None):
    """The pin in force at each frame, with scene cuts at ``cuts`` (frame 0 is one)."""
    current, out = None, []
    for frame in range(frames):
        current = pin_at(pins, frame / fps if fps else None, frame, frame in cuts or frame == 0, current)
        out.append(current)
    return out


def test_a_pin_a_few_frames_after_a_cut_snaps_back_to_it():
    # Cuts at 44 and 134; pins one and three frames after them.
    pins = [ReferencePin(FramePosition(0), 0), ReferencePin(FramePosition(45), 1), ReferencePin(FramePosition(137), 2)]
    refs = in_force(pins, {44, 134}, 200)
    assert refs.index(1) == 44 and refs.index(2) == 134 and refs[-1] == 2
    # The same by time at 29 fps: 1.52 s is just after frame 44 (1.517 s), as typed in the issue.
    by_time = [ReferencePin(0.0, 0), ReferencePin(1.52, 1), ReferencePin(4.66, 2)]
    refs = in_force(by_time, {44, 134}, 200, fps=29.0)
    assert refs.index(1) == 44 and refs.index(2) == 134


def test_a_pin_with_no_cut_just_before_it_applies_at_its_frame():
    pins = [ReferencePin(FramePosition(0), 0), ReferencePin(FramePosition(60), 1), ReferencePin(FramePosition(40), 2)]
    refs = in_force(pins, {44 + SNAP_FRAMES + 1}, 100)
    assert refs[:40] == [0] * 40 and refs[40:60] == [2] * 20 and refs[60:] == [1] * 40


def texture(seed: int, tint=(1.0, 1.0, 1.0), h: int = 64, w: int = 96) -> np.ndarray:
    """A smooth random colour texture, RGB uint8 (h, w, 3)."""
    noise = np.random.default_rng(seed).random((h // 8, w // 8)).astype(np.float32)
    gray = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1) * 200 + 20
    return np.clip(gray[..., None] * np.array(tint, np.float32), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    """30 frames at 10 fps: three 10-frame shots of panning textures (cuts at 10 and 20)."""
    tints = ((1.0, 0.7, 0.4), (0.4, 0.8, 1.0), (0.6, 1.0, 0.5))
    colour = [np.roll(texture(seed, tint), 2 * i, axis=1) for seed, tint in zip((1, 2, 3), tints) for i in range(10)]
    gray = [np.repeat(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)[..., None], 3, -1) for f in colour]
    folder = tmp_path_factory.mktemp("film")
    return write_clip(folder / "film.mp4", gray, 10), colour


def test_shots_writes_a_still_of_each_shot_and_a_shot_list(film, tmp_path):
    clip, _ = film
    keyframes = tmp_path / "keyframes"
    assert main(["shots", str(clip), "--out", str(keyframes), "-q"]) == 0
    listing = json.loads((keyframes / "shots.json").read_text())
    assert [(s["start"], s["end"]) for s in listing["shots"]] == [(0, 10), (10, 20), (20, 30)]
    assert all(s["start"] <= s["keyframe"] < s["end"] for s in listing["shots"])
    names = sorted(p.name for p in keyframes.glob("shot_*"))
    assert names == ["shot_000_f000000_t0000.00.png", "shot_001_f000010_t0001.00.png", "shot_002_f000020_t0002.00.png"]
    assert names == [s["still"] for s in listing["shots"]]
    still = cv2.imread(str(keyframes / names[1]))
    assert still.shape == (64, 96, 3) and np.ptp(still) > 50
    # A second run does not silently replace a colourist's folder.
    assert main(["shots", str(clip), "--out", str(keyframes), "-q"]) == 2
    assert main(["shots", str(clip), "--out", str(keyframes), "-q", "--overwrite"]) == 0


def colour_the_stills(keyframes, colour_frames, listing):
    """What a colourist does: colour each still (here: the true colours), save it under its name."""
    for shot in listing["shots"]:
        name = shot["still"]
        (keyframes / name).unlink()
        # One of them comes back as a JPEG: the name is what counts, not the format.
        suffix = ".jpg" if shot["shot"] == 1 else ".png"
        write_image(keyframes / name.replace(".png", suffix), colour_frames[shot["keyframe"]])


@pytest.mark.slow
def test_the_keyframe_folder_colours_each_shot_from_its_own_still(film, tmp_path, tiny_checkpoint):
    clip, colour = film
    keyframes = tmp_path / "keyframes"
    assert main(["shots", str(clip), "--out", str(keyframes), "-q"]) == 0
    listing = json.loads((keyframes / "shots.json").read_text())
    colour_the_stills(keyframes, colour, listing)
    for with_listing in (True, False):  # shots.json, or the stills' names alone
        if not with_listing:
            (keyframes / "shots.json").unlink()
        report_path = tmp_path / f"report_{with_listing}.json"
        assert main([str(clip), "-r", str(keyframes), "-o", str(tmp_path / f"out_{with_listing}.mp4"),
                     "--model", str(tiny_checkpoint), "--report", str(report_path), "-q"]) == 0
        report = json.loads(report_path.read_text())
        # A random tiny model cannot match anything: each shot takes its own still by its pin.
        assert [(s["start"], s["reference"], s["cut"]) for s in report["shots"]] == [(0, 0, True), (10, 1, True),
                                                                                      (20, 2, True)]
        assert [re.sub(r"\.\w+$", "", p.split("/")[-1]) for p in report["references"]] == [
            s["still"][:-4] for s in listing["shots"]]


def test_a_shot_whose_still_is_missing_chooses_among_the_others(film, tmp_path):
    clip, colour = film
    keyframes = tmp_path / "keyframes"
    assert main(["shots", str(clip), "--out", str(keyframes), "-q"]) == 0
    listing = json.loads((keyframes / "shots.json").read_text())
    colour_the_stills(keyframes, colour, listing)
    next(keyframes.glob("shot_001_*")).unlink()
    paths, pins = parse_references([str(keyframes)])
    assert [p.name[:8] for p in paths] == ["shot_000", "shot_002"]
    assert pins == [(0, 0), (10, -1), (20, 1)]
    for still in keyframes.glob("shot_*"):
        still.unlink()
    with pytest.raises(VidcolorError, match="none of its stills"):
        parse_references([str(keyframes)])


def test_shots_refuses_bad_input_with_one_line_and_writes_nothing(film, tmp_path, capsys):
    clip, _ = film
    photo = tmp_path / "photo.png"
    write_image(photo, texture(1))
    cases = [(["nowhere.mp4", "--out", str(tmp_path / "a")], "no such file"),
             ([str(photo), "--out", str(tmp_path / "b")], "a photo has no shots"),
             ([str(clip), "--out", str(photo)], "not a folder"),
             ([str(clip), "--out", str(tmp_path / "no" / "c")], "no such folder"),
             ([str(clip), "--out", str(tmp_path / "d"), "--work-size", "8"], "at least 16")]
    for argv, message in cases:
        capsys.readouterr()
        assert main(["shots", *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]
