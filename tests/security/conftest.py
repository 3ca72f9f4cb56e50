"""Report how many schema-fuzzing cases ran, at the end of the session."""
from __future__ import annotations

import sys


def pytest_terminal_summary(terminalreporter) -> None:
    fuzz = sys.modules.get("tests.security.test_schema_fuzz")
    if fuzz is not None and sum(fuzz.CASES.values()):
        terminalreporter.write_line(
            f"schema fuzzing: {fuzz.CASES['valid key']} cases with an admin key, "
            f"{fuzz.CASES['bad key']} with a missing or wrong key"
        )
