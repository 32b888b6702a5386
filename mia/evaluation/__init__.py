"""Evaluation: attacks run on a target under a protocol, and the metrics they reach.

``threshold``: the study's sampling protocol (the attacker given p% of each class);
``calibrated``: reference-model attacks on the study's target and in leave-one-out.
"""
