"""Full-text search: real DIPs ingested into the catalogue, then searched.

The first part runs in the test process on SQLite, with the Django test client
and the admin. The second part runs a live server on SQLite and on PostgreSQL,
deposits the DIPs over SWORD and searches over HTTP.
"""

import os
from pathlib import Path

import pytest
import requests
from django.contrib.admin.sites import site as admin_site
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.sql import emit_post_migrate_signal
from django.db import connection
from django.test import Client, RequestFactory

from depositum.catalogue.models import Description, PublicationStatus
from depositum.ingest.archivematica import ArchivematicaDIPExtractor
from depositum.ingest.writer import PlanWriter
from depositum.search import schema
from tests.conftest import (
    ALICE,
    CAROL,
    LiveServer,
    mets_path,
    postgres_database,
)
from tests.dips import build_dip

# Inputs that are FTS5 or tsquery syntax, or nothing at all.
ODD_QUERIES = [
    '"',
    '"unclosed phrase',
    "*",
    "-",
    "- -- ---",
    "NEAR(garden bird)",
    "title:garden",
    "garden^",
    "AND OR NOT",
    "OR",
    "(((",
    "'; DROP TABLE search_fts; --",
    "\\",
    "\u0000",
    "学生会",
    "x" * 2000,
    " ".join(["word"] * 200),
]


def titles(response):
    return [result["title"] for result in response.json()["results"]]


def facet(response, name):
    """Return {value: count} of one facet of an API response."""
    return {entry["value"]: entry["count"] for entry in response.json()["facets"][name]}


# In the test process, on SQLite -------------------------------------------------


@pytest.fixture
def media_root(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def fonds(db, media_root):
    return Description.objects.create(
        slug="fonds", title="Test fonds", level_of_description="Fonds"
    )


@pytest.fixture
def staff(db):
    user = User.objects.create_superuser("carol", "carol@example.org", "pw")
    client = Client()
    client.force_login(user)
    return client


def ingest(dip, target, media_folder="aips/test"):
    plan = ArchivematicaDIPExtractor(ArchivematicaDIPExtractor.locate(dip)).plan()
    writer = PlanWriter(plan, target, media_folder=media_folder)
    writer.store_files()
    writer.write()


@pytest.fixture
def catalogue(fonds, build, tmp_path):
    """The catalogue after ingests of DIPs 02 (DC), 03 (DC), 05 (audio, levels
    and subjects) and 06 (OCR text)."""
    for prefix in ["02", "03", "05", "06"]:
        ingest(build(prefix, dest=tmp_path / prefix), fonds, f"aips/{prefix}")
    return fonds


def api(client, **params):
    response = client.get("/api/search", params)
    assert response.status_code == 200
    return response


def test_search_finds_title_word(catalogue, client):
    response = api(client, q="yamani")

    assert titles(response) == ["Yamani Weapons"]
    result = response.json()["results"][0]
    assert result["title_html"] == "<mark>Yamani</mark> Weapons"


@pytest.mark.parametrize(
    "query, title",
    [
        ("Tortall", "Yamani Weapons"),  # DC publisher, a JSON list
        ("Mindelan", "Yamani Weapons"),  # DC creator
        ("parchement", "Yamani Weapons"),  # extent and medium
        ("42/1", "Yamani Weapons"),  # identifier
        ("Peters", "Landing zone"),  # immediate source of acquisition
        ("phonography", "14000 Caen, France - Bird in my garden"),  # subject
        ("Zoom", "14000 Caen, France - Bird in my garden"),  # scope and content
        ("2017", "14000 Caen, France - Bird in my garden"),  # dates
    ],
)
def test_search_finds_dc_field(catalogue, client, query, title):
    assert title in titles(api(client, q=query))


def test_search_finds_ocr_text_with_snippet(catalogue, client):
    response = api(client, q="recognised bitstream_8266")

    assert titles(response) == ["bitstream_8266.pdf"]
    snippet = response.json()["results"][0]["snippet"]
    assert "<mark>recognised</mark>" in snippet


def test_search_matches_phrase_only_in_order(catalogue, client):
    assert titles(api(client, q='"bird singing in my garden"')) == [
        "14000 Caen, France - Bird in my garden"
    ]
    assert titles(api(client, q='"garden singing bird"')) == []


def test_search_excludes_and_alternates(catalogue, client):
    assert titles(api(client, q="glaives -tortall")) == []
    assert set(titles(api(client, q="glaives OR phonography"))) == {
        "Yamani Weapons",
        "14000 Caen, France - Bird in my garden",
    }
    excluded = titles(api(client, q="-recognised"))
    assert "Yamani Weapons" in excluded
    assert "bitstream_8266.pdf" not in excluded


@pytest.mark.parametrize("query", ODD_QUERIES)
def test_search_accepts_odd_input(catalogue, client, query):
    page = client.get("/search", {"q": query})
    response = client.get("/api/search", {"q": query, "page": "-1x"})

    assert page.status_code == 200
    assert response.status_code == 200
    assert response.json()["total"] >= 0


def test_search_escapes_snippet_html(fonds, client):
    Description.objects.create(
        slug="evil",
        parent=fonds,
        title="<b>Harbour</b> letters",
        scope_and_content='<script>alert("x")</script> harbour dues & tolls',
    )

    result = api(client, q="harbour").json()["results"][0]

    assert result["title_html"] == "&lt;b&gt;<mark>Harbour</mark>&lt;/b&gt; letters"
    assert "<script>" not in result["snippet"]
    assert "&lt;script&gt;" in result["snippet"]
    assert "<mark>harbour</mark> dues &amp; tolls" in result["snippet"]


def test_facets_count_whole_match_set(catalogue, client):
    response = api(client)

    visible = Description.objects.all()
    assert response.json()["total"] == visible.count()
    assert facet(response, "level") == {
        "Item": visible.filter(level_of_description="Item").count(),
        "File": 2,
        "Fonds": 1,
        "Series": 1,
        "Subseries": 1,
    }
    assert facet(response, "media") == {"image": 5, "audio": 1, "text": 2}
    assert facet(response, "decade") == {"1990": 1, "2010": 2}
    assert facet(response, "subject")["Glaives"] == 1


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"media": "audio"}, ["14000 Caen, France - Bird in my garden"]),
        ({"subject": "Glaives"}, ["Yamani Weapons"]),
        ({"decade": "1990"}, ["Photo of Pretty marbles"]),
        ({"decade": "2010", "year": "2014"}, ["Yamani Weapons"]),
        ({"level": "File", "q": "glaives"}, ["Yamani Weapons"]),
        ({"level": "Series"}, ["objects"]),
    ],
)
def test_facet_filter_narrows_results(catalogue, client, params, expected):
    response = api(client, **params)

    assert titles(response) == expected
    assert response.json()["total"] == len(expected)


def test_facet_counts_follow_query(catalogue, client):
    response = api(client, q="recognised")

    # Seven originals of 02, 03 and 06 have OCR text.
    assert response.json()["total"] == 7
    assert sum(facet(response, "level").values()) == 7
    assert facet(response, "media") == {"image": 5, "text": 2}


def test_year_facet_within_selected_decade(catalogue, client):
    response = api(client, decade="2010")

    assert facet(response, "year") == {"2014": 1, "2017": 1}


def test_invalid_filters_are_ignored(catalogue, client):
    response = api(client, decade="19x0", year="99999", media="hologram")

    assert response.json()["filters"] == {
        "level": [],
        "decade": [],
        "year": [],
        "subject": [],
        "media": [],
    }
    assert response.json()["total"] == Description.objects.count()


def test_drafts_hidden_from_anonymous(catalogue, client, staff):
    Description.objects.filter(title="Yamani Weapons").update(
        publication_status=PublicationStatus.DRAFT
    )

    anonymous = api(client, q="glaives")
    assert anonymous.json()["total"] == 0
    assert "Glaives" not in facet(api(client), "subject")
    # The published children of the draft show no parent title.
    children = api(client, q="marbles").json()["results"]
    assert children
    assert all(result["parent"] is None for result in children)

    assert titles(api(staff, q="glaives")) == ["Yamani Weapons"]
    assert "Draft" in staff.get("/search", {"q": "glaives"}).content.decode()


def test_reingest_leaves_no_stale_hits(fonds, build, tmp_path, client):
    ingest(build("02", dest=tmp_path / "first"), fonds, "aips/first")
    assert titles(api(client, q="yamani")) == ["Yamani Weapons"]

    dip = build("02", dest=tmp_path / "second")
    (mets,) = dip.glob("METS.*.xml")
    mets.write_text(mets.read_text().replace("Yamani Weapons", "Scanran Axes"))
    ingest(dip, fonds, "aips/second")

    assert titles(api(client, q="yamani")) == []
    assert titles(api(client, q="scanran")) == ["Scanran Axes"]
    assert api(client, q="glaives").json()["total"] == 1
    assert api(client, q="recognised").json()["total"] == 5


def admin_form_data(description):
    """Return the admin change form's data for `description`, as a browser
    would post it unchanged."""
    model_admin = admin_site._registry[Description]
    request = RequestFactory().get("/admin/")
    request.user = User.objects.get(username="carol")
    form_class = model_admin.get_form(request, description, change=True)
    form = form_class(instance=description)
    data = {}
    for name, field in form.fields.items():
        value = field.prepare_value(form[name].value())
        data[name] = "" if value is None else value
    return data


def test_admin_edit_of_title_is_found(catalogue, staff, client):
    description = Description.objects.get(title="Yamani Weapons")
    data = admin_form_data(description)
    data["title"] = "Tortallan glaive collection"

    response = staff.post(
        f"/admin/catalogue/description/{description.id}/change/", data
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert titles(api(client, q="tortallan")) == ["Tortallan glaive collection"]
    assert titles(api(client, q="yamani")) == []
    # The rest of the description is still indexed.
    assert titles(api(client, q="Mindelan")) == ["Tortallan glaive collection"]


def test_deleted_description_is_gone(catalogue, staff, client):
    description = Description.objects.get(title="bitstream_8266.pdf")

    response = staff.post(
        f"/admin/catalogue/description/{description.id}/delete/", {"post": "yes"}
    )

    assert response.status_code == 302
    assert titles(api(client, q="bitstream_8266")) == []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM search_fts WHERE rowid = %s", [description.id]
        )
        assert cursor.fetchone()[0] == 0


def test_ocr_text_edit_is_found(catalogue, client):
    description = Description.objects.get(title="bitstream_8266.pdf")
    digital_file = description.digital_file
    digital_file.ocr_text = "Minutes of the harbour board"
    digital_file.save()

    assert titles(api(client, q="harbour board")) == ["bitstream_8266.pdf"]
    assert titles(api(client, q="recognised bitstream_8266")) == []


def test_api_returns_stable_shape(catalogue, client):
    body = api(client, q="landing").json()

    assert set(body) == {
        "query",
        "filters",
        "total",
        "page",
        "pages",
        "results",
        "facets",
    }
    assert body["query"] == "landing"
    assert body["page"] == 1
    assert set(body["facets"]) == {"level", "decade", "subject", "media"}
    result = next(r for r in body["results"] if r["title"] == "Landing zone")
    assert result["slug"] == "landing-zone"
    assert result["level"] == "Item"
    assert result["dates"] == "July 27, 2009"
    assert result["url"] == "http://testserver/descriptions/landing-zone"
    assert result["api_url"] == "http://testserver/api/descriptions/landing-zone"
    assert result["parent"] == {"slug": "yamani-weapons", "title": "Yamani Weapons"}
    assert (
        result["thumbnail"] == "http://testserver/descriptions/landing-zone/thumbnail"
    )
    assert client.get(result["thumbnail"]).status_code == 200


def test_api_gives_pdf_generated_thumbnail(catalogue, client):
    body = api(client, q="bitstream_8266").json()

    (result,) = body["results"]
    assert result["thumbnail"].endswith("/thumbnail")
    response = client.get(result["thumbnail"])
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"


def test_page_has_labelled_field_and_results(catalogue, client):
    response = client.get("/search", {"q": "glaives"})
    html = response.content.decode()

    assert response.status_code == 200
    assert '<label for="search-q">Search</label>' in html
    assert 'id="search-q" name="q" value="glaives"' in html
    # The header's search box gives way to the page's own.
    assert 'id="site-search-q"' not in html
    assert '<a href="/descriptions/yamani-weapons"><mark>Glaives</mark>' not in html
    assert '<a href="/descriptions/yamani-weapons">Yamani Weapons</a>' in html
    assert "<mark>Glaives</mark> are cool" in html
    assert "1 result<" in html


def test_page_facet_links_add_and_remove_filter(catalogue, client):
    html = client.get("/search", {"q": "recognised"}).content.decode()
    assert 'href="/search?q=recognised&amp;media=text"' in html

    filtered = client.get("/search?q=recognised&media=text").content.decode()
    assert "2 results<" in filtered
    assert 'href="/search?q=recognised"' in filtered
    assert "Media type: Text" in filtered


def test_page_links_keep_query_across_pages(fonds, client):
    for number in range(45):
        Description.objects.create(
            slug=f"letter-{number}", parent=fonds, title=f"Harbour letter {number}"
        )

    html = client.get("/search", {"q": "harbour"}).content.decode()

    assert "45 results<" in html
    assert 'href="?q=harbour&amp;page=2"' in html
    page3 = client.get("/search", {"q": "harbour", "page": "3"}).content.decode()
    assert page3.count('class="thumbnail') == 5


def test_other_pages_have_search_box(catalogue, client):
    html = client.get("/").content.decode()

    assert 'role="search"' in html
    assert 'id="site-search-q"' in html
    assert 'name="q"' in html


def test_reindex_rebuilds_emptied_index(catalogue, client):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM search_fts")
    assert titles(api(client, q="yamani")) == []

    call_command("reindex", stdout=open("/dev/null", "w"))

    assert titles(api(client, q="yamani")) == ["Yamani Weapons"]
    assert (
        "<mark>recognised</mark>"
        in api(client, q="recognised").json()["results"][0]["snippet"]
    )


def test_migrate_restores_dropped_triggers(catalogue, client):
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER search_description_insert")
    assert schema.is_current(connection) is False

    # What `migrate` sends once it has applied the migrations.
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")

    assert schema.is_current(connection) is True
    Description.objects.create(slug="new", parent=catalogue, title="Lighthouse log")
    assert titles(api(client, q="lighthouse")) == ["Lighthouse log"]


# Through a live server, on SQLite and on PostgreSQL ------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def search_server(request, tmp_path_factory):
    """A live server of its own, so that other tests' deposits do not change
    the counts."""
    data_dir = tmp_path_factory.mktemp(f"search-{request.param}")
    env = dict(os.environ)
    env.update(
        {
            "DEPOSITUM_DATA_DIR": str(data_dir),
            "DJANGO_SETTINGS_MODULE": "depositum.settings",
        }
    )
    env.pop("DATABASE_URL", None)
    env.pop("DEPOSITUM_QUEUE_URL", None)
    cleanup = None
    if request.param == "postgres":
        # The queue stays in a SQLite file of this server's own: search does
        # not depend on the queue, and a shared Redis database is flushed by
        # other test runs.
        env["DATABASE_URL"], cleanup = postgres_database()

    live = LiveServer(data_dir, env)
    try:
        live.start()
        yield live
    finally:
        live.stop()
        if cleanup:
            cleanup()


def deposit(server, dip):
    folder = server.place(dip)
    response = requests.post(
        f"{server.url}/sword/deposit/fonds",
        headers={
            "X-Packaging": "http://purl.org/net/sword-types/METSArchivematicaDIP",
            "Content-Type": "application/zip",
            "Content-Location": f"file:///{folder.name}",
        },
        auth=ALICE[:2],
        allow_redirects=False,
        timeout=60,
    )
    assert response.status_code == 202, response.text
    status = server.wait(response.headers["Location"])
    assert status["state"] == "completed", status


def live_search(server, session=None, **params):
    response = (session or requests).get(
        f"{server.url}/api/search", params=params, timeout=10
    )
    assert response.status_code == 200, response.text
    return response


def shell(server, code):
    server.run("shell", "-c", "from depositum.catalogue.models import *\n" + code)


def staff_session(server):
    session = requests.Session()
    login = f"{server.url}/admin/login/"
    session.get(login, timeout=10)
    response = session.post(
        login,
        data={
            "username": CAROL[0],
            "password": CAROL[1],
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
            "next": "/admin/",
        },
        headers={"Referer": login},
        timeout=10,
    )
    assert response.url.endswith("/admin/"), response.text[:500]
    return session


@pytest.mark.live
def test_live_search_after_deposits(search_server, tmp_path):
    server = search_server
    for prefix in ["02", "03", "05", "06"]:
        deposit(server, build_dip(mets_path(prefix), tmp_path / prefix))

    # A title word, a DC field, OCR text and a phrase.
    assert titles(live_search(server, q="yamani")) == ["Yamani Weapons"]
    assert titles(live_search(server, q="Tortall")) == ["Yamani Weapons"]
    ocr = live_search(server, q="recognised bitstream_8266.pdf")
    assert titles(ocr) == ["bitstream_8266.pdf"]
    assert "<mark>recognised</mark>" in ocr.json()["results"][0]["snippet"]
    assert titles(live_search(server, q='"bird singing"')) == [
        "14000 Caen, France - Bird in my garden"
    ]
    assert titles(live_search(server, q='"singing bird"')) == []
    for query in ODD_QUERIES[:-3]:
        assert live_search(server, q=query).json()["total"] >= 0
        page = requests.get(f"{server.url}/search", params={"q": query}, timeout=10)
        assert page.status_code == 200

    # Facets over the whole catalogue, and a filter.
    browse = live_search(server)
    assert facet(browse, "media") == {"image": 5, "audio": 1, "text": 2}
    assert facet(browse, "decade") == {"1990": 1, "2010": 2}
    assert facet(browse, "level")["File"] == 2
    assert titles(live_search(server, media="audio")) == [
        "14000 Caen, France - Bird in my garden"
    ]

    # Drafts: hidden from anonymous visitors, shown to staff.
    shell(server, "Description.objects.filter(slug='yamani-weapons')"
          ".update(publication_status='draft')")  # fmt: skip
    assert live_search(server, q="glaives").json()["total"] == 0
    staff = staff_session(server)
    assert titles(live_search(server, staff, q="glaives")) == ["Yamani Weapons"]
    shell(server, "Description.objects.filter(slug='yamani-weapons')"
          ".update(publication_status='published')")  # fmt: skip

    # A re-deposit with a new title leaves no stale hit.
    dip = build_dip(mets_path("02"), tmp_path / "again")
    (mets,) = dip.glob("METS.*.xml")
    mets.write_text(mets.read_text().replace("Yamani Weapons", "Scanran Axes"))
    deposit(server, dip)
    assert titles(live_search(server, q="yamani")) == []
    assert titles(live_search(server, q="scanran")) == ["Scanran Axes"]
    assert live_search(server, q="glaives").json()["total"] == 1

    # An edit through the model, as the admin saves it, and a delete.
    shell(server, "d = Description.objects.get(slug='yamani-weapons')\n"
          "d.title = 'Tortallan glaives'\nd.save()")  # fmt: skip
    assert titles(live_search(server, q="tortallan")) == ["Tortallan glaives"]
    shell(server, "Description.objects.filter(slug='bitstream-8266-pdf').delete()")
    assert titles(live_search(server, q="bitstream_8266.pdf")) == []

    # The HTML page through the server.
    page = requests.get(f"{server.url}/search", params={"q": "glaives"}, timeout=10)
    assert (
        'href="/descriptions/yamani-weapons">Tortallan <mark>glaives</mark>'
        in page.text
    )
    assert "<mark>Glaives</mark> are cool" in page.text
