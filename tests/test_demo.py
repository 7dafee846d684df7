"""The web demo (``vidcolor demo``): its API endpoints through gradio_client and its page in a real
headless Chromium, on a tiny random checkpoint and generated inputs."""

import contextlib
import re
import shutil
import socket
import tempfile
from pathlib import Path

import av
import cv2
import httpx
import numpy as np
import pytest
import torch
from skimage import data

pytest.importorskip("gradio", reason="the web demo needs the demo extra")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from media import make_audio_clip, make_clip, write_zero_png  # noqa: E402
from vidcolor import Colorizer  # noqa: E402
from vidcolor.cli import main  # noqa: E402
from vidcolor.demo import DemoApp  # noqa: E402
from vidcolor.images import read_image, write_image  # noqa: E402
from vidcolor.metrics import colourfulness  # noqa: E402
from vidcolor.models import build_model, save_checkpoint  # noqa: E402

# Gradio's queue uses pandas options that pandas 3 deprecates: not ours to fix, and noise here.
pytestmark = pytest.mark.filterwarnings("ignore:::gradio.queueing")

MAX_SECONDS = 2.0
MAX_UPLOAD_MB = 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The demo on a free localhost port, on a tiny random checkpoint at a small working size."""
    torch.manual_seed(0)
    checkpoint = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(checkpoint, build_model("tiny"))
    colorizer = Colorizer.from_pretrained(checkpoint, device="cpu", work_size=64)
    app = DemoApp(colorizer, max_seconds=MAX_SECONDS, work_size=64, max_upload_mb=MAX_UPLOAD_MB)
    port = free_port()
    blocks = app.serve(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    blocks.close()


@pytest.fixture(scope="module")
def client(server):
    return Client(server, verbose=False)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A black-and-white photo, a colour and a gray reference, a gray clip with sound, a 3-s clip, a text file."""
    folder = tmp_path_factory.mktemp("inputs")
    photo = cv2.resize(data.chelsea(), (240, 160), interpolation=cv2.INTER_AREA)
    gray = np.repeat(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    paths = {name: folder / f"{name}.png" for name in ("photo", "reference", "gray_reference")}
    write_image(paths["photo"], gray)
    write_image(paths["reference"], np.ascontiguousarray(photo[:, ::-1]))
    write_image(paths["gray_reference"], gray)
    paths["clip"] = make_clip(folder / "film.mp4", frames=24, fps=24, color=False)
    paths["long_clip"] = make_clip(folder / "long.mp4", frames=72, fps=24, width=32, height=32, audio=False)
    paths["text"] = folder / "notes.txt"
    paths["text"].write_text("not a picture")
    return paths


def test_photo_endpoint_returns_the_photo_coloured(client, inputs):
    result = client.predict(handle_file(inputs["photo"]), handle_file(inputs["reference"]), api_name="/colorize_photo")
    assert Path(result).name == "photo_color.png"
    rgb = read_image(result)
    assert rgb.shape == read_image(inputs["photo"]).shape
    assert colourfulness(read_image(inputs["photo"])) == 0 and colourfulness(rgb) > 2


def test_clip_endpoint_keeps_every_frame_and_the_sound(client, inputs):
    result = client.predict(handle_file(inputs["clip"]), handle_file(inputs["reference"]), None,
                            api_name="/colorize_clip")
    assert Path(result).name == "film_color.mp4"
    with av.open(result) as container:
        assert len(container.streams.audio) == 1
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(frames) == 24
    assert colourfulness(frames[12]) > 2


def test_full_colour_setting_turns_the_hedge_off(inputs):
    import gradio as gr

    model = build_model("tiny")
    model.hedge_scales.zero_()  # a hedge that mutes everything
    app = DemoApp(Colorizer(model, device="cpu", work_size=64), max_seconds=MAX_SECONDS, work_size=64)
    # The handlers take files from Gradio's upload folder only, as an upload would leave them.
    upload_folder = Path(gr.utils.get_upload_folder())
    upload_folder.mkdir(parents=True, exist_ok=True)
    uploads = Path(tempfile.mkdtemp(dir=upload_folder))
    photo, reference = (shutil.copy(inputs[name], uploads) for name in ("photo", "reference"))
    results = {full: read_image(app.colorize_photo({"path": photo}, {"path": reference}, 64, full))
               for full in (False, True)}
    assert colourfulness(results[False]) < 0.5 and colourfulness(results[True]) > 2
    shutil.rmtree(uploads)


@pytest.mark.parametrize("endpoint,upload,expected", [
    ("photo", "text", "notes.txt: not a readable image"),
    ("clip", "text", "notes.txt: not a media file"),
    ("clip", "audio", "song.m4a: no video stream"),
    ("clip", "long_clip", f"long.mp4 is 3.0 s long; this demo takes clips of up to {MAX_SECONDS:g} s"),
    ("clip", "photo", "photo.png is a photo: colour it in the Photo tab"),
])
def test_a_bad_upload_gets_a_readable_message(client, inputs, tmp_path, endpoint, upload, expected):
    path = make_audio_clip(tmp_path / "song.m4a") if upload == "audio" else inputs[upload]
    if endpoint == "photo":
        call = dict(api_name="/colorize_photo")
        args = [handle_file(path), handle_file(inputs["reference"])]
    else:
        call = dict(api_name="/colorize_clip")
        args = [handle_file(path), handle_file(inputs["reference"]), None]
    with pytest.raises(AppError) as error:
        client.predict(*args, **call)
    message = str(error.value)
    assert expected in message
    # One line, in the visitor's words: no traceback, no server paths.
    assert "Traceback" not in message and "\n" not in message and "/" not in message


def test_a_file_not_uploaded_is_refused(server, inputs):
    # The handlers read files themselves, so they must not open server files an API caller names.
    call = f"{server}gradio_api/call/colorize_photo"
    name = {"path": str(inputs["photo"])}
    event = httpx.post(call, json={"data": [name, name, 64, False]}).json()["event_id"]
    answer = httpx.get(f"{call}/{event}", timeout=30).text
    assert "Only files uploaded to the demo can be coloured." in answer
    assert "photo_color" not in answer


def test_a_decompression_bomb_and_an_oversized_upload_are_refused(server, client, inputs, tmp_path):
    bomb = write_zero_png(tmp_path / "bomb.png", 12000, 12000)  # 140 KB, 144 MB decoded
    with pytest.raises(AppError) as error:
        client.predict(handle_file(bomb), handle_file(inputs["reference"]), api_name="/colorize_photo")
    message = str(error.value)
    assert "bomb.png: the image is 12000x12000 pixels (144 Mpixel), more than the 120 Mpixel accepted" in message
    assert "\n" not in message and "/" not in message
    big = tmp_path / "big.png"
    big.write_bytes(bytes(MAX_UPLOAD_MB * 2**20 + 1))
    with pytest.raises(ValueError, match="exceeds the maximum file size"):  # the client reads the limit
        client.predict(handle_file(big), handle_file(inputs["reference"]), api_name="/colorize_photo")
    with big.open("rb") as file:  # and the server holds to it whatever the client
        answer = httpx.post(f"{server}gradio_api/upload", files={"files": file}, timeout=30)
    assert answer.status_code == 413
    # The server still works.
    result = client.predict(handle_file(inputs["photo"]), handle_file(inputs["reference"]), api_name="/colorize_photo")
    assert read_image(result).shape == read_image(inputs["photo"]).shape


def test_a_clip_running_past_the_time_limit_is_stopped_with_a_message(inputs):
    import gradio as gr

    app = DemoApp(Colorizer(build_model("tiny"), device="cpu", work_size=64), max_seconds=MAX_SECONDS,
                  work_size=64, max_job_seconds=0)
    upload_folder = Path(gr.utils.get_upload_folder())
    upload_folder.mkdir(parents=True, exist_ok=True)
    uploads = Path(tempfile.mkdtemp(dir=upload_folder))
    clip, reference = (shutil.copy(inputs[name], uploads) for name in ("clip", "reference"))
    with pytest.raises(gr.Error, match="film.mp4: stopped after 0 s, the longest a job may run here"):
        app.colorize_clip({"path": clip}, {"path": reference}, None, 64, True)
    assert not [path for path in (app.folder / "jobs").rglob("*") if path.is_file()]  # no partial output
    shutil.rmtree(uploads)


@pytest.mark.slow
def test_the_server_survives_a_bomb_and_serves_concurrent_visitors(tiny_checkpoint, inputs, tmp_path):
    """`vidcolor demo` in its own process: a bomb is refused, 20 photos from 4 clients are coloured,
    and the server is still up with its peak memory far below what decoding the bomb would take."""
    import subprocess
    import sys
    import threading
    import time

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "vidcolor", "demo", "--port", str(port), "--model", str(tiny_checkpoint),
         "--device", "cpu", "--work-size", "64"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stderr.read()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the demo did not start"
            time.sleep(0.5)
        bomb = write_zero_png(tmp_path / "bomb.png", 24000, 24000)
        with pytest.raises(AppError, match="24000x24000 pixels"):
            Client(url, verbose=False).predict(handle_file(bomb), handle_file(inputs["reference"]),
                                               api_name="/colorize_photo")
        results, failures = [], []

        def visitor() -> None:
            client = Client(url, verbose=False)
            for _ in range(5):
                try:
                    results.append(client.predict(handle_file(inputs["photo"]), handle_file(inputs["reference"]),
                                                  api_name="/colorize_photo"))
                except Exception as exc:  # noqa: BLE001 - counted and shown below
                    failures.append(repr(exc))

        threads = [threading.Thread(target=visitor) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert not failures and len(results) == 20
        assert all(read_image(path).shape == (160, 240, 3) for path in results)
        assert server.poll() is None
        status = Path(f"/proc/{server.pid}/status").read_text()
        peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
        assert peak_kb < 2 * 2**20, f"the server's peak memory was {peak_kb / 2**20:.2f} GB"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_vidcolor_demo_hands_its_options_to_the_app(monkeypatch):
    import vidcolor.demo

    calls = []
    monkeypatch.setattr(vidcolor.demo, "launch", lambda *args, **kwargs: calls.append((args, kwargs)))
    assert main(["demo", "--port", "7999", "--share", "--model", "m.pt", "--max-seconds", "30", "--temporal", "off",
                 "--full-colour"]) == 0
    assert calls == [(("m.pt",), dict(device="auto", port=7999, share=True, max_seconds=30.0, work_size=256,
                                       smooth=False, batch_size=8, hedge=False))]


@pytest.mark.slow
def test_the_page_in_a_real_browser(server, inputs, tmp_path):
    """Upload a photo and a reference, click, see the result; then a gray reference, an example, a long clip."""
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        # Debian's Chromium, so that Playwright needs no browser download; no sandbox as CI runs as root.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(server)
            page.locator("#photo-input input[type=file]").set_input_files(inputs["photo"])
            page.locator("#photo-reference input[type=file]").set_input_files(inputs["reference"])
            expect(page.locator("#photo-input img")).to_have_attribute("src", re.compile(r"photo\.png$"))
            expect(page.locator("#photo-reference img")).to_have_attribute("src", re.compile(r"reference\.png$"))
            page.locator("#colorize-photo").click()
            before, after = page.locator("#before-after img").nth(0), page.locator("#before-after img").nth(1)
            expect(after).to_be_visible(timeout=30_000)
            with page.expect_download() as download:
                page.locator("#download-photo").click()
            assert download.value.suggested_filename == "photo_color.png"
            assert after.evaluate("image => image.complete && image.naturalWidth") == 240
            assert before.evaluate("image => image.complete && image.naturalWidth") == 240
            page.screenshot(path=tmp_path / "demo.png", full_page=True)
            shutil.copy(tmp_path / "demo.png", Path(tempfile.gettempdir()) / "demo_screenshot.png")

            # A gray reference still gives a result, with a warning in the page.
            first_result = after.get_attribute("src")
            page.locator("#photo-reference input[type=file]").set_input_files(inputs["gray_reference"])
            expect(page.locator("#photo-reference img")).to_have_attribute("src", re.compile(r"gray_reference\.png$"))
            page.locator("#colorize-photo").click()
            expect(page.get_by_text("the reference is nearly colourless")).to_be_visible(timeout=30_000)
            expect(after).not_to_have_attribute("src", first_result, timeout=30_000)

            # An example fills both inputs; it is coloured like an upload.
            page.locator("#photo-examples tbody tr").first.click()
            expect(page.locator("#photo-input img")).to_have_attribute("src", re.compile(r"chelsea_bw\.png$"))
            expect(page.locator("#photo-reference img")).to_have_attribute("src", re.compile(r"chelsea_reference\.png$"))
            page.locator("#colorize-photo").click()
            expect(after).to_have_attribute("src", re.compile(r"chelsea_bw_color\.png$"), timeout=30_000)

            # A clip over the length limit is refused with a message in the page.
            page.get_by_role("tab", name="Clip").click()
            page.locator("#clip-input input[type=file]").set_input_files(inputs["long_clip"])
            page.locator("#clip-reference input[type=file]").set_input_files(inputs["reference"])
            expect(page.locator("#clip-input video")).to_have_attribute("src", re.compile(r"long\.mp4$"))
            expect(page.locator("#clip-reference img")).to_have_attribute("src", re.compile(r"reference\.png$"))
            page.locator("#colorize-clip").click()
            expect(page.get_by_text(f"this demo takes clips of up to {MAX_SECONDS:g} s")).to_be_visible(timeout=30_000)
            assert not page.get_by_text("Traceback").count()
        finally:
            browser.close()
