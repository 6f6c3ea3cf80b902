"""Wall time of the smoke preset's whole chain (collect -> train -> adapt -> evaluate), per stage.

Each variant runs in a fresh process with an empty work directory and no persistent compilation
cache, so every program is compiled, as on a fresh machine. The peer is the same chain with
`fast_compile` off (XLA's default optimization level), measured in the same run.

    uv run python benchmarks/smoke_chain.py
    uv run python benchmarks/smoke_chain.py --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

STAGES = ("collect", "train", "adapt", "evaluate")

# Runs in the child process: prints one JSON line of stage -> seconds.
CHILD = """
import json, sys, time
t0 = time.perf_counter()
import jax
jax.config.update("jax_enable_compilation_cache", False)
import mrcom.agents as agents
fast = sys.argv[2] == "1"
cfg = agents.preset("smoke", **{"worldmodel.fast_compile": fast, "sac.fast_compile": fast})
times = {"import": time.perf_counter() - t0}
for stage in sys.argv[3].split(","):
    t = time.perf_counter()
    getattr(agents, "run_" + stage)(cfg, sys.argv[1], progress=False)
    times[stage] = time.perf_counter() - t
times["total"] = time.perf_counter() - t0
print(json.dumps(times))
"""


def run_chain(fast_compile: bool) -> dict[str, float]:
    """Seconds per stage (plus "import" and "total") of one smoke chain in a fresh process."""
    with tempfile.TemporaryDirectory(prefix="smoke-chain-") as workdir:
        env = {**os.environ, "JAX_PLATFORMS": "cpu"}
        out = subprocess.run(
            [sys.executable, "-c", CHILD, workdir, "1" if fast_compile else "0", ",".join(STAGES)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=1, help="chains per variant (the fastest is shown)")
    args = p.parse_args(argv)
    print(f"os load average: {os.getloadavg()[0]:.1f}, cpus: {os.cpu_count()}")
    best: dict[bool, dict[str, float]] = {}
    for fast in (True, False):
        runs = [run_chain(fast) for _ in range(args.repeats)]
        best[fast] = min(runs, key=lambda r: r["total"])
    cols = ("import", *STAGES, "total")
    print(f"{'seconds':<22}" + "".join(f"{c:>10}" for c in cols))
    for fast, label in ((True, "fast_compile on"), (False, "fast_compile off")):
        print(f"{label:<22}" + "".join(f"{best[fast][c]:>10.1f}" for c in cols))
    ratio = best[False]["total"] / best[True]["total"]
    print(f"smoke chain: {best[True]['total']:.1f} s with fast_compile, x{ratio:.2f} faster than without")


if __name__ == "__main__":
    main()
