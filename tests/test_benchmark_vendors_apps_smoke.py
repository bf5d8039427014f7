"""The vendor presets' benchmark, run once with tiny sizes: it counts what the results
table shows (not how fast anything is: timing is not judged in tests)."""

from __future__ import annotations

from pathlib import Path

from benchmarks import vendors_apps


def test_the_vendor_benchmark_counts_one_call_for_ours_and_one_per_request_or_process_for_the_sdks(
    tmp_path: Path,
) -> None:
    assert vendors_apps.main(["--threads", "4", "--processes", "2", "--due", "2", "--output", str(tmp_path)]) == 0
    text = (tmp_path / "VENDORS_APPS.md").read_text(encoding="utf-8")
    assert "## 4 threads right after expiry" in text
    rows = [line.split("|")[1:-1] for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    burst = {
        (cells[0].strip(), cells[1].strip()): (int(cells[2]), int(cells[3]))
        for cells in rows
        if len(cells) == 4 and cells[2].strip().isdigit()
    }
    procs = {
        (cells[0].strip(), cells[1].strip()): (int(cells[3]), int(cells[4]))
        for cells in rows
        if len(cells) == 5 and cells[3].strip().isdigit()
    }
    for preset in ("zoom", "entra-id", "github-app"):
        assert burst[(preset, "requests_multiauth")] == (1, 0)
        assert procs[(preset, "requests_multiauth")] == (1, 0)
    for peer in (("entra-id", "azure-identity"), ("entra-id", "msal"), ("github-app", "PyGithub")):
        calls, failed = burst[peer]
        assert failed == 0
        assert calls >= 1  # the SDKs were driven for real (they asked once or once per thread)
    assert procs[("entra-id", "azure-identity")] == (2, 0)
    assert procs[("github-app", "PyGithub")] == (2, 0)
