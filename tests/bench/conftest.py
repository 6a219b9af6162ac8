"""Fault injection at the scale of a burst: real dispatcher and worker processes, faults on purpose.

Small by default (CI); FAULTS_SIZE=1000 runs each scenario with that many deliveries. Each test
records how long the engine took to publish everything after the fault; the figures are printed at
the end of the run (and written as JSON to FAULTS_REPORT, if set).
"""

import json
import os

import pytest

SIZE = int(os.environ.get("FAULTS_SIZE", "30"))
_recoveries: list[dict] = []


@pytest.fixture
def recovery(request):
    """Call with (seconds, **details) to report a scenario's recovery time."""

    def record(seconds: float, **details):
        _recoveries.append(
            {"test": request.node.name, "size": SIZE, "recovery_s": round(seconds, 2), **details}
        )

    return record


def pytest_terminal_summary(terminalreporter):
    if not _recoveries:
        return
    terminalreporter.section(f"fault injection: recovery times ({SIZE} deliveries)")
    for item in _recoveries:
        extra = ", ".join(f"{k}={v}" for k, v in item.items() if k not in ("test", "size", "recovery_s"))
        terminalreporter.write_line(f"{item['test']}: {item['recovery_s']:.2f} s  {extra}")
    path = os.environ.get("FAULTS_REPORT")
    if path:
        with open(path, "w") as handle:
            json.dump(_recoveries, handle, indent=2)
