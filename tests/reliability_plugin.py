"""pytest plugin: the "Reliability" table measured by the fault tests, in the terminal summary.

Register it from tests/conftest.py with ``pytest_plugins = ["tests.reliability_plugin"]``.
Without it the table is still written to ``.pytest_cache/d/reliability/reliability-report.md``
(and ``.json``) by tests/fault_report.py as each row is recorded.
"""

from __future__ import annotations

import pytest

from tests.fault_report import REPORT


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    if not REPORT.rows:
        return
    terminalreporter.write_sep("=", "reliability (measured)")
    terminalreporter.write(REPORT.markdown())
    if REPORT.directory is not None:
        terminalreporter.write_line(f"written to {REPORT.directory}/reliability-report.md")
