"""Diagrams for the deck, drawn with matplotlib into ``img/`` (no stock images). Every box's
text must lie inside its box (``check_fits``, run before each diagram is saved): the diagrams'
share of the deck's overflow check."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

from ..errors import UserError  # noqa: E402
from ..plots import save  # noqa: E402

BOX = {"data": "#dbe9f6", "model": "#fde3c8", "attack": "#e2f0d9", "out": "#f4dcdc"}


def _box(ax, x, y, w, h, text, kind, fontsize=15):
    patch = ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h,
                                        boxstyle="round,pad=0.006,rounding_size=0.03",
                                        fc=BOX[kind], ec="#444", lw=1.2))
    label = ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)
    ax.figure.boxes = [*getattr(ax.figure, "boxes", []), (patch, label)]


# Text closer than this to its box's edge (pixels at the figure's dpi) counts as overflowing.
MARGIN_PX = 2


def check_fits(fig, name: str) -> None:
    """Stop (one line naming the diagram and the text) when a box's text runs past its box."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for patch, label in getattr(fig, "boxes", []):
        box, text = patch.get_window_extent(renderer), label.get_window_extent(renderer)
        if (text.x0 < box.x0 + MARGIN_PX or text.x1 > box.x1 - MARGIN_PX
                or text.y0 < box.y0 + MARGIN_PX or text.y1 > box.y1 - MARGIN_PX):
            raise UserError(f"diagram {name}: the text {label.get_text()!r} runs past its box")


def _arrow(ax, a, b, text=""):
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=14, lw=1.3, color="#333"))
    if text:
        ax.text((a[0] + b[0]) / 2, (a[1] + b[1]) / 2 + 0.04, text, ha="center", va="bottom",
                fontsize=14, color="#333")


def _canvas(w=10, h=4.2):
    fig, ax = plt.subplots(figsize=(w, h))
    ax.set(xlim=(-0.03, 1.03), ylim=(0, 1))
    ax.axis("off")
    return fig, ax


def attack_pipeline(out: Path) -> None:
    """Training data -> target model -> per-sample losses -> KDE -> threshold -> verdict."""
    fig, ax = _canvas(12.5, 4.2)
    _box(ax, 0.085, 0.76, 0.16, 0.26, "training set\n(members)", "data", 14)
    _box(ax, 0.085, 0.24, 0.16, 0.26, "held-out set\n(non-members)", "data", 14)
    _box(ax, 0.315, 0.76, 0.16, 0.26, "target model\n(LeNet-5)", "model", 14)
    _box(ax, 0.315, 0.24, 0.16, 0.26, "attacker knows\np% of each", "attack", 14)
    _box(ax, 0.52, 0.5, 0.14, 0.3, "loss of\neach sample", "attack", 14)
    _box(ax, 0.725, 0.5, 0.2, 0.4, "KDE of member\nand non-member\nlosses; threshold t\nwhere they cross", "attack", 14)
    _box(ax, 0.93, 0.5, 0.13, 0.44, "loss < t:\nmember\n\nelse:\nnon-\nmember", "out", 14)
    _arrow(ax, (0.171, 0.76), (0.229, 0.76), "train")
    _arrow(ax, (0.171, 0.24), (0.229, 0.24))
    _arrow(ax, (0.171, 0.66), (0.229, 0.34))
    _arrow(ax, (0.401, 0.7), (0.444, 0.6))
    _arrow(ax, (0.401, 0.3), (0.444, 0.4))
    _arrow(ax, (0.596, 0.5), (0.619, 0.5))
    _arrow(ax, (0.831, 0.5), (0.859, 0.5))
    check_fits(fig, out.name)
    save(fig, out)


def hospital(out: Path) -> None:
    """A model trained on patient records lets an attacker test whether a person was a patient."""
    fig, ax = _canvas(11, 4.0)
    _box(ax, 0.12, 0.74, 0.22, 0.36, "hospital records\n(patients with\na condition)", "data")
    _box(ax, 0.46, 0.74, 0.22, 0.3, "diagnostic model\n(released API)", "model")
    _box(ax, 0.12, 0.2, 0.22, 0.3, "attacker holds\nAlice's record", "attack")
    _box(ax, 0.46, 0.2, 0.22, 0.3, "model's loss on\nAlice's record", "attack")
    _box(ax, 0.83, 0.47, 0.3, 0.44, "low loss: Alice was\nin the training set,\nso she has\nthe condition", "out")
    _arrow(ax, (0.235, 0.74), (0.345, 0.74), "train")
    _arrow(ax, (0.235, 0.2), (0.345, 0.2), "query")
    _arrow(ax, (0.46, 0.585), (0.46, 0.355))
    _arrow(ax, (0.575, 0.25), (0.675, 0.4))
    check_fits(fig, out.name)
    save(fig, out)


def draw_all(img_dir: Path) -> list[Path]:
    attack_pipeline(img_dir / "attack_pipeline")
    hospital(img_dir / "hospital")
    return [img_dir / "attack_pipeline.png", img_dir / "hospital.png"]
