"""The benchmark harness, run once with tiny settings: it measures every scenario for
every installed library and writes its results. The numbers themselves are not judged
here (machines are shared and noisy); what the harness counts is."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from benchmarks import report, runner, scenarios
from benchmarks.contenders import CONTENDERS, available

STORM_THREADS = 8
STORM_REQUESTS = 4


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> runner.Results:
    output = tmp_path_factory.mktemp("bench")
    options = runner.Options.quick_run(
        output=output,
        requests=20,
        latency=0.02,
        duration=0.5,
        flight_threads=8,
        storm_threads=STORM_THREADS,
        storm_requests=STORM_REQUESTS,
        memory_requests=400,
        scenarios=tuple(name for name in runner.SCENARIOS if name != "import"),  # see the import test below
    )
    return runner.run(options)


def test_quick_run_measures_every_installed_library(quick_run: runner.Results) -> None:
    installed = [kind.name for kind in CONTENDERS if available(kind)]
    assert quick_run.libraries == installed
    assert "requests_multiauth" in installed
    overhead = quick_run.overhead[0]
    assert sorted(overhead.durations) == sorted(installed)
    assert all(len(times) == 20 for times in overhead.durations.values())
    assert all(len(times) == 20 for times in overhead.cpu.values())
    assert all(failed == 0 for failed in overhead.failed.values())
    assert overhead.token_calls == 0  # a valid token: nobody asked for another


def test_single_flight_counts_one_token_call_for_requests_multiauth(quick_run: runner.Results) -> None:
    flight = quick_run.flight[0]
    assert "fixed header" not in flight  # it cannot renew, so it has nothing to show here
    assert flight["requests_multiauth"].token_calls == 1
    for name, result in flight.items():
        assert result.requests == 8, name
        assert result.failed == 0, name
        assert result.token_calls >= 1, name  # the token had expired: every library asked


def test_storm_counts_token_calls_and_failed_requests(quick_run: runner.Results) -> None:
    storm = quick_run.storm[0]
    for result in storm.values():
        assert result.requests == STORM_THREADS * STORM_REQUESTS
    ours = storm["requests_multiauth"]
    assert (ours.token_calls, ours.failed) == (1, 0)
    fixed = storm["fixed header"]  # revoked and unable to renew: what failing looks like
    assert fixed.token_calls == 0
    assert fixed.failed > 0


def test_stall_records_every_request_and_the_token_calls(quick_run: runner.Results) -> None:
    stall = quick_run.stall[0]
    assert set(stall) == {kind.name for kind in CONTENDERS if available(kind) and kind.renews}
    for name, result in stall.items():
        assert result.calls, name
        assert all(call.started >= result.window_start for call in result.calls), name
        assert all(received <= answered for received, answered in result.token_calls), name
        assert set(result.stalled) <= set(result.slow), name
    assert stall["requests_multiauth"].failed == 0


def test_memory_scenario_reaches_its_request_count(quick_run: runner.Results) -> None:
    ours = [m for m in quick_run.memory if m.library == "requests_multiauth"]
    assert len(ours) == 1
    checkpoints = ours[0].checkpoints
    assert checkpoints[-1].requests == 400
    assert [c.requests for c in checkpoints] == sorted(c.requests for c in checkpoints)
    assert len(checkpoints) == scenarios.MEMORY_CHECKPOINTS + 1
    assert all(c.blocks > 0 for c in checkpoints)
    assert ours[0].traced_requests == 40
    assert ours[0].failed == 0


def test_import_cost_is_measured_in_fresh_interpreters_for_each_module() -> None:
    # Two modules only: each fresh interpreter costs a second on a busy machine.
    result = scenarios.import_cost(["requests", "requests_multiauth"], runs=1)
    assert sorted(result.seconds) == ["requests", "requests_multiauth"]
    assert all(len(values) == 1 and values[0] > 0 for values in result.seconds.values())


def test_results_file_reports_goals_and_every_scenario(quick_run: runner.Results) -> None:
    written = {path.name for path in quick_run.files}
    directory = quick_run.options.output
    text = Path(directory, "RESULTS.md").read_text(encoding="utf-8")
    for heading in ("## Goals", "## Overhead", "## Single flight", "## Stall", "## 401 storm", "## Memory"):
        assert heading in text
    assert "## Import cost" not in text  # not run here
    assert "A quick run" in text
    met = report.goals(quick_run)
    assert met["single-flight"] is True
    assert met["storm"] is True
    has_matplotlib = importlib.util.find_spec("matplotlib") is not None
    assert ("stall.png" in written) == has_matplotlib
    assert Path(directory, "stall.png").exists() == has_matplotlib


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads /proc for memory and descriptors")
def test_the_tenants_benchmark_counts_every_renewal_and_writes_its_results(tmp_path: Path) -> None:
    from benchmarks import tenants

    output = tmp_path / "TENANTS.md"
    libraries = ["requests_multiauth"] + (["requests-auth"] if importlib.util.find_spec("requests_auth") else [])
    argv = ["--tenants", "6", "--rounds", "2", "--latency", "0.01", "--output", str(output)]
    assert tenants.main([*argv, "--libraries", ",".join(libraries)]) == 0

    written = output.read_text()
    rounds = [line for line in written.splitlines() if line.startswith("| requests_multiauth | 6 | ")]
    assert len(rounds) == 3  # the summary row and one row per storm round
    assert rounds[1].startswith("| requests_multiauth | 6 | 1 | 6 | ")  # round 1: 6 renewals, every token
    assert rounds[2].startswith("| requests_multiauth | 6 | 2 | 6 | ")
    assert f"--tenants 6 --rounds 2 --latency 0.01 --output {output}" in written
    if "requests-auth" in libraries:
        assert "| requests-auth | 6 | 1 | " in written
