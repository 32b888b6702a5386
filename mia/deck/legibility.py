"""Is every figure in the deck readable when projected? Computed, without a browser.

For each image in the deck's Markdown, the rendered height of its smallest text on a
1280x720 slide is

    text_px = min_font_pt / 72 * dpi * (displayed width / PNG width)

``min_font_pt`` is recorded in the PNG by ``plots.save`` (``MinFontPt``), ``dpi`` and the
pixel size come from the PNG, and the displayed width from the Marp image syntax the deck
uses (the only forms accepted, so that no figure escapes the check):

- ``![w:N ...](f)``: N px wide;
- ``![h:M ...](f)``: M px high (not both ``w:`` and ``h:``: Marp would stretch it);
- ``![bg right:X% fit](f)`` / ``bg left:X% fit``: contained in an (X% of 1280) x 720 box
  (``bg right`` alone: 50%; ``bg`` alone: the whole slide; several backgrounds on one
  slide share the box side by side);
- ``![bg right:X% S%](f)``: S% of that box's width.

The floor, ``MIN_TEXT_PX`` = 16 px, is about the size of a 12 pt font on a 1280x720 slide
(the deck's body text is 26 px): the smallest text an audience at the back of a room can
still read off a projector.
"""
from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from ..errors import UserError

SLIDE = (1280, 720)
MIN_TEXT_PX = 16.0
IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")
SLIDE_BREAK = re.compile(r"^---\s*$", re.M)


def displayed_width(alt: str, size: tuple[int, int], backgrounds: int = 1) -> float:
    """Width in slide pixels at which Marp shows an image of ``size`` with this alt text;
    ``backgrounds``: how many background images share the slide (Marp puts them side by side)."""
    tokens = alt.split()
    w, h = size
    if "bg" in tokens:
        split = next((t for t in tokens if re.fullmatch(r"(left|right)(:\d+(\.\d+)?%)?", t)), None)
        share = 1.0 if split is None else float(split.split(":")[1][:-1]) / 100 if ":" in split else 0.5
        box_w = SLIDE[0] * share / backgrounds
        if "fit" in tokens or "contain" in tokens:
            return w * min(box_w / w, SLIDE[1] / h)
        scale = next((t for t in tokens if re.fullmatch(r"\d+(\.\d+)?%", t)), None)
        if scale:
            return box_w * float(scale[:-1]) / 100
        raise UserError(f"background image {alt!r}: give 'fit' or a size in %, so its text "
                        f"size can be checked")
    width = next((float(t[2:]) for t in tokens if re.fullmatch(r"w:\d+(\.\d+)?", t)), None)
    height = next((float(t[2:]) for t in tokens if re.fullmatch(r"h:\d+(\.\d+)?", t)), None)
    if width is not None and height is not None:
        raise UserError(f"image {alt!r}: give its width or its height, not both (Marp would "
                        f"stretch it)")
    if width is None and height is None:
        raise UserError(f"image {alt!r}: give its width (w:N), so its text size can be checked")
    return width if width is not None else w * height / h


def figures(md_path: Path) -> list[dict]:
    """Every image in the deck with its smallest rendered text height in slide pixels."""
    out = []
    for slide in SLIDE_BREAK.split(md_path.read_text(encoding="utf-8")):
        images = IMAGE.findall(slide)
        if len(images) != slide.count("!["):
            raise UserError(f"an image on the slide starting {slide.strip()[:60]!r} is not in "
                            f"the form ![size](path) that the readability check reads")
        backgrounds = sum("bg" in alt.split() for alt, _ in images)
        for alt, link in images:
            path = (md_path.parent / link).resolve()
            with Image.open(path) as im:
                size, info = im.size, im.info
            if "MinFontPt" not in info or "dpi" not in info:
                raise UserError(f"{path} has no font-size record: draw it with mia.plots.save")
            width = displayed_width(alt, size, backgrounds if "bg" in alt.split() else 1)
            text_px = float(info["MinFontPt"]) / 72 * float(info["dpi"][0]) * width / size[0]
            out.append({"image": link, "displayed_width": round(width, 1),
                        "min_font_pt": float(info["MinFontPt"]), "text_px": text_px})
    return out


def too_small(found: list[dict], minimum: float = MIN_TEXT_PX) -> list[dict]:
    """The entries of ``figures(...)`` whose smallest text is below ``minimum`` pixels."""
    return [f for f in found if f["text_px"] < minimum]
