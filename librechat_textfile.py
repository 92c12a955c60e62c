#!/usr/bin/env python3
"""librechat_textfile: LibreChat usage metrics for node_exporter's textfile collector.

The command people run from a clone (the same as the installed `librechat-textfile`):

    python3 librechat_textfile.py                 # write the .prom file (the scheduled use)
    python3 librechat_textfile.py --stdout        # print the metrics for a person to read
    python3 librechat_textfile.py indexes         # list the indexes the queries want
    python3 librechat_textfile.py indexes --create

The job itself lives in the package `librechat_metrics/` beside this file; see its docstring
and README.md, "Development", for the map of its modules.
"""

from __future__ import annotations

import sys

if sys.version_info < (3, 11):  # noqa: UP036  (a clear message on an old Python, not a traceback)
    sys.exit("librechat_textfile needs Python 3.11 or newer")

from librechat_metrics import __version__
from librechat_metrics.catalogue import CATALOGUE
from librechat_metrics.cli import main, run_and_exit
from librechat_metrics.clock import Clock
from librechat_metrics.errors import (
    EXIT_FAILED,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    JobError,
)
from librechat_metrics.families import Family
from librechat_metrics.labels import LABEL_MAX_CHARS, label_value, model_label, number
from librechat_metrics.logs import redact, uri_secrets
from librechat_metrics.run import collect
from librechat_metrics.settings import OPTIONS, Settings, SettingsError, load_settings
from librechat_metrics.state import STATE_VERSION, load_state
from librechat_metrics.textfile import render

__all__ = [
    "CATALOGUE", "EXIT_FAILED", "EXIT_LOCKED", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE",
    "LABEL_MAX_CHARS", "OPTIONS", "STATE_VERSION", "Clock", "Family", "JobError", "Settings",
    "SettingsError", "__version__", "collect", "label_value",
    "load_settings", "load_state", "main", "model_label", "number", "redact", "render",
    "uri_secrets",
]

if __name__ == "__main__":
    run_and_exit()
