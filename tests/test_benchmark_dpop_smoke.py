"""``python -m benchmarks.dpop`` once with tiny settings: it runs, counts no failure, and writes
its table (how fast anything is, is the benchmark's business, not the tests')."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("jwt")
pytest.importorskip("trustme")


def test_the_dpop_benchmark_runs_and_writes_its_results(tmp_path: Path) -> None:
    from benchmarks import dpop

    assert dpop.main(["--rounds", "1", "--requests", "5", "--sign-calls", "5", "--output", str(tmp_path)]) == 0
    text = (tmp_path / "DPOP_RESULTS.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| requests_multiauth |")]
    assert len(rows) == 1
    assert rows[0].rstrip().endswith("| 0 |")  # no failed request
    assert "(floor)" in text
    assert "DPoPKey.proof" in text
