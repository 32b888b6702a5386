"""What each results file must hold for the readers that depend on it: the schemas that
``io.read_checked`` checks (``io.schema_problem`` says what a schema is). A key listed here is
one some reader indexes without a default; keys read with a default are left out."""
from __future__ import annotations

NUMBER, MAYBE_NUMBER = float, (float, type(None))

# metrics.json: the target, the loss-threshold attack by score and sampling percentage, and
# the whole-set ROC metrics per score
METRICS = {
    "experiment": str,
    "target": {"train_accuracy": NUMBER, "test_accuracy": NUMBER, "train_loss": NUMBER,
               "test_loss": NUMBER, "n_train": int, "n_test": int},
    "all_samples": dict,
    "attack": {"results": dict, "repeats": int},
}
HISTORY = list  # history.json: one entry per epoch
MANIFEST = {
    "config": {"data": dict, "train": dict, "attack": {"sampling_percentages": list,
                                                       "scores": list, "repeats": int}},
    "wall_seconds": {"train": dict, "attack": dict},
    "git": dict, "data": dict, "device": dict,
}
# calibrated.json: the study protocol always; leave-one-out, the power curve and the leak
# check only where the bank allows them (``not_computed`` says why not)
CALIBRATED = {
    "protocols": {"study": {"rows": dict, "strongest": dict, "n_members": int,
                            "n_nonmembers": int, "references": int, "folds": int}},
    "not_computed": dict,
}
# bank.json: the bank's description (results/<experiment>/bank/ and its cache)
BANK = {"bank_hash": str, "models": int, "seeds": list, "train_seconds": dict}
# results/studies/<study>/comparisons.json (mia.study_results): a study's arm comparisons
COMPARISONS = {"comparisons": list}
# results/studies/<study>/frontier.json (mia.frontier): a study's defences frontier
FRONTIER = {"attack": str, "baseline": str, "prevalence": NUMBER, "seeds": list,
            "settings": list, "pareto_front": list, "sentence": str,
            "paired": {"comparisons": list, "not_compared": list}}
# results/<experiment>/audit.json (pipeline.audit.audit_stage): the one-run audit
AUDIT = {"epsilon_lower_bound": NUMBER, "attack": str, "m": int, "delta": NUMBER,
         "confidence": NUMBER, "guesses": list}
# results/dp-tuning/tuning.json (mia.training.dp_tuning): the search behind DP-SGD's settings
DP_TUNING = {"epsilon": NUMBER, "n_validation": int, "stage1": list, "stage2": list,
             "chosen": {"learning_rate": NUMBER, "max_grad_norm": NUMBER, "batch_size": int,
                        "epochs": int, "validation_accuracy": NUMBER}}
# results/studies/<study>/exposure.json (mia.exposure) and laplace/laplace.json (mia.laplace)
EXPOSURE = {"experiment": str, "attack": str, "slice_fpr": NUMBER, "top": NUMBER,
            "classes": list, "correctness": list, "across_attacks": list, "across_seeds": list}
LAPLACE = {"n": int, "repeats": int, "bound": NUMBER, "queries": {"average": dict,
                                                                  "log10_average": dict,
                                                                  "maximum": dict}}
# a results folder's manifest.json, as a study reads it: the settings it ran with
MANIFEST_CONFIG = {"config": {"seed": int}}
