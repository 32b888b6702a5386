"""Evaluation: attacks run on a target under a protocol, and the metrics they reach.

``threshold``: the study's sampling protocol (the attacker given p% of each class), and the
accuracy of a global threshold at every threshold;
``calibrated``: reference-model attacks on the study's target and in leave-one-out;
``disjoint``: a shadow bank's attacks (the shadow models trained on the attacker's own data),
with the attack models' own decisions;
``paired``, ``power``, ``roc``: paired bootstraps of differences, the power curve, ROC metrics
with intervals;
``arms``: a study's arms of training seeds compared, with intervals over seeds and samples.
"""
