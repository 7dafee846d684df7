"""OpenMP threads that sleep when idle: how the network shares a CPU with the video encoder.

torch runs the network on OpenMP threads that by default spin for a while after each parallel
region, waiting for the next. Alone on the CPU that saves a wake-up per layer (the network is
~10% faster); beside x264's own threads, which need the same cores, the spinning threads take
the encoder's time and wait on each other whenever one is descheduled. With passive waiting the
whole video pipeline is faster (AMD EPYC, 2 cores, ``--keyframes auto``: 1080p 11.3 -> 14.6
fps, 480p 28.5 -> 31.2 fps; docs/keyframes.md). The OpenMP runtime reads the policy once, when
torch loads, so it is set before that, and never over a user's own choice.
"""

from __future__ import annotations

import os
import sys

_POLICY = "OMP_WAIT_POLICY"


def prefer_passive_waiting() -> bool:
    """Ask for passive waiting unless the user set a policy; call before torch is imported.

    Returns whether passive waiting will be in force (False when torch was already loaded or
    the user chose otherwise).
    """
    if "torch" in sys.modules:
        return os.environ.get(_POLICY, "").upper() == "PASSIVE"
    return os.environ.setdefault(_POLICY, "PASSIVE").upper() == "PASSIVE"
