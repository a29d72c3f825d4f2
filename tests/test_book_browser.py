"""The built smoke book in headless Chromium: pages load cleanly, offline, and every slider works.

Served on 127.0.0.1 by a local HTTP server; every request for another host is aborted and
counted, so a page that would fetch a CDN, a font service or analytics fails here. Needs
Debian's ``chromium`` (``apt-get install chromium``; Playwright never downloads a browser
here) and skips, saying why, where there is none.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest
from test_book import smoke_book  # noqa: F401  (the session's smoke book, built once)

from labelaug_core.book.plan import toc_chapters

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
REPO = Path(__file__).resolve().parents[1]
# The chapters with sliders (and how many widgets each builds), checked against the notebooks below.
SLIDER_PAGES = {
    "01_adversarial_examples": 2,      # ε on adversarial examples; PGD steps on the error curve
    "02_label_augmentation_targets": 1,  # δ on the K + M target
    "04_classwise_error": 1,           # class selector
    "05_delta_explorer": 2,            # δ explorer; δ on the adversarial confusion
    "07_corruptions": 1,               # corruption dropdown, a severity slider per corruption
    "09_classwise_robustness": 1,      # temperature T of Temperature-PGD
}
WIDGET_BUILDERS = ("slider_of_figures", "selector_of_sliders", "temperature_slider")


def find_chromium() -> str | None:
    """$LABELAUG_CHROMIUM, else Debian's chromium on the PATH."""
    candidate = os.environ.get("LABELAUG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    return candidate if candidate and Path(candidate).is_file() else None


CHROMIUM = find_chromium()
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
# Decided before any fixture runs, so that no book is built for a browser that is not there.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium to test the HTML with: apt-get install chromium "
                                                "(or set LABELAUG_CHROMIUM to a Chromium executable)"),
]


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002  (the server's own signature)
        pass


@pytest.fixture(scope="module")
def site(smoke_book):  # noqa: F811  (the fixture imported above)
    """Base URL of the built HTML, served on 127.0.0.1."""
    handler = functools.partial(_QuietHandler, directory=str(smoke_book.root / "_build" / "html"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


class Visit:
    """A page with everything that went wrong on it recorded."""

    def __init__(self, browser, site: str):
        self.context = browser.new_context()
        self.external: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("response", lambda r: self.errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
        self.site = site

    def _route(self, route):
        url = urlsplit(route.request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.hostname != "127.0.0.1":
            self.external.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    def open(self, path: str) -> None:
        response = self.page.goto(f"{self.site}/{path}", wait_until="networkidle")
        assert response is not None and response.ok, f"{path}: {response and response.status}"


@pytest.fixture
def visit(browser, site):
    v = Visit(browser, site)
    yield v
    v.context.close()


def test_every_page_loads_without_errors_or_other_hosts(visit, smoke_book):  # noqa: F811
    pages = ["index.html", "book/intro.html"] + [f"book/{name}.html" for name in toc_chapters(smoke_book.root)]
    for path in pages:
        visit.open(path)
        assert visit.page.locator("main h1").count() >= 1, path
    assert visit.external == [], f"requests for other hosts: {visit.external}"
    assert visit.errors == [], visit.errors


def test_math_is_typeset_by_the_local_mathjax(visit):
    visit.open("book/intro.html")
    visit.page.wait_for_selector("mjx-container", timeout=20_000)
    assert visit.page.locator("mjx-container").count() >= 3
    assert visit.external == [] and visit.errors == []


def notebook_images(notebook: Path) -> set[str]:
    """SHA-256 of every precomputed PNG in an executed notebook's saved widget state."""
    nb = nbformat.read(notebook, as_version=4)
    state = nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    return {hashlib.sha256(base64.b64decode(buffer["data"])).hexdigest()
            for model in state.values() if model["model_name"] == "ImageModel" for buffer in model["buffers"]}


SHOWN_IMAGES_SHA256 = """async (imgs) => Promise.all(imgs.filter((img) => img.offsetParent !== null).map(async (img) => {
    const bytes = await (await fetch(img.src)).arrayBuffer();
    const digest = await crypto.subtle.digest("SHA-256", bytes);
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}))"""


def shown_images(page) -> list[str]:
    """SHA-256 of each widget image the page shows now (hidden stack children left out)."""
    return page.locator("img.widget-image").evaluate_all(SHOWN_IMAGES_SHA256)


def wait_for_change(page, before: list[str], what: str) -> list[str]:
    """The shown images once they differ from ``before``; fails after 10 s."""
    for _ in range(100):
        now = shown_images(page)
        if now and now != before:
            return now
        page.wait_for_timeout(100)
    raise AssertionError(f"{what}: the shown image did not change")


@pytest.mark.parametrize("name", sorted(SLIDER_PAGES))
def test_every_control_of_a_slider_page_changes_what_is_shown(visit, smoke_book, name):  # noqa: F811
    """Each control (dropdown, then every slider it reveals) moved once or twice: the shown image changes,
    and it is one of the PNGs precomputed in the executed notebook; no other host, no console error."""
    expected = notebook_images(smoke_book.root / "book" / f"{name}.ipynb")
    visit.open(f"book/{name}.html")
    page = visit.page
    page.locator(".widget-image").first.wait_for(timeout=30_000)
    dropdowns = page.locator(".widget-dropdown select")
    assert page.locator(".widget-slider").count() + dropdowns.count() >= SLIDER_PAGES[name]
    shown = shown_images(page)
    assert shown and set(shown) <= expected, f"{name}: images shown that the notebook did not precompute"
    moved = 0
    for d in range(dropdowns.count()):
        select = dropdowns.nth(d)
        options = select.locator("option").count()
        for i in (1, options - 1) if options > 2 else (1,):
            select.select_option(index=i)
            shown = wait_for_change(page, shown, f"{name}: dropdown {d} at option {i}")
            assert set(shown) <= expected
            moved += 1
    handles = page.locator(".widget-slider .noUi-handle")
    for h in range(handles.count()):
        handle = handles.nth(h)
        if not handle.is_visible():
            continue  # a slider of a stack child not selected now (tested through the dropdown above)
        handle.focus()
        page.keyboard.press("ArrowRight")
        shown = wait_for_change(page, shown, f"{name}: slider {h} moved right")
        assert set(shown) <= expected
        page.keyboard.press("ArrowLeft")
        shown = wait_for_change(page, shown, f"{name}: slider {h} moved back")
        moved += 1
    assert moved >= SLIDER_PAGES[name]
    assert visit.external == [], f"requests for other hosts: {visit.external}"
    assert visit.errors == [], visit.errors


def test_the_slider_pages_are_the_notebooks_that_build_widgets():
    """SLIDER_PAGES (page -> number of widgets) agrees with the notebooks' sources."""
    found = {}
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        calls = sum(line.count(f"{builder}(") for c in cells if c.cell_type == "code"
                    for line in c.source.splitlines() if not line.lstrip().startswith(("from ", "import "))
                    for builder in WIDGET_BUILDERS)
        if calls:
            found[path.stem] = calls
    assert found == SLIDER_PAGES
    assert len(SLIDER_PAGES) >= 6


# --- legibility at a laptop's width (issue 22) ----------------------------------------------------

LEGIBLE_PX = 9        # the smallest text, in CSS pixels as shown, that a figure may hold
MIN_DPI = 100         # the resolution a figure is drawn at (its PNG's pHYs chunk)
VIEWPORT = {"width": 1280, "height": 900}

# For every image, table and figure of the page's article: its width against the content column's,
# whether a scroll container (overflow-x auto/scroll, no wider than the column) holds it, and for a
# PNG its pHYs resolution and the text chunk ``labelaug:min_text_px`` (the smallest text at the
# PNG's own size) that labelaug_core.report writes into every figure it renders.
LEGIBILITY_JS = """async ({LEGIBLE_PX, MIN_DPI}) => {
  const article = document.querySelector("main article") || document.querySelector("main");
  const column = article.getBoundingClientRect().width;
  const scrolled = (el) => {
    for (let p = el.parentElement; p && p !== article; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if ((o === "auto" || o === "scroll") && p.getBoundingClientRect().width <= column + 1) return true;
    }
    return false;
  };
  const png = async (src) => {
    const bytes = new Uint8Array(await (await fetch(src)).arrayBuffer());
    const view = new DataView(bytes.buffer);
    const out = {};
    for (let at = 8; at + 8 <= bytes.length;) {
      const n = view.getUint32(at), type = String.fromCharCode(...bytes.slice(at + 4, at + 8));
      if (type === "pHYs") out.dpi = view.getUint32(at + 8) * 0.0254;
      if (type === "tEXt") {
        const text = new TextDecoder("latin1").decode(bytes.slice(at + 8, at + 8 + n));
        const [key, value] = text.split("\\0");
        out[key] = value;
      }
      if (type === "IEND") break;
      at += 12 + n;
    }
    return out;
  };
  const problems = [];
  const items = article.querySelectorAll("img, table, svg:not(mjx-container svg), pre");
  for (const el of items) {
    if (el.offsetParent === null) continue;  // hidden (a slider image not shown now)
    const width = el.getBoundingClientRect().width;
    const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "");
    if (width > column + 1 && !scrolled(el)) problems.push(`${name} ${Math.round(width)} px wide in a ${Math.round(column)} px column, outside a scroll container`);
    if (el.tagName === "IMG" && (el.src.includes(".png") || el.src.startsWith("blob:") || el.src.startsWith("data:image/png"))) {
      await (el.complete ? Promise.resolve() : new Promise((r) => el.addEventListener("load", r, {once: true})));
      const meta = await png(el.src);
      const scale = width / el.naturalWidth;
      const label = el.src.startsWith("blob:") ? "a slider image" : el.src.split("/").pop().slice(0, 40);
      if (!("labelaug:min_text_px" in meta)) { problems.push(`${label}: a figure without labelaug:min_text_px (not drawn by labelaug_core.report)`); continue; }
      const shown = parseFloat(meta["labelaug:min_text_px"]) * scale;
      if (shown < LEGIBLE_PX) problems.push(`${label}: smallest text ${shown.toFixed(1)} px as shown (< ${LEGIBLE_PX})`);
      if (!(meta.dpi >= MIN_DPI - 0.5)) problems.push(`${label}: drawn at ${meta.dpi && meta.dpi.toFixed(0)} dpi (< ${MIN_DPI})`);
    }
  }
  const text = article.innerText;
  for (const word of ["Traceback", "Warning", "RuntimeWarning", "UserWarning", "DeprecationWarning"])
    if (new RegExp("\\\\b" + word + "\\\\b").test(text)) problems.push(`the page shows the word ${word}`);
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.closest("a, pre, code, mjx-container, .math")) continue;
    const typed = node.textContent.match(/\\b(chapters?|sections?|Chapters?|Sections?) \\d+(\\.\\d+)?/);
    if (typed) problems.push(`a typed cross-reference "${typed[0]}" (cite it with {ref} or {numref})`);
  }
  return problems;
}"""


def page_paths(root: Path) -> list[str]:
    """Every page of the built book: the intro, the chapters and the other Markdown pages of the toc."""
    pages = ["book/intro.html"] + [f"book/{name}.html" for name in toc_chapters(root)]
    return pages + sorted(f"book/{p.stem}.html" for p in (root / "book").glob("*.md") if p.stem != "intro")


def test_every_page_is_legible_at_a_laptops_width(visit, smoke_book):  # noqa: F811
    """At 1280 px: nothing wider than the text column outside a scroll container, figure text at
    least 9 px as shown and drawn at 100 dpi or more, no warning or traceback on the page, and no
    typed chapter or section number (they go stale when chapters move)."""
    visit.page.set_viewport_size(VIEWPORT)
    problems = []
    for path in page_paths(smoke_book.root):
        visit.open(path)
        if visit.page.locator(".widget-image").count():
            visit.page.locator(".widget-image").first.wait_for(timeout=30_000)
        limits = {"LEGIBLE_PX": LEGIBLE_PX, "MIN_DPI": MIN_DPI}  # the JavaScript's constants, from Python
        problems += [f"{path}: {p}" for p in visit.page.evaluate(LEGIBILITY_JS, limits)]
    assert not problems, "\n".join(problems)
