"""The defences study in the study deck (``experiments/studies/defences.toml``): each defence
setting's test accuracy against one attack's power at 0.1% FPR, fixed in the study file
(results/studies/defences/frontier.json, ``mia.frontier``): the frontier figure, then the
table of settings with their seed ranges and the paired comparisons with the undefended
target. Empty until that study's results exist."""
from __future__ import annotations

from ... import schemas
from ...io import read_checked
from ...plots import ATTACK_NAMES
from ..results import Deck

STUDY = "defences"
ROLES: tuple[str, ...] = ()  # the study's own results folder, not one experiment's
USES: tuple[str, ...] = ()
PART = "Defences: what each costs in accuracy and buys in privacy"
TPR = "tpr_at_0.1pct_fpr"
ALPHA = 0.05  # a paired difference "lowers" the attack's power when its Holm p is below this


def verdicts(result: dict) -> dict[str, dict]:
    """Per setting (role): its paired comparisons with the baseline at 0.1% FPR, and whether
    every one of them says the setting lowers the attack's power (Holm p < ALPHA, positive
    difference) or none does."""
    out: dict[str, dict] = {}
    for c in result["paired"]["comparisons"]:
        entry = out.setdefault(c["role"], {"comparisons": []})
        entry["comparisons"].append(c)
    for entry in out.values():
        lowered = [c[TPR]["p_holm"] < ALPHA and c[TPR]["difference"] > 0 for c in entry["comparisons"]]
        entry["lowers"] = all(lowered)
        entry["some"] = any(lowered)
    return out


def headline(result: dict, settings: list[dict]) -> str:
    """The page's title: which settings lower the attack's power on every seed compared; else
    that none does. What they do to test accuracy is the table's."""
    by_role = {s["role"]: s for s in settings}
    found = verdicts(result)
    lowering = [by_role[r]["title"] for r, v in found.items() if v["lowers"]]
    if not lowering:
        return f"No defence lowers {result['attack_name']}'s TPR at 0.1% FPR beyond chance"
    return (f"{', '.join(lowering)} lower{'s' if len(lowering) == 1 else ''} "
            f"{result['attack_name']}'s TPR at 0.1% FPR")


def exposure_facts(found: dict, folder) -> dict:
    """The slices' page: the class whose members are flagged most and least, the correctly
    and incorrectly classified members, and the overlaps of the top 1%."""
    classes = sorted(found["classes"], key=lambda r: r["tpr"]["rate"])
    by_correct = {r["group"]: r for r in found["correctness"]}
    seeds = found["across_seeds"]
    attacks = found["across_attacks"]
    return {"most": classes[-1], "least": classes[0],
            "correct": by_correct["classified correctly"], "wrong": by_correct["misclassified"],
            "fpr": found["slice_fpr"], "top": found["top"],
            "seeds_share": [o["share"] for o in seeds], "seeds_k": [o["k"] for o in seeds],
            "attacks": attacks, "figure": str(folder / "exposure.png"),
            "gallery": str(folder / "gallery.png") if (folder / "gallery.png").is_file() else None,
            "experiment": found["experiment"]}


def answer_line(result: dict, settings: list[dict]) -> str:
    """The answer page's line: each setting whose paired comparisons with the baseline all
    find the attack's TPR at 0.1% FPR lower, with its change in mean test accuracy; else
    that none does."""
    by_role = {s["role"]: s for s in settings}
    base = by_role[result["baseline"]]
    parts = []
    for role, v in verdicts(result).items():
        if not v["lowers"]:
            continue
        s = by_role[role]
        change = 100 * (s["test_accuracy"]["mean"] - base["test_accuracy"]["mean"])
        seeds = len(v["comparisons"])
        parts.append(f"{s['title']} lowers it on {'every one' if seeds > 1 else 'the one'} of "
                     f"{seeds} seed{'s' if seeds > 1 else ''} compared, test accuracy "
                     f"{change:+.1f} points")
    if not parts:
        return (f"no setting lowers {result['attack_name']}'s TPR at 0.1% FPR on every seed "
                f"compared (paired, Holm)")
    return "; ".join(parts) + " (paired on the same images, Holm)"


def laplace_facts(found: dict, folder) -> dict:
    """The page on what epsilon means: each budget's median error of the private average, in
    percent of the truth, and the maximum's at the largest budget."""
    def errors(name):
        return [{"epsilon": r["epsilon"], "error": r["dollar_error_median"]}
                for r in found["queries"][name]["by_epsilon"]]
    return {"n": found["n"], "repeats": found["repeats"], "average": errors("average"),
            "geometric": errors("log10_average"), "maximum": errors("maximum")[-1],
            "bound": found["bound"], "figure": str(folder / "repeated_average.png")}


def facts(deck: Deck) -> dict:
    folder = deck.root / "studies" / STUDY
    if not (folder / "frontier.json").is_file():  # not made yet: said on the last slide
        return {"not_made": [f"the defences study: no {folder / 'frontier.json'} (run "
                             f"`invoke experiments --study {STUDY}`)"]}
    result = read_checked(folder / "frontier.json", schemas.FRONTIER,
                          f"run `invoke experiments --study {STUDY}`")
    result = dict(result, attack_name=ATTACK_NAMES.get(result["attack"], result["attack"]))
    settings = result["settings"]
    found = verdicts(result)
    rows = []
    for s in settings:
        v = found.get(s["role"], {"comparisons": []})
        rows.append({"title": s["title"], "seeds": s["seeds"], "accuracy": s["test_accuracy"],
                     "tpr": s[TPR], "auc": s["auc"], "precision": s[f"precision_{TPR}"],
                     "front": s["role"] in result["pareto_front"],
                     "lowers": v.get("lowers", False),
                     "comparisons": [{"seed": c["seed"], "points": 100 * c[TPR]["difference"],
                                      "ci": [100 * x for x in c[TPR]["ci95"]],
                                      "holm": c[TPR]["p_holm"] < ALPHA}
                                     for c in v["comparisons"]]})
    base = next(s for s in settings if s["role"] == result["baseline"])
    audited = [r for r in result["seeds"] if r["epsilon_audited"] is not None]
    references = sorted({r["references"] for r in result["seeds"]})
    leak = {}
    remedy = f"run `invoke experiments --study {STUDY}`"
    if (folder / "exposure.json").is_file():
        leak = exposure_facts(read_checked(folder / "exposure.json", schemas.EXPOSURE, remedy),
                              folder)
    epsilon = {}
    if (folder / "laplace" / "laplace.json").is_file():
        epsilon = laplace_facts(read_checked(folder / "laplace" / "laplace.json",
                                             schemas.LAPLACE, remedy), folder / "laplace")
    return {"headline": headline(result, settings), "answer": answer_line(result, settings),
            "seeds": max(s["seeds"] for s in settings),
            "rows": rows, "baseline": base, "leak": leak,
            "epsilon": epsilon,
            "sentence": result["sentence"], "attack": result["attack_name"],
            "references": references[0] if len(references) == 1 else references,
            "n_members": result["seeds"][0]["n_members"],
            "n_nonmembers": result["seeds"][0]["n_nonmembers"],
            "prevalence": result["prevalence"], "audited": audited,
            "canaries": audited[0]["canaries"] if audited else None,
            "figure": str(folder / "frontier.png"),
            "discussion": result["sentence"]}
