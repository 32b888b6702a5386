"""The checks of an experiment's settings that concern more than one value: a private recipe's
guarantee, early stopping, and the bank and its calibrated evaluation (``config.validate``
calls them). Each raises ``UserError`` naming the first bad value. The settings' dataclasses
live in ``mia.config``, which imports this module (the settings are read by attribute here)."""
from __future__ import annotations

import math

from .attacks import ATTACKS, canonical_row, parse_row
from .errors import UserError
from .experiment_files import MAX_SEED
from .recipes import RECIPES

BANK_POPULATIONS = ("all", "attacker")
DP_ACCOUNTANTS = ("rdp", "prv")
DP_SETTINGS = ("dp_epsilon", "dp_delta", "dp_max_grad_norm", "dp_accountant")


def validate_privacy(t) -> None:
    """The DP settings: only with a private recipe, and each in its range."""
    private = RECIPES[t.recipe].per_sample_gradients
    if not private:
        changed = [k for k in DP_SETTINGS if getattr(t, k) != getattr(type(t), k)]
        if changed:
            raise UserError(f"[train] {changed[0]} = {getattr(t, changed[0])!r} applies to a "
                            f"differentially private recipe, and recipe {t.recipe!r} is not one")
        return
    if not (math.isfinite(t.dp_epsilon) and t.dp_epsilon > 0):
        raise UserError(f"[train] dp_epsilon must be a finite number > 0, got {t.dp_epsilon}")
    if not (math.isfinite(t.dp_delta) and 0 < t.dp_delta < 1):
        raise UserError(f"[train] dp_delta must be in (0, 1), got {t.dp_delta}")
    if not (math.isfinite(t.dp_max_grad_norm) and t.dp_max_grad_norm > 0):
        raise UserError(f"[train] dp_max_grad_norm (the clipping norm) must be a finite number "
                        f"> 0, got {t.dp_max_grad_norm}")
    if t.dp_accountant not in DP_ACCOUNTANTS:
        raise UserError(f"[train] dp_accountant must be one of {', '.join(DP_ACCOUNTANTS)}, got "
                        f"{t.dp_accountant!r}")


def validate_bank(config) -> None:
    """[bank] and [calibrated]: the bank's shape, the rows, how many references are used."""
    k, folds = config.bank.models, config.bank.folds
    if not (config.bank.seed == -1 or 0 <= config.bank.seed <= MAX_SEED):
        raise UserError(f"[bank] seed must be between 0 and {MAX_SEED} (or -1: the experiment's "
                        f"seed), got {config.bank.seed}")
    if folds < 2:
        raise UserError(f"[bank] folds must be >= 2 (each model leaves out one of them), got {folds}")
    if config.bank.population not in BANK_POPULATIONS:
        raise UserError(f"[bank] population must be one of {', '.join(BANK_POPULATIONS)}, got "
                        f"{config.bank.population!r}")
    if config.bank.population == "attacker" and config.data.canaries:
        raise UserError("[data] canaries audit a target against references on every image; a "
                        "shadow bank ([bank] population = \"attacker\") has none")
    if config.bank.population == "attacker" and k:
        if folds != 2:
            raise UserError(f"[bank] population = \"attacker\" trains shadow models in pairs: "
                            f"folds must be 2, got {folds}")
        if config.data.train_fraction == 1:
            raise UserError("[bank] population = \"attacker\" needs attacker data: the training "
                            "images outside the members, so [data] train_fraction below 1 (got 1)")
    if k < 0 or k % folds:
        raise UserError(f"[bank] models must be 0 (no bank) or a multiple of folds ({folds}): models "
                        f"come in rounds of {folds}, got {k}")
    c = config.calibrated
    for key, rows in (("audit_attack", (c.audit_attack,)), ("per_sample", c.per_sample)):
        for row in rows:
            try:
                parse_row(row)
            except ValueError as e:
                raise UserError(f"[calibrated] {key}: {e}") from None
    if c.per_sample and (k == 0 or config.bank.population == "attacker"):
        raise UserError("[calibrated] per_sample keeps the scores of the calibrated evaluation's "
                        "study protocol: it needs a bank over every image ([bank] models > 0, "
                        "population = \"all\")")
    for key, rows in (("attacks", c.attacks), ("power_attacks", c.power_attacks)):
        for row in rows:
            try:
                parse_row(row)
            except ValueError as e:
                raise UserError(f"[calibrated] {key}: {e}") from None
        seen: dict[tuple, str] = {}
        for row in rows:
            same = seen.setdefault(canonical_row(row), row)
            if same != row or rows.count(row) > 1:
                raise UserError(f"[calibrated] {key} has duplicates: {same!r} and {row!r} name the "
                                f"same attack")
    if config.bank.population == "attacker":
        for row in c.attacks:
            name, options, _, needs = parse_row(row)
            if needs and not ATTACKS[name].out_only and options.get("train_on") != "population":
                raise UserError(f"[calibrated] attacks: {row!r} learns from references that "
                                f"trained on the attacked samples, and no shadow model of a "
                                f"[bank] population = \"attacker\" did: use an offline attack, "
                                f"or a classifier on the attacker's data (\"{name}/population\")"
                                if "train_on" in ATTACKS[name].options else
                                f"[calibrated] attacks: {row!r} needs references that trained on "
                                f"the attacked samples; a shadow bank has none (use an offline "
                                f"attack)")
        if c.power_attacks or c.leave_one_out_references:
            raise UserError("[calibrated] power_attacks and leave_one_out_references need a bank "
                            "over the study's images; a shadow bank ([bank] population = "
                            "\"attacker\") has neither")
    if k == 0 and (c.attacks or c.power_attacks or c.references):
        listed = [r for r in (*c.attacks, *c.power_attacks) if parse_row(r)[3]]
        what = (f"attack {listed[0]!r} needs reference models" if listed else
                "the calibrated evaluation needs reference models")
        raise UserError(f"[calibrated] {what}, but this experiment has no bank ([bank] models = 0)")
    if c.references < 0 or c.references % folds:
        raise UserError(f"[calibrated] references must be 0 (the whole bank) or a multiple of "
                        f"[bank] folds ({folds}), got {c.references}")
    if c.references > k:
        raise UserError(f"[calibrated] references = {c.references}, but the bank holds {k} models "
                        f"([bank] models)")
    used = c.references or k
    for r in c.leave_one_out_references:
        if isinstance(r, bool) or not isinstance(r, int) or r % folds or not folds <= r <= used - 2 * folds:
            raise UserError(f"[calibrated] leave_one_out_references: each must be a multiple of "
                            f"[bank] folds ({folds}) between {folds} and {used - 2 * folds} (the "
                            f"references a leave-one-out target has, less one round), got {r!r}")


def validate_early_stopping(t) -> None:
    """[train] early_stopping_holdout and early_stopping_patience."""
    if not (math.isfinite(t.early_stopping_holdout) and 0 <= t.early_stopping_holdout < 0.5):
        raise UserError(f"[train] early_stopping_holdout must be a share in [0, 0.5), got "
                        f"{t.early_stopping_holdout}")
    if t.early_stopping_patience < 0:
        raise UserError(f"[train] early_stopping_patience must be >= 0 (0: no stopping), got "
                        f"{t.early_stopping_patience}")
    if t.early_stopping_patience and not t.early_stopping_holdout:
        raise UserError(f"[train] early_stopping_patience = {t.early_stopping_patience} needs "
                        f"held-out images to follow: set early_stopping_holdout (e.g. 0.1)")
    if t.early_stopping_holdout and RECIPES[t.recipe].per_sample_gradients:
        raise UserError("[train] early stopping is not accounted for by a private recipe's "
                        "epsilon (the held-out accuracy picks the epoch): not supported")
