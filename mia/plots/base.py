"""The figures' common ground: the style, the slide slots and report layouts, what a figure
records of its source, and ``save`` (PNG and PDF, with the caption, the source and the smallest
font size in their metadata). See the package's docstring."""
from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

from ..io import atomic_path  # noqa: E402

MEMBER, NONMEMBER = "tab:blue", "tab:orange"
PRETTY = {"cross_entropy": "cross-entropy", "probability_loss": "probability loss",
          "normalized_probability_loss": "normalized probability loss",
          "confidence_loss": "confidence loss (1 - max p)",
          "normalized_confidence_loss": "normalized confidence loss"}
FORMATS = ("png", "pdf")
DPI = 150
# On a slide a figure is shown at about its slot's size (1 in = 100 px), so 13 pt is about
# 13 / 72 x 100 = 18 px: the deck's 16 px floor (mia.deck.legibility) with room for a figure
# shown at 90% of its slot.
MIN_FONT_PT = 13
SMALL_PT = 13          # legends and annotations on slides
STYLE = {"font.size": 14, "axes.titlesize": 15, "axes.labelsize": 14, "xtick.labelsize": 13,
         "ytick.labelsize": 13, "legend.fontsize": 13, "figure.titlesize": 15,
         # TrueType fonts in PDF (and PostScript), not Type 3
         "pdf.fonttype": 42, "ps.fonttype": 42}
# Slide slots in pixels of a 1280x720 slide (deck.md.j2 places the figures so); figure
# size in inches = pixels / 100.
SLOTS = {
    "half": (5.6, 4.0),         # one of two figures side by side (560 px each)
    "wide": (11.6, 4.2),        # full width under a title and above two lines of text
    "wide_low": (9.6, 3.6),     # most of the width, under a two-line title, above two bullets
    "third": (3.8, 3.7),        # one of three side by side
    "right_tall": (6.0, 6.2),   # right half of the slide, full height
    "right_narrow": (5.0, 6.2),  # the right 40% of the slide, full height
}
plt.rcParams.update(STYLE)


@dataclass(frozen=True)
class Layout:
    """Where a figure will be seen: ``slide`` (the slot's size, slide fonts) or a report
    column (``width`` inches, text of ``font_pt``, never under ``REPORT_MIN_FONT_PT``)."""

    name: str
    width: float | None = None     # None: the slide slot's width
    font_pt: float = 14.0
    stacked: bool = False          # panels one above the other (a column is narrow)

    @property
    def small(self) -> float:
        return SMALL_PT if self.name == "slide" else self.font_pt

    def wrap(self, title: str, slide_width: float | None = None) -> str:
        """A title broken into lines that fit the figure's width: the layout's, or on a slide
        ``slide_width`` inches (a title wider than its figure would widen the saved image,
        and every text on it would shrink on the slide)."""
        width = self.width or slide_width
        if width is None:
            return title
        if self.width:
            return wrap_title(title, width, self.font_pt + 1)
        # on a slide the figure often touches the slide's edge: a margin, so that a title
        # centred over axes that sit right of the figure's centre stays clear of it
        return wrap_title(title, SLIDE_TITLE_SHARE * width, STYLE["axes.titlesize"])

    def style(self) -> dict:
        if self.name == "slide":
            return {}
        f = self.font_pt
        return {"font.size": f, "axes.titlesize": f + 1, "axes.labelsize": f,
                "xtick.labelsize": f, "ytick.labelsize": f, "legend.fontsize": f,
                "figure.titlesize": f + 1, "lines.linewidth": 1.2, "lines.markersize": 4}

    def size(self, slot: tuple[float, float], height: float) -> tuple[float, float]:
        """The slot on a slide; ``width`` x ``height`` inches in a report."""
        return slot if self.width is None else (self.width, height)


SLIDE = Layout("slide")
SLIDE_TITLE_SHARE = 0.85


def wrap_title(title: str, width_in: float, font_pt: float) -> str:
    """``title`` in lines of at most the characters that fit ``width_in`` inches at
    ``font_pt`` (DejaVu Sans averages about 0.57 em a character)."""
    return textwrap.fill(title, max(20, int(width_in * 72 / (font_pt * 0.57))),
                         break_on_hyphens=False)


REPORT_MIN_FONT_PT = 8
REPORT_LAYOUTS = (Layout("one_column", 3.3, 8.0, stacked=True), Layout("two_column", 7.0, 9.0))


@dataclass(frozen=True)
class Source:
    """Where a figure comes from, written into its files' metadata and into the figure index.
    ``commit``: the commit of the code that drew it, "+dirty" when tracked code differed."""

    experiment: str                     # "baseline", or "studies/<study>"
    title: str                          # how titles and captions name it
    config_hash: str = ""
    commit: str = ""
    files: tuple[str, ...] = field(default=())  # what it was drawn from, in that folder

    @property
    def heading(self) -> str:
        """The title as a figure title starts it (capitalised)."""
        return self.title[:1].upper() + self.title[1:]

    def keywords(self) -> str:
        return (f"experiment={self.experiment}; config_hash={self.config_hash}; "
                f"commit={self.commit}; drawn_from={','.join(self.files)}")


UNNAMED = Source(experiment="", title="")


def decade_label(value: float, percent: bool = False) -> str:
    """A log axis's tick as plain text at the tick font's full size (matplotlib's default
    10^k draws the exponent at about 70% of it): a rate in percent (0.001 -> "0.1%"), else
    the number ("0.01", "1e-06" where it is long)."""
    v = float(f"{100 * value if percent else value:.10g}")  # 100 * 1e-6 is 9.999...e-05
    if 1e-4 <= v < 1e5:  # positional: "10000", "0.0001" (f"{v:g}" would write "1e+04")
        text = np.format_float_positional(v, precision=4, unique=True, fractional=False, trim="-")
    else:  # "1e5", "1e-6": without the sign and the leading zero of "1e+05"
        mantissa, exponent = f"{v:.0e}".split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text + ("%" if percent else "")


def log_ticks(axis, percent: bool = False) -> None:
    """``decade_label`` on a log axis's major ticks, and no labels on its minor ones."""
    axis.set_major_formatter(FuncFormatter(lambda v, _: decade_label(v, percent)))
    axis.set_minor_formatter(NullFormatter())


def pretty(score: str) -> str:
    return PRETTY.get(score, score.replace("_", " "))


def min_font_pt(fig) -> float:
    """The smallest font size of any visible, non-empty text in ``fig`` (drawn first, so that
    automatic tick labels exist)."""
    fig.canvas.draw()
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return float(min(sizes)) if sizes else float("inf")


def save(fig, path_without_suffix: Path, caption: str = "", source: Source = UNNAMED,
         shows: str = "", layout: Layout = SLIDE) -> None:
    """``path_without_suffix``.png and .pdf, each carrying the caption, what the figure shows,
    its source and its smallest font size; a report layout's figure keeps its exact width
    (no tight bounding box) and must have no text under ``REPORT_MIN_FONT_PT``."""
    path_without_suffix.parent.mkdir(parents=True, exist_ok=True)
    smallest = min_font_pt(fig)
    if layout.name != "slide" and smallest < REPORT_MIN_FONT_PT:
        raise ValueError(f"{path_without_suffix}: {smallest:g} pt text in a report figure "
                         f"(at least {REPORT_MIN_FONT_PT} pt)")
    name = path_without_suffix.name
    png = {"MinFontPt": f"{smallest:g}", "Caption": caption, "Shows": shows,
           "Experiment": source.experiment, "ConfigHash": source.config_hash,
           "Commit": source.commit, "DrawnFrom": ",".join(source.files), "Layout": layout.name}
    pdf = {"CreationDate": None, "Title": f"{source.title}: {name}" if source.title else name,
           "Subject": caption, "Keywords": source.keywords() + f"; layout={layout.name}; "
                                                               f"min_font_pt={smallest:g}",
           "Author": "mia-study"}
    tight = {"bbox_inches": "tight"} if layout.name == "slide" else {}
    for fmt in FORMATS:
        with atomic_path(path_without_suffix.with_suffix(f".{fmt}")) as tmp:
            fig.savefig(tmp, format=fmt, dpi=DPI, metadata=png if fmt == "png" else pdf, **tight)
    plt.close(fig)


