"""What the deck is made from: the study's experiments' results, read by role, and the names
and number formats the slides use for them.

``load`` reads ``results/<experiment>/{metrics,history,manifest}.json`` (and
``calibrated.json`` where there is one) for each role of a study (``mia.studies``); a
section's facts are chosen from the ``Deck`` it builds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import schemas
from ..errors import UserError
from ..io import read_checked
from ..locations import REPO
from ..plots import ATTACK_NAMES
from ..studies import Study

SLIDES = REPO / "slides"
REQUIRED_FILES = ("metrics.json", "history.json", "manifest.json")
SCORES = ("cross_entropy", "probability_loss", "normalized_probability_loss")
PRETTY = {"cross_entropy": "Cross-entropy", "probability_loss": "Probability loss",
          "normalized_probability_loss": "Normalized probability loss"}
FORMULA = {"cross_entropy": r"$-\log p_y$", "probability_loss": r"$1 - p_y$",
           "normalized_probability_loss":
               r"$1 - (p_y - \min_k p_k) \,/\, (\max_k p_k - \min_k p_k)$"}
# The comparison table's rows on the slide (calibrated.json and calibrated.md have them all).
CALIBRATED_TABLE = {key: ATTACK_NAMES[key] for key in (
    "loss", "gap", "shokri", "ml_leaks", "lira_offline/global", "lira_online/global",
    "lira_online/fixed", "rmia_offline", "rmia_online")}
PRETTY_ROWS = ATTACK_NAMES
POWER_NAMES = {"lira_offline/auto": "LiRA offline", "lira_online/auto": "LiRA online",
               "rmia_offline": "RMIA offline", "rmia_online": "RMIA online"}


@dataclass(frozen=True)
class Deck:
    """What every section's facts are chosen from: the study, its results by role (``r``:
    role -> ``load``'s dict of one experiment) and the title-slide settings given (empty:
    not given)."""
    study: Study
    root: Path
    r: dict
    presenter: str = ""
    date: str = ""
    # the decks of the other studies whose sections this deck shows (a section's ``STUDY``,
    # mia.deck.sections): study name -> its Deck, whose ``r`` holds that study's roles
    others: dict = field(default_factory=dict)


def load(study: Study, results_root: Path, required: tuple[str, ...] | list[str]) -> dict:
    """role -> {"dir", "experiment", "metrics", "history", "manifest"[, "calibrated"]}.

    Every role in ``required`` must have results (UserError naming the folder and what to run);
    the study's other roles are read when their folder holds results, and left out otherwise
    (their slides are then left out)."""
    out = {}
    for role, name in study.experiments:
        d = results_root / name
        missing = [f for f in REQUIRED_FILES if not (d / f).is_file()]
        if missing and role not in required and not (d / "metrics.json").is_file():
            continue
        if missing:
            raise UserError(f"no results in {d} (missing {', '.join(missing)}): run "
                            f"`invoke experiments` first (or `invoke experiments --quick` and "
                            f"`invoke slides --quick`)")
        out[role] = {"dir": d, "experiment": name}
        remedy = "rerun `invoke experiments`"
        for f, schema in (("metrics", schemas.METRICS), ("history", schemas.HISTORY),
                          ("manifest", schemas.MANIFEST)):
            out[role][f] = read_checked(d / f"{f}.json", schema, remedy)
        bank = out[role]["manifest"]["config"].get("bank", {}).get("models", 0)
        if bank or (d / "calibrated.json").exists():  # a bank's results are not optional
            out[role]["calibrated"] = read_checked(
                d / "calibrated.json", schemas.CALIBRATED,
                f"{remedy} ({name} has a [bank] of {bank} models)" if bank else remedy)
    same_settings(out)
    return out


# The settings that the deck's comparisons take to be the same for every experiment: a
# difference means results of different runs (--quick and full) in one folder.
SHARED_SETTINGS = (("attack", "sampling_percentages"), ("attack", "scores"), ("attack", "repeats"))


def same_settings(found: dict) -> None:
    """UserError, naming the setting and two experiments, where the experiments read for the
    deck were run with different SHARED_SETTINGS."""
    first = None
    for role, exp in found.items():
        config = exp["manifest"]["config"]
        values = {f"[{a}] {b}": config.get(a, {}).get(b) for a, b in SHARED_SETTINGS}
        values["sampling percentages in metrics.json"] = sorted(
            {p for by_p in exp["metrics"]["attack"]["results"].values() for p in by_p})
        if first is None:
            first = (exp, values)
            continue
        for key, value in values.items():
            if value != first[1][key]:
                raise UserError(
                    f"{first[0]['dir']} and {exp['dir']} were run with different {key} "
                    f"({first[1][key]} and {value}): a deck compares results of one kind of run "
                    f"(--quick and full results mixed?); rerun both with the same command")


def cell(exp: dict, score: str, p: str) -> dict:
    return exp["metrics"]["attack"]["results"][score][p]


def mean(exp: dict, score: str, p: str, metric: str) -> float:
    return cell(exp, score, p)["summary"][metric]["mean"]


def percentages(exp: dict) -> list[str]:
    """The sampling percentages an experiment's threshold attack ran at, as in metrics.json."""
    return list(exp["metrics"]["attack"]["results"][SCORES[0]])


def representative_percentage(exp: dict, wanted: str = "16") -> str:
    ps = percentages(exp)
    if wanted in ps:
        return wanted
    return ps[len(ps) // 2]


def normalized_zeros(exp: dict) -> dict:
    """Shares of members and non-members whose normalized probability loss is exactly 0."""
    with np.load(exp["dir"] / "scores.npz", allow_pickle=False) as f:
        s, m = f["normalized_probability_loss"], f["is_member"]
    return {"members": float((s[m] == 0).mean()), "nonmembers": float((s[~m] == 0).mean())}


def fmt(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}"


def pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%"


def thousands(n: int) -> str:
    return f"{int(n):,}"


def points(x: float) -> str:
    """A difference of two fractions, in percentage points."""
    return f"{100 * x:.1f} percentage points"


def pct_ci(row: dict, key: str) -> str:
    """'0.52% [0.19, 0.75]': a rate with its 95% interval, or 'n/a'."""
    v = row.get(key)
    if v is None:
        return "n/a"
    lo, hi = row["ci95"][key]
    return f"{100 * v:.2f}% [{100 * lo:.2f}, {100 * hi:.2f}]"
