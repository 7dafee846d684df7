"""The `vidcolor` command end to end on generated clips, with the tiny model preset."""

import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from media import frame_pts, make_clip, packets
from vidcolor.cli import main
from vidcolor.images import read_image
from vidcolor.metrics import colourfulness
from vidcolor.models import load_model, save_checkpoint


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("ref") / "ref.png"
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[:, :32] = (200, 40, 40)
    rgb[:, 32:] = (40, 160, 60)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def run(args, tiny_checkpoint):
    return main([*map(str, args), "--model", str(tiny_checkpoint), "-q"])


@pytest.mark.parametrize("suffix,size,pix_fmt", [(".mp4", (96, 64), "yuv420p"), (".mkv", (97, 61), "yuv444p")])
def test_video_keeps_frames_timestamps_size_and_audio(tmp_path, tiny_checkpoint, reference, suffix, size, pix_fmt):
    clip = make_clip(tmp_path / f"in{suffix}", width=size[0], height=size[1], frames=20, color=False, pix_fmt=pix_fmt)
    out = tmp_path / f"out{suffix}"
    assert run([clip, "-r", reference, "-o", out], tiny_checkpoint) == 0
    assert frame_pts(out) == frame_pts(clip)
    assert [p[2] for p in packets(out, "audio")] == [p[2] for p in packets(clip, "audio")]
    import av

    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == size
        frame = next(container.decode(stream)).to_ndarray(format="rgb24")
    assert np.abs(frame[..., 0].astype(int) - frame[..., 1]).mean() > 1  # it is coloured
    assert not list(tmp_path.glob(".*partial*"))


def test_default_output_name_and_temporal_off(tmp_path, tiny_checkpoint, reference):
    clip = make_clip(tmp_path / "film.mp4", frames=10)
    assert run([clip, "-r", reference, "--temporal", "off"], tiny_checkpoint) == 0
    assert frame_pts(tmp_path / "film_color.mp4") == frame_pts(clip)


def test_photo(tmp_path, tiny_checkpoint, reference):
    photo = tmp_path / "old.png"
    cv2.imwrite(str(photo), np.random.default_rng(0).integers(0, 256, (37, 53), dtype=np.uint8))
    assert run([photo, "-r", reference, "-o", tmp_path / "new.jpg"], tiny_checkpoint) == 0
    coloured = read_image(tmp_path / "new.jpg")
    assert coloured.shape == (37, 53, 3) and colourfulness(coloured) > 2
    # Only chroma comes from the model: the lightness is the photo's own (up to JPEG's rounding).
    lightness_in = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2Lab)[..., 0].astype(float)
    lightness_out = cv2.cvtColor(coloured, cv2.COLOR_RGB2Lab)[..., 0].astype(float)
    assert np.median(np.abs(lightness_out - lightness_in)) <= 3


def test_automatic_mode_without_a_reference(tmp_path, tiny_checkpoint, capsys):
    """No --reference: photos and videos are coloured from the model's prior, and the summary says so."""
    photo = tmp_path / "old.png"
    cv2.imwrite(str(photo), np.random.default_rng(0).integers(0, 256, (37, 53), dtype=np.uint8))
    assert run([photo, "-o", tmp_path / "new.png", "--full-colour"], tiny_checkpoint) == 0
    assert read_image(tmp_path / "new.png").shape == (37, 53, 3)
    clip = make_clip(tmp_path / "film.mp4", frames=6, color=False)
    assert main([str(clip), "--model", str(tiny_checkpoint)]) == 0
    assert frame_pts(tmp_path / "film_color.mp4") == frame_pts(clip)
    err = capsys.readouterr().err
    assert "no reference (automatic)" in err and "automatic mode" in err


def test_full_colour_turns_the_hedge_off(tmp_path, tiny_checkpoint, reference):
    model = load_model(tiny_checkpoint)
    model.hedge_scales.zero_()  # a hedge that mutes everything
    muted = tmp_path / "muted.pt"
    save_checkpoint(muted, model)
    photo = tmp_path / "old.png"
    cv2.imwrite(str(photo), np.random.default_rng(0).integers(0, 256, (37, 53), dtype=np.uint8))
    colour = {}
    for name, extra in (("hedged", []), ("full", ["--full-colour"])):
        out = tmp_path / f"{name}.png"
        assert run([photo, "-r", reference, "-o", out, *extra], muted) == 0
        colour[name] = colourfulness(read_image(out))
    assert colour["hedged"] < 1.0 < colour["full"], colour


def error_cases(tmp_path, reference):
    clip = make_clip(tmp_path / "in.mp4", frames=4)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    audio_only = make_clip(tmp_path / "sound.mp4", frames=4)
    import av

    with av.open(str(audio_only)) as src, av.open(str(tmp_path / "audio_only.m4a"), "w") as dst:
        out_stream = dst.add_stream_from_template(src.streams.audio[0])
        for packet in src.demux(src.streams.audio[0]):
            if packet.dts is not None:
                packet.stream = out_stream
                dst.mux(packet)
    bad_ref = tmp_path / "bad.png"
    bad_ref.write_bytes(b"\x00" * 100)
    existing = tmp_path / "exists.mp4"
    existing.write_bytes(b"keep me")
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.full((20, 30), 128, np.uint8))
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    return {
        "missing input": ([tmp_path / "nope.mp4", "-r", reference, "-o", tmp_path / "o1.mp4"], "no such file"),
        "not media": ([text, "-r", reference, "-o", tmp_path / "o2.mp4"], "notes.mp4"),
        "no video stream": ([tmp_path / "audio_only.m4a", "-r", reference, "-o", tmp_path / "o3.mp4"], "no video stream"),
        "missing reference": ([clip, "-r", tmp_path / "none.png", "-o", tmp_path / "o4.mp4"], "no such file"),
        "unreadable reference": ([clip, "-r", bad_ref, "-o", tmp_path / "o5.mp4"], "not a readable image"),
        "output exists": ([clip, "-r", reference, "-o", existing], "--overwrite"),
        "output is input": ([clip, "-r", reference, "-o", clip, "--overwrite"], "overwrite the input"),
        "output dir missing": ([clip, "-r", reference, "-o", tmp_path / "no" / "o.mp4"], "does not exist"),
        "work size too small": ([clip, "-r", reference, "-o", tmp_path / "o6.mp4", "--work-size", "0"], "--work-size must be at least 16"),
        "photo to a video name": ([photo, "-r", reference, "-o", tmp_path / "photo.mp4"], "a photo is written as an image"),
        "video to a photo name": ([clip, "-r", reference, "-o", tmp_path / "frame.png"], "cannot be written as an image"),
        "empty input": ([empty, "-r", reference, "-o", tmp_path / "o7.mp4"], "empty file"),
    }


def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, tiny_checkpoint, reference, capsys):
    cases = error_cases(tmp_path, reference)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    for name, (args, expected) in cases.items():
        assert run(args, tiny_checkpoint) == 2, name
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith("vidcolor: error:") and expected in err, (name, err)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert after == before  # nothing written, nothing modified


@pytest.mark.slow
def test_subprocess_error_has_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "vidcolor", str(tmp_path / "missing.mp4"), "-r", str(tmp_path / "r.png")],
        capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0


def test_arguments_are_checked_before_the_model_loads(tmp_path, reference, capsys):
    """An output the muxers cannot write is refused before the (missing) model would be loaded."""
    clip = make_clip(tmp_path / "in.mp4", frames=4)
    assert main([str(clip), "-r", str(reference), "-o", str(tmp_path / "out.xyz"), "--model", str(tmp_path / "none.pt")]) == 2
    err = capsys.readouterr().err
    assert "out.xyz" in err and "none.pt" not in err and not list(tmp_path.glob("*out*"))


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.startswith("vidcolor 0.")


def test_progress_in_a_log_is_plain_lines_and_the_summary_names_shots(tmp_path, tiny_checkpoint, reference, capsys):
    """stderr is not a terminal here: a few plain lines (no bar redrawn with \\r), then the summary."""
    clip = make_clip(tmp_path / "in.mp4", frames=40, color=False)
    assert main([str(clip), "-r", str(reference), "-o", str(tmp_path / "out.mp4"), "--model", str(tiny_checkpoint),
                 "--batch-size", "2"]) == 0
    err = capsys.readouterr().err
    progress = [line for line in err.splitlines() if line.startswith("vidcolor: ") and " frames" in line]
    assert "\r" not in err and 2 <= len(progress) <= 11 and progress[-1].startswith("vidcolor: 40/40 frames")
    assert re.search(r"\n\d+ shots?\n  frames 0-\d+: ref\.png \(match \d\.\d\d\)\n", err) and "muted" not in err


def test_summary_says_how_many_frames_came_out_muted_and_what_to_try(tmp_path, tiny_checkpoint, reference, capsys):
    model = load_model(tiny_checkpoint)
    model.hedge_scales.zero_()  # a hedge that mutes everything: as if the reference matched nothing
    muted = tmp_path / "muted.pt"
    save_checkpoint(muted, model)
    clip = make_clip(tmp_path / "in.mp4", frames=12, color=False)
    assert main([str(clip), "-r", str(reference), "-o", str(tmp_path / "out.mp4"), "--model", str(muted)]) == 0
    err = capsys.readouterr().err
    assert "12 of 12 frames came out muted" in err and "--full-colour" in err and "--reference" in err
