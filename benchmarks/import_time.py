"""What ``import requests_multiauth`` adds to ``import requests``, in a normal (non-editable) install.

::

    python -m benchmarks.import_time              # 41 interpreters per statement
    python -m benchmarks.import_time --runs 101

The package is installed with ``pip install --no-deps --target`` into a temporary
directory (a normal install: no editable finder), which is put first on
``PYTHONPATH``; its dependencies come from the running environment. Then, in fresh
interpreters, statements interleaved run by run after one unmeasured run each (which
writes the bytecode caches):

* wall time of ``python -c "import requests"``, of ``python -c "import requests,
  requests_multiauth"`` and of the same plus the first use of an auth
  (``requests_multiauth.ClientCredentialsAuth``): the medians and their differences;
* ``python -X importtime``: the cumulative time of the ``requests_multiauth`` import
  after ``requests`` is loaded, median, and the five costliest modules it loads.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
#: The last statement is the first use of an auth: what an application pays once it builds one,
#: since every public name loads on first use (PEP 562).
FIRST_USE = "import requests, requests_multiauth; requests_multiauth.ClientCredentialsAuth"
STATEMENTS = ("import requests", "import requests, requests_multiauth", FIRST_USE)


def _importtime(env: Dict[str, str]) -> Dict[str, int]:
    """Cumulative microseconds per module imported after requests, from one -X importtime run."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import requests; import requests_multiauth"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
        cwd=env["PYTHONPATH"],
    )
    lines = result.stderr.splitlines()
    start = max(i for i, line in enumerate(lines) if line.rstrip().endswith("| requests"))
    costs: Dict[str, int] = {}
    for line in lines[start + 1 :]:
        if not line.startswith("import time:"):
            continue
        _own, cumulative, name = line[len("import time:") :].split("|", 2)
        costs[name.strip()] = int(cumulative)
    return costs


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=41, help="fresh interpreters per statement")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as target:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", target, str(ROOT)],
            check=True,
            timeout=600,
        )
        env = dict(os.environ, PYTHONPATH=target)
        where = subprocess.run(
            [sys.executable, "-c", "import requests_multiauth; print(requests_multiauth.__file__)"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            cwd=target,  # not the repository, whose package would come first
        ).stdout.strip()
        assert where.startswith(target), f"the installed copy was not the one imported: {where}"
        walls: Dict[str, List[float]] = {statement: [] for statement in STATEMENTS}
        ours: List[int] = []
        modules: Dict[str, List[int]] = {}
        for run in range(args.runs + 1):
            for statement in STATEMENTS:
                started = time.perf_counter()
                subprocess.run([sys.executable, "-c", statement], env=env, check=True, timeout=60, cwd=target)
                if run:
                    walls[statement].append(time.perf_counter() - started)
            costs = _importtime(env)
            if run:
                ours.append(costs["requests_multiauth"])
                for name, cost in costs.items():
                    modules.setdefault(name, []).append(cost)
    base, with_ours, first_use = (statistics.median(walls[s]) * 1000 for s in STATEMENTS)
    print(f"{args.runs} fresh interpreters per statement, interleaved; Python {sys.version.split()[0]}")
    print(f"  import requests                      {base:7.1f} ms (median wall time, start-up included)")
    print(f"  import requests, requests_multiauth  {with_ours:7.1f} ms: +{with_ours - base:.1f} ms")
    print(f"  ... and ClientCredentialsAuth loaded {first_use:7.1f} ms: +{first_use - base:.1f} ms (its first use)")
    print(f"  -X importtime: requests_multiauth after requests: {statistics.median(ours) / 1000:.1f} ms (median)")
    costly = sorted(
        ((statistics.median(v), k) for k, v in modules.items() if not k.startswith("requests_multiauth")),
        reverse=True,
    )[:5]
    shown = ", ".join(f"{name} {cost / 1000:.1f} ms" for cost, name in costly)
    print(f"  costliest modules it loads (cumulative, median): {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
