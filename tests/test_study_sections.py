"""The earlier studies' deck sections (a section with ``STUDY`` presents another study than the
deck's own): their facts on hand-made results with known answers, and the committed ones."""
from pathlib import Path

import pytest

from mia import studies
from mia.deck import make, render
from mia.deck.results import Deck
from mia.deck.sections import SECTIONS, architecture, shadow_models, study_of
from mia.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def comparison(name, a, b, difference, ci, excludes):
    metric = {"a": {"mean": 0.6, "ci95": [0.59, 0.61], "per_seed": [0.6]},
              "b": {"mean": 0.6 + difference, "ci95": [0.5, 0.7], "per_seed": [0.6 + difference]},
              "difference": difference, "difference_ci95": ci, "excludes_zero": excludes}
    keys = ("train_accuracy", "test_accuracy", "generalisation_gap", "auc", "tpr_at_1pct_fpr")
    return {"name": name, "question": f"{name}?", "a": a, "b": b, "seeds": 3,
            "parameters": {a: 200, b: 100}, "n_members": {a: 10, b: 10},
            "n_nonmembers": {a: 5, b: 5}, "metrics": {k: metric for k in keys}}


def test_a_hypothesis_is_judged_by_the_sign_and_the_interval_of_its_comparisons():
    found = {"depth": comparison("depth", "d4", "d7", 0.02, [0.01, 0.03], True),
             "depth_4_classes": comparison("depth_4_classes", "x4", "x7", 0.01, [-0.01, 0.03], False),
             "cnn_vs_dense": comparison("cnn_vs_dense", "d4", "c4", -0.05, [-0.07, -0.03], True),
             "classes_depth4": comparison("classes_depth4", "a", "b", -0.04, [-0.05, -0.03], True),
             "classes_depth7": comparison("classes_depth7", "a", "b", -0.02, [-0.03, -0.01], True)}
    verdict, lines = architecture.judge(found, (("depth", +1), ("depth_4_classes", +1)))
    assert verdict == "mixed" and lines[0].endswith("as predicted") and lines[1].endswith("no difference")
    assert architecture.judge(found, (("cnn_vs_dense", -1),))[0] == "supported"
    assert architecture.judge(found, (("classes_depth4", +1), ("classes_depth7", +1)))[0] == "contradicted"
    assert architecture.judge(found, (("depth_4_classes", +1),))[0] == "not shown"
    assert architecture.judge(found, (("absent", +1),)) == ("", [])


def test_the_shadow_model_table_sets_the_originals_number_beside_ours(tmp_path):
    """One version with one epoch count: its row carries the measured decision metrics and the
    original's accuracy at that epoch count (67.50% at 20 epochs); the others are named as not
    made, and the headline reads the measured range."""
    row = {"at_decision": {"accuracy": 0.7, "precision": 0.68, "recall": 0.75, "f1": 0.71},
           "attack_seconds": 3.2, "auc": 0.78, "tpr_at_1pct_fpr": 0.05,
           "ci95": {"auc": [0.77, 0.79], "tpr_at_1pct_fpr": [0.04, 0.06]}}
    exp = {"metrics": {"target": {"train_accuracy": 1.0, "test_accuracy": 0.97}},
           "calibrated": {"protocols": {"study": {"rows": {"shokri/population": row},
                                                  "n_members": 6000, "references": 8,
                                                  "shadow_keeps": 6000}}}}
    study = studies.load_named("shadow-models")
    out = shadow_models.facts(Deck(study=study, root=tmp_path, r={"vulnerable_e20": exp}))
    (version,) = out["versions"]
    assert version["version"] == "vulnerable" and version["rows"][0]["original"] == 0.675
    assert version["rows"][0]["accuracy"] == 0.7
    assert out["headline"] == "vulnerable 70.0–70.0% (original 67.5–67.5%)"
    assert "vulnerable (25, 50, 100 epochs); defended (20, 25, 50, 100 epochs)" in out["not_made"][0]


def test_every_section_of_another_study_names_a_committed_study():
    for name, module in SECTIONS.items():
        presented = study_of(name, "the deck's own")
        if presented != "the deck's own":
            assert presented in studies.available(), (name, presented)


def test_a_section_of_a_study_the_deck_did_not_load_is_refused():
    study = studies.load_named("baseline-vs-defended")
    assert "architecture" in study.sections
    with pytest.raises(UserError, match="section 'defences' presents study 'defences', which was not loaded"):
        render.check(study, {})


def test_the_committed_earlier_studies_make_their_slides():
    """The deck of the committed results: each earlier study's section, and the defences
    study's, has its facts (a section that could not be made says so instead)."""
    deck = make.prepare(ROOT / "results")
    assert set(deck.others) == {"loss-threshold-mnist", "normalized-confidence", "shadow-models",
                                "architecture", "defences"}
    ctx = render.context(deck)
    assert ctx["mnist_loss_threshold"]["loss"]["fitted"] > 0.45
    assert {row["dataset"] for row in ctx["normalized_confidence"]["rows"]} == {"CIFAR-10", "MNIST"}
    assert ctx["normalized_confidence"]["original"]["accuracy"] == 0.53


def test_a_missing_comparisons_file_is_not_made_and_a_corrupt_one_is_one_line(tmp_path):
    from mia.io import FileFailed

    deck = Deck(study=studies.load_named("architecture"), root=tmp_path, r={})
    assert "no " in architecture.facts(deck)["not_made"][0]
    (tmp_path / "studies" / "architecture").mkdir(parents=True)
    (tmp_path / "studies" / "architecture" / "comparisons.json").write_text("{")
    with pytest.raises(FileFailed, match="comparisons.json: not valid JSON"):
        architecture.facts(deck)


def test_the_mnist_protocol_page_quotes_the_row_chosen_before_the_results(tmp_path):
    """Study 000's second page on a real calibrated.json (the committed CIFAR-10 baseline's, as
    hand-made input): the headline is LiRA online's TPR with its interval, not the highest
    row's; the KDE cell is the loss's at the largest sampling percentage; without the role's
    calibrated results the page is named as not made."""
    import json

    from mia.deck.results import pct_ci
    from mia.deck.sections import calibrated as calibrated_section, mnist_loss_threshold

    calibrated = json.loads((ROOT / "results" / "baseline" / "calibrated.json").read_text())
    summary = {"accuracy": {"mean": 0.512, "std": 0.004}}
    metrics = {"target": {"n_train": 50_000, "n_test": 10_000},
               "attack": {"results": {"cross_entropy": {
        "8": {"summary": {"accuracy": {"mean": 0.6, "std": 0.1}}, "n_eval_per_class": 9000},
        "50": {"summary": summary, "n_eval_per_class": 5000}}}}}
    study = studies.load_named("loss-threshold-mnist")
    deck = Deck(study=study, root=tmp_path, r={"cifar_protocol": {
        "experiment": "mnist-baseline", "calibrated": calibrated, "metrics": metrics}})
    out = mnist_loss_threshold.protocol_facts(deck)
    rows = calibrated["protocols"]["study"]["rows"]
    assert out["head_tpr"] == pct_ci(rows[calibrated_section.HEADLINE_ROW], "tpr_at_0.1pct_fpr")
    assert out["kde"] == {"p": "50", "accuracy": 0.512, "std": 0.004, "n_eval": 5000}
    assert out["keeps"] == 30_000 and out["references"] == 16
    every = calibrated_section.table({"x": {"calibrated": calibrated}}, "x")
    assert out["table"] == [row for row in every if row["name"] not in (
        "Gap attack (correct = member)", "LiRA online, one fixed σ")]
    assert "mnist-baseline" in mnist_loss_threshold.protocol_facts(
        Deck(study=study, root=tmp_path, r={}))["not_made"][0]


def test_the_discussion_sets_each_comparisons_aucs_beside_its_arms_gaps():
    c = comparison("cnn_vs_dense", "dense4", "cnn4", -0.188, [-0.195, -0.182], True)
    c["metrics"]["generalisation_gap"] = {"a": {"mean": 0.38}, "b": {"mean": 0.03}}
    assert architecture.gap_sentence(c) == (
        "dense, depth 4 (38-point gap) AUC 0.60 against CNN, depth 4 (3-point gap) 0.41: "
        "−0.188 [−0.195, −0.182] over 3 seeds")


def test_our_shadow_model_accuracy_is_set_beside_the_originals_epoch_by_epoch():
    near = [{"accuracy": 0.503, "original": 0.5003}, {"accuracy": 0.519, "original": 0.5026}]
    assert shadow_models.versus_original(near).startswith("The original's attack accuracy agrees with ours within 1.6 points")
    far = [{"accuracy": 0.505, "original": 0.675}, {"accuracy": 0.7, "original": None}]
    assert shadow_models.versus_original(far).startswith("Ours is up to 17.0 points from the original's")
    assert "no attack accuracy" in shadow_models.versus_original([{"accuracy": 0.5, "original": None}])
