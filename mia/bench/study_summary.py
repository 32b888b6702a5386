"""The study's section of docs/performance.md: each experiment's stage times, from
``results/*/manifest.json``."""
from __future__ import annotations

from pathlib import Path

from ..io import read_json


def study_lines(results_root: Path) -> list[str]:
    """One line per experiment manifest under ``results_root`` (folders of other commands,
    the bench's and the DP search's, left out: their manifests time no stages), then the total
    over every experiment and stage."""
    out = []
    total, all_fresh = 0.0, True
    for manifest in sorted(results_root.glob("*/manifest.json")):
        if manifest.parent.name == "bench":
            continue
        m = read_json(manifest)
        if "wall_seconds" not in m:  # results/dp-tuning/: a search, not an experiment
            continue
        w = m["wall_seconds"]
        parts = ", ".join(f"{k} {v['seconds']:.0f} s"
                          + (f" ({v['workers']} processes)" if v.get("workers") else "")
                          + (" (reused)" if v.get("reused") else "")
                          for k, v in w.items() if v.get("seconds") is not None)
        total += sum(v["seconds"] for v in w.values() if v.get("seconds") is not None)
        all_fresh &= not any(v.get("reused") for v in w.values())
        train = w.get("train", {})
        if "cpu_workers" in train:
            how = (f"trained on {train['device']}, {train['cpu_shards']} shards on "
                   f"{train['cpu_workers']} worker threads")
        elif "device" in train:
            how = f"trained on {train['device']} ({train.get('engine', 'see the manifest')})"
        else:
            how = "training conditions: see the manifest"
        out.append(f"- `{m['experiment']}` on {m['device']['processor']} ({how}), finished "
                   f"{m.get('finished', m.get('created'))}: {parts}")
    if total:
        out.append(f"- every experiment, all stages: {total / 60:.1f} min"
                   + ("" if all_fresh else " (some stages reused a cached result: see above)"))
    return out
