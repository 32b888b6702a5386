"""Diagrams for the deck, drawn with matplotlib into ``img/`` (no stock images)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

from .plots import save  # noqa: E402

BOX = {"data": "#dbe9f6", "model": "#fde3c8", "attack": "#e2f0d9", "out": "#f4dcdc"}


def _box(ax, x, y, w, h, text, kind, fontsize=11):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.04",
                                fc=BOX[kind], ec="#444", lw=1.2))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, wrap=True)


def _arrow(ax, a, b, text=""):
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=14, lw=1.3, color="#333"))
    if text:
        ax.text((a[0] + b[0]) / 2, (a[1] + b[1]) / 2 + 0.04, text, ha="center", va="bottom",
                fontsize=9, color="#333")


def _canvas(w=10, h=4.2):
    fig, ax = plt.subplots(figsize=(w, h))
    ax.set(xlim=(-0.03, 1.03), ylim=(0, 1))
    ax.axis("off")
    return fig, ax


def attack_pipeline(out: Path) -> None:
    """Training data -> target model -> per-sample losses -> KDE -> threshold -> verdict."""
    fig, ax = _canvas(11, 4.4)
    _box(ax, 0.09, 0.75, 0.16, 0.2, "training set\n(members)", "data")
    _box(ax, 0.09, 0.25, 0.16, 0.2, "held-out set\n(non-members)", "data")
    _box(ax, 0.32, 0.75, 0.15, 0.2, "target model\n(LeNet-5)", "model")
    _box(ax, 0.32, 0.25, 0.15, 0.2, "attacker knows\np% of each", "attack")
    _box(ax, 0.55, 0.5, 0.15, 0.22, "per-sample\nloss", "attack")
    _box(ax, 0.76, 0.5, 0.15, 0.22, "KDE of each\nclass; threshold\nwhere they cross", "attack")
    _box(ax, 0.93, 0.5, 0.11, 0.3, "loss < t:\nmember\n\nelse:\nnon-member", "out", fontsize=10)
    _arrow(ax, (0.17, 0.75), (0.245, 0.75), "train")
    _arrow(ax, (0.17, 0.3), (0.245, 0.27))
    _arrow(ax, (0.17, 0.7), (0.245, 0.3))
    _arrow(ax, (0.395, 0.72), (0.475, 0.56), "query")
    _arrow(ax, (0.395, 0.28), (0.475, 0.44))
    _arrow(ax, (0.625, 0.5), (0.685, 0.5))
    _arrow(ax, (0.835, 0.5), (0.875, 0.5))
    save(fig, out)


def hospital(out: Path) -> None:
    """A model trained on patient records lets an attacker test whether a person was a patient."""
    fig, ax = _canvas(10, 4.0)
    _box(ax, 0.12, 0.7, 0.2, 0.26, "hospital records\n(patients with\na condition)", "data")
    _box(ax, 0.42, 0.7, 0.2, 0.22, "diagnostic model\n(released API)", "model")
    _box(ax, 0.12, 0.22, 0.2, 0.22, "attacker holds\nAlice's record", "attack")
    _box(ax, 0.42, 0.22, 0.2, 0.22, "model's loss\non Alice's record", "attack")
    _box(ax, 0.78, 0.45, 0.28, 0.34, "low loss → Alice was\nin the training set →\nAlice has the condition",
         "out")
    _arrow(ax, (0.22, 0.7), (0.32, 0.7), "train")
    _arrow(ax, (0.22, 0.22), (0.32, 0.22), "query")
    _arrow(ax, (0.42, 0.59), (0.42, 0.33))
    _arrow(ax, (0.52, 0.25), (0.64, 0.4))
    save(fig, out)


def draw_all(img_dir: Path) -> list[Path]:
    attack_pipeline(img_dir / "attack_pipeline")
    hospital(img_dir / "hospital")
    return [img_dir / "attack_pipeline.png", img_dir / "hospital.png"]
