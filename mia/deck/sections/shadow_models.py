"""Study 001 in the study deck: Shokri's shadow-model attack on MNIST LeNet-5 targets at 20,
25, 50 and 100 epochs, vulnerable, defended and on a larger training set, its own decisions'
accuracy beside the original's table, and its AUC and TPR at 1% FPR with intervals. A version
whose experiments have no results yet is left out (and named on the last slide)."""
from __future__ import annotations

from ..results import Deck

STUDY = "shadow-models"
ROLES: tuple[str, ...] = ()  # optional: versions without results are left out
USES: tuple[str, ...] = ()
PART = "Earlier studies: shadow models on MNIST (001)"
ROW = "shokri/population"
VERSIONS = {"vulnerable": "vulnerable (6,000 members)",
            "defended": "defended (dropout 0.3, L2 1e-3)",
            "large": "larger training set (30,000 members)"}
EPOCHS = (20, 25, 50, 100)
# The original's attack accuracy (%) per epoch count, from its README tables
# (../shared/reference/shadow-models-mnist.md, "Overfitted Target Model (Vulnerable)" and
# "Well-Trained Target Model (Defended)"); it reports no larger-training-set table.
ORIGINAL = {"vulnerable": {20: 0.6750, 25: 0.7368, 50: 0.9167, 100: 0.9035},
            "defended": {20: 0.5003, 25: 0.5001, 50: 0.5026, 100: 0.5117}}


# within this many points of the original's attack accuracy at every epoch count: "agrees"
AGREES_POINTS = 2.0


def versus_original(rows: list[dict]) -> str:
    """One sentence setting our attack accuracy beside the original's, epoch by epoch."""
    pairs = [(100 * r["accuracy"], 100 * r["original"]) for r in rows if r["original"] is not None]
    if not pairs:
        return "The original reports no attack accuracy for this version."
    far = max(abs(a - b) for a, b in pairs)
    if far <= AGREES_POINTS:
        return (f"The original's attack accuracy agrees with ours within {far:.1f} points at "
                f"every epoch count.")
    return (f"Ours is up to {far:.1f} points from the original's; the original reports no target "
            f"accuracy, so that its targets overfit more is a hypothesis, not tested here.")


def facts(deck: Deck) -> dict:
    versions, missing = [], {}  # version -> the epoch counts without results
    for version, title in VERSIONS.items():
        rows = []
        for epochs in EPOCHS:
            exp = deck.r.get(f"{version}_e{epochs}")
            row = (exp or {}).get("calibrated", {}).get("protocols", {}).get("study", {}) \
                .get("rows", {}).get(ROW)
            if row is None or "at_decision" not in row:
                missing.setdefault(version, []).append(str(epochs))
                continue
            target = exp["metrics"]["target"]
            study = exp["calibrated"]["protocols"]["study"]
            rows.append({"epochs": epochs, **row["at_decision"], "seconds": row.get("attack_seconds"),
                         "auc": row["auc"], "auc_ci": row["ci95"]["auc"],
                         "tpr1": row["tpr_at_1pct_fpr"], "tpr1_ci": row["ci95"]["tpr_at_1pct_fpr"],
                         "train": target["train_accuracy"], "test": target["test_accuracy"],
                         "n_eval": study["n_members"], "shadows": study["references"],
                         "shadow_keeps": study.get("shadow_keeps"),
                         "original": ORIGINAL.get(version, {}).get(epochs)})
        if rows:
            versions.append({"version": version, "title": title, "rows": rows})
    out = {"not_made": ["study 001 (shadow models): no results for " + "; ".join(
        f"{version} ({', '.join(epochs)} epochs)" for version, epochs in missing.items())]
           if missing else []}
    if not versions:
        return out
    parts = []
    for v in versions:  # each version's range of attack accuracy over its epochs
        accuracies = [r["accuracy"] for r in v["rows"]]
        originals = [r["original"] for r in v["rows"] if r["original"] is not None]
        v["range"] = f"{100 * min(accuracies):.1f}–{100 * max(accuracies):.1f}%"
        gaps = [100 * (r["train"] - r["test"]) for r in v["rows"]]
        v["gap_range"] = f"{min(gaps):.1f}–{max(gaps):.1f}"
        v["versus_original"] = versus_original(v["rows"])
        v["original_range"] = (f"{100 * min(originals):.1f}–{100 * max(originals):.1f}%"
                               if originals else None)
        parts.append(f"{v['version']} {v['range']}"
                     + (f" (original {v['original_range']})" if originals else ""))
    rows = [r for v in versions for r in v["rows"]]
    gaps = [100 * (r["train"] - r["test"]) for r in rows]
    accuracies = [100 * r["accuracy"] for r in rows]
    out.update(versions=versions, headline="; ".join(parts),
               # the Discussion's sentence (conclusion.md.j2)
               discussion=(f"{len(rows)} MNIST LeNet-5s with {min(gaps):.1f}–{max(gaps):.1f}-point "
                           f"gaps: Shokri's attack {min(accuracies):.1f}–{max(accuracies):.1f}% "
                           f"accurate (001)"))
    return out
