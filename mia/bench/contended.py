"""The contended run (``--contended``): the single-model trainer idle and while another process
spins a core, each timing in a fresh ``python -m mia.bench --worker-single`` process."""
from __future__ import annotations

import json
import os
import subprocess
import sys


def contended(args) -> dict:
    """The single-model trainer idle and while another process spins one core, each in a fresh
    process (OpenMP reads its wait policy at start-up): the project's defaults (a worker per
    core, one PyTorch thread each, passive waiting) against PyTorch's (a plain step on one
    PyTorch thread per core, spin-waiting)."""
    settings = {"project_default": ("PASSIVE", []),
                "pytorch_default": ("ACTIVE", ["--plain-threads", str(os.cpu_count() or 1)])}
    results = {}
    for name, (policy, extra) in settings.items():
        env = dict(os.environ, OMP_WAIT_POLICY=policy)
        for load in ("idle", "contended"):
            spinner = None
            if load == "contended":
                spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                proc = subprocess.run([sys.executable, "-m", "mia.bench", "--worker-single",
                                       "--steps", str(args.steps), "--device", "cpu", *extra],
                                      capture_output=True, text=True, env=env, timeout=1800)
            finally:
                if spinner:
                    spinner.kill()
            results[f"{name}_{load}"] = json.loads(proc.stdout.strip().splitlines()[-1])
        results[f"{name}_slowdown"] = (results[f"{name}_idle"]["samples_per_s"]
                                       / results[f"{name}_contended"]["samples_per_s"])
    return results
