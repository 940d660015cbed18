"""`python -m bot.cli`: the `engage` command (how `engage run` starts its processes)."""

import sys

from bot.cli import main

sys.exit(main())
