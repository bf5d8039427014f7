"""The metadata benchmark (benchmarks/vendors_metadata.py), run once with tiny sizes: it drives
every client through both scenarios and counts what the metadata servers saw. The counts are
judged where they are ours to promise (one token call); the timings are not judged."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks import vendors_metadata


def test_the_metadata_benchmark_counts_one_call_for_ours_and_reports_every_client(tmp_path: Path) -> None:
    options = argparse.Namespace(threads=4, processes=2, short=1.0, lifetime=3600.0, output=tmp_path)
    rows = vendors_metadata.run(options)

    clients = vendors_metadata._clients()
    assert len(rows) == 2 * len(clients)
    assert {row.client for row in rows} == {"requests_multiauth", "google-auth", "azure-identity"}
    assert all(row.failed == 0 for row in rows), [row for row in rows if row.failed]
    for row in rows:
        if row.client == "requests_multiauth":
            assert row.token_calls == 1, row
            assert row.other_calls == 0, row
        else:
            assert row.token_calls >= 1, row  # the peers ask at least once; how often is what is measured
    text = vendors_metadata.report(rows, options)
    assert text.count("\n| threads |") == len(clients)
    assert text.count("\n| processes |") == len(clients)
