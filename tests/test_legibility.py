"""The deck's readability check: rendered text height of every figure, without a browser."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from conftest import ROOT  # noqa: E402
from mia import plots  # noqa: E402
from mia.deck import legibility  # noqa: E402
from mia.errors import UserError  # noqa: E402


@pytest.mark.parametrize("alt, size, expected", [
    ("w:600", (1200, 900), 600),
    ("w:600 center", (1200, 900), 600),
    ("h:300", (1200, 900), 400),
    ("bg right:50% fit", (1200, 900), 640),          # width-limited: 640 x 480 in 640 x 720
    ("bg right:50% fit", (900, 1800), 360),          # height-limited: 720 high
    ("bg left:40% 80%", (1000, 1000), 0.4 * 1280 * 0.8),
    ("bg right fit", (1200, 900), 640),              # a bare split is half the slide
    ("bg fit", (1600, 900), 1280),                   # no split: the whole slide
])
def test_displayed_width(alt, size, expected):
    assert legibility.displayed_width(alt, size) == pytest.approx(expected)


def test_backgrounds_sharing_a_split_share_its_width():
    assert legibility.displayed_width("bg right:50% fit", (1200, 900), backgrounds=2) == \
        pytest.approx(320)


@pytest.mark.parametrize("alt, message", [("center", "give its width"),
                                          ("w:600 h:300", "not both"),
                                          ("bg right:40%", "give 'fit'")])
def test_an_image_whose_size_cannot_be_known_is_refused(alt, message):
    with pytest.raises(UserError, match=message):
        legibility.displayed_width(alt, (100, 100))


def test_an_image_the_check_cannot_read_is_refused(tmp_path):
    png = _figure(tmp_path / "fig", fontsize=14)
    md = tmp_path / "deck.md"
    md.write_text(f'# slide\n\n![w:600]({png.name} "a title")\n')
    with pytest.raises(UserError, match="not in the form"):
        legibility.figures(md)


def test_tick_labels_count_even_when_the_figure_was_never_drawn(tmp_path):
    """Automatic tick labels exist only once a figure is drawn: the recorded size must
    include them (here 5 pt ticks under a 14 pt title)."""
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.set_title("title", fontsize=14)
    ax.tick_params(labelsize=5)
    ax.plot([0, 1], [0, 1])
    assert plots.min_font_pt(fig) == 5


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
    assert [f["image"] for f in legibility.too_small(legibility.figures(md))] == ["small.png"]


def test_the_committed_deck_is_readable():
    """Every figure of slides/deck.md, as committed with results/, at 1280x720."""
    found = legibility.figures(ROOT / "slides" / "deck.md")
    assert len(found) >= 15
    assert legibility.too_small(found) == []
