"""Figures, each saved as PNG (for the deck) and PDF (for reports): ``base`` (style, layouts,
``save``), ``loss_threshold`` (the loss threshold's figures, ``experiment_figures``) and
``calibrated`` (the calibrated attacks' figures, ``calibrated_figures``).

Every figure is drawn for the slide slot it fills (``SLOTS``): its size in inches is the
slot's size in pixels / 100, and no text is smaller than ``MIN_FONT_PT``, so on a
1280x720 slide text is at least about 13 pt x 100 px/in / 72 = 18 px high. Each PNG
records its smallest font size (``MinFontPt``) for the deck's readability check
(``mia.deck.legibility``).

Per score and sampling percentage p (from repeat 0 of the attack, whose samples are
re-drawn from the same seed), in ``figures/<score>/``: ``losses_sample_p{p}``,
``densities_p{p}`` (attacker's sample and evaluation set on shared axes),
``confusion_matrix_p{p}`` (mean over repeats). Per experiment: ``training_curve``,
``accuracy_vs_percentage`` (the deck's panel), ``metrics_vs_percentage`` (every metric, for
reports), ``roc`` (log-log, all samples), ``data_examples``.

Every figure file says what it is and where it comes from: ``save`` writes its caption (a
sentence that stands alone), what it shows, and its ``Source`` (experiment, config hash, the
commit of the code that drew it, the results files it was drawn from) into the PNG's text
chunks and the PDF's metadata (Title, Subject = the caption, Keywords = the rest);
``mia.figure_index`` lists them in ``results/figures.md``. PDF text is embedded as TrueType
(``pdf.fonttype`` 42), not Type 3, which publishers' PDF checks reject.

The figures a report would use (``REPORT_FIGURES``: the calibrated ROC, the power curve, the
loss distributions, and the study's comparison) are also drawn at report sizes
(``REPORT_LAYOUTS``), in ``figures/report/``: one column (3.3 in wide) and two columns (7 in),
with no text under ``REPORT_MIN_FONT_PT`` at natural size.
"""
from __future__ import annotations

from .base import (DPI, FORMATS, MIN_FONT_PT, REPORT_LAYOUTS, REPORT_MIN_FONT_PT, SLIDE, SLOTS,
                   STYLE, UNNAMED, Layout, Source, min_font_pt, pretty, save, wrap_title)
from .calibrated import (ATTACK_NAMES, POWER_ROWS, RMIA_A_ROWS, ROC_ROWS, calibrated_figures,
                         calibrated_roc, power_vs_references)
from .loss_threshold import (EXAMPLES_PER_CLASS, SHOWN_PERCENTAGE, accuracy_vs_percentage,
                             data_examples, densities, experiment_figures, losses_sample,
                             metrics_vs_percentage, roc, score_figures, training_curve, versioned)

__all__ = ["ATTACK_NAMES", "DPI", "EXAMPLES_PER_CLASS", "FORMATS", "MIN_FONT_PT", "POWER_ROWS",
           "REPORT_LAYOUTS", "REPORT_MIN_FONT_PT", "RMIA_A_ROWS", "ROC_ROWS", "SHOWN_PERCENTAGE",
           "SLIDE", "SLOTS", "STYLE", "UNNAMED", "Layout", "Source", "accuracy_vs_percentage",
           "calibrated_figures", "calibrated_roc", "data_examples", "densities",
           "experiment_figures", "losses_sample", "metrics_vs_percentage", "min_font_pt",
           "power_vs_references", "pretty", "roc", "save", "score_figures", "training_curve",
           "versioned", "wrap_title"]
