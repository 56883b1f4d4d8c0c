"""Playwright driving Debian's Chromium, for tests/test_browser.py.

Playwright's own browser build is never downloaded: the tests launch the
Chromium binary of Debian's `chromium` package, which `make test` installs.
"""

import os
import re
import shutil
from pathlib import Path

import requests

CHROMIUM = Path(os.getenv("DEPOSITUM_TEST_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(
    os.getenv("DEPOSITUM_TEST_SCREENSHOTS")
    or Path(__file__).resolve().parent.parent / "test-results" / "screenshots"
)
DIP_PACKAGING = "http://purl.org/net/sword-types/METSArchivematicaDIP"


def chromium_arguments():
    """Return the command-line switches for a headless Chromium under test."""
    # Without this switch, Chromium may reject a play() that no user gesture started.
    arguments = ["--autoplay-policy=no-user-gesture-required"]
    # Chromium's sandbox does not start as root, and CI runs as root.
    if os.geteuid() == 0:
        arguments.append("--no-sandbox")
    return arguments


def launch_chromium(playwright):
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=chromium_arguments()
    )


class PageProblems:
    """Console errors, uncaught exceptions and failed requests of one page."""

    def __init__(self, page):
        self.console_errors = []
        self.page_errors = []
        self.failed_requests = []
        self.error_responses = []
        page.on("console", self.on_console)
        page.on("pageerror", self.on_page_error)
        page.on("requestfailed", self.on_request_failed)
        page.on("response", self.on_response)

    def on_console(self, message):
        if message.type == "error":
            url = message.location.get("url", "")
            self.console_errors.append(f"{message.text} ({url})")

    def on_page_error(self, error):
        self.page_errors.append(str(error))

    def on_request_failed(self, request):
        self.failed_requests.append(
            f"{request.method} {request.url}: {request.failure}"
        )

    def on_response(self, response):
        if response.status >= 400:
            self.error_responses.append(f"HTTP {response.status} {response.url}")


class Screenshots:
    """Numbered full-page screenshots of one test, in a folder named after it."""

    def __init__(self, test_name):
        self.folder = SCREENSHOTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.step = 0

    def take(self, page, label):
        """Save a full-page screenshot of `page` as the next step and return its path.

        `label` names the step in the file name.
        """
        self.step += 1
        path = self.folder / f"{self.step:02d}-{label}.png"
        # Lazy images do not delay the load event, so the screenshot waits for
        # the network to go quiet, or it would show empty thumbnails.
        page.wait_for_load_state("networkidle")
        page.screenshot(path=path, full_page=True)
        return path


def deposit(server, dip, target, credentials):
    """Deposit the DIP folder `dip` by reference and wait until it ends.

    Returns the deposit status JSON, whatever the outcome.
    """
    placed = server.place(dip)
    response = requests.post(
        f"{server.url}/sword/deposit/{target}",
        headers={
            "X-Packaging": DIP_PACKAGING,
            "Content-Location": f"file:///{placed.name}",
        },
        auth=credentials,
        allow_redirects=False,
        timeout=60,
    )
    assert response.status_code == 202, response.text
    return server.wait(response.headers["Location"], timeout=120)


# The shape of the large tree: a flat series of many files, and series of
# subseries of files for depth. With the target, 50,000 descriptions in all.
TREE_SERIES = 10
TREE_SUBSERIES = 10
TREE_FILES = 99
TREE_FLAT_FILES = 39_988


def build_large_tree(target_slug):
    """Insert 49,999 descriptions below the description `target_slug`.

    Runs inside `depositum shell`, so it writes to the database of the server
    whose settings the shell uses. Returns the slug of a file three levels below
    the target, in the middle of its siblings.
    """
    from depositum.catalogue.models import Description

    def insert_children(parents, count, level, slug, title):
        """Insert `count` descriptions below each of `parents`, numbered from 0.

        `slug` and `title` are str.format templates of `parent` (the parent's
        slug) and `number`. Returns the new descriptions in order.
        """
        return Description.objects.bulk_create(
            (
                Description(
                    parent=parent,
                    slug=slug.format(parent=parent.slug, number=number),
                    title=title.format(number=number),
                    level_of_description=level,
                    position=number,
                )
                for parent in parents
                for number in range(count)
            ),
            batch_size=2000,
        )

    target = Description.objects.get(slug=target_slug)
    flat = Description.objects.create(
        parent=target,
        slug=f"{target_slug}-flat",
        title="Flat series",
        level_of_description="Series",
        position=TREE_SERIES,
    )
    insert_children(
        [flat],
        TREE_FLAT_FILES,
        "File",
        "{parent}-{number:05d}",
        "Flat file {number:05d}",
    )

    series = insert_children(
        [target], TREE_SERIES, "Series", "{parent}-s{number:02d}", "Series {number:02d}"
    )
    subseries = insert_children(
        series,
        TREE_SUBSERIES,
        "Subseries",
        "{parent}-u{number:02d}",
        "Subseries {number:02d}",
    )
    files = insert_children(
        subseries, TREE_FILES, "File", "{parent}-f{number:02d}", "File {number:02d}"
    )
    return files[len(files) // 2 + TREE_FILES // 2].slug
