"""Every committed report, opened in a real browser (Debian's chromium, headless, driven by
playwright) as a reader would open a shared file: it loads with no console error and no
network request at all, every image decodes, nothing runs past the page's right edge
(wide tables scroll in their own container), the text shows no machine path, no bare repr
and no dirty commit, and where the notebook states findings they are on the first screen.

Skips with the reason when no browser is installed; fails instead in CI (CI or
NB201_REQUIRE_SHARED=1 set), where `.ci/run` installs chromium."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REPORTS = sorted((REPO / "reports").rglob("*.html"))
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTH, HEIGHT = 1280, 900  # the first screen the findings must be on
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/-])/(?:work|home|root|tmp|Users|var/folders|mnt|opt)/\S")
STRAYS = ("PosixPath(", "<Figure size", "+dirty")

# What the page reports about its layout: elements (tables, images, figures, code blocks)
# that reach past the page, or past an ancestor that clips them, outside a scroll container.
LAYOUT_JS = """
() => {
  const page = document.documentElement.clientWidth;
  const bad = [];
  if (document.documentElement.scrollWidth > page + 1)
    bad.push(`the page scrolls sideways: ${document.documentElement.scrollWidth}px > ${page}px`);
  for (const el of document.querySelectorAll("table, img, figure, pre, svg")) {
    const right = el.getBoundingClientRect().right;
    let scroller = null, clipped = null;
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const ox = getComputedStyle(a).overflowX;
      if (ox === "auto" || ox === "scroll") { scroller = a; break; }
      const clips = ox === "hidden" || ox === "clip";
      if (clips && right > a.getBoundingClientRect().right + 1) { clipped = a; break; }
    }
    const what = `${el.tagName.toLowerCase()} "${(el.innerText || el.alt || "").slice(0, 40)}"`;
    if (clipped) bad.push(`${what} is clipped at ${Math.round(clipped.getBoundingClientRect().right)}px`);
    else if (!scroller && right > page + 1) bad.push(`${what} ends at ${Math.round(right)}px > ${page}px`);
    else if (scroller && scroller.getBoundingClientRect().right > page + 1)
      bad.push(`the scroll container of ${what} is wider than the page`);
  }
  return bad;
}
"""


# (top of the Findings heading, bottom of its list, number of sentences), or null
FINDINGS_JS = """
() => {
  const h = [...document.querySelectorAll("h2")].find(e => e.innerText.startsWith("Findings"));
  if (!h) return null;
  const list = h.parentElement.querySelector("ul");
  if (!list) return [h.getBoundingClientRect().top, -1, 0];
  const n = list.querySelectorAll("li").length;
  return [h.getBoundingClientRect().top, list.getBoundingClientRect().bottom, n];
}
"""


def _required() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get("NB201_REQUIRE_SHARED") == "1"


def _missing(reason: str) -> None:
    msg = f"{reason}: the real-browser checks of the reports cannot run"
    if _required():
        pytest.fail(msg + " (required in CI: .ci/run installs chromium)")
    pytest.skip(msg + " (install it with `apt-get install -y chromium`)")


@pytest.fixture(scope="module")
def browser():
    exe = shutil.which("chromium")
    if exe is None:
        _missing("no `chromium` on PATH")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the python package playwright is not installed (`pip install -e '.[dev]'`)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=FLAGS, headless=True)
        yield b
        b.close()


def _states_findings(report: Path) -> bool:
    """Whether the report's notebook states findings (then they must be on the first screen)."""
    notebook = REPO / "notebooks" / f"{report.stem}.ipynb"
    return notebook.exists() and "reports.findings(" in notebook.read_text()


def test_there_are_reports_to_check():
    assert len(REPORTS) >= 11, [str(r) for r in REPORTS]


def problems(browser, report: Path, findings_expected: bool) -> list[str]:
    """Everything wrong with `report` as a reader's browser shows it (empty: nothing)."""
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    errors: list[str] = []
    fetched: list[str] = []
    url = report.as_uri()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def only_the_file(route) -> None:
        if route.request.url == url:
            route.continue_()
        else:
            fetched.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_file)
    try:
        page.goto(url, wait_until="load")
        page.wait_for_timeout(200)  # late scripts or lazy loads would show up now
        found = [f"network request: {u}" for u in fetched]
        found += [f"console error: {e}" for e in errors if not any(u in e for u in fetched)]
        images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth])")
        found += [f"image {k} does not decode" for k, (done, w) in enumerate(images) if not done or w == 0]
        found += page.evaluate(LAYOUT_JS)
        text = page.inner_text("body")
        found += [f"shows {s!r}: {text[max(0, text.index(s) - 60) :][:160]!r}" for s in STRAYS if s in text]
        if m := ABSOLUTE_PATH.search(text):
            found.append(f"shows a machine path: {text[max(0, m.start() - 60) : m.end() + 60]!r}")
        if findings_expected:
            box = page.evaluate(FINDINGS_JS)
            if box is None:
                found.append("the notebook states findings but the report has no Findings block")
            else:
                top, bottom, sentences = box
                if not 3 <= sentences <= 6:
                    found.append(f"{sentences} findings; a report states 3 to 6")
                if not (top < HEIGHT / 2 and 0 < bottom <= HEIGHT):
                    found.append(f"findings at {top:.0f}-{bottom:.0f} px: not on the first {HEIGHT} px")
        return found
    finally:
        page.close()


@pytest.mark.parametrize("report", REPORTS, ids=[str(r.relative_to(REPO / "reports")) for r in REPORTS])
def test_report_opens_complete_offline(browser, report: Path) -> None:
    assert problems(browser, report, _states_findings(report)) == []


def test_the_checks_catch_a_broken_report(browser, tmp_path: Path) -> None:
    """The same checks on a page with every fault: each is reported."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<html><body><h1>t</h1>"
        '<div style="overflow-x:hidden;width:300px">'
        '<table style="width:900px"><tr><td>wide</td></tr></table></div>'
        '<table style="width:1600px"><tr><td>past the page</td></tr></table>'
        "<p>PosixPath('/work/main') and /home/me/x</p>"
        '<img src="https://example.org/a.png"><img src="data:image/png;base64,AAAA">'
        "</body></html>"
    )
    found = "\n".join(problems(browser, bad, findings_expected=True))
    for expected in (
        "network request: https://example.org/a.png",
        "image 1 does not decode",
        "is clipped at",
        "ends at",
        "the page scrolls sideways",
        "shows 'PosixPath('",
        "shows a machine path",
        "has no Findings block",
    ):
        assert expected in found, (expected, found)
