"""Options shared by the commands that colour (the main command, ``example`` and ``demo``)."""

from __future__ import annotations

import argparse

from .. import defaults


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="shipped model name or checkpoint path (default: the shipped model)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where the model runs")
    parser.add_argument("--batch-size", type=int, default=defaults.BATCH_SIZE,
                        help=f"frames per batch (default {defaults.BATCH_SIZE}; fewer for frames above 720p)")
    parser.add_argument("--work-size", type=int, default=defaults.WORK_SIZE,
                        help=f"short side at which chroma is predicted (default {defaults.WORK_SIZE})")
    parser.add_argument("--temporal", choices=defaults.TEMPORAL_MODES, default=defaults.TEMPORAL,
                        help=f"flow-guided chroma smoothing (default {defaults.TEMPORAL})")
    parser.add_argument("--keyframes", choices=defaults.KEYFRAME_MODES, default=defaults.KEYFRAMES,
                        help="where the network runs: on every frame, or on adaptive keyframes (shot starts and "
                        "where motion uncovers too much) with colour carried along the flow between them "
                        f"(faster; default {defaults.KEYFRAMES})")
    parser.add_argument("--full-colour", action="store_true",
                        help="keep the network's full colour where the reference matches badly (default: mute it there)")
