import datetime
import hashlib
import io
import mimetypes
import re
import struct
import uuid
import zlib

import pytest
import requests
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image, ImageDraw

from depositum.catalogue.models import (
    AIP,
    Description,
    DigitalFile,
    DigitalObject,
    PREMISEvent,
    PublicationStatus,
)
from depositum.deposits.models import Deposit, Source, State
from tests.conftest import ALICE

pytestmark = pytest.mark.django_db

DRAFT = PublicationStatus.DRAFT
AIP_UUID = uuid.UUID("5b3f4e3c-0d2a-4c8e-9d7e-2f6a1b9c0e11")
OBJECT_UUID = uuid.UUID("a1f0c2d4-6b8e-4f10-9a2c-3e5d7f9b1c20")
JPEG_BYTES = b"\xff\xd8\xff\xe0fake jpeg"


def make_description(slug, parent=None, **fields):
    fields.setdefault("title", slug.replace("-", " ").capitalize())
    return Description.objects.create(slug=slug, parent=parent, **fields)


def make_digital_object(description, usage, file, mime_type="image/jpeg"):
    return DigitalObject.objects.create(
        description=description,
        usage=usage,
        file=file,
        name=file.rsplit("/", 1)[-1],
        mime_type=mime_type,
        size=len(JPEG_BYTES),
        checksum="ab" * 32,
    )


def write_media_file(media_root, relative_path, content=JPEG_BYTES):
    path = media_root / relative_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def store_file(media_root, description, usage, relative_path, content, mime_type=""):
    """Write a media file and its DigitalObject row, with its real size and hash."""
    write_media_file(media_root, relative_path, content)
    return DigitalObject.objects.create(
        description=description,
        usage=usage,
        file=relative_path,
        name=relative_path.rsplit("/", 1)[-1],
        mime_type=mime_type or mimetypes.guess_type(relative_path)[0],
        size=len(content),
        checksum=hashlib.sha256(content).hexdigest(),
    )


def image_bytes(size, image_format="JPEG", mode="RGB"):
    image = Image.new(mode, size, "white")
    ImageDraw.Draw(image).rectangle((0, 0, size[0] // 2, size[1] // 2), "navy")
    output = io.BytesIO()
    image.save(output, image_format)
    return output.getvalue()


def pdf_bytes(page_size=(612, 792)):
    """Return a one-page PDF that Pillow writes from an image."""
    page = Image.new("RGB", page_size, "white")
    draw = ImageDraw.Draw(page)
    draw.text((40, 40), "Register of ships, 1851", fill="black")
    draw.rectangle((40, 80, page_size[0] - 40, 160), fill="black")
    output = io.BytesIO()
    page.save(output, "PDF", resolution=72)
    return output.getvalue()


def png_header_bytes(width, height):
    """Return a PNG that declares `width` x `height` pixels but contains one row.

    Pillow reads the size from the header, so the file trips its
    decompression-bomb check without taking memory to build.
    """

    def chunk(kind, data):
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + bytes(width))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


def served_image(response):
    """Return the image of a streamed response, opened with Pillow."""
    return Image.open(io.BytesIO(b"".join(response.streaming_content)))


def page_slugs(response):
    return [description.slug for description in response.context["page_obj"]]


@pytest.fixture
def alice():
    """A staff user, to whom drafts are visible."""
    return User.objects.create_user("alice", "alice@example.org", "pw", is_staff=True)


@pytest.fixture
def bob():
    """A depositor without staff status."""
    return User.objects.create_user("bob", "bob@example.org", "pw")


@pytest.fixture
def media_root(settings, tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture
def fonds():
    return make_description(
        "harbour-office",
        title="Harbour Office fonds",
        level_of_description="Fonds",
        identifier="HO",
        date_display="1850-1920",
        extent_and_medium="12 boxes",
        creators=["Harbour Office", "Port Authority"],
        scope_and_content="Registers of ships entering the harbour.",
        subject_access_points=["Shipping"],
        languages=["eng"],
    )


@pytest.fixture
def series(fonds):
    return make_description(
        "ship-registers", fonds, title="Ship registers", level_of_description="Series"
    )


@pytest.fixture
def item(series):
    return make_description(
        "register-1851", series, title="Register 1851", level_of_description="Item"
    )


@pytest.fixture
def aip():
    return AIP.objects.create(
        uuid=AIP_UUID, name="harbour-registers", ingested_at=timezone.now()
    )


@pytest.fixture
def digital_file(item, aip):
    digital_file = DigitalFile.objects.create(
        description=item,
        aip=aip,
        object_uuid=OBJECT_UUID,
        relative_path="objects/register-1851.tif",
        original_name="register-1851.tif",
        original_size=2048,
        format_puid="fmt/353",
        format_name="Tagged Image File Format",
        mime_type="image/tiff",
        checksum="cd" * 32,
        checksum_type="sha256",
    )
    PREMISEvent.objects.create(
        digital_file=digital_file,
        event_type="ingestion",
        event_datetime=datetime.datetime(2024, 5, 1, 9, 30, tzinfo=datetime.UTC),
        event_outcome="Positive",
    )
    return digital_file


@pytest.fixture
def deposit(alice, fonds):
    return Deposit.objects.create(
        state=State.PROCESSING,
        target=fonds,
        target_slug=fonds.slug,
        depositor=alice,
        packaging="http://purl.org/net/sword-types/METSArchivematicaDIP",
        source=Source.REFERENCE,
        path="/srv/deposits/harbour-registers-5b3f4e3c",
        progress_done=3,
        progress_total=10,
    )


# Home page


def test_it_lists_published_top_level_descriptions(client, fonds, series):
    make_description("closed-fonds", title="Closed fonds", publication_status=DRAFT)

    response = client.get("/")

    assert page_slugs(response) == ["harbour-office"]


def test_it_lists_drafts_for_staff(client, alice, fonds):
    make_description("closed-fonds", title="Closed fonds", publication_status=DRAFT)
    client.force_login(alice)

    response = client.get("/")

    assert page_slugs(response) == ["closed-fonds", "harbour-office"]


def test_it_counts_visible_descriptions_below(client, fonds, series, item):
    closed = make_description("closed-series", fonds, publication_status=DRAFT)
    make_description("closed-file", closed, publication_status=DRAFT)
    make_digital_object(item, "master", "aips/hr/objects/register.jpg")

    response = client.get("/")
    top = response.context["page_obj"][0]

    assert top.descendant_count == 2
    assert top.digital_object_count == 1
    assert "2 descriptions below" in response.content.decode()
    assert "1 digital object" in response.content.decode()


def test_it_counts_drafts_below_for_staff(client, alice, fonds, series, item):
    closed = make_description("closed-series", fonds, publication_status=DRAFT)
    make_digital_object(closed, "master", "aips/hr/objects/closed.jpg")
    client.force_login(alice)

    response = client.get("/")
    top = response.context["page_obj"][0]

    assert top.descendant_count == 3
    assert top.digital_object_count == 1


def test_it_borrows_thumbnail_for_fonds(client, media_root, fonds, series, item):
    store_file(media_root, item, "master", "hr/register.pdf", pdf_bytes())

    html = client.get("/").content.decode()

    assert '<img class="thumbnail" src="/descriptions/register-1851/thumbnail"' in html


def test_it_borrows_no_draft_thumbnail(client, fonds, series, draft_item):
    html = client.get("/").content.decode()

    assert '<img class="thumbnail"' not in html


def test_it_shows_recent_deposits_to_staff(client, alice, deposit):
    client.force_login(alice)

    response = client.get("/")

    assert f'href="/deposits/{deposit.uuid}"' in response.content.decode()


def test_it_hides_recent_deposits_from_anonymous_users(client, deposit):
    response = client.get("/")

    assert f'href="/deposits/{deposit.uuid}"' not in response.content.decode()


# Description page


def test_it_shows_breadcrumb_of_ancestors(client, item):
    response = client.get("/descriptions/register-1851")
    html = response.content.decode()

    assert '<a href="/descriptions/harbour-office">Harbour Office fonds</a>' in html
    assert '<a href="/descriptions/ship-registers">Ship registers</a>' in html
    assert '<li aria-current="page">Register 1851</li>' in html


def test_it_hides_title_of_draft_ancestor(client, series, item):
    series.publication_status = DRAFT
    series.save()

    response = client.get("/descriptions/register-1851")
    html = response.content.decode()

    assert response.status_code == 200
    assert "Unpublished description" in html
    assert "Ship registers" not in html


def test_it_shows_title_and_level_of_description(client, fonds):
    response = client.get("/descriptions/harbour-office")
    html = response.content.decode()

    assert "<h1>Harbour Office fonds</h1>" in html
    assert '<p class="level">Fonds</p>' in html


def test_it_shows_only_areas_with_values(client, fonds):
    response = client.get("/descriptions/harbour-office")

    headings = [area["heading"] for area in response.context["areas"]]
    assert headings == [
        "Identity statement",
        "Context",
        "Content and structure",
        "Conditions of access and use",
        "Access points",
    ]


def test_it_shows_description_fields(client, fonds):
    response = client.get("/descriptions/harbour-office")
    html = response.content.decode()

    assert "<dt>Scope and content</dt>" in html
    assert "Registers of ships entering the harbour." in html
    assert "<li>Port Authority</li>" in html
    assert "12 boxes" in html
    assert "1850-1920" in html


def test_it_shows_date_range_without_dates_text(client):
    make_description(
        "logbook",
        start_date=datetime.date(1901, 1, 1),
        end_date=datetime.date(1905, 12, 31),
    )

    response = client.get("/descriptions/logbook")

    assert "1901-01-01 – 1905-12-31" in response.content.decode()


def test_it_lists_children_with_levels(client, fonds, series):
    response = client.get("/descriptions/harbour-office")
    html = response.content.decode()

    assert page_slugs(response) == ["ship-registers"]
    assert '<a href="/descriptions/ship-registers">Ship registers</a>' in html
    assert "Series" in html


def test_it_paginates_children_by_50(client, fonds):
    Description.objects.bulk_create(
        Description(parent=fonds, slug=f"box-{n:02}", title=f"Box {n:02}", position=n)
        for n in range(51)
    )

    first = client.get("/descriptions/harbour-office")
    second = client.get("/descriptions/harbour-office?page=2")

    assert len(page_slugs(first)) == 50
    assert 'href="?page=2"' in first.content.decode()
    assert page_slugs(second) == ["box-50"]
    assert "Page 2 of 2" in second.content.decode()


def test_it_queries_independently_of_child_count(client, media_root, fonds):
    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            client.get("/descriptions/harbour-office")
        return len(queries)

    def add_children(start, stop):
        for n in range(start, stop):
            child = make_description(f"box-{n:02}", fonds, position=n)
            make_digital_object(child, "thumbnail", f"thumbnails/box-{n:02}.jpg")

    add_children(0, 2)
    few = count_queries()
    add_children(2, 30)
    many = count_queries()

    assert many == few


def test_it_returns_404_for_draft_to_anonymous_user(client):
    make_description("closed-fonds", publication_status=DRAFT)

    response = client.get("/descriptions/closed-fonds")

    assert response.status_code == 404


def test_it_shows_draft_to_staff(client, alice):
    make_description("closed-fonds", publication_status=DRAFT)
    client.force_login(alice)

    response = client.get("/descriptions/closed-fonds")

    assert response.status_code == 200


def test_it_returns_404_for_unknown_slug(client):
    response = client.get("/descriptions/no-such-fonds")

    assert response.status_code == 404


def test_it_shows_master_image_in_viewer(client, media_root, item):
    store_file(media_root, item, "master", "hr/register.jpg", image_bytes((800, 600)))

    response = client.get("/descriptions/register-1851")
    html = response.content.decode()

    assert '<section class="viewer" aria-label="Image viewer" data-viewer>' in html
    assert (
        '<img class="viewer-image" src="/media/hr/register.jpg" alt="Register 1851">'
    ) in html
    assert '<button type="button" data-zoom="in">Zoom in</button>' in html
    assert '<button type="button" data-zoom="out">Zoom out</button>' in html
    assert '<a href="/media/hr/register.jpg"><img' in html


@pytest.mark.parametrize(
    ("name", "content", "mime_type"),
    [
        ("register.tif", image_bytes((800, 600), "TIFF"), "image/tiff"),
        ("register.bmp", image_bytes((800, 600), "BMP"), "image/bmp"),
        ("register.jpg", image_bytes((2400, 1800)), "image/jpeg"),
    ],
)
def test_it_shows_reference_image_in_viewer(
    client, media_root, item, name, content, mime_type
):
    store_file(media_root, item, "master", f"hr/{name}", content, mime_type)

    response = client.get("/descriptions/register-1851")

    assert (
        '<img class="viewer-image" src="/descriptions/register-1851/reference"'
        ' alt="Register 1851">'
    ) in response.content.decode()


def test_it_links_thumbnail_to_pdf_master(client, item):
    make_digital_object(
        item, "master", "aips/hr/objects/register.pdf", "application/pdf"
    )
    make_digital_object(item, "thumbnail", "aips/hr/thumbnails/register.jpg")

    response = client.get("/descriptions/register-1851")
    html = response.content.decode()

    assert '<a class="preview" href="/media/aips/hr/objects/register.pdf">' in html
    assert 'src="/descriptions/register-1851/thumbnail" alt="Register 1851"' in html
    assert "application/pdf" in html


def test_it_shows_technical_metadata_in_details(client, digital_file):
    response = client.get("/descriptions/register-1851")
    html = response.content.decode()

    assert '<details class="technical">' in html
    assert "Tagged Image File Format" in html
    assert "fmt/353" in html
    assert "<td>ingestion</td>" in html


# Description API


def test_it_returns_description_fields_as_json(client, fonds):
    response = client.get("/api/descriptions/harbour-office")
    body = response.json()

    assert body["slug"] == "harbour-office"
    assert body["title"] == "Harbour Office fonds"
    assert body["level_of_description"] == "Fonds"
    assert body["identifier"] == "HO"
    assert body["date_display"] == "1850-1920"
    assert body["creators"] == ["Harbour Office", "Port Authority"]
    assert body["scope_and_content"] == "Registers of ships entering the harbour."
    assert body["subject_access_points"] == ["Shipping"]
    assert body["access_conditions"] == ""
    assert body["publication_status"] == "published"


def test_it_returns_parent_slug(client, series):
    response = client.get("/api/descriptions/ship-registers")

    assert response.json()["parent"] == "harbour-office"


def test_it_returns_null_parent_for_top_level_description(client, fonds):
    response = client.get("/api/descriptions/harbour-office")

    assert response.json()["parent"] is None


def test_it_returns_visible_child_slugs_in_order(client, fonds):
    make_description("box-b", fonds, position=2)
    make_description("box-a", fonds, position=1)
    make_description("box-closed", fonds, position=3, publication_status=DRAFT)

    response = client.get("/api/descriptions/harbour-office")

    assert response.json()["children"] == ["box-a", "box-b"]


def test_it_returns_absolute_url(client, fonds):
    response = client.get("/api/descriptions/harbour-office")

    assert response.json()["url"] == "http://testserver/descriptions/harbour-office"


def test_it_returns_digital_objects_with_media_urls(client, item):
    make_digital_object(item, "thumbnail", "aips/hr/thumbnails/register.jpg")
    make_digital_object(item, "master", "aips/hr/objects/register.jpg")

    response = client.get("/api/descriptions/register-1851")

    assert response.json()["digital_objects"] == [
        {
            "usage": "master",
            "name": "register.jpg",
            "mime_type": "image/jpeg",
            "size": len(JPEG_BYTES),
            "checksum": "ab" * 32,
            "url": "http://testserver/media/aips/hr/objects/register.jpg",
        },
        {
            "usage": "thumbnail",
            "name": "register.jpg",
            "mime_type": "image/jpeg",
            "size": len(JPEG_BYTES),
            "checksum": "ab" * 32,
            "url": "http://testserver/media/aips/hr/thumbnails/register.jpg",
        },
    ]


def test_it_returns_digital_file_with_premis_events(client, digital_file):
    response = client.get("/api/descriptions/register-1851")
    body = response.json()["digital_file"]

    assert body["object_uuid"] == str(OBJECT_UUID)
    assert body["original_size"] == 2048
    assert body["format_puid"] == "fmt/353"
    assert body["aip"] == {"uuid": str(AIP_UUID), "name": "harbour-registers"}
    assert body["premis_events"] == [
        {
            "event_identifier": "",
            "event_type": "ingestion",
            "event_datetime": "2024-05-01T09:30:00Z",
            "event_detail": "",
            "event_outcome": "Positive",
            "event_outcome_detail": "",
        }
    ]


def test_it_returns_null_digital_file(client, fonds):
    response = client.get("/api/descriptions/harbour-office")

    assert response.json()["digital_file"] is None


def test_it_returns_404_json_for_draft(client):
    make_description("closed-fonds", publication_status=DRAFT)

    response = client.get("/api/descriptions/closed-fonds")

    assert response.status_code == 404
    assert response.json() == {"error": "description not found: closed-fonds"}


# Media


def test_it_serves_media_file(client, media_root, item):
    write_media_file(media_root, "aips/hr/objects/register.jpg")
    make_digital_object(item, "master", "aips/hr/objects/register.jpg")

    response = client.get("/media/aips/hr/objects/register.jpg")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == JPEG_BYTES
    assert response["Content-Type"] == "image/jpeg"


@pytest.mark.parametrize(
    "url",
    [
        "/media/../secret.txt",
        "/media/%2e%2e/secret.txt",
        "/media/aips/../../secret.txt",
        "/media/aips/%2E%2E/%2E%2E/secret.txt",
    ],
)
def test_it_rejects_path_outside_media_root(client, media_root, item, url):
    secret = media_root.parent / "secret.txt"
    secret.write_text("secret")
    # A row whose file names the secret, so only the path check can stop it.
    make_digital_object(item, "master", "../secret.txt", "text/plain")

    response = client.get(url)

    assert response.status_code == 404


def test_it_rejects_absolute_path(client, media_root, item):
    secret = media_root.parent / "secret.txt"
    secret.write_text("secret")
    make_digital_object(item, "master", str(secret), "text/plain")

    response = client.get(f"/media/{secret}")

    assert response.status_code == 404


def test_it_returns_404_for_missing_media_file(client, media_root, item):
    make_digital_object(item, "master", "aips/hr/objects/gone.jpg")

    response = client.get("/media/aips/hr/objects/gone.jpg")

    assert response.status_code == 404


def test_it_returns_404_for_file_without_digital_object(client, media_root):
    write_media_file(media_root, "aips/hr/objects/stray.jpg")

    response = client.get("/media/aips/hr/objects/stray.jpg")

    assert response.status_code == 404


def test_it_returns_404_for_draft_media(client, media_root):
    closed = make_description("closed-item", publication_status=DRAFT)
    write_media_file(media_root, "aips/hr/objects/closed.jpg")
    make_digital_object(closed, "master", "aips/hr/objects/closed.jpg")

    response = client.get("/media/aips/hr/objects/closed.jpg")

    assert response.status_code == 404


def test_it_serves_draft_media_to_staff(client, alice, media_root):
    closed = make_description("closed-item", publication_status=DRAFT)
    write_media_file(media_root, "aips/hr/objects/closed.jpg")
    make_digital_object(closed, "master", "aips/hr/objects/closed.jpg")
    client.force_login(alice)

    response = client.get("/media/aips/hr/objects/closed.jpg")

    assert response.status_code == 200


def test_it_sends_html_media_as_sandboxed_download(client, media_root, item):
    write_media_file(media_root, "aips/hr/objects/page.html", b"<script></script>")
    make_digital_object(item, "master", "aips/hr/objects/page.html", "text/html")

    response = client.get("/media/aips/hr/objects/page.html")

    assert response["Content-Disposition"] == 'attachment; filename="page.html"'
    assert response["Content-Security-Policy"] == "sandbox"


# Hierarchy


def make_siblings(parent, count, **fields):
    return Description.objects.bulk_create(
        Description(
            parent=parent, slug=f"box-{n:02}", title=f"Box {n:02}", position=n, **fields
        )
        for n in range(count)
    )


def tree_slugs(html):
    """Return the slugs that the hierarchy links to, in document order."""
    hierarchy = html.split('<nav class="tree"', 1)[1].split("</nav>", 1)[0]
    return re.findall(r'href="/descriptions/([\w-]+)"', hierarchy)


def test_it_shows_hierarchy_landmark(client, item):
    response = client.get("/descriptions/register-1851")
    html = response.content.decode()

    assert '<nav class="tree" aria-labelledby="hierarchy-heading">' in html
    assert '<h2 id="hierarchy-heading">Hierarchy</h2>' in html
    assert tree_slugs(html) == ["harbour-office", "ship-registers"]
    assert '<span aria-current="page">Register 1851</span>' in html


def test_it_shows_window_of_siblings_in_hierarchy(client, fonds):
    make_siblings(fonds, 20)

    response = client.get("/descriptions/box-10")
    html = response.content.decode()

    siblings = [slug for slug in tree_slugs(html) if slug.startswith("box-")]
    assert siblings == [f"box-{n:02}" for n in (5, 6, 7, 8, 9, 11, 12, 13, 14, 15)]
    assert 'href="/descriptions/harbour-office?page=1#children"' in html
    assert "Earlier descriptions at this level" in html
    assert "Later descriptions at this level" in html


def test_it_omits_sibling_list_link_under_draft(client, fonds, series):
    series.publication_status = DRAFT
    series.save()
    make_siblings(series, 20)

    html = client.get("/descriptions/box-10").content.decode()

    assert "Earlier descriptions at this level" not in html
    assert "Later descriptions at this level" not in html
    assert "None?page" not in html


def test_it_closes_siblings_with_children(client, fonds, series, item):
    make_description("letters", fonds, title="Letters", position=1)

    response = client.get("/descriptions/letters")
    html = response.content.decode()

    assert (
        '<details data-children-url="/descriptions/ship-registers/children">'
    ) in html
    assert '<details data-children-url="/descriptions/letters/children">' not in html
    assert 'href="/descriptions/ship-registers#children"' in html
    assert '<summary aria-label="Child descriptions of Ship registers">' in html


def test_it_lists_first_children_in_hierarchy(client, fonds):
    make_siblings(fonds, 30)

    response = client.get("/descriptions/harbour-office")
    html = response.content.decode()

    assert tree_slugs(html) == [f"box-{n:02}" for n in range(25)]
    assert 'data-tree-more="/descriptions/harbour-office/children?page=2"' in html


def test_it_elides_middle_of_deep_path(client, fonds):
    parent = fonds
    for depth in range(10):
        parent = make_description(f"level-{depth}", parent)

    response = client.get("/descriptions/level-9")
    html = response.content.decode()

    assert tree_slugs(html) == [
        "harbour-office",
        "level-0",
        "level-6",
        "level-7",
        "level-8",
    ]
    assert "5 more levels" in html
    assert len(re.findall(r"<ul[ >]", html)) == html.count("</ul>")
    assert len(re.findall(r"<li[ >]", html)) == html.count("</li>")


def test_it_returns_children_fragment(client, fonds, series, item):
    make_description("letters", fonds, title="Letters", position=1)

    response = client.get("/descriptions/harbour-office/children")
    html = response.content.decode()

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert tree_slugs(f'<nav class="tree">{html}</nav>') == [
        "ship-registers",
        "letters",
    ]
    assert 'data-children-url="/descriptions/ship-registers/children"' in html
    assert "data-tree-more" not in html


def test_it_paginates_children_fragment(client, fonds):
    make_siblings(fonds, 60)

    first = client.get("/descriptions/harbour-office/children").content.decode()
    last = client.get("/descriptions/harbour-office/children?page=3").content.decode()

    assert first.count('class="tree-leaf"') == 25
    assert 'data-tree-more="/descriptions/harbour-office/children?page=2"' in first
    assert 'href="/descriptions/harbour-office?page=1#children"' in first
    assert last.count('class="tree-leaf"') == 10
    assert "box-59" in last
    assert "data-tree-more" not in last


def test_it_links_previous_and_next_sibling(client, fonds):
    make_siblings(fonds, 3)

    html = client.get("/descriptions/box-01").content.decode()

    assert '<a href="/descriptions/box-00" rel="prev">' in html
    assert '<a href="/descriptions/box-02" rel="next">' in html


def test_it_orders_siblings_of_equal_position_by_title(client, fonds):
    for title in ("Charlie", "Alpha", "Bravo"):
        make_description(title.lower(), fonds, title=title, position=0)

    html = client.get("/descriptions/bravo").content.decode()

    assert '<a href="/descriptions/alpha" rel="prev">' in html
    assert '<a href="/descriptions/charlie" rel="next">' in html


def test_it_omits_previous_of_first_sibling(client, fonds):
    make_siblings(fonds, 2)

    html = client.get("/descriptions/box-00").content.decode()

    assert 'rel="prev"' not in html
    assert '<a href="/descriptions/box-01" rel="next">' in html


def test_it_links_top_level_siblings(client, fonds):
    make_description("port-authority", title="Port Authority fonds", position=1)

    html = client.get("/descriptions/harbour-office").content.decode()

    assert '<a href="/descriptions/port-authority" rel="next">' in html


# Large trees


@pytest.fixture
def big_tree(fonds):
    """50,000 boxes under the fonds, and a chain of 200 levels below the first."""
    Description.objects.bulk_create(
        (
            Description(
                parent=fonds, slug=f"box-{n:05}", title=f"Box {n:05}", position=n
            )
            for n in range(50_000)
        ),
        batch_size=2000,
    )
    parent = Description.objects.get(slug="box-00000")
    for depth in range(200):
        parent = make_description(f"level-{depth:03}", parent)
    return fonds


def count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return response, len(queries)


@pytest.mark.parametrize("staff", [False, True])
def test_it_bounds_queries_on_large_tree(client, alice, big_tree, staff):
    if staff:
        client.force_login(alice)
    budget = 20

    top, top_queries = count_queries(client, "/descriptions/harbour-office")
    middle, middle_queries = count_queries(client, "/descriptions/box-25000")
    deep, deep_queries = count_queries(client, "/descriptions/level-199")
    home, home_queries = count_queries(client, "/")
    _, fragment_queries = count_queries(
        client, "/descriptions/harbour-office/children?page=2000"
    )

    assert top_queries <= budget
    assert middle_queries <= budget
    assert deep_queries <= budget
    assert home_queries <= budget
    assert fragment_queries <= budget
    assert "(50000)" in top.content.decode()
    assert '<a href="/descriptions/box-24999" rel="prev">' in middle.content.decode()
    assert '<a href="/descriptions/box-25001" rel="next">' in middle.content.decode()
    assert "?page=500#children" in middle.content.decode()
    assert "?page=501#children" in middle.content.decode()
    assert "196 more levels" in deep.content.decode()
    assert "50200 descriptions below" in home.content.decode()


def test_it_returns_page_of_child_slugs_as_json(client, big_tree):
    response = client.get("/api/descriptions/harbour-office?page=2")
    body = response.json()

    assert body["children_count"] == 50_000
    assert body["children"] == [f"box-{n:05}" for n in range(100, 200)]
    assert body["children_next"] == (
        "http://testserver/api/descriptions/harbour-office?page=3"
    )


# Digital objects


def test_it_makes_thumbnail_of_image(client, media_root, item):
    store_file(media_root, item, "master", "hr/register.tif", image_bytes((1600, 900)))

    response = client.get("/descriptions/register-1851/thumbnail")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    image = served_image(response)
    assert image.format == "JPEG"
    assert image.size == (256, 144)
    assert len(list((media_root / "hr" / ".derivatives").iterdir())) == 1


def test_it_serves_cached_thumbnail(client, media_root, item):
    store_file(media_root, item, "master", "hr/register.png", image_bytes((600, 600)))
    client.get("/descriptions/register-1851/thumbnail")
    (cached,) = (media_root / "hr" / ".derivatives").iterdir()
    cached.write_bytes(image_bytes((10, 10)))

    response = client.get("/descriptions/register-1851/thumbnail")

    assert served_image(response).size == (10, 10)


def test_it_makes_thumbnail_of_pdf_first_page(client, media_root, item):
    store_file(media_root, item, "master", "hr/register.pdf", pdf_bytes())

    response = client.get("/descriptions/register-1851/thumbnail")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    image = served_image(response)
    assert max(image.size) == 256
    assert image.size[0] < image.size[1]
    # The page is white with a black bar.
    assert image.convert("L").getextrema() == (0, 255)


def test_it_prefers_dip_thumbnail(client, media_root, item):
    store_file(media_root, item, "master", "hr/register.tif", image_bytes((800, 600)))
    store_file(media_root, item, "thumbnail", "hr/thumb.jpg", image_bytes((100, 75)))

    response = client.get("/descriptions/register-1851/thumbnail")

    assert served_image(response).size == (100, 75)
    assert not (media_root / "hr" / ".derivatives").exists()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("broken.jpg", b"\xff\xd8\xff\xe0 not a JPEG"),
        ("broken.pdf", b"%PDF-1.4\nnot a PDF\n"),
        ("bomb.png", png_header_bytes(20_000, 20_000)),
        ("empty.tif", b""),
    ],
)
def test_it_sends_placeholder_for_unreadable_master(
    client, media_root, item, name, content
):
    store_file(media_root, item, "master", f"hr/{name}", content)

    response = client.get("/descriptions/register-1851/thumbnail")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert b"No preview" in b"".join(response.streaming_content)
    assert response["Cache-Control"] == "no-store"


def test_it_sends_placeholder_for_missing_master_file(client, media_root, item):
    make_digital_object(item, "master", "hr/gone.jpg")

    response = client.get("/descriptions/register-1851/thumbnail")

    assert response["Content-Type"] == "image/svg+xml"


def test_it_returns_404_for_thumbnail_of_audio(client, media_root, item):
    store_file(media_root, item, "master", "hr/bells.mp3", b"ID3", "audio/mpeg")

    response = client.get("/descriptions/register-1851/thumbnail")

    assert response.status_code == 404


def test_it_makes_reference_image_of_tiff(client, media_root, item):
    store_file(
        media_root, item, "master", "hr/register.tif", image_bytes((3000, 2000), "TIFF")
    )

    response = client.get("/descriptions/register-1851/reference")

    assert response.status_code == 200
    assert served_image(response).size == (1200, 800)


def test_it_returns_404_for_reference_of_pdf(client, media_root, item):
    store_file(media_root, item, "master", "hr/register.pdf", pdf_bytes())

    response = client.get("/descriptions/register-1851/reference")

    assert response.status_code == 404


def test_it_shows_thumbnails_in_child_list(client, media_root, series, item):
    store_file(media_root, item, "master", "hr/register.pdf", pdf_bytes())

    html = client.get("/descriptions/ship-registers").content.decode()

    assert '<img class="thumbnail" src="/descriptions/register-1851/thumbnail"' in html


def test_it_plays_audio_master(client, media_root, item):
    store_file(media_root, item, "master", "hr/bells.mp3", b"ID3" * 100, "audio/mpeg")

    html = client.get("/descriptions/register-1851").content.decode()

    assert '<audio class="player" controls preload="metadata">' in html
    assert '<source src="/media/hr/bells.mp3" type="audio/mpeg">' in html


def test_it_plays_video_master(client, media_root, item):
    store_file(media_root, item, "master", "hr/launch.mp4", b"\0" * 64, "video/mp4")

    html = client.get("/descriptions/register-1851").content.decode()

    assert '<video class="player" controls preload="metadata">' in html
    assert '<source src="/media/hr/launch.mp4" type="video/mp4">' in html


def test_it_links_master_download_with_size(client, media_root, item):
    store_file(media_root, item, "master", "hr/bells.mp3", bytes(2048), "audio/mpeg")

    html = client.get("/descriptions/register-1851").content.decode()

    assert '<a href="/media/hr/bells.mp3" download="bells.mp3">Download</a>' in html
    assert "bells.mp3 · audio/mpeg · 2.0\xa0KB" in html


def test_it_collapses_ocr_text(client, digital_file):
    digital_file.ocr_text = "Ship Mary Ann, from Bristol"
    digital_file.save()

    html = client.get("/descriptions/register-1851").content.decode()

    assert '<details class="ocr">' in html
    assert "<p>Ship Mary Ann, from Bristol</p>" in html


def test_it_returns_thumbnail_url_as_json(client, media_root, item):
    store_file(media_root, item, "master", "hr/register.pdf", pdf_bytes())

    response = client.get("/api/descriptions/register-1851")

    assert response.json()["thumbnail_url"] == (
        "http://testserver/descriptions/register-1851/thumbnail"
    )


# Drafts


@pytest.fixture
def draft_item(media_root, series):
    """A draft item with an image master and a DIP thumbnail, below a published
    series."""
    draft = make_description(
        "closed-register",
        series,
        title="Closed register",
        position=5,
        publication_status=DRAFT,
    )
    store_file(media_root, draft, "master", "hr/closed.tif", image_bytes((900, 600)))
    store_file(media_root, draft, "thumbnail", "hr/closed.jpg", image_bytes((90, 60)))
    make_description("closed-page", draft, title="Closed page")
    Deposit.objects.create(
        state=State.COMPLETED,
        target=series,
        target_slug=series.slug,
        top_description=draft,
        packaging="http://purl.org/net/sword-types/METSArchivematicaDIP",
        source=Source.REFERENCE,
        path="/srv/deposits/closed",
        finished_at=timezone.now(),
    )
    return draft


DRAFT_URLS = [
    "/descriptions/closed-register",
    "/descriptions/closed-register/children",
    "/descriptions/closed-register/thumbnail",
    "/descriptions/closed-register/reference",
    "/api/descriptions/closed-register",
    "/media/hr/closed.tif",
    "/media/hr/closed.jpg",
]


@pytest.mark.parametrize("url", DRAFT_URLS)
def test_it_hides_draft_from_anonymous(client, draft_item, url):
    response = client.get(url)

    assert response.status_code == 404


@pytest.mark.parametrize("url", DRAFT_URLS)
def test_it_shows_draft_to_staff_everywhere(client, alice, draft_item, url):
    client.force_login(alice)

    response = client.get(url)

    assert response.status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/descriptions/harbour-office",
        "/descriptions/ship-registers",
        "/descriptions/register-1851",
        "/descriptions/ship-registers/children",
        "/api/descriptions/ship-registers",
    ],
)
def test_it_leaves_draft_out_of_pages(client, draft_item, item, url):
    response = client.get(url)

    assert response.status_code == 200
    assert "closed-register" not in response.content.decode()
    assert "Closed register" not in response.content.decode()


def test_it_marks_drafts_for_staff(client, alice, draft_item, item):
    client.force_login(alice)

    page = client.get("/descriptions/ship-registers").content.decode()
    fragment = client.get("/descriptions/ship-registers/children").content.decode()
    home = client.get("/").content.decode()

    draft_link = '<a href="/descriptions/closed-register">Closed register</a>'
    assert f'{draft_link} <span class="badge">Draft</span>' in page
    assert f'{draft_link} <span class="badge">Draft</span>' in fragment
    assert f'{draft_link} <span class="badge">Draft</span>' in home


def test_it_lists_recent_additions(client, draft_item, item):
    deposit = Deposit.objects.create(
        state=State.COMPLETED,
        target=item.parent,
        target_slug="ship-registers",
        top_description=item,
        packaging="http://purl.org/net/sword-types/METSArchivematicaDIP",
        source=Source.REFERENCE,
        path="/srv/deposits/register-1851",
        finished_at=timezone.now() - datetime.timedelta(days=1),
        descriptions_created=3,
    )

    response = client.get("/")

    additions = response.context["recent_additions"]
    assert [addition["description"].slug for addition in additions] == ["register-1851"]
    assert additions[0]["at"] == deposit.finished_at
    assert "3 descriptions added" in response.content.decode()


def test_it_lists_target_of_several_deposits_once(client, fonds, deposit):
    for days in (1, 2):
        Deposit.objects.create(
            state=State.COMPLETED,
            target=fonds,
            target_slug=fonds.slug,
            top_description=fonds,
            packaging="http://purl.org/net/sword-types/METSArchivematicaDIP",
            source=Source.REFERENCE,
            path=f"/srv/deposits/loose-items-{days}",
            finished_at=timezone.now() - datetime.timedelta(days=days),
            descriptions_created=days,
        )

    response = client.get("/")

    additions = response.context["recent_additions"]
    assert [addition["description"].slug for addition in additions] == [
        "harbour-office"
    ]
    assert additions[0]["count"] == 1


def test_it_skips_draft_children_in_sibling_links(client, series, item, draft_item):
    make_description("register-1852", series, title="Register 1852", position=9)

    html = client.get("/descriptions/register-1851").content.decode()

    assert '<a href="/descriptions/register-1852" rel="next">' in html


# Page structure


def test_it_serves_scripts_allowed_by_csp(client, item):
    response = client.get("/descriptions/register-1851")

    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert 'src="/static/depositum/tree.js" defer' in response.content.decode()


def test_it_orders_headings_without_gaps(client, media_root, digital_file):
    store_file(media_root, digital_file.description, "master", "hr/r.pdf", pdf_bytes())

    html = client.get("/descriptions/register-1851").content.decode()

    levels = [int(level) for level in re.findall(r"<h([1-6])[ >]", html)]
    assert levels[0] == 1
    assert levels.count(1) == 1
    for previous, level in zip(levels, levels[1:], strict=False):
        assert level <= previous + 1, levels


def test_it_gives_every_image_alt_text(client, media_root, series, item):
    store_file(media_root, item, "master", "hr/register.png", image_bytes((40, 40)))

    pages = [
        client.get("/").content.decode(),
        client.get("/descriptions/ship-registers").content.decode(),
        client.get("/descriptions/register-1851").content.decode(),
    ]

    for html in pages:
        for tag in re.findall(r"<img\b[^>]*>", html):
            assert re.search(r'\balt="[^"]*"', tag), tag


# Live server


def find_description(server, slug, matches):
    """Walk the JSON API from `slug` and return the first description for which
    `matches(body)` is true."""
    queue = [slug]
    while queue:
        body = requests.get(f"{server.url}/api/descriptions/{queue.pop(0)}").json()
        if matches(body):
            return body
        queue.extend(body["children"])
    raise AssertionError(f"no matching description below {slug}")


def deposit_dip(server, dip):
    response = requests.post(
        f"{server.url}/sword/deposit/fonds",
        headers={
            "X-Packaging": "http://purl.org/net/sword-types/METSArchivematicaDIP",
            "Content-Type": "application/zip",
            "Content-Location": f"file:///{dip.name}",
        },
        auth=ALICE[:2],
        timeout=60,
    )
    assert response.status_code == 202, response.text
    status = server.wait(response.headers["Location"])
    assert status["state"] == "completed", status
    return status


def master_of(body):
    for digital_object in body["digital_objects"]:
        if digital_object["usage"] == "master":
            return digital_object
    return None


@pytest.mark.live
def test_it_shows_deposited_image_and_audio(server, build, tmp_path):
    images = deposit_dip(server, server.place(build("01", dest=tmp_path / "images")))
    audio = deposit_dip(server, server.place(build("05", dest=tmp_path / "audio")))

    image = find_description(
        server, images["description"], lambda body: master_of(body) is not None
    )
    page = requests.get(image["url"], timeout=10).text
    thumbnail = requests.get(image["thumbnail_url"], timeout=10)
    sound = find_description(
        server,
        audio["description"],
        lambda body: (master_of(body) or {}).get("mime_type") == "audio/mpeg",
    )
    sound_page = requests.get(sound["url"], timeout=10).text
    sound_file = requests.get(master_of(sound)["url"], timeout=10)
    script = requests.get(f"{server.url}/static/depositum/viewer.js", timeout=10)
    icon = requests.get(f"{server.url}/static/depositum/favicon.svg", timeout=10)

    assert 'aria-label="Image viewer"' in page
    assert thumbnail.headers["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumbnail.content)).format == "JPEG"
    assert '<audio class="player" controls' in sound_page
    assert sound_file.headers["Content-Type"] == "audio/mpeg"
    assert sound_file.content[:2] == b"\xff\xfb"
    assert script.status_code == 200
    assert "javascript" in script.headers["Content-Type"]
    assert icon.headers["Content-Type"] == "image/svg+xml"


# Deposit page


def test_it_shows_deposit_state_and_progress(client, alice, deposit):
    client.force_login(alice)

    response = client.get(f"/deposits/{deposit.uuid}")
    html = response.content.decode()

    assert '<p class="state state-processing">Processing</p>' in html
    assert '<progress id="deposit-progress" value="3" max="10">' in html
    assert "<span>3 of 10</span>" in html


def test_it_refreshes_unfinished_deposit_page(client, alice, deposit):
    client.force_login(alice)

    response = client.get(f"/deposits/{deposit.uuid}")

    assert '<meta http-equiv="refresh" content="3">' in response.content.decode()


def test_it_links_completed_deposit_to_top_description(client, alice, deposit, item):
    deposit.state = State.COMPLETED
    deposit.top_description = item
    deposit.progress_done = 10
    deposit.save()
    client.force_login(alice)

    response = client.get(f"/deposits/{deposit.uuid}")
    html = response.content.decode()

    assert '<a href="/descriptions/register-1851">Register 1851</a>' in html
    assert 'http-equiv="refresh"' not in html


def test_it_shows_deposit_error_and_warnings(client, alice, deposit):
    deposit.state = State.FAILED
    deposit.error = "METS file missing in /srv/deposits/harbour-registers"
    deposit.warnings = ["No access copy for register-1852.tif"]
    deposit.save()
    client.force_login(alice)

    response = client.get(f"/deposits/{deposit.uuid}")
    html = response.content.decode()

    assert "<pre>METS file missing in /srv/deposits/harbour-registers</pre>" in html
    assert "<li>No access copy for register-1852.tif</li>" in html


def test_it_shows_deposit_page_to_anonymous_user(client, deposit):
    response = client.get(f"/deposits/{deposit.uuid}")

    assert response.status_code == 200


def test_it_shows_depositor_name_but_not_email(client, deposit):
    response = client.get(f"/deposits/{deposit.uuid}")
    html = response.content.decode()

    assert f"<dd>{deposit.depositor.username}</dd>" in html
    assert deposit.depositor.email not in html


@pytest.mark.parametrize("accept", ["application/json", "application/atom+xml"])
def test_it_keeps_draft_description_out_of_deposit_status(
    client, deposit, item, accept
):
    item.publication_status = DRAFT
    item.save()
    deposit.state = State.COMPLETED
    deposit.top_description = item
    deposit.save()

    response = client.get(f"/api/deposits/{deposit.uuid}", HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert "register-1851" not in response.content.decode()


def test_it_names_draft_description_to_its_depositor(client, alice, deposit, item):
    item.publication_status = DRAFT
    item.save()
    deposit.state = State.COMPLETED
    deposit.top_description = item
    deposit.save()
    client.force_login(alice)

    response = client.get(f"/api/deposits/{deposit.uuid}")

    assert response.json()["description"] == "register-1851"
