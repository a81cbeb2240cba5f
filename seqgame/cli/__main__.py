"""``python -m seqgame.cli``."""

import sys

from seqgame.cli import main

sys.exit(main())
