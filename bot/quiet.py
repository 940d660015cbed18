"""`python -m bot.quiet MODULE ARGS...`: `python -m MODULE ARGS...` without deprecation notices.

Sanic turns DeprecationWarning back on as it is imported (`filterwarnings("once", ...)`),
ahead of PYTHONWARNINGS, and Rasa shows every UserWarning once, which catches
pyparsing's deprecations (matplotlib's, as Rasa imports it). `engage run` starts Rasa and
the action server through this, which imports those noisy libraries first, quietly.
"""

from __future__ import annotations

import importlib
import os
import runpy
import sys
import warnings

QUIET = (DeprecationWarning, PendingDeprecationWarning)
# Imported first, with deprecation warnings off: they warn as they are imported.
NOISY = {"rasa": ("sanic", "matplotlib"), "actions.server": ("sanic",)}


def import_rasa_quietly() -> None:
    """Import Rasa into this process (a CLI command that loads a model) quietly.

    As the servers `engage run` starts: without libraries' deprecation notices or
    TensorFlow's start-up lines, unless PYTHONWARNINGS is set (e.g. "default").
    """
    if "PYTHONWARNINGS" in os.environ:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # read as TensorFlow loads
    with warnings.catch_warnings():
        for library in (*NOISY["rasa"], "tensorflow", "rasa.core.agent"):
            _ignore()
            importlib.import_module(library)
    _ignore()


def silence(module: str) -> None:
    """Import `module`'s noisy libraries quietly (unless PYTHONWARNINGS asks otherwise)."""
    if "ignore::DeprecationWarning" not in sys.warnoptions:
        return  # someone set PYTHONWARNINGS (e.g. "default") to see them
    with warnings.catch_warnings():  # also drops the filter sanic adds as it loads
        for library in NOISY.get(module, ()):
            _ignore()  # again before each: sanic puts its "once" in front
            importlib.import_module(library)
    _ignore()


def _ignore() -> None:
    for category in QUIET:
        warnings.filterwarnings("ignore", category=category)


def main(argv: list[str]) -> None:
    """Run the module `argv[0]` as `python -m` would, with the rest as its arguments."""
    silence(argv[0])
    module, *args = argv
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
