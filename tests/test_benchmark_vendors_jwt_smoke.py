"""``python -m benchmarks.vendors_jwt`` once with tiny settings: it runs, our presets make one
token call per burst and per group of processes with no failure, and it writes its table
(the peers' counts are the benchmark's to report, not the tests' to fix)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("google.auth")
pytest.importorskip("simple_salesforce")


@pytest.mark.slow
def test_the_vendors_jwt_benchmark_runs_and_counts_one_call_for_ours(tmp_path: Path) -> None:
    from benchmarks import vendors_jwt

    argv = [
        "--rounds",
        "1",
        "--threads",
        "4",
        "--processes",
        "2",
        "--latency",
        "0",
        "--requests",
        "5",
        "--output",
        str(tmp_path),
    ]
    assert vendors_jwt.main(argv) == 0
    text = (tmp_path / "VENDORS_JWT_RESULTS.md").read_text(encoding="utf-8")
    calls = [line for line in text.splitlines() if line.startswith("| ") and line.count("|") == 5]
    ours = [line for line in calls if "| requests_multiauth" in line]
    assert len(ours) == 4
    assert all(line.rstrip().endswith("| 1 | 0 |") for line in ours)
    assert "google-auth AuthorizedSession" in text
    assert "simple-salesforce SalesforceLogin" in text
    assert "| fixed header (floor) |" in text
