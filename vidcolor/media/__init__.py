"""Video input and output: probing, luma decoding, re-encoding with stream copy, resumable segments.

This package is the only part of vidcolor that talks to FFmpeg (through PyAV), and it knows
nothing of the neural network or its framework: what it hands over are numpy arrays, plain
values and (for the state a resumable run saves) opaque bytes. Everything it raises for a bad file, an unsupported
format or a failed write is a :class:`MediaError` whose message is one user-facing line;
:class:`MediaWarning` reports an output that differs from what was asked for.

Frames are handled in their coded orientation (the display rotation is metadata that
:class:`VideoWriter` carries over), and timestamps are kept exactly so variable-frame-rate
input stays in sync with its audio.

Modules, one job each:

- :mod:`.targets` - files, ``"-"`` (stdin/stdout) and URLs: naming them, timeouts
- :mod:`.errors` - :class:`MediaError`, :class:`MediaWarning`, translating PyAV errors
- :mod:`.info` - :class:`VideoInfo`, opening an input and describing its video
- :mod:`.luma` - :class:`GrayFrame`, reading the Y plane as stored
- :mod:`.source` - :class:`VideoSource` (decode once, queue other streams), :func:`probe`, readers
- :mod:`.encoder` - :class:`EncoderOptions`, choice of container, codec and pixel format
- :mod:`.streamcopy` - copying audio/subtitles/data (or an in-memory sound) beside the video
- :mod:`.writer` - :class:`VideoWriter`
- :mod:`.segments` - resumable output written in segments, joined without re-encoding
- :mod:`.clips` - :func:`write_clip` for generated example and test clips
"""

from ..defaults import SEGMENT_SECONDS as DEFAULT_SEGMENT_SECONDS
from ..defaults import STREAM_FORMATS
from .clips import write_clip
from .encoder import YUV420_FORMATS, EncoderOptions, Yuv420Planes, check_output_target
from .errors import MediaError, MediaWarning
from .info import StreamInfo, VideoInfo
from .luma import GrayFrame, luma_levels
from .segments import SavedProgress, SegmentedOutput, join_segments, parts_folder, plan_segments
from .source import VideoSource, probe, read_gray_frames, read_rgb_frames
from .targets import DEFAULT_NETWORK_TIMEOUT_S, STDIO, is_stream_target
from .writer import VideoWriter

__all__ = [
    "DEFAULT_NETWORK_TIMEOUT_S",
    "DEFAULT_SEGMENT_SECONDS",
    "STDIO",
    "STREAM_FORMATS",
    "YUV420_FORMATS",
    "EncoderOptions",
    "GrayFrame",
    "MediaError",
    "MediaWarning",
    "SavedProgress",
    "SegmentedOutput",
    "StreamInfo",
    "VideoInfo",
    "VideoSource",
    "VideoWriter",
    "Yuv420Planes",
    "check_output_target",
    "is_stream_target",
    "join_segments",
    "luma_levels",
    "parts_folder",
    "plan_segments",
    "probe",
    "read_gray_frames",
    "read_rgb_frames",
    "write_clip",
]
