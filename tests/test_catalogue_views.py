import datetime
import uuid

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from depositum.catalogue.models import (
    AIP,
    Description,
    DigitalFile,
    DigitalObject,
    PREMISEvent,
    PublicationStatus,
)
from depositum.deposits.models import Deposit, Source, State

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


def test_it_counts_only_visible_children(client, fonds, series):
    make_description("closed-series", fonds, publication_status=DRAFT)

    response = client.get("/")

    assert response.context["page_obj"][0].child_count == 1
    assert "1 child" in response.content.decode()


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
    assert headings == ["Identity statement", "Context", "Content and structure"]


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


def test_it_shows_master_image_inline(client, item):
    make_digital_object(item, "master", "aips/hr/objects/register-1851.jpg")

    response = client.get("/descriptions/register-1851")
    html = response.content.decode()

    assert (
        '<img class="master" src="/media/aips/hr/objects/register-1851.jpg"'
        ' alt="Register 1851">'
    ) in html
    assert "image/jpeg" in html


def test_it_links_thumbnail_to_pdf_master(client, item):
    make_digital_object(
        item, "master", "aips/hr/objects/register.pdf", "application/pdf"
    )
    make_digital_object(item, "thumbnail", "aips/hr/thumbnails/register.jpg")

    response = client.get("/descriptions/register-1851")
    html = response.content.decode()

    assert '<a href="/media/aips/hr/objects/register.pdf">' in html
    assert 'src="/media/aips/hr/thumbnails/register.jpg"' in html
    assert 'alt="Access copy of Register 1851"' in html
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
