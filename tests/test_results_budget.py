"""The committed results/ stay within their budget: 250 MB in all, models and banks included,
for the whole planned study. Prints each experiment's share (pytest -s shows it)."""
import subprocess

from conftest import ROOT

BUDGET_BYTES = 250 * 10**6


def committed_sizes() -> dict[str, int]:
    """Bytes per top-level folder of results/, over the files git tracks (what a clone gets)."""
    listed = subprocess.run(["git", "ls-files", "-z", "results"], cwd=ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")
    sizes: dict[str, int] = {}
    for path in filter(None, listed):
        file = ROOT / path
        if file.is_file():
            part = path.split("/")[1] if path.count("/") > 1 else "(top level)"
            sizes[part] = sizes.get(part, 0) + file.stat().st_size
    return sizes


def test_committed_results_are_within_the_budget():
    sizes = committed_sizes()
    total = sum(sizes.values())
    table = "\n".join(f"  {name:<28} {b / 1e6:8.1f} MB  {b / BUDGET_BYTES:6.1%} of the budget"
                      for name, b in sorted(sizes.items(), key=lambda kv: -kv[1]))
    print(f"\ncommitted results/: {total / 1e6:.1f} MB of {BUDGET_BYTES / 1e6:.0f} MB\n{table}")
    assert sizes, "git lists no files under results/"
    assert total <= BUDGET_BYTES, f"results/ holds {total / 1e6:.1f} MB, over the budget:\n{table}"
