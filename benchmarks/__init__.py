"""Benchmarks of requests_multiauth against the libraries people use for the same job.

Run them with ``python -m benchmarks`` from the repository root (see
``benchmarks/README.md``). The package is laid out as the run goes:

* :mod:`benchmarks.provider`: the local token endpoint and API, in a process of its own;
* :mod:`benchmarks.contenders`: one small client per library, all against that provider;
* :mod:`benchmarks.scenarios`: what is measured (overhead, single flight, stall, 401
  storm, memory, import cost);
* :mod:`benchmarks.runner`: rounds, interleaving, and the command line;
* :mod:`benchmarks.report`: ``RESULTS.md`` and the stall plot.

The benchmarks are not part of the test run; ``tests/test_benchmarks_smoke.py`` runs
the harness once with tiny settings.
"""
