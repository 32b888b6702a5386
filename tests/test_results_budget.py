"""The committed results/ stay within their budget: 250 MB in all, models and banks included,
for the whole planned study. Prints each experiment's share (pytest -s shows it)."""
import subprocess

from conftest import ROOT

BUDGET_BYTES = 250 * 10**6


def committed_sizes() -> dict[str, int]:
    """Bytes per top-level folder of results/, over the files git tracks (what a clone gets):
    a file whose content another tracked file already has (the same blob: study 003's and
    mnist-baseline's copies of a shared target's model and scores) is stored once by git and
    counted once, for the first path in git's order."""
    listed = subprocess.run(["git", "ls-files", "-s", "-z", "results"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    sizes: dict[str, int] = {}
    seen: set[str] = set()
    for entry in filter(None, listed):
        meta, path = entry.split("\t", 1)
        blob = meta.split()[1]
        file = ROOT / path
        if file.is_file() and blob not in seen:
            seen.add(blob)
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


# The earlier studies (000, 001, 003, 004: issue 21) get about 60 MB of the 250: their studies'
# experiments, each a results folder of its own (a study that compares the deck's own
# experiments, baseline-vs-defended, is the CIFAR-10 study's share).
EARLIER_STUDIES = ("loss-threshold-mnist", "shadow-models", "normalized-confidence", "architecture")
EARLIER_BUDGET_BYTES = 60 * 10**6


def test_the_earlier_studies_are_within_their_share():
    from mia import studies

    sizes = committed_sizes()
    folders = {name for s in EARLIER_STUDIES for name in studies.load_named(s).all_experiments}
    share = sum(sizes.get(f, 0) for f in folders)  # their study folders: under "studies", tiny
    print(f"\nthe earlier studies' experiments: {share / 1e6:.1f} MB of {EARLIER_BUDGET_BYTES / 1e6:.0f} MB")
    assert share <= EARLIER_BUDGET_BYTES, f"the earlier studies hold {share / 1e6:.1f} MB"


# The defences study (issue 22) gets about 80 MB: its experiments' folders and its own.
DEFENCES_BUDGET_BYTES = 80 * 10**6


def test_the_defences_study_is_within_its_share():
    from mia import studies

    sizes = committed_sizes()
    folders = set(studies.load_named("defences").all_experiments)
    share = sum(sizes.get(f, 0) for f in folders)
    study_folder = subprocess.run(["git", "ls-files", "-z", "results/studies/defences"], cwd=ROOT,
                                  capture_output=True, check=True).stdout.decode().split("\0")
    share += sum((ROOT / p).stat().st_size for p in filter(None, study_folder) if (ROOT / p).is_file())
    print(f"\nthe defences study: {share / 1e6:.1f} MB of {DEFENCES_BUDGET_BYTES / 1e6:.0f} MB")
    assert share <= DEFENCES_BUDGET_BYTES, f"the defences study holds {share / 1e6:.1f} MB"
