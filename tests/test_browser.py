"""The catalogue, search and dashboard pages in a real browser.

Playwright drives Debian's Chromium against a live server into which real DIPs
were deposited. Every step saves a full-page screenshot under
test-results/screenshots/<test name>/ (or DEPOSITUM_TEST_SCREENSHOTS). The
pages are the same on PostgreSQL, so most tests run on SQLite only, and the
search tests run on both.
"""

import os
import re
import shutil
import time

import pytest

from tests.browser import (
    CHROMIUM,
    PageProblems,
    Screenshots,
    deposit,
    launch_chromium,
)
from tests.conftest import CAROL, LiveServer, mets_path, skip_or_fail

# The chromium fixture comes first, so a machine without Chromium skips these
# tests before any deposit.
pytestmark = [pytest.mark.live, pytest.mark.usefixtures("chromium")]

# Runs a test of the deposited catalogue on the SQLite server only.
on_sqlite = pytest.mark.parametrize("server", ["sqlite"], indirect=True)

TARGET = "browser"
TARGET_TITLE = "Browser fonds"
# The OCR text of the DSpace item (fixture 06). OCR_WORD occurs in no METS
# fixture, so a search for it can only match the OCR text.
OCR_WORD = "wildebeest"
OCR_TEXT = (
    f"Field notes, Serengeti, May 2006. At dawn the {OCR_WORD} herds crossed "
    "the river below the camp, and we counted zebra and gazelle on the far bank."
)
IMAGE_TITLE = "BBhelmet.ai"
OCR_TITLE = "bitstream_8266.pdf"
AUDIO_PATH = ["objects", "subdirectory", "14000 Caen, France - Bird in my garden"]
# What the three DIPs add below the target: 10 images (01), a series, a
# subseries and an MP3 file (05), and a PDF item (06). Each of the 12 files has
# a master digital object.
DESCRIPTIONS_BELOW = 14
DIGITAL_OBJECTS = 12


@pytest.fixture(scope="module")
def chromium():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("Playwright is not installed: run make install")
    if not CHROMIUM.exists():
        skip_or_fail(
            f"Chromium not found at {CHROMIUM}: install Debian's chromium package"
            " (make browser-packages) or set DEPOSITUM_TEST_CHROMIUM"
        )

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def open_tab(chromium):
    """Return a function that opens a page in a new browser context.

    The function takes the base URL and options of the context, and returns
    (page, PageProblems). The contexts are closed after the test.
    """
    contexts = []

    def opener(base_url, **context_options):
        context = chromium.new_context(
            base_url=base_url,
            viewport={"width": 1280, "height": 900},
            **context_options,
        )
        contexts.append(context)
        page = context.new_page()
        return page, PageProblems(page)

    yield opener
    for context in contexts:
        context.close()


@pytest.fixture
def shots(request):
    return Screenshots(request.node.name)


@pytest.fixture(scope="module")
def catalogue(server, tmp_path_factory):
    """Deposit the images, audio and OCR DIPs into a target of their own.

    The server is shared with other test modules, whose SWORD tests expect
    alice's service document to list only their target. So the target has no
    grant, and carol, a superuser, deposits into it.
    """
    from tests.dips import build_dip

    server.run("createtarget", TARGET, "--title", TARGET_TITLE)
    dips = tmp_path_factory.mktemp("browser-dips")
    statuses = {}
    for name, prefix, options in [
        ("images", "01", {}),
        ("audio", "05", {}),
        ("ocr", "06", {"ocr_text": OCR_TEXT}),
    ]:
        dip = build_dip(mets_path(prefix), dips, **options)
        status = deposit(server, dip, TARGET, CAROL[:2])
        assert status["state"] == "completed", status
        statuses[name] = status
    return statuses


def image_loaded(image):
    """Return True once the <img> `image` has been fetched and decoded."""
    image.scroll_into_view_if_needed()
    return image.evaluate(
        "img => img.decode().then(() => img.naturalWidth > 0, () => false)"
    )


def open_description(page, title):
    """Follow the link named `title` and wait for its page."""
    page.get_by_role("link", name=title, exact=True).first.click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == title


def open_tree_node(page, tree, title):
    """Open the closed node `title` of the hierarchy by its disclosure marker.

    Returns the URL of the children fragment that the page fetched for it.
    """
    summary = tree.locator("summary", has=page.get_by_role("link", name=title))
    with page.expect_response(re.compile(r"/children(\?|$)")) as response:
        # The marker sits left of the link, and a click on the link would
        # follow it instead of opening the node.
        summary.click(position={"x": 4, "y": 8})
    assert response.value.status == 200
    return response.value.url


# Browse ------------------------------------------------------------------------


@on_sqlite
def test_home_lists_target_with_counts(server, catalogue, open_tab, shots):
    page, problems = open_tab(server.url)

    page.goto("/")
    shots.take(page, "home")

    entry = page.locator(
        ".description-list > li", has=page.get_by_role("link", name=TARGET_TITLE)
    )
    assert entry.count() == 1
    text = entry.inner_text()
    assert f"{DESCRIPTIONS_BELOW} descriptions below" in text
    assert f"{DIGITAL_OBJECTS} digital objects" in text
    assert "Fonds" in text


@on_sqlite
def test_home_shows_target_thumbnail(server, catalogue, open_tab, shots):
    page, problems = open_tab(server.url)

    page.goto("/")
    shots.take(page, "home")

    entry = page.locator(
        ".description-list > li", has=page.get_by_role("link", name=TARGET_TITLE)
    )
    image = entry.locator("img")
    assert image.count() == 1
    assert image_loaded(image)


@on_sqlite
def test_target_page_shows_thumbnails(server, catalogue, open_tab, shots):
    page, problems = open_tab(server.url)
    page.goto("/")

    open_description(page, TARGET_TITLE)
    children = page.locator("section.children")
    thumbnails = children.locator("img")
    for index in range(thumbnails.count()):
        assert image_loaded(thumbnails.nth(index)), thumbnails.nth(index).get_attribute(
            "src"
        )
    shots.take(page, "target")

    # Every image of fixture 01 comes with a thumbnail, and the PDF of 06 has
    # one made from its first page.
    assert thumbnails.count() >= 11
    assert problems.error_responses == []


@on_sqlite
def test_breadcrumb_and_sibling_links(server, catalogue, open_tab, shots):
    page, problems = open_tab(server.url)
    page.goto(f"/descriptions/{TARGET}")

    open_description(page, IMAGE_TITLE)
    shots.take(page, "image-description")

    breadcrumb = page.get_by_role("navigation", name="Breadcrumb")
    assert breadcrumb.get_by_role("link", name="Catalogue").count() == 1
    assert breadcrumb.get_by_role("link", name=TARGET_TITLE).count() == 1
    current = breadcrumb.locator("[aria-current=page]")
    assert current.inner_text() == IMAGE_TITLE

    siblings = page.get_by_role("navigation", name="Previous and next description")
    next_link = siblings.locator("a[rel=next]")
    next_title = next_link.text_content().strip().removeprefix("Next").strip()
    next_link.click()
    page.wait_for_load_state()
    shots.take(page, "next-sibling")
    assert page.locator("h1").inner_text() == next_title

    previous_link = page.get_by_role(
        "navigation", name="Previous and next description"
    ).locator("a[rel=prev]")
    assert IMAGE_TITLE in previous_link.text_content()
    previous_link.click()
    page.wait_for_load_state()
    shots.take(page, "previous-sibling")
    assert page.locator("h1").inner_text() == IMAGE_TITLE

    breadcrumb.get_by_role("link", name=TARGET_TITLE).click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == TARGET_TITLE


@on_sqlite
def test_tree_loads_children_when_opened(server, catalogue, open_tab, shots):
    page, problems = open_tab(server.url)
    page.goto(f"/descriptions/{TARGET}")
    tree = page.get_by_role("navigation", name="Hierarchy")
    series, subseries, audio_file = AUDIO_PATH

    # A closed node contains only a link to its page until it is opened.
    assert tree.get_by_role("link", name=subseries, exact=True).count() == 0
    shots.take(page, "tree-closed")

    url = open_tree_node(page, tree, series)
    assert url.endswith(f"/descriptions/{series}/children")
    tree.get_by_role("link", name=subseries, exact=True).wait_for()
    shots.take(page, "tree-series-open")

    open_tree_node(page, tree, subseries)
    tree.get_by_role("link", name=audio_file, exact=True).wait_for()
    shots.take(page, "tree-subseries-open")

    tree.get_by_role("link", name=audio_file, exact=True).click()
    page.wait_for_load_state()
    shots.take(page, "audio-description")
    assert page.locator("h1").inner_text() == audio_file
    tree = page.get_by_role("navigation", name="Hierarchy")
    for ancestor in (TARGET_TITLE, series, subseries):
        assert tree.get_by_role("link", name=ancestor, exact=True).count() == 1
    assert problems.console_errors == []


# Search ------------------------------------------------------------------------
# Search runs on both backends, because SQLite's FTS5 and PostgreSQL's text search
# match, rank and highlight differently.


def test_search_finds_file_by_ocr_word(server, catalogue, open_tab, shots):
    page, problems = open_tab(server.url)
    page.goto("/")

    field = page.get_by_label("Search", exact=True)
    assert field.get_attribute("name") == "q"
    field.fill(OCR_WORD)
    shots.take(page, "query-typed")
    field.press("Enter")
    page.wait_for_load_state()
    shots.take(page, "results")

    assert "/search" in page.url
    assert f"q={OCR_WORD}" in page.url
    result = page.get_by_role("link", name=OCR_TITLE, exact=True)
    assert result.count() == 1
    highlights = page.locator("mark")
    assert highlights.count() >= 1
    assert highlights.first.inner_text().lower() == OCR_WORD

    result.click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == OCR_TITLE
    ocr = page.locator("details", has_text="OCR")
    ocr.locator("summary").click()
    shots.take(page, "ocr-text")
    assert OCR_WORD in ocr.inner_text()


def test_search_facet_narrows_results(server, catalogue, open_tab, shots):
    page, problems = open_tab(server.url)
    # The ten images of fixture 01 have the stand-in OCR sentence, which
    # contains "recognised", and the item of 06 has OCR_TEXT.
    page.goto(f"/search?q=recognised OR {OCR_WORD}")
    shots.take(page, "results")
    results = page.locator(".result-list > li")
    assert results.count() >= 11

    facets = page.get_by_role("complementary", name="Refine")
    media_type = facets.get_by_role("region", name="Media type")
    text_value = media_type.locator("li", has=page.get_by_role("link", name="Text"))
    expected = int(text_value.locator(".count").inner_text())
    text_value.get_by_role("link", name="Text").click()
    page.wait_for_load_state()
    shots.take(page, "text-facet-applied")

    assert results.count() == expected
    assert page.get_by_role("link", name=OCR_TITLE, exact=True).count() == 1
    active = page.get_by_role("list", name="Active filters")
    assert "media type: text" in active.inner_text().lower()
    assert problems.error_responses == []


# Viewer and player -------------------------------------------------------------


@on_sqlite
def test_image_viewer_zooms(server, catalogue, open_tab, shots):
    page, problems = open_tab(server.url)
    page.goto(f"/descriptions/{TARGET}")
    open_description(page, IMAGE_TITLE)

    viewer = page.get_by_role("region", name="Image viewer")
    image = viewer.locator("img")
    assert image_loaded(image)
    scale = viewer.locator("output")
    assert scale.inner_text() == "100%"
    shots.take(page, "viewer")

    viewer.get_by_role("button", name="Zoom in").click()
    assert scale.inner_text() == "125%"
    assert "scale(1.25)" in image.evaluate("img => img.style.transform")
    shots.take(page, "zoomed-in")

    viewer.get_by_role("button", name="Zoom out").click()
    assert scale.inner_text() == "100%"
    assert viewer.get_by_role("button", name="Zoom out").is_disabled()

    frame = viewer.get_by_role("group")
    frame.focus()
    page.keyboard.press("+")
    page.keyboard.press("+")
    assert scale.inner_text() == "156%"
    before = image.evaluate("img => img.style.transform")
    page.keyboard.press("ArrowRight")
    assert image.evaluate("img => img.style.transform") != before
    shots.take(page, "keyboard-zoom-and-pan")

    page.keyboard.press("0")
    assert scale.inner_text() == "100%"
    assert problems.console_errors == []


@on_sqlite
def test_audio_player_plays(server, catalogue, open_tab, shots):
    page, problems = open_tab(server.url)
    page.goto(f"/descriptions/{TARGET}")
    for title in AUDIO_PATH:
        open_description(page, title)

    audio = page.locator("audio")
    assert audio.count() == 1
    state = audio.evaluate(
        """audio => new Promise((resolve, reject) => {
            const report = () => resolve({
                readyState: audio.readyState,
                duration: audio.duration,
                source: audio.currentSrc,
            });
            if (audio.readyState >= HTMLMediaElement.HAVE_METADATA) {
                report();
                return;
            }
            audio.addEventListener("loadedmetadata", report);
            audio.addEventListener("error", () => reject(audio.error.message));
            audio.load();
        })"""
    )
    assert state["readyState"] >= 1
    assert state["duration"] > 0
    assert state["source"].endswith(".mp3")

    playing = audio.evaluate("audio => audio.play().then(() => !audio.paused)")
    assert playing is True
    page.wait_for_function(
        "audio => audio.currentTime > 0", arg=audio.element_handle(), timeout=10_000
    )
    shots.take(page, "playing")
    assert problems.error_responses == []


# Dashboard ---------------------------------------------------------------------


def log_in(page, credentials):
    """Log in through the login page that /dashboard sends a visitor to."""
    page.goto("/dashboard")
    page.get_by_label("Username").fill(credentials[0])
    page.get_by_label("Password").fill(credentials[1])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


@on_sqlite
def test_dashboard_filters_and_retries(server, catalogue, build, open_tab, shots):
    # A DIP whose access copies are missing fails. Its folder stays in the
    # deposit directory, so adding the access copies lets a retry complete.
    broken = build("10", access_copies=False)
    failed = deposit(server, broken, TARGET, CAROL[:2])
    assert failed["state"] == "failed", failed
    complete = build("10", dest=broken.parent / "complete")
    placed = server.deposit_dir / broken.name
    shutil.copytree(complete / "objects", placed / "objects", dirs_exist_ok=True)

    page, problems = open_tab(server.url)
    log_in(page, CAROL)
    shots.take(page, "dashboard")
    assert page.url.endswith("/dashboard")
    table = page.get_by_role("table", name="Deposits")
    assert table.get_by_role("row").count() > 1

    page.get_by_label("State", exact=True).select_option("failed")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state()
    shots.take(page, "failed-deposits")
    assert "state=failed" in page.url
    rows = table.locator("tbody tr")
    states = [rows.nth(i).get_attribute("data-state") for i in range(rows.count())]
    assert states
    assert set(states) == {"failed"}

    row = table.locator(f"tr#deposit-{failed['id']}")
    assert row.count() == 1
    row.get_by_role("button", name="Retry").click()
    page.wait_for_load_state()
    shots.take(page, "retried")
    assert (
        page.get_by_role("status")
        .inner_text()
        .startswith(f"Deposit {failed['id']} is queued again")
    )

    status = server.wait(f"{server.url}/api/deposits/{failed['uuid']}", timeout=120)
    assert status["state"] == "completed", status
    page.goto("/dashboard?state=completed")
    shots.take(page, "completed-deposits")
    assert table.locator(f"tr#deposit-{failed['id']}").count() == 1


# Accessibility -----------------------------------------------------------------

MISSING_ALT = "imgs => imgs.filter(i => !i.hasAttribute('alt')).map(i => i.outerHTML)"
UNLABELLED_FIELDS = """fields => fields
    .filter(f => f.type !== "hidden" && f.type !== "submit" && f.type !== "button")
    .filter(f => !(f.labels && f.labels.length) && !f.getAttribute("aria-label")
        && !f.getAttribute("aria-labelledby") && !f.title)
    .map(f => f.outerHTML)"""


def catalogue_paths(page):
    """Visit the main catalogue pages and yield a name for each once it loads."""
    page.goto("/")
    yield "home"
    page.goto(f"/descriptions/{TARGET}")
    yield "target"
    open_description(page, IMAGE_TITLE)
    yield "image"
    page.goto(f"/descriptions/{TARGET}")
    open_description(page, OCR_TITLE)
    yield "ocr-item"
    page.goto(f"/descriptions/{TARGET}")
    for title in AUDIO_PATH:
        open_description(page, title)
    yield "audio"
    page.goto(f"/search?q={OCR_WORD}")
    yield "search"


@on_sqlite
def test_images_and_fields_are_labelled(server, catalogue, open_tab, shots):
    page, problems = open_tab(server.url)
    for name in catalogue_paths(page):
        shots.take(page, name)
        assert page.eval_on_selector_all("img", MISSING_ALT) == [], name
        fields = page.eval_on_selector_all("input, select, textarea", UNLABELLED_FIELDS)
        assert fields == [], name

    log_in(page, CAROL)
    shots.take(page, "dashboard")
    assert page.eval_on_selector_all("img", MISSING_ALT) == []
    assert page.eval_on_selector_all("input, select, textarea", UNLABELLED_FIELDS) == []


@on_sqlite
def test_pages_log_no_errors(server, catalogue, open_tab, shots):
    page, problems = open_tab(server.url)
    for name in catalogue_paths(page):
        page.wait_for_load_state("networkidle")
        shots.take(page, name)
        assert problems.page_errors == [], name
        assert problems.failed_requests == [], name
        assert problems.error_responses == [], name
        assert problems.console_errors == [], name


@on_sqlite
def test_site_serves_icon(server, catalogue, open_tab, shots):
    page, problems = open_tab(server.url)
    page.goto("/")
    shots.take(page, "home")

    # A browser requests /favicon.ico unless the page names an icon.
    icon = page.locator("link[rel~=icon]")
    url = icon.first.get_attribute("href") if icon.count() else "/favicon.ico"
    response = page.request.get(url)
    assert response.status == 200, url


def focus_order(page, limit=80):
    """Press Tab `limit` times and return a description of each focused element."""
    stops = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        stops.append(
            page.evaluate(
                """() => {
                    const element = document.activeElement;
                    return {
                        tag: element.tagName.toLowerCase(),
                        name: element.getAttribute("name") || "",
                        text: (element.innerText || "").trim().slice(0, 80),
                        inTree: Boolean(element.closest("nav.tree")),
                    };
                }"""
            )
        )
    return stops


@on_sqlite
def test_keyboard_reaches_tree(server, catalogue, open_tab, shots):
    page, problems = open_tab(server.url)
    page.goto(f"/descriptions/{TARGET}")

    stops = focus_order(page)
    tree_stops = [stop for stop in stops if stop["inTree"]]
    assert tree_stops, stops
    assert any(stop["text"] == AUDIO_PATH[0] for stop in tree_stops), tree_stops

    # A focused node opens with Enter, as a <summary> does.
    summary = page.get_by_role("navigation", name="Hierarchy").locator(
        "summary", has=page.get_by_role("link", name=AUDIO_PATH[0], exact=True)
    )
    summary.focus()
    with page.expect_response(re.compile(r"/children(\?|$)")):
        page.keyboard.press("Enter")
    page.get_by_role("link", name=AUDIO_PATH[1], exact=True).wait_for()
    shots.take(page, "tree-opened-with-keyboard")


@on_sqlite
def test_keyboard_reaches_search_field(server, catalogue, open_tab, shots):
    page, problems = open_tab(server.url)
    page.goto("/")

    stops = focus_order(page, limit=20)
    shots.take(page, "home")
    assert any(stop["name"] == "q" for stop in stops), stops


@on_sqlite
def test_pages_work_without_javascript(server, catalogue, open_tab, shots):
    page, problems = open_tab(server.url, java_script_enabled=False)
    page.goto(f"/descriptions/{TARGET}")
    shots.take(page, "target")

    assert page.locator("h1").inner_text() == TARGET_TITLE
    tree = page.get_by_role("navigation", name="Hierarchy")
    series = AUDIO_PATH[0]
    assert tree.get_by_role("link", name=series, exact=True).count() == 1

    # Without the script, opening a node shows the link to its children's list.
    tree.locator("summary", has=page.get_by_role("link", name=series)).click(
        position={"x": 4, "y": 8}
    )
    fallback = tree.get_by_role("link", name=f"Child descriptions of {series}")
    assert fallback.count() == 1
    shots.take(page, "series-open")
    fallback.click()
    page.wait_for_load_state()
    shots.take(page, "series-children")
    assert page.locator("h1").inner_text() == series
    children = page.locator("section.children")
    assert children.get_by_role("link", name=AUDIO_PATH[1], exact=True).count() == 1

    open_description(page, AUDIO_PATH[1])
    open_description(page, AUDIO_PATH[2])
    shots.take(page, "audio-description")
    assert page.locator("audio").count() == 1


# Speed -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def large_tree(tmp_path_factory):
    """Start a live server with a target `large` of 50,000 descriptions.

    The count includes the target. The other tests share their server, so the
    large tree gets its own. Yields (server, slug of a file three levels below
    the target).
    """
    data_dir = tmp_path_factory.mktemp("server-large-tree")
    env = dict(os.environ)
    env.update(
        {
            "DEPOSITUM_DATA_DIR": str(data_dir),
            "DEPOSITUM_LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "depositum.settings",
        }
    )
    env.pop("DATABASE_URL", None)
    env.pop("DEPOSITUM_QUEUE_URL", None)
    live = LiveServer(data_dir, env)
    try:
        live.start()
        live.run("createtarget", "large", "--title", "Large fonds")
        started = time.monotonic()
        result = live.run(
            "shell",
            "-c",
            "from tests.browser import build_large_tree; "
            "print(build_large_tree('large'))",
        )
        print(f"\nBuilt 50,000 descriptions in {time.monotonic() - started:.1f}s")
        yield live, result.stdout.strip().splitlines()[-1]
    finally:
        live.stop()


NAVIGATION_TIMING = """() => {
    const [entry] = performance.getEntriesByType("navigation");
    return {
        server: entry.responseStart - entry.requestStart,
        loaded: entry.loadEventEnd - entry.startTime,
        bytes: entry.transferSize,
    };
}"""


def test_large_tree_pages_render(large_tree, open_tab, shots, capsys):
    server, deep_slug = large_tree
    page, problems = open_tab(server.url)
    timings = []

    for name, path in [
        ("target", "/descriptions/large"),
        ("flat-series", "/descriptions/large-flat"),
        ("flat-file", "/descriptions/large-flat-20000"),
        ("deep-file", f"/descriptions/{deep_slug}"),
    ]:
        response = page.goto(path)
        assert response.status == 200, path
        page.wait_for_load_state("load")
        shots.take(page, name)
        timings.append((name, page.evaluate(NAVIGATION_TIMING)))

        assert page.locator("h1").count() == 1
        tree = page.get_by_role("navigation", name="Hierarchy")
        assert tree.count() == 1
        # The hierarchy shows a window of the siblings, not all of them.
        assert tree.get_by_role("link").count() < 500

    # Catalogue, the target, a series and a subseries.
    crumbs = page.get_by_role("navigation", name="Breadcrumb").get_by_role("link")
    assert crumbs.count() == 4

    page.goto("/descriptions/large-flat-20000")
    siblings = page.get_by_role("navigation", name="Previous and next description")
    assert "Flat file 19999" in siblings.locator("a[rel=prev]").text_content()
    assert "Flat file 20001" in siblings.locator("a[rel=next]").text_content()

    # Opening the flat series loads one page of its 39,988 files, and "More
    # child descriptions" appends the next page in place.
    page.goto("/descriptions/large")
    tree = page.get_by_role("navigation", name="Hierarchy")
    open_tree_node(page, tree, "Flat series")
    flat_files = tree.get_by_role("link", name=re.compile(r"^Flat file \d+$"))
    flat_files.first.wait_for()
    first_page = flat_files.count()
    assert 0 < first_page < 500
    with page.expect_response(re.compile(r"/children\?page=2")):
        tree.get_by_role("link", name="More child descriptions").click()
    page.wait_for_function(
        f"() => document.querySelectorAll('nav.tree a').length > {first_page}"
    )
    shots.take(page, "flat-series-second-page")
    assert flat_files.count() == 2 * first_page
    focused = page.evaluate("() => document.activeElement.textContent.trim()")
    assert focused == f"Flat file {first_page:05d}"

    with capsys.disabled():
        print("\nPages of a tree of 50,000 descriptions (SQLite, one client):")
        for name, timing in timings:
            print(
                f"  {name:12} server {timing['server']:7.1f} ms"
                f"  loaded {timing['loaded']:7.1f} ms  {timing['bytes']:8d} bytes"
            )
