"""The training package: losses on known values, deterministic pairs, and `vidcolor train` end to end (tiny preset)."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest
import torch
from media import make_clip
from torch.utils.data import DataLoader

from vidcolor.cli import main
from vidcolor.models import PRESETS, ab_histogram, build_model, load_model
from vidcolor.training import losses
from vidcolor.training import train as train_module
from vidcolor.training.calibrate import SCALES, choose_scales, hedge_errors
from vidcolor.training.data import PairConfig, PairDataset, _lab, load_sources
from vidcolor.training.pack import Packed


def test_chroma_deficit_penalises_only_washed_out_output():
    ab = torch.zeros(2, 2, 4, 4)
    ab[:, 0], ab[:, 1] = 0.3, 0.4  # chroma 0.5 everywhere
    weight = torch.tensor([1.0, 0.5])

    half = losses.chroma_deficit(0.5 * ab, ab, weight)
    gray = losses.chroma_deficit(torch.zeros_like(ab), ab, torch.ones(2))
    stronger = losses.chroma_deficit(1.5 * ab, ab, torch.ones(2))

    assert half.item() == pytest.approx(0.25 * (1.0 + 0.5) / 2, abs=1e-4)
    assert gray.item() == pytest.approx(0.5, abs=1e-4)
    assert stronger.item() == 0.0


def test_histogram_loss_is_zero_only_for_the_same_distribution():
    ab = torch.rand(2, 2, 16, 16) * 0.6 - 0.3
    same = losses.histogram_loss(ab, ab_histogram(ab, 21), 21)
    shifted = losses.histogram_loss(ab + 0.3, ab_histogram(ab, 21), 21)
    assert same.item() == pytest.approx(0.0, abs=1e-6)
    assert shifted.item() > 0.1


def test_pixel_loss_and_total_variation_on_known_values():
    ab = torch.rand(2, 2, 8, 8)
    predictions = [torch.nn.functional.adaptive_avg_pool2d(ab, 4), ab.clone()]
    assert losses.multiscale_pixel_loss(predictions, ab, torch.ones(2)).item() == pytest.approx(0.0, abs=1e-7)
    assert losses.total_variation(torch.full((1, 2, 5, 5), 0.7)).item() == 0.0
    ramp = torch.arange(5.0).view(1, 1, 1, 5).expand(1, 2, 5, 5)
    assert losses.total_variation(ramp).item() == pytest.approx(1.0)  # steps of 1 across, none down


@pytest.fixture(scope="module")
def training_data(tmp_path_factory):
    """A folder of small colour photos (smooth random colour fields) and a short colour video."""
    folder = tmp_path_factory.mktemp("train_data")
    rng = np.random.default_rng(0)
    for i in range(4):
        field = cv2.resize(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8), (200, 160), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(folder / f"photo{i}.png"), field)
    make_clip(folder / "clip.mp4", width=160, height=128, frames=12, audio=False)
    return folder


def test_pairs_are_deterministic_and_shaped(training_data):
    config = PairConfig(crop=64, load_short_side=96)
    data = load_sources([str(training_data)], config)
    assert len(data.photos) == 4 and data.shots  # the clip gives at least one shot of motion pairs

    dataset = PairDataset(data, config, seed=3, length=8)
    first, again, other = dataset[5], dataset[5], dataset[6]

    for key, value in first.items():
        torch.testing.assert_close(value, again[key])
    assert not torch.equal(first["ab"], other["ab"])
    assert first["lightness"].shape == (1, 64, 64) and first["ab"].shape == (2, 64, 64)
    assert first["flow_ab"].shape == (2, 64, 64) and first["flow_confidence"].shape == (1, 64, 64)
    assert all(torch.isfinite(value).all() for value in first.values())


def _train(training_data, out, *extra):
    return main(["train", "--data", str(training_data), "--out", str(out), "--preset", "tiny",
                 "--batch-size", "2", "--workers", "0", "--calibration-pairs", "6", *extra])


@pytest.mark.slow
def test_train_writes_a_loadable_run_and_resumes(training_data, tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(training_data, run, "--steps", "10", "--w-chroma", "0.5") == 0

    generator = load_model(run / "generator.pt")  # rebuilt from the stored config, loaded strictly
    assert generator.config == PRESETS["tiny"]
    with open(run / "losses.csv") as f:
        rows = list(csv.DictReader(f))
    assert [row["step"] for row in rows] == ["10"]  # one row every 10 steps
    assert all(np.isfinite(float(rows[0][key])) for key in ("pixel", "hist", "tv", "chroma"))
    assert (run / "samples_000010.png").is_file() and (run / "losses.png").is_file()

    capsys.readouterr()
    assert _train(training_data, run, "--steps", "12", "--resume") == 0
    out = capsys.readouterr().out
    assert "resumed from" in out and "at step 10" in out
    assert torch.load(run / "last.pt", weights_only=True)["step"] == 12


def test_fine_tune_keeps_frozen_parts(training_data, tmp_path):
    base, tuned = tmp_path / "base", tmp_path / "tuned"
    assert _train(training_data, base, "--steps", "1") == 0
    assert _train(training_data, tuned, "--steps", "2", "--lr", "1e-2",
                  "--init-from", str(base / "generator.pt"), "--freeze", "encoder") == 0

    before, after = load_model(base / "generator.pt"), load_model(tuned / "generator.pt")
    for (name, old), new in zip(before.state_dict().items(), after.state_dict().values()):
        if name.startswith("encoder."):
            torch.testing.assert_close(new, old, msg=f"{name} changed although frozen")
    changed = [name for (name, old), new in zip(before.state_dict().items(), after.state_dict().values())
               if not name.startswith("encoder.") and not torch.equal(old, new)]
    assert changed  # the rest did train


def _coverage(target: np.ndarray, reference: np.ndarray) -> float:
    """Share of target pixels whose position colour (R = x, G = y ramps) appears in the reference."""
    occupied = np.zeros((32, 32), bool)
    occupied[reference[..., 0] // 8, reference[..., 1] // 8] = True
    return float(occupied[target[..., 0] // 8, target[..., 1] // 8].mean())


def test_distant_pairs_show_the_reference_little_of_the_target():
    ramp = np.arange(256, dtype=np.uint8)
    position_colours = np.stack([*np.meshgrid(ramp, ramp), np.full((256, 256), 128, np.uint8)], -1)
    coverage = {}
    for kind, fraction in (("distant", 1.0), ("warp", 0.0)):
        config = PairConfig(crop=64, unrelated_fraction=0.0, motion_fraction=0.0, distant_fraction=fraction)
        dataset = PairDataset(Packed([position_colours], [], np.zeros((1, 0), np.int32), ["ramp"]), config, seed=0, length=1)
        pairs = [dataset._pair(np.random.default_rng(i)) for i in range(40)]
        assert {kind_ for _, _, kind_ in pairs} == {kind}
        coverage[kind] = np.mean([_coverage(target, reference) for target, reference, _ in pairs])
    assert coverage["warp"] > 0.8 and coverage["distant"] < 0.45, coverage


@pytest.mark.parametrize("extra, message", [
    (["--distant-fraction", "0.6"], "pair shares must each be in [0, 1] and add up to at most 1"),
    (["--motion-fraction", "-0.1"], "pair shares must each be in [0, 1]"),
    (["--freeze", "decodr"], "--freeze: unknown part decodr; the generator's parts are encoder, "),
    (["--init-from", "no-such.pt"], "no model named 'no-such.pt'"),
    (["--calibration-pairs", "-1"], "--steps and --calibration-pairs must be 0 or more"),
])
def test_bad_training_settings_are_one_line_errors_and_write_nothing(training_data, tmp_path, capsys, extra, message):
    run = tmp_path / "run"
    assert _train(training_data, run, "--steps", "1", *extra) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vidcolor: error: ") and message in err and "\n" not in err
    assert not run.exists()


@pytest.mark.parametrize("data, message", [("missing", "training data not found"), ("empty", "no images or videos found")])
def test_bad_training_data_is_a_one_line_error(tmp_path, capsys, data, message):
    (tmp_path / "empty").mkdir()
    assert main(["train", "--data", str(tmp_path / data), "--out", str(tmp_path / "run"), "--preset", "tiny"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vidcolor: error: ") and message in err and "\n" not in err
    assert not (tmp_path / "run").exists()


def test_choose_scales_mutes_only_bands_where_it_clearly_pays():
    # Band errors are parabolas with their least at these scales; band 2 saw no pair.
    least = torch.tensor([0.2, 0.5, 0.0, 0.9, 0.6, 1.0])
    errors = 10 + 10 * (SCALES[None] - least[:, None]) ** 2
    counts = torch.tensor([5.0, 5.0, 0.0, 5.0, 5.0, 5.0])
    errors[2] = 0.0
    # Full colour costs 64%, 25%, 1%, 16% and 0% more error than the least in bands 0, 1, 3, 4, 5.
    # Band 3 keeps full colour, the empty band 2 takes band 3's scale, and band 4 is raised to
    # keep at least as much colour as the bands below it.
    torch.testing.assert_close(choose_scales(errors, counts, min_gain=0.05), torch.tensor([0.2, 0.5, 1.0, 1.0, 1.0, 1.0]))
    torch.testing.assert_close(choose_scales(errors, counts, min_gain=0.3), torch.tensor([0.2, 1.0, 1.0, 1.0, 1.0, 1.0]))


def test_hedge_errors_count_every_pair_once_and_measure_lab_error(training_data):
    config = PairConfig(crop=64, load_short_side=96)
    pairs = PairDataset(load_sources([str(training_data)], config), config, seed=0, length=6)
    torch.manual_seed(0)
    errors, counts = hedge_errors(build_model("tiny"), pairs, torch.device("cpu"), batch_size=4)
    assert errors.shape == (6, len(SCALES)) and counts.sum() == 6
    assert (errors[counts == 0] == 0).all() and torch.isfinite(errors).all()
    # At scale 0 the output is gray: the error is the truth's own mean chroma, in Lab units.
    chroma = sum(float(pairs[i]["ab"].norm(dim=0).mean()) * 110 for i in range(6))
    assert float(errors[:, 0].sum()) == pytest.approx(chroma, rel=1e-4)


def test_steps_zero_refits_only_the_hedge(training_data, tmp_path, capsys, monkeypatch):
    base, refit = tmp_path / "base", tmp_path / "refit"
    assert _train(training_data, base, "--steps", "1", "--calibration-pairs", "0") == 0
    capsys.readouterr()
    workers = []

    def recording_loader(*args, num_workers=0, **kwargs):
        workers.append(num_workers)
        return DataLoader(*args, num_workers=num_workers, **kwargs)

    monkeypatch.setattr(train_module, "DataLoader", recording_loader)
    args = ("--steps", "0", "--init-from", str(base / "generator.pt"), "--workers", "2")
    assert _train(training_data, refit, *args) == 0
    assert workers == [0]  # nothing to train on: no worker process is started
    assert "chroma hedge (frame-mean flow confidence band: ab scale): 0-0.1: " in capsys.readouterr().out

    before, after = load_model(base / "generator.pt"), load_model(refit / "generator.pt")
    assert torch.equal(before.hedge_scales, torch.ones(6))
    for (name, old), new in zip(before.state_dict().items(), after.state_dict().values()):
        if name != "hedge_scales":
            assert torch.equal(old, new), f"{name} changed without a training step"
    scales = after.hedge_scales
    assert ((scales >= 0) & (scales <= 1)).all() and (scales[1:] >= scales[:-1]).all()


def test_pack_round_trips_and_finds_frame_sequences(training_data, tmp_path):
    from vidcolor.training.pack import load_packed, pack

    frames = tmp_path / "data" / "sequence"
    frames.mkdir(parents=True)
    rng = np.random.default_rng(1)
    base = cv2.resize(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8), (200, 160), interpolation=cv2.INTER_CUBIC)
    for i in range(5):  # consecutive numbers: one shot
        cv2.imwrite(str(frames / f"{i + 40:08d}.png"), np.roll(base, 2 * i, axis=1))
    numbered = tmp_path / "data" / "photos"
    numbered.mkdir()
    for number in (9, 25, 30):  # numbered by id, not consecutive: photos (as COCO's or BSDS's)
        cv2.imwrite(str(numbered / f"{number:06d}.jpg"), base)
    out = pack([str(training_data), str(tmp_path / "data")], tmp_path / "packed.npz", short_side=96)
    packed = load_packed(out)
    direct = load_sources([str(training_data), str(tmp_path / "data")], PairConfig(load_short_side=96))
    assert len(packed.photos) == 4 + 3 and len(packed.photos) == len(direct.photos)
    assert [len(shot) for shot in packed.shots] == [len(shot) for shot in direct.shots]
    assert any(len(shot) == 5 for shot in packed.shots)
    for a, b in zip(packed.photos, direct.photos):
        assert np.array_equal(a, b)
    np.testing.assert_array_equal(packed.neighbours, direct.neighbours)


def test_neighbours_are_alike_and_never_from_the_same_shot():
    from vidcolor.training.pack import descriptor, nearest_neighbours

    y, x = np.mgrid[0:96, 0:96].astype(np.float32)

    def textures(period: float, phase: float) -> list[np.ndarray]:
        """Four kinds of picture: stripes across, stripes down, a checkerboard, a dark-to-light ramp."""
        wave_x, wave_y = np.sin(x / period + phase), np.sin(y / period + phase)
        pictures = [wave_x, wave_y, wave_x * wave_y, (x + (1 - 0.3 * phase) * y) / 95 - 1]
        return [np.dstack([(127 + 120 * p).clip(0, 255)] * 3).astype(np.uint8) for p in pictures]

    images, shifted = textures(3.0, 0.0), textures(6.0, 1.0)  # the same kinds, another period and slope
    descriptors = np.stack([descriptor(image) for image in images + shifted])
    neighbours = nearest_neighbours(descriptors, np.array([-1] * 8, np.int32), k=1)
    assert neighbours[:4, 0].tolist() == [4, 5, 6, 7]  # each image's nearest is its own shifted copy
    # The same two as frames of one shot: never each other's neighbour.
    neighbours = nearest_neighbours(descriptors, np.array([0, 1, 2, 3, 0, 1, 2, 3], np.int32), k=3)
    assert all(j % 4 != i % 4 for i, row in enumerate(neighbours) for j in row)


def test_prior_pairs_keep_true_colours_and_no_reference_is_all_zeros():
    red, green = np.zeros((96, 96, 3), np.uint8), np.zeros((96, 96, 3), np.uint8)
    red[..., 0], green[..., 1] = 200, 160
    data = Packed([red, green], [], np.array([[1], [0]], np.int32), ["red", "green"])

    def samples(**shares) -> list[dict]:
        config = PairConfig(crop=32, motion_fraction=0.0, hue_rotation_prob=1.0, **{"unrelated_fraction": 0.0, **shares})
        dataset = PairDataset(data, config, seed=0, length=12)
        return [dataset[i] for i in range(12)]

    true_ab = {tuple(np.round(_lab(image)[0, 0, 1:] / 110, 3)) for image in (red, green)}

    def truth(sample: dict) -> tuple:
        return tuple(np.round(sample["ab"][:, 0, 0].numpy(), 3))

    for sample in samples(none_fraction=1.0):
        assert sample["has_reference"] == 0 and sample["hist_weight"] == 0 and sample["pixel_weight"] == 1
        assert sample["chroma_weight"] == 0
        for key in ("ref_lightness", "ref_ab", "flow_ab", "flow_confidence"):
            assert not sample[key].any(), key
        assert truth(sample) in true_ab  # never hue-rotated: the prior learns true colours
    for sample in samples(unrelated_fraction=1.0, unrelated_mode="prior"):
        assert sample["has_reference"] == 1 and sample["hist_weight"] == 0 and sample["pixel_weight"] == 1
        assert truth(sample) in true_ab
    palette = samples(unrelated_fraction=1.0)  # the old meaning: the reference's palette is the answer
    assert all(sample["pixel_weight"] == pytest.approx(0.1) and sample["hist_weight"] == 1 for sample in palette)
    assert sum(truth(sample) not in true_ab for sample in palette) >= 10


def test_semantic_pairs_take_a_neighbour_as_reference():
    photos = [np.full((96, 96, 3), value, np.uint8) for value in (10, 120, 240)]
    neighbours = np.array([[2, 1], [2, 0], [0, 1]], np.int32)
    config = PairConfig(crop=32, unrelated_fraction=0.0, motion_fraction=0.0, semantic_fraction=1.0,
                        semantic_hue_rotation_prob=0.0)
    dataset = PairDataset(Packed(photos, [], neighbours, ["a", "b", "c"]), config, seed=0, length=1)
    for i in range(20):
        target, reference, kind = dataset._pair(np.random.default_rng(i))
        assert kind == "semantic"
        allowed = {int(photos[j][0, 0, 0]) for j in neighbours[[int(p[0, 0, 0]) for p in photos].index(int(target[0, 0, 0]))]}
        assert int(reference[0, 0, 0]) in allowed


def test_pack_command_and_training_from_a_packed_file(training_data, tmp_path, capsys):
    packed = tmp_path / "data.npz"
    assert main(["pack", "--data", str(training_data), "--out", str(tmp_path / "data.bin")]) == 2
    assert "--out must end in .npz" in capsys.readouterr().err
    assert main(["pack", "--data", str(training_data), "--out", str(packed), "--short-side", "96"]) == 0
    assert main(["train", "--data", str(packed), "--out", str(tmp_path / "run"), "--preset", "tiny", "--steps", "2",
                 "--batch-size", "2", "--calibration-pairs", "0", "--workers", "0",
                 "--semantic-fraction", "0.2", "--none-fraction", "0.2", "--unrelated-mode", "prior"]) == 0
    assert (tmp_path / "run" / "generator.pt").is_file()
    assert main(["train", "--data", str(packed), str(training_data), "--out", str(tmp_path / "other"),
                 "--preset", "tiny", "--steps", "1"]) == 2
    assert "given alone" in capsys.readouterr().err and not (tmp_path / "other").exists()
