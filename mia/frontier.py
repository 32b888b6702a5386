"""The privacy-utility-audit frontier of a study of defences (a study's ``[frontier]``): for each
defence setting (a role: one experiment, or the seeds of a sweep), the target's test accuracy
against the power of one attack, fixed in the study file before any result, at 0.1% FPR.

Read from each experiment's results (never recomputed): ``metrics.json`` (accuracies),
``calibrated.json`` (the attack's AUC, TPR at 0.1% and 1% FPR with 95% bootstrap intervals on
the study protocol: the members and non-members it names, the same for every setting of one
seed when they share their data and canaries), ``audit.json`` (the one-run audit's epsilon-hat)
and ``manifest.json`` (a private recipe's epsilon by the accountants).

Written into the study's folder: ``frontier.json``, ``.csv`` and ``.md`` (a row per seed of
each setting, and per setting the mean and range over seeds), and ``frontier.png``/``.pdf``.

- *Seeds*: each seed is its own point, with its bootstrap interval over samples; a setting's
  spread across seeds is the range of its seeds' values, reported beside those intervals.
- *Precision at low prevalence*: when a share pi of the candidates are members, a threshold at
  false-positive rate f that finds a share t of members is right in
  pi t / (pi t + (1 - pi) f) of its "member" calls (``precision``); at the nominal f and the
  interval's ends for t (precision rises with t).
- *The Pareto front* (``pareto``): the settings that no other setting beats on both axes (a
  mean test accuracy at least as high and a mean TPR at 0.1% FPR at most as high, one of them
  strictly): the lowest attack power at each level of accuracy. It is a description of point
  estimates; whether two settings differ is a question for their intervals and seed ranges,
  which the table gives beside it.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from . import schemas
from .datasets import DATASETS
from .errors import UserError
from .evaluation.paired import holm, paired_differences
from .intervals import wilson
from .io import code_version, read_checked, read_npz, sha256_file, sha256_json
from .studies import Study

PROTOCOL = "study"
TPR_LOW, TPR_HIGH = "tpr_at_0.1pct_fpr", "tpr_at_1pct_fpr"
FPRS = {TPR_LOW: 0.001, TPR_HIGH: 0.01}
# The share of members among the candidates for the precision columns: 1%, an auditor
# screening a population where few records were trained on.
PREVALENCE = 0.01
FRONTIER_FILES = ("frontier.json", "frontier.csv", "frontier.md")
REMEDY = "rerun `invoke experiments`"
FIGURE = "frontier"


def precision(tpr: float | None, fpr: float, prevalence: float = PREVALENCE) -> float | None:
    """The share of "member" calls that are members, when a share ``prevalence`` of the
    candidates are members and the attack runs at (fpr, tpr). None without a tpr; 0 when the
    attack calls nothing a member (tpr = 0 and fpr = 0 never happens: fpr > 0 here)."""
    if tpr is None:
        return None
    hits = prevalence * tpr
    return hits / (hits + (1 - prevalence) * fpr)


def _classes(config: dict) -> int:
    """How many classes the experiment's target tells apart (``[data] classes``, else its
    dataset's): 1 over it is a guess's test accuracy."""
    data = config.get("data", {})
    return len(data["classes"]) if data.get("classes") else DATASETS[data.get("dataset", "cifar10")].num_classes


def _seed_row(study: Study, role: str, name: str, results_root: Path, attack: str, read: dict
              ) -> dict:
    d = results_root / name
    files = {}
    metrics = read_checked(d / "metrics.json", schemas.METRICS, REMEDY)
    files["metrics.json"] = sha256_file(d / "metrics.json")
    if not (d / "calibrated.json").is_file():
        raise UserError(f"study {study.name!r}: the frontier needs {name}'s calibrated attacks "
                        f"({d / 'calibrated.json'} is missing: give the experiment a [bank])")
    calibrated = read_checked(d / "calibrated.json", schemas.CALIBRATED, REMEDY)
    files["calibrated.json"] = sha256_file(d / "calibrated.json")
    protocol = calibrated["protocols"][PROTOCOL]
    cell = protocol["rows"].get(attack)
    if cell is None or "auc" not in cell:
        raise UserError(f"study {study.name!r}: [frontier] attack {attack!r} is not in "
                        f"{d / 'calibrated.json'} (add it to the experiment's [calibrated] attacks)")
    audit = None
    if (d / "audit.json").is_file():
        audit = read_checked(d / "audit.json", schemas.AUDIT, REMEDY)
        files["audit.json"] = sha256_file(d / "audit.json")
    manifest = read_checked(d / "manifest.json", schemas.MANIFEST_CONFIG, REMEDY)
    privacy = manifest.get("privacy")
    config = manifest.get("config", {})
    target = metrics["target"]
    ci = cell.get("ci95", {})
    row = {
        "role": role, "experiment": name, "seed": config.get("seed"),
        "title": config.get("title") or name,
        "train_accuracy": target["train_accuracy"], "test_accuracy": target["test_accuracy"],
        "test_accuracy_ci95": wilson(target["test_accuracy"] * target["n_test"], target["n_test"]),
        "n_test": target["n_test"], "chance_accuracy": 1 / _classes(config),
        "auc": cell["auc"], "auc_ci95": ci.get("auc"),
        TPR_LOW: cell.get(TPR_LOW), f"{TPR_LOW}_ci95": ci.get(TPR_LOW),
        TPR_HIGH: cell.get(TPR_HIGH), f"{TPR_HIGH}_ci95": ci.get(TPR_HIGH),
        "references": protocol["references"], "n_members": protocol["n_members"],
        "n_nonmembers": protocol["n_nonmembers"],
        "epsilon": privacy["epsilon"] if privacy else None,
        "target_epsilon": privacy["target_epsilon"] if privacy else None,
        "delta": privacy["delta"] if privacy else (audit or {}).get("delta"),
        "epsilon_audited": audit["epsilon_lower_bound"] if audit else None,
        "audit_attack": audit["attack"] if audit else None,
        "canaries": audit["m"] if audit else None,
    }
    for key, fpr in FPRS.items():
        low_high = row[f"{key}_ci95"] or [None, None]
        row[f"precision_{key}"] = precision(row[key], fpr)
        row[f"precision_{key}_ci95"] = [precision(t, fpr) for t in low_high]
    read[name] = files
    return row


def _summary(seeds: list[dict]) -> dict:
    """A setting over its seeds: the mean and the range (min, max) of each number."""
    out = {"role": seeds[0]["role"], "title": seeds[0]["title"], "seeds": len(seeds),
           "references": sorted({s["references"] for s in seeds})}
    for key in ("train_accuracy", "test_accuracy", "auc", TPR_LOW, TPR_HIGH,
                f"precision_{TPR_LOW}", f"precision_{TPR_HIGH}", "epsilon_audited"):
        values = [s[key] for s in seeds if s[key] is not None]
        out[key] = ({"mean": float(np.mean(values)), "min": float(min(values)),
                     "max": float(max(values))} if values else None)
    eps = [s["epsilon"] for s in seeds if s["epsilon"]]
    out["epsilon"] = eps[0] if eps else None  # the accountant's: the same for every seed
    out["target_epsilon"] = seeds[0]["target_epsilon"]
    return out


def pareto(settings: list[dict]) -> list[str]:
    """The roles on the front, by rising test accuracy: no other setting has a mean test
    accuracy at least as high and a mean TPR at 0.1% FPR at most as high, one strictly."""
    points = [(s["role"], s["test_accuracy"]["mean"], s[TPR_LOW]["mean"]) for s in settings
              if s["test_accuracy"] and s[TPR_LOW]]
    front = [(r, acc, tpr) for r, acc, tpr in points
             if not any(a >= acc and t <= tpr and (a > acc or t < tpr) for _, a, t in points)]
    return [r for r, _, _ in sorted(front, key=lambda p: p[1])]


def sentence(settings: list[dict], front: list[str], baseline: str) -> str:
    """The frontier in one sentence, from the front: the setting with the lowest attack power
    among those at least as accurate as the baseline, and the most accurate setting."""
    by_role = {s["role"]: s for s in settings}
    base = by_role[baseline]
    at_least = [r for r in front if by_role[r]["test_accuracy"]["mean"] >= base["test_accuracy"]["mean"]]
    best = min(at_least, key=lambda r: by_role[r][TPR_LOW]["mean"]) if at_least else None

    def describe(role: str) -> str:
        s = by_role[role]
        return (f"{s['title']} ({100 * s['test_accuracy']['mean']:.1f}% test accuracy, "
                f"{100 * s[TPR_LOW]['mean']:.2f}% TPR at 0.1% FPR, mean of {s['seeds']} "
                f"seed{'s' if s['seeds'] > 1 else ''})")
    parts = [f"On the Pareto front ({len(front)} of {len(settings)} settings), "]
    if best is not None and best != baseline:
        parts.append(f"the least attackable setting at least as accurate as {base['title']} "
                     f"is {describe(best)}, against {describe(baseline)}.")
    else:
        parts.append(f"no setting at least as accurate as {describe(baseline)} is less "
                     f"attackable.")
    return "".join(parts) + (" Point estimates: whether two settings differ is read from the "
                             "intervals and seed ranges of the table.")


def collect(study: Study, results_root: Path, attack: str, baseline: str
            ) -> tuple[list[dict], list[dict], dict]:
    """(a row per seed, a summary per setting in the study's order, what was read)."""
    read: dict[str, dict] = {}
    seeds, settings = [], []
    for role, _ in study.experiments:
        rows = [_seed_row(study, role, name, results_root, attack, read)
                for name in study.experiments_of(role)]
        seeds += rows
        settings.append(_summary(rows))
    if baseline not in study.roles:
        raise UserError(f"study {study.name!r}: [frontier] baseline {baseline!r} is no role "
                        f"(roles: {', '.join(study.roles)})")
    references = sorted({r["references"] for r in seeds})
    if len(references) > 1:  # a comparison of attack power needs the same references
        raise UserError(f"study {study.name!r}: the frontier's experiments use "
                        f"{', '.join(map(str, references))} references; set [calibrated] "
                        f"references the same in each")
    return seeds, settings, read


# The paired comparisons: resamples of the members and non-members (the same for both
# targets), the metrics, and the bootstrap's own stream of the study.
BOOTSTRAP = 2000
PAIRED_METRICS = ("auc", TPR_HIGH, TPR_LOW)
BOOTSTRAP_STREAM = 0xF207


def paired(seeds: list[dict], results_root: Path, attack: str, baseline: str, read: dict,
           matched: dict[str, str] | None = None) -> dict:
    """Each setting's seed against the seed of the same number of the baseline, or of the role
    ``matched`` names for it (early stopping against the same images held out without
    stopping), on the same samples (their ``attack_scores.npz``: the same ``population_index``
    and membership): the difference compared - setting of each metric (positive: the defence
    lowers the attack's power) with a
    95% interval and a two-sided p-value from a paired bootstrap of those samples
    (``paired.paired_differences``: members and non-members resampled separately), the
    p-values Holm-adjusted over every comparison of a metric. A pair whose samples differ, or
    without per-sample scores, is listed under ``not_compared`` with why."""
    matched = matched or {}
    out, skipped = [], []
    for s in seeds:
        if s["role"] == baseline:
            continue
        against = matched.get(s["role"], baseline)
        b = next((r for r in seeds if r["role"] == against and r["seed"] == s["seed"]), None)
        if b is None:
            skipped.append({"experiment": s["experiment"], "why": f"no {against} seed {s['seed']}"})
            continue
        arrays = []
        for name in (b["experiment"], s["experiment"]):
            path = results_root / name / "attack_scores.npz"
            if not path.is_file():
                break
            key = attack.replace("/", "__")
            f = read_npz(path, ("population_index", "is_member"), REMEDY)
            if key not in f:
                break
            if not len(f["population_index"]) == len(f["is_member"]) == len(f[key]):
                raise UserError(f"corrupt results file {path}: arrays of one length expected; "
                                f"{REMEDY}")
            arrays.append((f["population_index"], f["is_member"].astype(bool), f[key]))
            read.setdefault(name, {})["attack_scores.npz"] = sha256_file(path)
        if len(arrays) < 2:
            skipped.append({"experiment": s["experiment"], "why": f"no per-sample scores of {attack}"})
            continue
        (ia, ma, sa), (ib, mb, sb) = arrays
        if not (np.array_equal(ia, ib) and np.array_equal(ma, mb)):
            skipped.append({"experiment": s["experiment"], "why": "evaluated on other samples"})
            continue
        scores = {"baseline": sa, "setting": sb}
        entry = {"role": s["role"], "experiment": s["experiment"], "baseline": b["experiment"],
                 "against": against, "against_title": b["title"], "seed": s["seed"],
                 "n_members": int(ma.sum()), "n_nonmembers": int((~ma).sum())}
        for metric in PAIRED_METRICS:
            seed = np.random.SeedSequence([int(s["seed"] or 0), BOOTSTRAP_STREAM]).generate_state(1)[0]
            d = paired_differences(ma, scores, "baseline", metric, BOOTSTRAP, int(seed))["setting"]
            entry[metric] = d
        out.append(entry)
    for metric in PAIRED_METRICS:
        adjusted = holm({i: c[metric]["p"] for i, c in enumerate(out)})
        for i, c in enumerate(out):
            c[metric]["p_holm"] = adjusted[i]
            c[metric]["lower"] = adjusted[i] < 0.05 and c[metric]["difference"] > 0
            c[metric]["higher"] = adjusted[i] < 0.05 and c[metric]["difference"] < 0
    return {"comparisons": out, "not_compared": skipped, "bootstrap": BOOTSTRAP,
            "policy": f"paired bootstrap ({BOOTSTRAP} resamples of the members and non-members, "
                      f"the same for both targets) of the compared setting minus the setting, "
                      f"each setting's seed against the seed of the same number of the baseline "
                      f"or of its matched comparison; Holm over the {len(out)} comparisons of "
                      f"each metric at alpha = 0.05"}


# The code of the paired comparisons: a change to it changes ``paired_key``.
PAIRED_CODE = ("mia/frontier.py", "mia/evaluation/paired.py", "mia/evaluation/roc.py")


def paired_key(seeds: list[dict], results_root: Path, attack: str, baseline: str,
               matched: dict[str, str] | None = None) -> str:
    """What the paired comparisons are computed from: every attack_scores.npz (sha256), the
    attack, the baseline, the seeds' roles and the code."""
    files = {s["experiment"]: (sha256_file(results_root / s["experiment"] / "attack_scores.npz")
                               if (results_root / s["experiment"] / "attack_scores.npz").is_file()
                               else None) for s in seeds}
    return sha256_json({"scores": files, "attack": attack, "baseline": baseline,
                        "matched": sorted((matched or {}).items()),
                        "roles": [(s["role"], s["experiment"], s["seed"]) for s in seeds],
                        "code": code_version(PAIRED_CODE)})


def frontier(study: Study, results_root: Path, attack: str, baseline: str,
             previous: dict | None = None, matched: dict[str, str] | None = None) -> dict:
    """frontier.json's content. ``previous``: the frontier.json this one replaces, whose paired
    comparisons are kept when computed from the same per-sample scores and code (about 10 s a
    comparison)."""
    seeds, settings, read = collect(study, results_root, attack, baseline)
    front = pareto(settings)
    key = paired_key(seeds, results_root, attack, baseline, matched)
    if isinstance(previous, dict) and previous.get("paired_key") == key and "paired" in previous:
        compared = previous["paired"]
        for s in seeds:
            path = results_root / s["experiment"] / "attack_scores.npz"
            if path.is_file():
                read.setdefault(s["experiment"], {})["attack_scores.npz"] = sha256_file(path)
    else:
        compared = paired(seeds, results_root, attack, baseline, read, matched)
    return {"study": study.name, "attack": attack, "baseline": baseline, "prevalence": PREVALENCE,
            "fprs": FPRS, "seeds": seeds, "settings": settings, "pareto_front": front,
            "sentence": sentence(settings, front, baseline), "paired": compared,
            "paired_key": key, "read": read}


def _pct(x, digits=2) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def _ci(pair, digits=2) -> str:
    return "" if not pair or pair[0] is None else f" [{100 * pair[0]:.{digits}f}, {100 * pair[1]:.{digits}f}]"


def _auc_ci(pair) -> str:
    return "" if not pair else f" [{pair[0]:.3f}, {pair[1]:.3f}]"


def _accountants(eps: dict | None) -> str:
    return "—" if not eps else f"{eps['rdp']:.2f} / {eps['prv']:.2f}"


def csv_text(result: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    header = ["role", "experiment", "seed", "train_accuracy", "test_accuracy", "auc", "auc_low",
              "auc_high", TPR_LOW, f"{TPR_LOW}_low", f"{TPR_LOW}_high", TPR_HIGH,
              f"{TPR_HIGH}_low", f"{TPR_HIGH}_high", f"precision_{TPR_LOW}",
              f"precision_{TPR_HIGH}", "epsilon_rdp", "epsilon_prv", "delta", "epsilon_audited",
              "references", "n_members", "n_nonmembers"]
    w.writerow(header)
    for r in result["seeds"]:
        eps = r["epsilon"] or {}
        w.writerow([r["role"], r["experiment"], r["seed"], r["train_accuracy"], r["test_accuracy"],
                    r["auc"], *(r["auc_ci95"] or [None, None]), r[TPR_LOW],
                    *(r[f"{TPR_LOW}_ci95"] or [None, None]), r[TPR_HIGH],
                    *(r[f"{TPR_HIGH}_ci95"] or [None, None]), r[f"precision_{TPR_LOW}"],
                    r[f"precision_{TPR_HIGH}"], eps.get("rdp"), eps.get("prv"), r["delta"],
                    r["epsilon_audited"], r["references"], r["n_members"], r["n_nonmembers"]])
    return buf.getvalue()


def markdown(result: dict) -> str:
    """The table: per setting, its seeds' mean and range beside each seed's interval."""
    lines = [f"# The defences frontier ({result['study']})", "",
             f"Attack: `{result['attack']}`, fixed in the study file; each seed's 95% bootstrap "
             f"interval over its members and non-members (the study protocol of calibrated.json), "
             f"and per setting the mean and the range over seeds. Precision: the share of "
             f"\"member\" calls that are members when {100 * result['prevalence']:g}% of the "
             f"candidates are members, at the nominal false-positive rate.", "",
             "| setting | seed | train / test accuracy | AUC [95%] | TPR@0.1%FPR [95%] | "
             "TPR@1%FPR [95%] | precision @0.1% / @1% FPR | ε (RDP / PRV) | ε̂ audited | refs |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["seeds"]:
        lines.append(" | ".join([
            f"| {r['title']}", str(r["seed"]),
            f"{_pct(r['train_accuracy'], 1)} / {_pct(r['test_accuracy'], 1)}",
            f"{r['auc']:.3f}" + _auc_ci(r["auc_ci95"]),
            _pct(r[TPR_LOW]) + _ci(r[f"{TPR_LOW}_ci95"]),
            _pct(r[TPR_HIGH]) + _ci(r[f"{TPR_HIGH}_ci95"]),
            f"{_pct(r[f'precision_{TPR_LOW}'], 1)} / {_pct(r[f'precision_{TPR_HIGH}'], 1)}",
            _accountants(r["epsilon"]),
            "—" if r["epsilon_audited"] is None else f"{r['epsilon_audited']:.2f}",
            f"{r['references']} |"]))
    lines += ["", "Per setting, over its seeds (mean, and min–max when there are several):", "",
              "| setting | seeds | test accuracy | TPR@0.1%FPR | AUC | on the Pareto front |",
              "|---|---|---|---|---|---|"]
    for s in result["settings"]:
        def spread(m, pct=True, digits=2):
            if m is None:
                return "n/a"
            f = (lambda x: f"{100 * x:.{digits}f}%") if pct else (lambda x: f"{x:.3f}")
            return f(m["mean"]) + ("" if s["seeds"] == 1 else f" ({f(m['min'])}–{f(m['max'])})")
        lines.append(f"| {s['title']} | {s['seeds']} | {spread(s['test_accuracy'], digits=1)} | "
                     f"{spread(s[TPR_LOW])} | {spread(s['auc'], pct=False)} | "
                     f"{'yes' if s['role'] in result['pareto_front'] else ''} |")
    lines += ["", result["sentence"], ""]
    comparisons = result["paired"]["comparisons"]
    if comparisons:
        lines += [f"Each setting against {result['baseline']}, or its matched comparison, paired "
                  f"on the same members and non-members (the compared setting minus the "
                  f"setting: positive, the defence lowers the attack's power; "
                  f"{result['paired']['policy']}):", "",
                  "| setting | seed | against | ΔAUC [95%] | ΔTPR@1%FPR [95%] (points) | "
                  "ΔTPR@0.1%FPR [95%] (points) | Holm p (AUC / 1% / 0.1%) |",
                  "|---|---|---|---|---|---|---|"]
        for c in comparisons:
            a, t1, t0 = c["auc"], c[TPR_HIGH], c[TPR_LOW]
            lines.append(" | ".join([
                f"| {c['experiment']}", str(c["seed"]), c.get("against_title", c["baseline"]),
                f"{a['difference']:+.3f} [{a['ci95'][0]:+.3f}, {a['ci95'][1]:+.3f}]",
                _points(t1), _points(t0),
                f"{a['p_holm']:.3f} / {t1['p_holm']:.3f} / {t0['p_holm']:.3f} |"]))
        lines.append("")
    for skip in result["paired"]["not_compared"]:
        lines.append(f"- not compared: {skip['experiment']} ({skip['why']})")
    return "\n".join(lines) + "\n"


def _points(d: dict) -> str:
    """A difference of rates in percentage points, with its interval."""
    lo, hi = d["ci95"]
    return f"{100 * d['difference']:+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}]"
