"""Launch the vidcolor web demo from a checkout: ``python demos/app.py [--port N] [--share] [--model M]``.

The app itself is :mod:`vidcolor.demo`, installed with the package so that ``vidcolor demo`` runs
the same code; this script only hands its arguments to the command line (``--help`` lists them all).
"""

import sys

from vidcolor.cli import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
