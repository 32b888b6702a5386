"""Study 004 in the study deck: does the architecture change how much a CIFAR-10 classifier
leaks? Its comparisons (results/studies/architecture/comparisons.json, ``mia.study_results``:
each arm 3 seeds, each difference with an interval over seeds and samples) judged against the
original's three hypotheses. Empty until that study's results exist."""
from __future__ import annotations

from ... import schemas
from ...io import read_checked
from ..results import Deck

STUDY = "architecture"
ROLES: tuple[str, ...] = ()  # the study's own results folder, not one experiment's
USES: tuple[str, ...] = ()
PART = "Earlier studies: architecture and memorisation (004)"
METRIC = "auc"  # the hypotheses are judged on the loss's AUC over every member and non-member
# each hypothesis of the original, the comparisons that test it, and the direction it predicts
# for the difference b - a of those comparisons (+1: b leaks more)
HYPOTHESES = (
    ("more parameters mean more memorisation", (("cnn_vs_dense", -1),),
     "CNN {b_params:,} vs dense {a_params:,} parameters; the architecture differs too"),
    ("more depth means more memorisation", (("depth", +1), ("depth_4_classes", +1)),
     "depth 7 vs 4, on 10 and on 4 classes"),
    ("fewer classes mean more memorisation", (("classes_depth4", +1), ("classes_depth7", +1)),
     "4 classes vs 10, both on 20,000 images"),
)
ARM_NAMES = {"dense4": "dense, depth 4", "dense7": "dense, depth 7", "cnn4": "CNN, depth 4",
             "dense4_4class": "dense 4, 4 classes", "dense7_4class": "dense 7, 4 classes",
             "dense4_20k": "dense 4, 20,000 images", "dense7_20k": "dense 7, 20,000 images"}


def judge(found: dict, tests: tuple) -> tuple[str, list[str]]:
    """'supported', 'contradicted', 'not shown' or 'mixed', and one line per comparison."""
    outcomes, lines = [], []
    for name, predicted in tests:
        c = found.get(name)
        if c is None:
            continue
        m = c["metrics"][METRIC]
        lo, hi = m["difference_ci95"] or (None, None)
        if not m["excludes_zero"]:
            outcome = "no difference"
        else:
            outcome = "as predicted" if (m["difference"] > 0) == (predicted > 0) else "the opposite"
        outcomes.append(outcome)
        lines.append(f"{c['question']} AUC {m['difference']:+.3f}"
                     + (f" [{lo:+.3f}, {hi:+.3f}]" if lo is not None else "") + f": {outcome}")
    if not outcomes:
        return "", []
    if all(o == "as predicted" for o in outcomes):
        return "supported", lines
    if all(o == "the opposite" for o in outcomes):
        return "contradicted", lines
    if all(o == "no difference" for o in outcomes):
        return "not shown", lines
    return "mixed", lines


# the comparisons the Discussion sets beside their arms' train - test gaps
DISCUSSED = ("cnn_vs_dense", "classes_depth4")


def gap_sentence(c: dict) -> str:
    """'dense, depth 4 (38-point gap) AUC 0.71 against CNN, depth 4 (3-point gap) 0.52:
    −0.188 [−0.195, −0.182] over 3 seeds': a comparison's AUCs beside its arms' gaps."""
    gap, auc = c["metrics"]["generalisation_gap"], c["metrics"]["auc"]
    lo, hi = auc["difference_ci95"]

    def signed(x: float) -> str:
        return f"{x:+.3f}".replace("-", "−")
    return (f"{ARM_NAMES.get(c['a'], c['a'])} ({100 * gap['a']['mean']:.0f}-point gap) AUC "
            f"{auc['a']['mean']:.2f} against {ARM_NAMES.get(c['b'], c['b'])} "
            f"({100 * gap['b']['mean']:.0f}-point gap) {auc['b']['mean']:.2f}: "
            f"{signed(auc['difference'])} [{signed(lo)}, {signed(hi)}] over {c['seeds']} seeds")


def facts(deck: Deck) -> dict:
    folder = deck.root / "studies" / STUDY
    if not (folder / "comparisons.json").is_file():  # not made yet: said on the last slide
        return {"not_made": [f"study 004 (architecture): no {folder / 'comparisons.json'} (run "
                             f"`invoke experiments --study {STUDY}`)"]}
    # a corrupt file stops the deck with one line (FileFailed), as every results file does
    found = read_checked(folder / "comparisons.json", schemas.COMPARISONS,
                         f"run `invoke experiments --study {STUDY}`")
    by_name = {c["name"]: c for c in found["comparisons"]}
    hypotheses = []
    for claim, tests, what in HYPOTHESES:
        first = by_name.get(tests[0][0])
        params = first["parameters"] if first else {}
        verdict, lines = judge(by_name, tests)
        if verdict:
            hypotheses.append({"claim": claim, "verdict": verdict, "lines": lines,
                               "what": what.format(a_params=params.get(first["a"]) or 0,
                                                   b_params=params.get(first["b"]) or 0)
                               if first else what})
    arms = {}
    for c in found["comparisons"]:
        for side in ("a", "b"):
            arm = c[side]
            if arm in arms:
                continue
            m = c["metrics"]
            arms[arm] = {"name": ARM_NAMES.get(arm, arm), "parameters": c["parameters"][arm],
                         "members": c["n_members"][arm], "nonmembers": c["n_nonmembers"][arm],
                         **{k: m[k][side] for k in ("train_accuracy", "test_accuracy",
                                                    "generalisation_gap", "auc",
                                                    "tpr_at_1pct_fpr")}}
    seeds = {c["seeds"] for c in found["comparisons"]}
    depth = by_name.get("depth")
    ratio = (depth["parameters"][depth["b"]] / depth["parameters"][depth["a"]]
             if depth and all(depth["parameters"].values()) else None)
    parts = [gap_sentence(by_name[name]) for name in DISCUSSED if name in by_name]
    discussion = "; ".join(parts) + " (004)" if parts else ""  # conclusion.md.j2
    return {"hypotheses": hypotheses, "arms": list(arms.values()), "discussion": discussion,
            "seeds": min(seeds) if seeds else 0, "depth_ratio": ratio,
            "figure": str(folder / "comparisons.png"),
            "headline": "; ".join(f"{h['claim'].split(' mean')[0]}: {h['verdict']}"
                                  for h in hypotheses)}
