"""The deck's Markdown made into slides: the pinned Marp CLI (``slides/package.json``) writes
``deck.html`` and, when a Chromium is found, ``deck.pdf``; ``overflow_report`` loads the HTML
in headless Chromium and lists the slides whose content is cut off."""
from __future__ import annotations

import html as html_mod
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import UserError
from .results import SLIDES


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
