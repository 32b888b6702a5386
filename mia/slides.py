"""The Marp deck, generated from ``results/``: ``invoke slides``.

``render`` fills ``slides/deck.md.j2`` (Jinja2) with numbers read from
``results/<experiment>/{metrics,history,manifest}.json`` and writes ``slides/deck.md``;
``build`` runs the pinned Marp CLI (``slides/package.json``) to make
``slides/build/deck.html`` and, when a Chromium is found, ``slides/build/deck.pdf``.
Sentences that judge a result are chosen here from the numbers, never typed in the template.
"""
from __future__ import annotations

import html as html_mod
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from .errors import UserError
from .io import read_json, write_text

REPO = Path(__file__).resolve().parent.parent
SLIDES = REPO / "slides"
IMG = REPO / "img"
EXPERIMENTS = ("baseline", "defended")
SCORES = ("cross_entropy", "probability_loss", "normalized_probability_loss")
PRETTY = {"cross_entropy": "Cross-entropy", "probability_loss": "Probability loss",
          "normalized_probability_loss": "Normalized probability loss"}
FORMULA = {"cross_entropy": r"$-\log p_y$", "probability_loss": r"$1 - p_y$",
           "normalized_probability_loss":
               r"$1 - \frac{p_y - \min_k p_k}{\max_k p_k - \min_k p_k}$"}
CHANCE_MARGIN = 0.02  # attack accuracy within 2 points of 50% counts as "close to chance"


def load_results(results_root: Path) -> dict:
    out = {}
    for name in EXPERIMENTS:
        d = results_root / name
        missing = [f for f in ("metrics.json", "history.json", "manifest.json") if not (d / f).is_file()]
        if missing:
            raise UserError(f"no results in {d} (missing {', '.join(missing)}): run "
                            f"`invoke experiments` first (or `invoke experiments --quick` and "
                            f"`invoke slides --quick`)")
        out[name] = {"dir": d, "metrics": read_json(d / "metrics.json"),
                     "history": read_json(d / "history.json"),
                     "manifest": read_json(d / "manifest.json")}
    return out


def cell(exp: dict, score: str, p: str) -> dict:
    return exp["metrics"]["attack"]["results"][score][p]


def mean(exp: dict, score: str, p: str, metric: str) -> float:
    return cell(exp, score, p)["summary"][metric]["mean"]


def best_cell(exp: dict) -> tuple[str, str, float, float]:
    """(score, p, mean accuracy, std) of the strongest attack cell by mean accuracy."""
    best = None
    for s, by_p in exp["metrics"]["attack"]["results"].items():
        for p, c in by_p.items():
            acc = c["summary"]["accuracy"]
            if best is None or acc["mean"] > best[2]:
                best = (s, p, acc["mean"], acc["std"])
    return best


def representative_percentage(exp: dict, wanted: str = "16") -> str:
    ps = list(exp["metrics"]["attack"]["results"][SCORES[0]])
    if wanted in ps:
        return wanted
    return ps[len(ps) // 2]


def judgements(r: dict, p: str) -> dict:
    """Sentences whose wording depends on the measured numbers."""
    base, dfd = r["baseline"], r["defended"]
    b_score, b_p, b_acc, b_std = best_cell(base)
    d_score, d_p, d_acc, d_std = best_cell(dfd)
    ps = list(base["metrics"]["attack"]["results"][SCORES[0]])
    lo, hi = ps[0], ps[-1]
    out = {}
    gap_b = base["metrics"]["target"]["train_accuracy"] - base["metrics"]["target"]["test_accuracy"]
    gap_d = dfd["metrics"]["target"]["train_accuracy"] - dfd["metrics"]["target"]["test_accuracy"]
    out["overfitting"] = (
        f"The undefended model is {gap_b:.1%} more accurate on its training images than on unseen ones: "
        + ("it has memorised a good part of its training set." if gap_b > 0.15 else
           "a moderate generalisation gap." if gap_b > 0.05 else "it generalises well."))
    if b_acc - 0.5 <= CHANCE_MARGIN:
        out["leak"] = (f"Even the best attack on the undefended model reaches only {b_acc:.1%} "
                       f"accuracy: close to chance (50%).")
    else:
        out["leak"] = (f"The best attack on the undefended model reaches {b_acc:.1%} ± {b_std:.1%} "
                       f"accuracy ({PRETTY[b_score].lower()}, p = {b_p}%), "
                       f"{(b_acc - 0.5) * 100:.1f} points above chance: the losses leak membership.")
    if d_acc - 0.5 <= CHANCE_MARGIN:
        out["defense"] = (f"With L2 weight decay the best attack falls from {b_acc:.1%} to {d_acc:.1%}: "
                          f"close to chance, while test accuracy goes from "
                          f"{base['metrics']['target']['test_accuracy']:.1%} to "
                          f"{dfd['metrics']['target']['test_accuracy']:.1%}.")
    elif d_acc < b_acc - 0.01:
        out["defense"] = (f"With L2 weight decay the best attack falls from {b_acc:.1%} to {d_acc:.1%}, "
                          f"still {(d_acc - 0.5) * 100:.1f} points above chance; test accuracy goes "
                          f"from {base['metrics']['target']['test_accuracy']:.1%} to "
                          f"{dfd['metrics']['target']['test_accuracy']:.1%}.")
    else:
        out["defense"] = (f"L2 weight decay does not weaken the attack ({b_acc:.1%} without, "
                          f"{d_acc:.1%} with).")
    out["gap_defended"] = gap_d
    # Does knowing more samples help the attacker?
    acc_lo = mean(base, b_score, lo, "accuracy")
    acc_hi = mean(base, b_score, hi, "accuracy")
    std_lo = cell(base, b_score, lo)["summary"]["accuracy"]["std"]
    std_hi = cell(base, b_score, hi)["summary"]["accuracy"]["std"]
    if acc_hi - acc_lo > max(std_lo, std_hi):
        out["sampling"] = (f"More attacker knowledge helps: {acc_lo:.1%} at p = {lo}% vs "
                           f"{acc_hi:.1%} at p = {hi}% ({PRETTY[b_score].lower()}).")
    else:
        out["sampling"] = (f"A small sample is enough: {acc_lo:.1%} at p = {lo}% vs {acc_hi:.1%} at "
                           f"p = {hi}% ({PRETTY[b_score].lower()}), within the spread over repeats.")
    # Cost of the KDE threshold against the best threshold on the evaluation set.
    costs = [c["summary"]["best_accuracy"]["mean"] - c["summary"]["accuracy"]["mean"]
             for by_p in base["metrics"]["attack"]["results"].values() for c in by_p.values()]
    out["threshold_cost_mean"] = sum(costs) / len(costs)
    out["threshold_cost_max"] = max(costs)
    c = cell(base, b_score, p)
    out["missed_members"] = 1 - c["summary"]["recall"]["mean"]
    out["false_members"] = c["confusion_matrix"]["mean_normalized"][0][1]
    # Low-FPR power: the best of the scores at the representative percentage.
    tpr, tpr_score = max((cell(base, s, p)["summary"]["tpr_at_1pct_fpr"]["mean"], s)
                         for s in base["metrics"]["attack"]["results"])
    out["tpr_low"] = tpr
    out["low_fpr"] = (f"at 1% false positives the best score ({PRETTY[tpr_score].lower()}) finds "
                      f"{tpr:.1%} of members, "
                      + ("no better than guessing (1%)." if tpr <= 0.015 else
                         f"{tpr / 0.01:.1f}× the 1% a random guess would find."))
    out["best"] = {"score": b_score, "p": b_p, "acc": b_acc, "std": b_std}
    out["best_defended"] = {"score": d_score, "p": d_p, "acc": d_acc, "std": d_std}
    return out


def _fmt(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}"


def _pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%"


def context(results_root: Path, percentage: str = "16") -> dict:
    r = load_results(results_root)
    base = r["baseline"]
    p = representative_percentage(base, percentage)
    percentages = list(base["metrics"]["attack"]["results"][SCORES[0]])
    table = {s: [{"p": q, **{f"{m}_{e}": cell(r[e], s, q)["summary"][m]
                             for m in ("accuracy", "f1", "auc", "tpr_at_1pct_fpr")
                             for e in EXPERIMENTS}} for q in percentages] for s in SCORES}
    manifest = base["manifest"]
    return {
        "r": r, "p": p, "percentages": percentages, "scores": SCORES, "pretty": PRETTY,
        "formula": FORMULA, "table": table, "j": judgements(r, p),
        "manifest": manifest, "results_root": results_root,
        "train_config": manifest["config"]["train"],
        "attack_config": manifest["config"]["attack"],
        "data": manifest["data"],
        "commit": (manifest["git"].get("commit") or "unknown")[:10],
    }


def render(results_root: Path, md_path: Path, image_root: Path | None = None,
           percentage: str = "16") -> Path:
    """Write the deck's Markdown to ``md_path``; images are linked relative to ``image_root``."""
    image_root = image_root or md_path.parent
    ctx = context(results_root, percentage)

    def img(path: str | Path) -> str:
        """Relative link from the deck to a file, which must exist."""
        target = Path(path)
        if not target.is_absolute():
            target = REPO / target
        if not target.is_file():
            raise UserError(f"the deck needs {target}, which does not exist")
        return os.path.relpath(target, image_root).replace(os.sep, "/")

    def fig(exp: str, name: str) -> str:
        return img(Path(ctx["r"][exp]["dir"]) / "figures" / name)

    env = Environment(loader=FileSystemLoader(SLIDES), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(fmt=_fmt, pct=_pct)
    text = env.get_template("deck.md.j2").render(img=img, fig=fig, **ctx)
    write_text(md_path, text)
    return md_path


def marp_command() -> list[str]:
    exe = SLIDES / "node_modules" / ".bin" / "marp"
    if not exe.exists():
        raise UserError(f"Marp CLI not installed ({exe} missing): run `npm ci --prefix slides`")
    return [str(exe), "--theme-set", str(SLIDES / "theme.css"), "--allow-local-files", "--html"]


def find_chromium() -> str | None:
    for candidate in (os.environ.get("CHROME_PATH"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("google-chrome"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def build(md_path: Path, build_dir: Path, pdf: bool = True, log=print) -> dict:
    """Marp: ``md_path`` -> ``build_dir/deck.html`` (and ``deck.pdf`` when a Chromium exists)."""
    build_dir.mkdir(parents=True, exist_ok=True)
    outputs = {}
    html = build_dir / "deck.html"
    _run(marp_command() + [str(md_path), "-o", str(html)])
    outputs["html"] = html
    chromium = find_chromium()
    if not pdf:
        log("PDF skipped (--no-pdf)")
    elif chromium is None:
        log("PDF skipped: no Chromium found (install Debian's chromium or set CHROME_PATH)")
    else:
        out = build_dir / "deck.pdf"
        _run(marp_command() + ["--pdf", str(md_path), "-o", str(out)],
             env=dict(os.environ, CHROME_PATH=chromium))
        outputs["pdf"] = out
    return outputs


def _run(cmd: list[str], env: dict | None = None) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise UserError(f"marp failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")


OVERFLOW_JS = """
<script>
window.addEventListener('load', () => setTimeout(() => {
  const bad = [];
  const slides = Array.from(document.querySelectorAll('svg[data-marpit-svg]'));
  slides.forEach((svg, i) => {
    svg.querySelectorAll('section').forEach((s) => {
      const role = s.getAttribute('data-marpit-advanced-background');
      if (role === 'background' || role === 'pseudo') return;
      if (s.scrollHeight > s.clientHeight + 1 || s.scrollWidth > s.clientWidth + 1)
        bad.push({slide: i + 1, scrollHeight: s.scrollHeight, height: s.clientHeight,
                  scrollWidth: s.scrollWidth, width: s.clientWidth});
    });
  });
  const out = document.createElement('pre');
  out.id = 'overflow-report';
  out.textContent = JSON.stringify({slides: slides.length, overflow: bad});
  document.body.appendChild(out);
}, 500));
</script>
"""


def overflow_report(html: Path, chromium: str) -> dict:
    """Load the built HTML in headless Chromium and list slides whose content is cut off."""
    probe = html.with_name(".overflow-probe.html")
    probe.write_text(html.read_text(encoding="utf-8").replace("</body>", OVERFLOW_JS + "</body>"),
                     encoding="utf-8")
    try:
        with tempfile.TemporaryDirectory() as profile:
            proc = subprocess.run(
                [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--allow-file-access-from-files",
                 "--virtual-time-budget=5000", "--window-size=1280,720", "--dump-dom",
                 probe.as_uri()], capture_output=True, text=True, timeout=120)
    finally:
        probe.unlink(missing_ok=True)
    match = re.search(r'<pre id="overflow-report">(.*?)</pre>', proc.stdout, re.S)
    if not match:
        raise RuntimeError(f"no overflow report from Chromium: {proc.stderr[-500:]}")
    return json.loads(html_mod.unescape(match.group(1)))


def main(quick: bool = False, results_dir: Path | None = None, pdf: bool = True,
         check_overflow: bool = True, out_dir: Path | None = None, log=print) -> dict:
    """``invoke slides``: render, draw the illustrations, build, check for overflow."""
    from . import illustrations

    t0 = time.perf_counter()
    default = REPO / "results" / "quick" if quick else REPO / "results"
    results_root = (results_dir or default).resolve()
    if out_dir is not None:
        md_path = out_dir / "deck.md"
        build_dir = out_dir
    elif quick or results_dir is not None and results_root != (REPO / "results").resolve():
        md_path = SLIDES / "build" / results_root.name / "deck.md"
        build_dir = md_path.parent
    else:
        md_path, build_dir = SLIDES / "deck.md", SLIDES / "build"
    load_results(results_root)  # fail early, before anything is written
    illustrations.draw_all(IMG)
    render(results_root, md_path)
    build_md = build_dir / "deck.md"
    if build_md != md_path:  # the built HTML lives in build/: links must be relative to it
        render(results_root, build_md)
    outputs = build(build_md, build_dir, pdf=pdf, log=log)
    if build_md != md_path:
        build_md.unlink()
    chromium = find_chromium()
    if check_overflow and chromium:
        rep = overflow_report(outputs["html"], chromium)
        outputs["slides"] = rep["slides"]
        if rep["overflow"]:
            raise UserError(f"content cut off on slides {[o['slide'] for o in rep['overflow']]}: "
                            f"{rep['overflow']}")
        log(f"overflow check: {rep['slides']} slides, none cut off")
    elif check_overflow:
        log("overflow check skipped: no Chromium found")
    outputs["markdown"] = md_path
    log(f"wrote {md_path}, " + ", ".join(str(outputs[k]) for k in ("html", "pdf") if k in outputs)
        + f" in {time.perf_counter() - t0:.1f} s")
    return outputs
