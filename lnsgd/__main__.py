"""`python -m lnsgd ...`: the command line (lnsgd/cli.py)."""

import sys

from lnsgd.cli import main

sys.exit(main())
