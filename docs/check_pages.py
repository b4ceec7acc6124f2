"""Open every page of the built site in headless Chromium, offline, as readers would.

``make docs-check`` runs this after ``make docs``. A page can build without a warning
and still show raw LaTeX (MathJax failed to load), a broken image or a script error;
this check fails on each of those, and on any request that leaves the machine. It
also saves a screenshot of the user guide's first formula as evidence of offline
rendering.

Usage: ``python docs/check_pages.py [SITE_DIR] [--screenshot PNG]``. The Chromium binary
is ``$CHROMIUM`` or the first of ``chromium``/``chromium-browser``/``google-chrome`` on
the PATH.
"""

import argparse
import os
import re
import shutil
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
NETWORK = re.compile(r"^(https?|wss?|ftp)://")

# Text a reader sees, outside code and outside typeset math, that still holds a LaTeX
# delimiter: MathJax did not run on it.
RAW_LATEX_JS = r"""() => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const skip = "PRE, CODE, SCRIPT, STYLE, TEXTAREA, MJX-CONTAINER";
  const found = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.closest(skip)) continue;
    const text = node.textContent;
    if (/\\\(|\\\[|\\begin\{|\$\$/.test(text)) found.push(text.trim().slice(0, 80));
  }
  return found;
}"""

# Every image made eager, decoded, and reported when it has no pixels.
BROKEN_IMAGES_JS = """async () => {
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = "eager"; });
  await Promise.all(images.map(img => img.decode().catch(() => null)));
  return images.filter(img => !img.complete || img.naturalWidth === 0)
               .map(img => img.getAttribute("src"));
}"""

# Resolves once MathJax (when the page loads it) has typeset the page.
MATHJAX_DONE_JS = """async () => {
  if (!window.MathJax) return "none";
  if (window.MathJax.startup && window.MathJax.startup.promise) {
    await window.MathJax.startup.promise;
    return "typeset";
  }
  return "not started";
}"""


def find_browser():
    """The Chromium executable, or exit with how to install one."""
    for name in (os.environ.get("CHROMIUM"), *BROWSERS):
        path = name and shutil.which(name)
        if path:
            return path
    sys.exit(
        "docs-check: no Chromium found; install Debian's `chromium` or set CHROMIUM"
    )


def check_page(page, url):
    """The problems a reader of ``url`` would see, as a list of strings."""
    problems = []
    page.on("pageerror", lambda err: problems.append(f"JavaScript error: {err}"))
    page.on(
        "console",
        lambda msg: msg.type == "error"
        and problems.append(f"console error: {msg.text}"),
    )
    page.goto(url, wait_until="load")
    mathjax = page.evaluate(MATHJAX_DONE_JS)
    if mathjax == "not started":
        problems.append("MathJax is on the page but never started")
    problems += [f"raw LaTeX shown: {t!r}" for t in page.evaluate(RAW_LATEX_JS)]
    problems += [
        f"image did not load: {src}" for src in page.evaluate(BROKEN_IMAGES_JS)
    ]
    return problems


def screenshot_first_formula(context, site, path):
    """Save the user guide's first display formula, as Chromium shows it."""
    page = context.new_page()
    page.goto((site / "user_guide.html").as_uri(), wait_until="load")
    page.evaluate(MATHJAX_DONE_JS)
    formula = page.locator("div.math").first
    formula.scroll_into_view_if_needed()
    path.parent.mkdir(parents=True, exist_ok=True)
    formula.screenshot(path=str(path))
    rendered = formula.locator("mjx-container").count()
    page.close()
    return rendered


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", nargs="?", default="docs/_build/html", type=Path)
    parser.add_argument("--screenshot", type=Path, default=None)
    args = parser.parse_args(argv)
    site = args.site.resolve()
    pages = sorted(p for p in site.rglob("*.html") if "_static" not in p.parts)
    if not pages:
        sys.exit(f"docs-check: no HTML pages under {site}; run `make docs` first")
    shot = args.screenshot or site.parent / "docs-check" / "first-formula.png"
    start = time.perf_counter()
    failures, network = {}, []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_browser())
        context = browser.new_context(
            offline=True, viewport={"width": 1600, "height": 900}
        )
        context.route(
            NETWORK, lambda route: (network.append(route.request.url), route.abort())
        )
        for path in pages:
            page = context.new_page()
            problems = check_page(page, path.as_uri())
            page.close()
            if problems:
                failures[path.relative_to(site)] = problems
        typeset = screenshot_first_formula(context, site, shot)
        browser.close()
    if network:
        failures["(network)"] = [f"requested {url}" for url in sorted(set(network))]
    if not typeset:
        failures["user_guide.html"] = ["its first formula is not typeset by MathJax"]
    report(pages, failures, shot, time.perf_counter() - start)
    return 1 if failures else 0


def report(pages, failures, shot, seconds):
    """Print the outcome: one line when all is well, each problem otherwise."""
    for page, problems in failures.items():
        for problem in problems:
            print(f"FAIL {page}: {problem}")
    verdict = "problems on" if failures else "no problem on any of"
    print(
        f"docs-check: {verdict} {len(pages)} pages, offline, in {seconds:.1f} s; "
        f"first formula screenshot: {shot}"
    )


if __name__ == "__main__":
    sys.exit(main())
