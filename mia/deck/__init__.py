"""The Marp deck of a study, generated from ``results/``: ``invoke slides`` (``main``).

- ``results``: the study's experiments' results, read by role, and the slides' names and
  number formats;
- ``sections``: one module per section of the deck, holding its facts and the sentences
  chosen from them (each with its template, ``slides/sections/<section>.md.j2``);
- ``render``: assembles the sections the study file lists into ``slides/deck.md``;
- ``build``: the Marp CLI (HTML, and PDF with Chromium) and the overflow check in Chromium;
- ``illustrations`` (the diagrams in ``img/``) and ``legibility`` (every figure's text
  readable on a slide, computed without a browser);
- ``make``: ``main``, the whole of ``invoke slides``.

Sentences that judge a result are chosen in the section modules from the numbers, never typed
in a template.
"""
from .make import main

__all__ = ["main"]
