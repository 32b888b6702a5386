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


METRICS = (("tpr_at_0.1pct_fpr", "TPR at 0.1% FPR"), ("tpr_at_1pct_fpr", "TPR at 1% FPR"),
           ("auc", "AUC"))


def verdicts(result: dict) -> dict[str, dict]:
    """Per setting (role): its paired comparisons, and per metric of ``METRICS`` how many of
    them say the setting lowers the attack's power (Holm p < ALPHA, positive difference);
    ``lowers``: all of them at 0.1% FPR."""
    out: dict[str, dict] = {}
    for c in result["paired"]["comparisons"]:
        entry = out.setdefault(c["role"], {"comparisons": []})
        entry["comparisons"].append(c)
    for entry in out.values():
        entry["lowered"] = {key: sum(c[key]["p_holm"] < ALPHA and c[key]["difference"] > 0
                                     for c in entry["comparisons"]) for key, _ in METRICS}
        entry["lowers"] = entry["lowered"][TPR] == len(entry["comparisons"])
    return out


def _claim(title: str, attack: str, v: dict, short: bool = False) -> str | None:
    """The strongest thing the paired comparisons say of a setting: the lowest FPR at which
    every seed compared finds the attack's power lower, with how many do at 0.1% (``short``:
    for a title, without them)."""
    n = len(v["comparisons"])
    for key, name in METRICS:
        if v["lowered"][key] == n:
            if short:
                return f"{title} lowers {attack}'s {name} on {n}/{n} seeds"
            extra = "" if key == TPR else f" (at 0.1% FPR: {v['lowered'][TPR]} of {n})"
            seeds = f"{'every one of ' if n > 1 else 'the '}{n} seed{'s' if n > 1 else ''}"
            return f"{title} lowers {attack}'s {name} on {seeds}{extra}"
    return None


def _evidence(setting: dict, v: dict) -> tuple:
    """How strongly the paired comparisons back a setting's claim, for ranking claims: more
    seeds compared first (a claim replicated on 3 seeds over one seed's), then the lowest FPR
    at which every seed finds the attack's power lower, then the higher mean test accuracy."""
    n = len(v["comparisons"])
    metric = next(i for i, (key, _) in enumerate(METRICS) if v["lowered"][key] == n)
    return (-n, metric, -setting["test_accuracy"]["mean"])


def headline(result: dict, settings: list[dict], short: bool = True) -> str:
    """The page's title: the best-backed claim (``_claim``, ranked by ``_evidence``) of a
    setting that lowers the attack's power on every seed compared at some operating point (the
    others are the table's); else that none does. ``short=False``: every setting's claim, in
    that order."""
    found = verdicts(result)
    claims = sorted(((_evidence(s, found[s["role"]]), c) for s in settings if s["role"] in found
                     and (c := _claim(s["title"], result["attack_name"], found[s["role"]], short))),
                    key=lambda x: x[0])
    if not claims:
        return f"No defence lowers {result['attack_name']}'s power on every seed (paired, Holm)"
    return claims[0][1] if short else "; ".join(c for _, c in claims)


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
    """The answer page's line: each non-private setting that lowers the attack's power on every
    seed compared (``_claim``'s lowest FPR), with its change in mean test accuracy; the private
    settings together (how many lower it at 0.1% FPR, and their range of accuracy changes);
    else that none lowers it."""
    by_role = {s["role"]: s for s in settings}
    base = by_role[result["baseline"]]
    found = {role: v for role, v in verdicts(result).items() if role in by_role}

    def change(role: str) -> float:
        return 100 * (by_role[role]["test_accuracy"]["mean"] - base["test_accuracy"]["mean"])

    # the non-private settings grouped by the lowest FPR at which every seed compared finds the
    # attack's power lower (study order within a group), each with its accuracy change
    by_metric: dict[str, list[str]] = {}
    for role, v in found.items():
        if by_role[role].get("target_epsilon"):
            continue
        n = len(v["comparisons"])
        key = next((k for k, _ in METRICS if v["lowered"][k] == n), None)
        if key is not None:
            by_metric.setdefault(key, []).append(
                f"{by_role[role]['title']} ({change(role):+.1f} points, {n} seed{'s' if n > 1 else ''})")
    lead = dict(zip((k for k, _ in METRICS), (
        "its TPR at 0.1% FPR is lower on every seed with", "at 1% FPR with", "its AUC only with")))
    parts = ["; ".join(f"{lead[key]} {', '.join(by_metric[key])}"
                       for key, _ in METRICS if key in by_metric)
             .replace(" (", " (test accuracy ", 1)] if by_metric else []  # the first says what
    private = sorted((role for role in found if by_role[role].get("target_epsilon")),
                     key=lambda role: by_role[role]["target_epsilon"])
    if private:
        eps = ", ".join(f"{by_role[r]['target_epsilon']:g}" for r in private)
        lowering = sum(found[r]["lowers"] for r in private)
        changes = sorted(change(r) for r in private)
        spread = (f"{changes[0]:+.1f}" if len(changes) == 1
                  else f"{changes[0]:+.1f} to {changes[-1]:+.1f}")
        parts.append(f"DP-SGD at ε = {eps}: {lowering} of {len(private)} lower its TPR at 0.1% "
                     f"FPR, test accuracy {spread} points")
    if not parts:
        return (f"no setting lowers {result['attack_name']}'s power on every seed compared "
                f"(paired, Holm)")
    return "; ".join(parts) + " (paired on the same images, Holm)"


def advice(result: dict, settings: list[dict]) -> dict[str, str]:
    """The Conclusion's advice to a practitioner, each part chosen from the measured numbers:
    the non-private setting that lowers the attack's power on every seed compared (paired,
    Holm) without costing mean test accuracy, the one with the highest accuracy if several;
    what a guarantee costs (DP-SGD's mean test accuracy at its smallest and largest epsilon
    against the undefended target's); and what the undefended target's one-run audit rules out
    (the lowest of its seeds' bounds)."""
    by_role = {s["role"]: s for s in settings}
    base = by_role[result["baseline"]]
    base_accuracy = base["test_accuracy"]["mean"]
    parts = {}
    found = verdicts(result)
    free = [(by_role[role], claim) for role, v in found.items()
            if not by_role[role].get("target_epsilon")
            and by_role[role]["test_accuracy"]["mean"] >= base_accuracy
            and (claim := _claim(by_role[role]["title"], result["attack_name"], v))]
    if free:
        setting, claim = max(free, key=lambda x: x[0]["test_accuracy"]["mean"])
        change = 100 * (setting["test_accuracy"]["mean"] - base_accuracy)
        parts["free"] = f"{claim}, test accuracy {change:+.1f} points"
    private = sorted((s for s in settings if s.get("target_epsilon")),
                     key=lambda s: s["target_epsilon"])
    if private:
        ends = [private[0], private[-1]] if len(private) > 1 else private[:1]
        costs = " and ".join(f"ε = {s['target_epsilon']:g}: {100 * s['test_accuracy']['mean']:.1f}%"
                             for s in ends)
        parts["private"] = (f"DP-SGD reaches {costs} test accuracy, against "
                            f"{100 * base_accuracy:.1f}% undefended")
    audited = [r["epsilon_audited"] for r in result["seeds"]
               if r["role"] == result["baseline"] and r["epsilon_audited"] is not None]
    if audited and max(audited) > 0:
        # the smallest seed's bound: the largest of several 95% bounds would carry the choice
        parts["audit"] = (f"the undefended target's one-run audit rules out any privacy claim "
                          f"below ε = {min(audited):.2f} (95%, the lowest of {len(audited)} "
                          f"seeds' bounds)")
    return parts


def laplace_facts(found: dict, folder) -> dict:
    """The page on what epsilon means: each budget's median error of the private average, in
    percent of the truth, and the maximum's at the largest budget."""
    def errors(name):
        return [{"epsilon": r["epsilon"], "error": r["dollar_error_median"]}
                for r in found["queries"][name]["by_epsilon"]]
    return {"n": found["n"], "repeats": found["repeats"], "average": errors("average"),
            "geometric": errors("log10_average"), "maximum": errors("maximum")[-1],
            "bound": found["bound"], "figure": str(folder / "repeated_average.png")}


def _tpr_difference(c: dict) -> dict:
    """A paired comparison as the deck's tables show it: the difference at 0.1% FPR in points,
    its interval, and whether Holm calls it (``ALPHA``)."""
    return {"seed": c["seed"], "against": c.get("against_title", ""),
            "points": 100 * c[TPR]["difference"], "ci": [100 * x for x in c[TPR]["ci95"]],
            "holm": c[TPR]["p_holm"] < ALPHA}


def private_facts(result: dict, tuning: dict | None) -> dict:
    """The DP-SGD page: per private setting (a target epsilon), both accountants' epsilon, the
    audited epsilon-hat of each seed, test accuracy and the attack's power; the search that chose
    the hyperparameters (results/dp-tuning/tuning.json), when there is one."""
    rows = []
    for s in sorted((s for s in result["settings"] if s.get("target_epsilon")),
                    key=lambda s: s["target_epsilon"]):
        seeds = [r for r in result["seeds"] if r["role"] == s["role"]]
        rows.append({"title": s["title"], "target": s["target_epsilon"],
                     "rdp": (s["epsilon"] or {}).get("rdp"), "prv": (s["epsilon"] or {}).get("prv"),
                     "audited": [r["epsilon_audited"] for r in seeds
                                 if r["epsilon_audited"] is not None],
                     "accuracy": s["test_accuracy"], "tpr": s[TPR], "auc": s["auc"],
                     "seeds": s["seeds"], "front": s["role"] in result["pareto_front"],
                     "comparisons": [_tpr_difference(c) for c in result["paired"]["comparisons"]
                                     if c["role"] == s["role"]]})
    if not rows:
        return {}
    audited = [e for r in rows for e in r["audited"]]
    chosen = (tuning or {}).get("chosen")
    return {"rows": rows, "delta": next(r["delta"] for r in result["seeds"] if r.get("delta")),
            "audited_max": max(audited) if audited else None,
            "accuracy_range": [min(r["accuracy"]["mean"] for r in rows),
                               max(r["accuracy"]["mean"] for r in rows)],
            "tuning": None if chosen is None else {
                "chosen": chosen, "runs": len(tuning["stage1"]) + len(tuning["stage2"]),
                "epsilon": tuning["epsilon"], "n_validation": tuning["n_validation"],
                "at_edge": _at_edge(chosen, tuning["stage1"] + tuning["stage2"])}}


def _at_edge(chosen: dict, runs: list[dict]) -> list[str]:
    """Which of the chosen run's settings are the largest the search tried (a wider search
    might have done better there)."""
    names = {"learning_rate": "learning rate", "epochs": "epochs", "batch_size": "batch size"}
    return [name for key, name in names.items()
            if len({r[key] for r in runs}) > 1 and chosen[key] == max(r[key] for r in runs)]


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
    # settings compared with a matched run instead of the baseline ([frontier] matched), and
    # those runs: a page of their own
    matched = {role for c in result["paired"]["comparisons"] if c["against"] != result["baseline"]
               for role in (c["role"], c["against"])}
    rows = []
    for s in settings:
        v = found.get(s["role"], {"comparisons": []})
        rows.append({"title": s["title"], "seeds": s["seeds"], "accuracy": s["test_accuracy"],
                     "tpr": s[TPR], "auc": s["auc"], "precision": s[f"precision_{TPR}"],
                     "front": s["role"] in result["pareto_front"],
                     "private": bool(s.get("target_epsilon")), "matched": s["role"] in matched,
                     "lowers": v.get("lowers", False),
                     "comparisons": [_tpr_difference(c) for c in v["comparisons"]],
                     # the one-run audit's bound of each seed (the table's column)
                     "audited": [r["epsilon_audited"] for r in result["seeds"]
                                 if r["role"] == s["role"] and r["epsilon_audited"] is not None]})
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
    tuning_path = deck.root / "dp-tuning" / "tuning.json"
    tuning = (read_checked(tuning_path, schemas.DP_TUNING, "run `invoke dp-tuning`")
              if tuning_path.is_file() else None)
    return {"headline": headline(result, settings), "answer": answer_line(result, settings),
            "private": private_facts(result, tuning), "tpr_key": TPR,
            "advice": advice(result, settings),
            "claims": headline(result, settings, short=False),
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
