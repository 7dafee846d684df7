"""`vidcolor evaluate`: reference choice and the per-method table on a generated colour clip."""

import json

import numpy as np
import pytest

from media import pattern_rgb
from vidcolor.cli import main
from vidcolor.errors import VidcolorError
from vidcolor.evaluate import METHODS, METRICS, first_content_frame, to_lab
from vidcolor.images import write_image


def test_first_content_frame_skips_fades_but_not_muted_scenes():
    dark = np.zeros((8, 8, 3), np.uint8)
    gray = np.full((8, 8, 3), 128, np.uint8)
    muted = np.full((8, 8, 3), (120, 128, 140), np.uint8)  # a snowy scene: low but real chroma
    assert first_content_frame([to_lab(x) for x in (dark, gray, muted)]) == 2
    with pytest.raises(VidcolorError, match="reference"):
        first_content_frame([to_lab(x) for x in (dark, gray)])


def test_evaluate_writes_every_method_and_metric(tmp_path, tiny_checkpoint):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(8):
        write_image(folder / f"{i:05d}.png", pattern_rgb(i, 64, 48))
    out = tmp_path / "eval.json"
    argv = [str(folder), "--checkpoint", str(tiny_checkpoint), "--frames", "6", "--json", str(out)]
    assert main(["evaluate", *argv]) == 0
    result = json.loads(out.read_text())
    clip = result["clips"][0]
    assert clip["frames"] == 6 and clip["reference_frame"] == 0
    for method in METHODS:
        assert set(clip[method]) == set(METRICS)
    # The gray baseline has no colour at all; flow reproduces a nearby reference closely.
    assert clip["gray"]["colourfulness_ratio"] < 0.05
    assert clip["flow"]["ciede2000"] < clip["gray"]["ciede2000"]
    assert result["full_colour"] is False  # the model as the CLI runs it: with its chroma hedge


def test_cross_image_reference_and_encoded_scores(tmp_path, tiny_checkpoint):
    """SOURCE=REFERENCE takes the reference from elsewhere (so no frame is left out of the scores),
    and --encoded scores every method after x264 4:2:0, which costs the sharp-edged pattern some fidelity."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(6):
        write_image(folder / f"{i:05d}.png", pattern_rgb(i, 64, 48))
    other = write_image(tmp_path / "other.png", pattern_rgb(40, 64, 48)) or tmp_path / "other.png"
    scores = {}
    for name, extra in (("lossless", []), ("encoded", ["--encoded"])):
        out = tmp_path / f"{name}.json"
        assert main(["evaluate", f"{folder}={other}", "--checkpoint", str(tiny_checkpoint), "--frames", "6",
                     "--json", str(out), *extra]) == 0
        scores[name] = json.loads(out.read_text())["clips"][0]
    clip = scores["lossless"]
    assert clip["reference_frame"] == -1 and clip["reference"] == str(other)
    assert clip["flow"]["ciede2000"] > 0  # no frame is the reference itself
    assert all(scores["encoded"][m]["ciede2000"] != clip[m]["ciede2000"] for m in ("model", "flow", "palette"))
    assert clip["warp_error_ground_truth"] > 0 and clip["gray"]["warp_error"] == pytest.approx(0.0, abs=0.5)


def test_through_encoder_is_the_default_output_decoded(tmp_path):
    from vidcolor.evaluate import through_encoder

    frames = [pattern_rgb(i, 64, 48) for i in range(5)]
    decoded = through_encoder(frames, tmp_path)
    assert len(decoded) == 5 and decoded[0].shape == frames[0].shape
    difference = np.abs(np.stack(decoded).astype(int) - np.stack(frames))
    assert 0 < difference.mean() < 8 and not list(tmp_path.iterdir())


def test_automatic_protocol_scores_the_model_without_a_reference(tmp_path, tiny_checkpoint):
    photo = write_image(tmp_path / "photo.png", pattern_rgb(3, 64, 48)) or tmp_path / "photo.png"
    out = tmp_path / "auto.json"
    assert main(["evaluate", str(photo), "--automatic", "--checkpoint", str(tiny_checkpoint), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    clip = result["clips"][0]
    assert result["automatic"] is True and clip["frames"] == 1 and clip["reference_frame"] == -1
    assert clip["model"]["ciede2000"] > 0 and clip["gray"]["ciede2000"] > 0  # the one frame is scored
    assert clip["palette"]["ciede2000"] is None and clip["flow"]["ciede2000"] is None  # no reference to use
