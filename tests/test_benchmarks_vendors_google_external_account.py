"""The Google workload identity federation benchmark runs, with tiny sizes, and counts what it should."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("google.auth")

from benchmarks import vendors_google_external_account as bench


def test_the_benchmark_counts_one_call_per_link_for_ours_and_writes_its_table(tmp_path: Path) -> None:
    assert bench.main(["--threads", "4", "--processes", "2", "--rounds", "1", "--output", str(tmp_path)]) == 0
    text = (tmp_path / bench.RESULTS).read_text()
    for scenario in ("first use", "right after expiry", "2 processes"):
        assert f"| {scenario} | requests_multiauth | 1 | 1 | 1 | 0 |" in text
    # google-auth's rows are measured, not asserted: its counts are its own behaviour.
    assert text.count("| google-auth | 1 |") == 3
