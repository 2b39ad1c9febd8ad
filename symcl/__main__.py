"""``python -m symcl`` (and ``torchrun -m symcl``) runs the command line."""

import sys

from symcl.cli import main

sys.exit(main())
