"""The web demo (``vidcolor demo``, the ``demo`` extra): colour a photo or a short clip in a browser.

    vidcolor demo [--port N] [--share] [--model M] [--max-seconds S]
    python demos/app.py [same options]        # the same, from a checkout

Each tab is also an API endpoint (``gradio_client``):

* ``colorize_photo`` (photo, reference[, work_size, full_colour]) -> the coloured photo (PNG).
  The page also shows it against the gray input on a before/after slider.
* ``colorize_clip`` (clip, reference[, second_reference, work_size, smoothing, full_colour]) ->
  the coloured clip (MP4) with the original sound.

``full_colour`` turns the model's chroma hedge off (it mutes what the reference does not show).

Both run the library's own code, :class:`~vidcolor.Colorizer` and
:func:`~vidcolor.colorize_video`, exactly as the command line does. One model is loaded
and the jobs of both tabs share one queue slot, so concurrent visitors wait in line instead of
overloading the machine. Bad uploads get the library's one-line messages in the page.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import defaults
from .colorizer import Colorizer
from .errors import VidcolorError, megapixels
from .example import to_gray_rgb, write_example_input
from .images import is_image_path, read_image, write_image
from .media import probe
from .runner import VideoOptions, colorize_video

try:
    import gradio as gr
except ImportError as exc:  # the demo extra is optional; the CLI prints this as one line
    raise VidcolorError("the web demo needs Gradio: pip install 'vidcolor[demo]'") from exc

from .demo_uploads import (  # noqa: E402 - needs Gradio, checked above
    WORK_SIZE_RANGE,
    Upload,
    checked_work_size,
    clip_seconds,
    errors_shown_in_page,
    progress_reporter,
    refuse,
    upload_of,
    warnings_shown_in_page,
)
# A job's files are only needed until Gradio has copied the results into its own cache.
KEEP_SECONDS = 600
EXAMPLE_PHOTOS = ("chelsea", "coffee", "astronaut")
EXAMPLE_CLIP_SECONDS = 2

INTRO = """\
# vidcolor
Colour black-and-white photos and film clips from a **colour reference image**: the colours of
the reference are carried onto the matching content. Upload a photo (or a short clip, whose sound
is kept) and a reference, or start from one of the examples below. Without a reference the colours
come from the model's learned prior alone (automatic mode; the shipped model has none yet, so the
result is near gray).
"""

OUTRO = """\
Jobs run one at a time: while someone else's is running, yours waits in the queue. Limits: uploads
of up to {upload} MB, photos of up to {photo} Mpixel, clips of up to {seconds:g} s and {video} Mpixel
a frame (8K); a clip still colouring after {minutes:g} minutes is stopped. For long films use the
command line: `vidcolor film.mp4 --reference still.jpg`.
"""


def write_examples(folder: Path) -> tuple[list[list[str]], list[list[str]]]:
    """Write the example inputs from scikit-image's bundled CC0 photos; return the photo and clip rows.

    A photo example is the photo made gray, with the colour photo mirrored as its reference (so
    the colours have to be matched by content, not copied pixel for pixel). The clip example is
    ``vidcolor example``'s: a slow camera move over "coffee" with a tone as its sound, in gray,
    with its middle frame in colour as the reference.
    """
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    photos = []
    for name in EXAMPLE_PHOTOS:
        rgb = getattr(data, name)()
        photo, reference = folder / f"{name}_bw.png", folder / f"{name}_reference.png"
        write_image(photo, to_gray_rgb(rgb))
        write_image(reference, np.ascontiguousarray(rgb[:, ::-1]))
        photos.append([str(photo), str(reference)])

    clip, reference = folder / "coffee_bw.mp4", folder / "coffee_clip_reference.png"
    write_example_input(clip, reference, seconds=EXAMPLE_CLIP_SECONDS)
    return photos, [[str(clip), str(reference)]]


class DemoApp:
    """The demo's handlers around one loaded :class:`Colorizer`; :meth:`blocks` lays out the page.

    ``work_size`` and ``smooth`` are the settings' initial values; clips longer than
    ``max_seconds`` are refused, and a clip still colouring ``max_job_seconds`` after it started
    is stopped. Photos over ``defaults.MAX_PHOTO_PIXELS`` and videos over
    ``defaults.MAX_VIDEO_PIXELS`` a frame are refused by the library's readers; :meth:`serve`
    limits uploads to ``max_upload_mb``.
    """

    def __init__(self, colorizer: Colorizer, *, max_seconds: float = defaults.DEMO_MAX_SECONDS,
                 work_size: int = defaults.WORK_SIZE, smooth: bool = True, batch_size: int = defaults.BATCH_SIZE,
                 max_job_seconds: float = defaults.DEMO_MAX_JOB_SECONDS,
                 max_upload_mb: float = defaults.DEMO_MAX_UPLOAD_MB):
        self.colorizer = colorizer
        self.max_seconds = max_seconds
        self.max_job_seconds = max_job_seconds
        self.max_upload_mb = max_upload_mb
        self.work_size = work_size
        self.smooth = smooth
        self.batch_size = batch_size
        # The colorizer holds one job's state (references, work size): one job at a time, even
        # for callers that bypass the queue.
        self._lock = threading.Lock()
        self._files = tempfile.TemporaryDirectory(prefix="vidcolor-demo-")  # removed with the app
        self.folder = Path(self._files.name)
        (self.folder / "jobs").mkdir()

    def _time_limit(self, upload: Upload) -> Callable[[], None]:
        """A check that raises once this job has run for ``max_job_seconds`` (from now)."""
        ends = time.monotonic() + self.max_job_seconds

        def check() -> None:
            if time.monotonic() > ends:
                raise VidcolorError(
                    f"{upload.name}: stopped after {self.max_job_seconds:g} s, the longest a job may run here. "
                    "Trim it, or colour it with the command line."
                )

        return check

    def _job_folder(self) -> Path:
        """A new folder for one job's files; those of jobs older than KEEP_SECONDS are removed."""
        now = time.time()
        for old in (self.folder / "jobs").iterdir():
            with contextlib.suppress(FileNotFoundError):  # another job removed it first
                if now - old.stat().st_mtime > KEEP_SECONDS:
                    shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(dir=self.folder / "jobs"))

    def colorize_photo(self, photo: dict | None, reference: dict | None, work_size, full_colour=False) -> str:
        """Photo tab and ``colorize_photo`` endpoint: the coloured photo, as a PNG path."""
        photo_upload = upload_of(photo, "Upload the black-and-white photo to colour.")
        reference_upload = upload_of(reference)  # none: automatic colours from the model's prior
        with errors_shown_in_page(photo_upload, reference_upload):
            size = checked_work_size(work_size)
            image = read_image(photo_upload.path)
            reference_image = read_image(reference_upload.path) if reference_upload else None
            with self._lock, warnings_shown_in_page(reference_upload):
                self.colorizer.work_size = size
                self.colorizer.hedge = not full_colour
                self.colorizer.set_reference(reference_image)
                colour = self.colorizer.colorize_photo(image)
            output = self._job_folder() / f"{Path(photo_upload.name).stem}_color.png"
            write_image(output, colour)
        return str(output)

    def before_after(self, photo: dict | None, result: dict | None) -> tuple[str, str]:
        """The gray photo (what the model sees) and the coloured result, for the before/after slider."""
        photo_upload = upload_of(photo, "Upload the black-and-white photo to colour.")
        result_upload = upload_of(result, "There is no coloured photo yet.")
        with errors_shown_in_page(photo_upload):
            before = self._job_folder() / f"{Path(photo_upload.name).stem}_gray.png"
            write_image(before, to_gray_rgb(read_image(photo_upload.path)))
        return str(before), str(result_upload.path)

    def colorize_clip(self, clip: dict | None, reference: dict | None, second_reference: dict | None,
                      work_size, smooth, full_colour=False, progress=gr.Progress()) -> str:
        """Clip tab and ``colorize_clip`` endpoint: the coloured clip with its sound, as an MP4 path.

        With two references, each shot is coloured from the one that matches it best.
        """
        clip_upload = upload_of(clip, "Upload the black-and-white clip to colour.")
        references = [upload_of(reference), upload_of(second_reference)]  # none: automatic
        references = [upload for upload in references if upload is not None]
        with errors_shown_in_page(clip_upload, *references):
            size = checked_work_size(work_size)
            if is_image_path(clip_upload.name):
                raise refuse(f"{clip_upload.name} is a photo: colour it in the Photo tab.")
            info = probe(clip_upload.path)
            seconds = clip_seconds(info)
            if seconds is None:
                raise refuse(f"{clip_upload.name}: cannot tell how long the clip is; try another file.")
            if seconds > self.max_seconds:
                raise refuse(
                    f"{clip_upload.name} is {seconds:.1f} s long; this demo takes clips of up to "
                    f"{self.max_seconds:g} s. Trim it, or colour the whole film with the command line."
                )
            reference_images = [read_image(upload.path) for upload in references]
            total = info.frame_count or round(seconds * float(info.fps))
            progress((0, total), desc="Colouring frames", unit="frames")
            with self._lock, warnings_shown_in_page(clip_upload, *references):
                self.colorizer.work_size = size
                self.colorizer.hedge = not full_colour
                self.colorizer.set_references(reference_images)
                # MP4 whatever came in, so that every browser can play the result.
                output = self._job_folder() / f"{Path(clip_upload.name).stem}_color.mp4"
                options = VideoOptions(batch_size=self.batch_size, smooth=bool(smooth))
                colorize_video(clip_upload.path, output, self.colorizer, options,
                               on_frames=progress_reporter(progress, total, self._time_limit(clip_upload)))
        return str(output)

    def blocks(self) -> gr.Blocks:
        """The page, with the queue set up (serve it with :meth:`serve`, which adds the upload limit)."""
        photo_examples, clip_examples = write_examples(self.folder / "examples")
        # analytics off: the demo should not phone home for its visitors.
        with gr.Blocks(title="vidcolor: colour photos and film clips", analytics_enabled=False,
                       delete_cache=(3600, 3600)) as demo:
            gr.Markdown(INTRO)
            with gr.Tabs():
                with gr.Tab("Photo", id="photo"):
                    photo, photo_reference, photo_button, slider, photo_download = self._photo_tab(photo_examples)
                with gr.Tab("Clip", id="clip"):
                    clip, clip_reference, clip_reference_2, clip_button, clip_output = self._clip_tab(clip_examples)
            work_size, smooth, full_colour = self._settings()
            gr.Markdown(OUTRO.format(
                upload=f"{self.max_upload_mb:g}", photo=megapixels(defaults.MAX_PHOTO_PIXELS), seconds=self.max_seconds,
                video=megapixels(defaults.MAX_VIDEO_PIXELS), minutes=self.max_job_seconds / 60,
            ))

            # preprocess=False: the handlers read the uploads with the library's readers, so a bad
            # file gets the library's message rather than a generic error from Gradio's decoders.
            photo_button.click(
                self.colorize_photo, [photo, photo_reference, work_size, full_colour], photo_download, api_name="colorize_photo",
                concurrency_id="model", preprocess=False, show_progress_on=slider,
            ).success(self.before_after, [photo, photo_download], slider, api_visibility="private", preprocess=False)
            clip_button.click(
                self.colorize_clip, [clip, clip_reference, clip_reference_2, work_size, smooth, full_colour], clip_output,
                api_name="colorize_clip", concurrency_id="model", preprocess=False,
            )
        # Both tabs' jobs share the "model" slot: one job at a time, the others wait in line (a
        # visitor beyond DEMO_QUEUE_SIZE is told the queue is full).
        demo.queue(default_concurrency_limit=1, max_size=defaults.DEMO_QUEUE_SIZE)
        return demo

    @staticmethod
    def _photo_tab(examples: list[list[str]]) -> tuple:
        """The Photo tab's inputs, button and outputs (inside a ``gr.Tab``)."""
        with gr.Row(equal_height=False):
            with gr.Column():
                with gr.Row():
                    photo = gr.Image(label="Black-and-white photo", sources=["upload"], height=300,
                                     elem_id="photo-input", placeholder="A colour photo is made gray")
                    reference = gr.Image(label="Colour reference (optional)", sources=["upload"], height=300,
                                         elem_id="photo-reference")
                button = gr.Button("Colour the photo", variant="primary", elem_id="colorize-photo")
            with gr.Column():
                slider = gr.ImageSlider(label="Before / after: drag the handle", type="filepath",
                                        interactive=False, max_height=420, elem_id="before-after")
                download = gr.DownloadButton("Download the coloured photo (PNG)", elem_id="download-photo")
        gr.Examples(examples, [photo, reference], cache_examples=False, elem_id="photo-examples",
                    label="Examples: scikit-image's CC0 photos, made gray, with the colour photo mirrored as reference")
        return photo, reference, button, slider, download

    def _clip_tab(self, examples: list[list[str]]) -> tuple:
        """The Clip tab's inputs, button and output (inside a ``gr.Tab``)."""
        with gr.Row(equal_height=False):
            with gr.Column():
                clip = gr.Video(label=f"Black-and-white clip (up to {self.max_seconds:g} s)",
                                sources=["upload"], height=300, elem_id="clip-input")
                with gr.Row():
                    reference = gr.Image(label="Colour reference (optional)", sources=["upload"], height=200,
                                         elem_id="clip-reference")
                    reference_2 = gr.Image(label="Second reference (optional)", sources=["upload"], height=200,
                                           elem_id="clip-reference-2")
                button = gr.Button("Colour the clip", variant="primary", elem_id="colorize-clip")
            with gr.Column():
                output = gr.Video(label="Coloured clip, with its sound", buttons=["download"], interactive=False,
                                  elem_id="clip-output")
        gr.Examples(examples, [clip, reference], cache_examples=False, elem_id="clip-examples",
                    label="Example: a clip made from scikit-image's CC0 photo, its middle frame in colour as reference")
        return clip, reference, reference_2, button, output

    def _settings(self) -> tuple:
        """The settings shared by both tabs: working size, smoothing, full colour."""
        with gr.Accordion("Settings", open=False):
            with gr.Row():
                work_size = gr.Slider(*WORK_SIZE_RANGE, value=self.work_size, step=32, label="Working size (pixels)",
                                      info="Short side at which colour is predicted: larger is finer and slower")
                smooth = gr.Checkbox(value=self.smooth, label="Temporal smoothing (clips)",
                                     info="Carry colours along the motion so that they do not flicker")
                full_colour = gr.Checkbox(value=not self.colorizer.hedge, label="Full colour",
                                          info="Keep full colour where the reference does not show the scene "
                                          "(by default it is muted there rather than guessed)")
        return work_size, smooth, full_colour

    def serve(self, **launch_options) -> gr.Blocks:
        """Build the page and serve it, uploads limited to ``max_upload_mb``; returns the Blocks.

        ``launch_options`` are Gradio's (``server_port``, ``share``, ``prevent_thread_lock``...).
        """
        blocks = self.blocks()
        blocks.launch(max_file_size=f"{self.max_upload_mb:g}mb", **launch_options)
        return blocks


def launch(model: str | Path | None = None, *, device: str = "auto", port: int | None = None, share: bool = False,
           max_seconds: float = defaults.DEMO_MAX_SECONDS, work_size: int = defaults.WORK_SIZE, smooth: bool = True,
           batch_size: int = defaults.BATCH_SIZE,
           hedge: bool = True) -> None:
    """Load the model and serve the demo until interrupted (what ``vidcolor demo`` runs).

    ``port`` None takes the first free one from 7860; ``share`` also serves it on a temporary
    public gradio.live address. ``hedge`` False keeps full colour where the reference matches badly.
    """
    low, high = WORK_SIZE_RANGE
    if not low <= work_size <= high:
        raise VidcolorError(f"--work-size must be from {low} to {high} for the demo")
    colorizer = Colorizer.from_pretrained(model, device=device, work_size=work_size, hedge=hedge)
    app = DemoApp(colorizer, max_seconds=max_seconds, work_size=work_size, smooth=smooth, batch_size=batch_size)
    try:
        app.serve(server_port=port, share=share)
    except OSError as exc:  # no free port
        raise VidcolorError(f"port {port} is taken; choose another with --port" if port else str(exc)) from exc

