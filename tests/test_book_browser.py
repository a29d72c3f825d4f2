"""The built smoke book in headless Chromium: pages load cleanly, offline, and the δ slider works.

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
SLIDER_PAGE = "book/02_label_augmentation_targets.html"


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


def expected_slider_images(smoke_book) -> tuple[list[str], list[str]]:  # noqa: F811
    """Slider labels and SHA-256 of each precomputed PNG, in slider order, from the executed notebook."""
    nb = nbformat.read(smoke_book.root / "book" / "02_label_augmentation_targets.ipynb", as_version=4)
    state = nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    [stack] = [m for m in state.values() if m["model_name"] == "StackModel"]
    [slider] = [m for m in state.values() if m["model_name"] == "SelectionSliderModel"]
    digests = []
    for ref in stack["state"]["children"]:
        [buffer] = state[ref.removeprefix("IPY_MODEL_")]["buffers"]
        digests.append(hashlib.sha256(base64.b64decode(buffer["data"])).hexdigest())
    return slider["state"]["_options_labels"], digests


SHOWN_IMAGE_SHA256 = """async (img) => {
    const bytes = await (await fetch(img.src)).arrayBuffer();
    const digest = await crypto.subtle.digest("SHA-256", bytes);
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}"""


def test_delta_slider_switches_images_without_a_kernel(visit, smoke_book):  # noqa: F811
    labels, digests = expected_slider_images(smoke_book)
    assert len(set(digests)) == len(digests) >= 2
    visit.open(SLIDER_PAGE)
    widget = visit.page.locator(".widget-vbox", has=visit.page.locator(".widget-slider")).first
    handle = widget.locator(".noUi-handle")
    handle.wait_for(timeout=30_000)
    readout, image = widget.locator(".widget-readout"), widget.locator("img.widget-image")
    assert readout.inner_text() == labels[0]
    assert image.count() == 1 and image.evaluate(SHOWN_IMAGE_SHA256) == digests[0]
    handle.focus()
    for i in range(1, len(labels)):
        visit.page.keyboard.press("ArrowRight")
        visit.page.wait_for_function("([el, text]) => el.innerText === text", arg=[readout.element_handle(), labels[i]])
        assert image.evaluate(SHOWN_IMAGE_SHA256) == digests[i], f"slider at {labels[i]} shows another image"
    visit.page.keyboard.press("ArrowLeft")
    visit.page.wait_for_function("([el, text]) => el.innerText === text", arg=[readout.element_handle(), labels[-2]])
    assert image.evaluate(SHOWN_IMAGE_SHA256) == digests[-2]
    assert visit.external == [] and visit.errors == [], visit.external + visit.errors
