"""The deck's readability check: rendered text height of every figure, without a browser."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from conftest import ROOT  # noqa: E402
from mia import legibility, plots  # noqa: E402
from mia.errors import UserError  # noqa: E402


@pytest.mark.parametrize("alt, size, expected", [
    ("w:600", (1200, 900), 600),
    ("w:600 center", (1200, 900), 600),
    ("h:300", (1200, 900), 400),
    ("bg right:50% fit", (1200, 900), 640),          # width-limited: 640 x 480 in 640 x 720
    ("bg right:50% fit", (900, 1800), 360),          # height-limited: 720 high
    ("bg left:40% 80%", (1000, 1000), 0.4 * 1280 * 0.8),
])
def test_displayed_width(alt, size, expected):
    assert legibility.displayed_width(alt, size) == pytest.approx(expected)


def test_an_image_without_a_size_is_refused():
    with pytest.raises(UserError, match="give its width"):
        legibility.displayed_width("center", (100, 100))


def _figure(path, fontsize, inches=6.0):
    fig, ax = plt.subplots(figsize=(inches, inches * 0.75))
    ax.set_title("title", fontsize=fontsize)
    ax.tick_params(labelsize=fontsize)
    ax.set_xlabel("x", fontsize=fontsize)
    plots.save(fig, path)
    return path.with_suffix(".png")


def test_small_text_is_caught_and_large_text_passes(tmp_path):
    small = _figure(tmp_path / "small", fontsize=7)
    large = _figure(tmp_path / "large", fontsize=14)
    md = tmp_path / "deck.md"
    md.write_text(f"![w:600]({small.name})\n\n![w:600]({large.name})\n")
    found = {f["image"]: f for f in legibility.figures(md)}
    assert found["small.png"]["min_font_pt"] == 7
    # 7 pt at 150 dpi on an image shown at 600 px of its own ~900: about 9.6 px.
    assert found["small.png"]["text_px"] < legibility.MIN_TEXT_PX < found["large.png"]["text_px"]
    assert [f["image"] for f in legibility.too_small(md)] == ["small.png"]


def test_the_committed_deck_is_readable():
    """Every figure of slides/deck.md, as committed with results/, at 1280x720."""
    found = legibility.figures(ROOT / "slides" / "deck.md")
    assert len(found) >= 15
    assert legibility.too_small(ROOT / "slides" / "deck.md") == []
