"""The OAI-PMH provider at /oai.

The live tests deposit real DIPs into a server of their own, with a page size
of 4 so that every list spans several pages, and harvest it with the PyPI
OAI-PMH client oaipmh-scythe. Every response is validated against the OAI-PMH
2.0 schema in tests/fixtures/xsd, and every oai_dc record against the rules of
the oai_dc schema. The unit tests at the end use the Django test database.
"""

import json
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.utils import timezone
from lxml import etree
from oaipmh_scythe import Scythe
from oaipmh_scythe import exceptions as oai_errors
from oaipmh_scythe.config import HTTPConfig
from oaipmh_scythe.iterator import OAIResponseIterator

from depositum.catalogue.models import AIP, Description
from depositum.oai.models import DeletedRecord
from depositum.oai.tokens import make_token
from tests.conftest import (
    ALICE,
    FIXTURES,
    LiveServer,
    free_port,
    mets_path,
    postgres_database,
    skip_or_fail,
)
from tests.dips import build_dip, original_files

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_NS = "http://purl.org/dc/elements/1.1/"
DCTERMS_NS = "http://purl.org/dc/terms/"
XSI_LOCATION = "{http://www.w3.org/2001/XMLSchema-instance}schemaLocation"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
OAI_DC_LOCATION = f"{OAI_DC_NS} http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
NS = {"oai": OAI_NS, "oai_dc": OAI_DC_NS, "dc": DC_NS}
# The 15 elements of simple Dublin Core, which oai_dc.xsd allows.
DC_ELEMENTS = {
    "title", "creator", "subject", "description", "publisher", "contributor",
    "date", "type", "format", "identifier", "source", "language", "relation",
    "coverage", "rights",
}  # fmt: skip

OAI_SCHEMA = etree.XMLSchema(etree.parse(str(FIXTURES / "xsd" / "OAI-PMH.xsd")))
REPOSITORY = "archives.example.org"
ADMIN_EMAIL = "archivist@example.org"
PAGE_SIZE = 4


def datestamp(value):
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def assert_valid(content):
    """Validate an OAI-PMH response and each oai_dc record in it; return it."""
    document = etree.fromstring(content)
    OAI_SCHEMA.assertValid(document)
    for dc in document.iter(f"{{{OAI_DC_NS}}}dc"):
        assert_oai_dc(dc)
    return document


def assert_oai_dc(dc):
    """Check an oai_dc:dc element against the rules of oai_dc.xsd, which no
    reachable package ships (tests/fixtures/xsd/README.md)."""
    assert dc.get(XSI_LOCATION) == OAI_DC_LOCATION
    for child in dc:
        name = etree.QName(child)
        assert name.namespace == DC_NS, name
        assert name.localname in DC_ELEMENTS, name
        assert len(child) == 0, name
        assert set(child.attrib) <= {XML_LANG}, name
        assert child.text and child.text.strip(), name


def oai_error_codes(document):
    return [error.get("code") for error in document.iterfind("oai:error", NS)]


# A live server of the module's own ---------------------------------------------


def start_redis(cleanups):
    """Start a private redis-server, so the queue is not shared with another
    test server; return its URL."""
    if not shutil.which("redis-server"):
        skip_or_fail("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server", "--port", str(port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no",
        ],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip

    def stop():
        process.terminate()
        process.wait(timeout=30)

    cleanups.append(stop)
    time.sleep(0.5)
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def oai_server(request, tmp_path_factory):
    """A live server whose OAI-PMH lists have pages of 4 items."""
    data_dir = tmp_path_factory.mktemp(f"oai-{request.param}")
    env = dict(os.environ)
    env.update(
        {
            "DEPOSITUM_DATA_DIR": str(data_dir),
            "DEPOSITUM_LOG_LEVEL": "INFO",
            "DEPOSITUM_OAI_PAGE_SIZE": str(PAGE_SIZE),
            "DEPOSITUM_OAI_REPOSITORY_IDENTIFIER": REPOSITORY,
            "DEPOSITUM_OAI_ADMIN_EMAILS": ADMIN_EMAIL,
            "DJANGO_SETTINGS_MODULE": "depositum.settings",
        }
    )
    env.pop("DATABASE_URL", None)
    env.pop("DEPOSITUM_QUEUE_URL", None)

    cleanups = []
    live = LiveServer(data_dir, env)
    try:
        if request.param == "postgres":
            env["DATABASE_URL"], drop = postgres_database()
            cleanups.append(drop)
            env["DEPOSITUM_QUEUE_URL"] = start_redis(cleanups)
        live.start()
        yield live
    finally:
        live.stop()
        for cleanup in reversed(cleanups):
            cleanup()


STATE_SCRIPT = """
import json
from depositum.catalogue.models import Description, DigitalFile
rows = {d.id: d for d in Description.objects.select_related("aip")}
uuids = dict(DigitalFile.objects.values_list("description_id", "object_uuid"))
def top(d):
    while d.parent_id is not None:
        d = rows[d.parent_id]
    return d
print(json.dumps({
    d.slug: {
        "title": d.title,
        "status": d.publication_status,
        "top": top(d).slug,
        "top_status": top(d).publication_status,
        "updated": d.updated_at.isoformat(),
        "aip": str(d.aip.uuid) if d.aip else None,
        "object_uuid": str(uuids[d.id]) if d.id in uuids else None,
    }
    for d in rows.values()
}))
"""


def catalogue_state(server):
    """Return {slug: facts} for every description, read through the ORM."""
    result = server.run("shell", "-v", "0", "-c", STATE_SCRIPT)
    state = json.loads(result.stdout.strip().splitlines()[-1])
    for facts in state.values():
        facts["datestamp"] = datestamp(datetime.fromisoformat(facts["updated"]))
    return state


def published(state, top=None):
    """Return the slugs of the published descriptions, in the set `top`."""
    return {
        slug
        for slug, facts in state.items()
        if facts["status"] == "published"
        and (
            top is None or (facts["top"] == top and facts["top_status"] == "published")
        )
    }


def deposit(server, prefix, target, dest, **options):
    dip = build_dip(mets_path(prefix), dest, **options)
    result = server.run(
        "deposit", str(dip), "--url", server.url, "--target", target,
        "--user", ALICE[0], "--password", ALICE[1], "--poll-interval", "0.2",
        "--wait", check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def wait_for_next_second():
    """Sleep until the clock is in a later second, so datestamps differ."""
    time.sleep(1.05 - datetime.now(UTC).microsecond / 1e6)


@pytest.fixture(scope="module")
def catalogue(oai_server, tmp_path_factory):
    """Deposit 02 and 03 into oai-fonds and 01 into oai-photos, each in a
    second of its own. Then withdraw one 01 item and the top-level oai-closed
    to draft, and return the slug of that item under "draft"."""
    server = oai_server
    dest = tmp_path_factory.mktemp("oai-dips")
    server.run(
        "createtarget", "oai-fonds", "--title", "Harbour office", "--grant", "alice"
    )
    server.run(
        "createtarget", "oai-photos", "--title", "Photographs", "--grant", "alice"
    )
    server.run(
        "createtarget", "oai-closed", "--title", "Closed papers", "--grant", "alice"
    )

    for prefix, target in [
        ("02", "oai-fonds"),
        ("03", "oai-fonds"),
        ("01", "oai-photos"),
    ]:
        wait_for_next_second()
        deposit(server, prefix, target, dest / prefix)

    # The description of the first original of 01 becomes a draft.
    state = catalogue_state(server)
    (draft,) = [
        slug
        for slug, facts in state.items()
        if facts["object_uuid"] == originals_of("01")[0]
    ]
    make_drafts(server, [draft, "oai-closed"])
    return {"draft": draft}


def originals_of(prefix):
    """Return the UUIDs of the original files in a fixture METS, in file order."""
    root = etree.parse(str(mets_path(prefix))).getroot()
    return [file_uuid for file_uuid, _ in original_files(root)]


def make_drafts(server, slugs):
    """Withdraw descriptions to draft with QuerySet.update(), which records no
    tombstone, as if they had never been published."""
    server.run(
        "shell", "-v", "0", "-c",
        "from depositum.catalogue.models import Description;"
        f" Description.objects.filter(slug__in={slugs!r})"
        ".update(publication_status='draft')",
    )  # fmt: skip


def scythe(server, method="GET", **options):
    config = HTTPConfig(http_method=method, timeout=30)
    return Scythe(f"{server.url}/oai", http_config=config, **options)


def harvest_pages(server, verb, method="GET", **arguments):
    """Follow a list to its end; return the parsed, validated pages."""
    with scythe(server, method, iterator=OAIResponseIterator) as client:
        harvest = getattr(client, verb)(**arguments)
        return [assert_valid(response.http_response.content) for response in harvest]


def oai_get(server, method="GET", **arguments):
    url = f"{server.url}/oai"
    if method == "GET":
        response = requests.get(url, params=arguments, timeout=30)
    else:
        response = requests.post(url, data=arguments, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    return assert_valid(response.content)


def identifier(slug):
    return f"oai:{REPOSITORY}:{slug}"


def headers_of(pages):
    return [header for page in pages for header in page.iterfind(".//oai:header", NS)]


# Identify, ListMetadataFormats and ListSets -------------------------------------


@pytest.mark.live
def test_identify_describes_repository(oai_server, catalogue):
    state = catalogue_state(oai_server)

    with scythe(oai_server) as client:
        identify = client.identify()

    assert identify.repositoryName == "depositum"
    assert identify.baseURL == f"{oai_server.url}/oai"
    assert identify.protocolVersion == "2.0"
    assert identify.adminEmail == ADMIN_EMAIL
    assert identify.deletedRecord == "transient"
    assert identify.granularity == "YYYY-MM-DDThh:mm:ssZ"
    earliest = min(state[slug]["datestamp"] for slug in published(state))
    assert identify.earliestDatestamp == earliest
    assert identify.repositoryIdentifier == REPOSITORY
    assert identify.sampleIdentifier.startswith(f"oai:{REPOSITORY}:")
    oai_get(oai_server, verb="Identify")


@pytest.mark.live
def test_list_metadata_formats_offers_oai_dc(oai_server, catalogue):
    with scythe(oai_server) as client:
        formats = list(client.list_metadata_formats())
        for_item = list(
            client.list_metadata_formats(identifier=identifier("oai-fonds"))
        )

    for listed in (formats, for_item):
        assert [f.metadataPrefix for f in listed] == ["oai_dc"]
        assert listed[0].schema == "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
        assert listed[0].metadataNamespace == OAI_DC_NS
    oai_get(oai_server, verb="ListMetadataFormats")


@pytest.mark.live
def test_list_sets_names_published_top_levels(oai_server, catalogue):
    state = catalogue_state(oai_server)
    expected = {
        slug
        for slug, facts in state.items()
        if facts["top"] == slug and facts["status"] == "published"
    }

    pages = harvest_pages(oai_server, "list_sets")
    with scythe(oai_server) as client:
        sets = {s.setSpec: s.setName for s in client.list_sets()}

    assert set(sets) == expected
    assert "oai-closed" not in sets
    assert sets["oai-fonds"] == "Harbour office"
    assert len(pages) == -(-len(expected) // PAGE_SIZE)


# Harvesting whole lists -----------------------------------------------------------


@pytest.mark.live
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_list_identifiers_harvests_every_record_once(oai_server, catalogue, method):
    state = catalogue_state(oai_server)
    expected = {identifier(slug) for slug in published(state)}

    pages = harvest_pages(oai_server, "list_identifiers", method)
    headers = [h for h in headers_of(pages) if h.get("status") != "deleted"]
    identifiers = [h.findtext("oai:identifier", namespaces=NS) for h in headers]

    assert len(identifiers) == len(set(identifiers))
    assert set(identifiers) == expected
    assert len(pages) > 3


@pytest.mark.live
def test_list_records_pages_carry_cursor_and_size(oai_server, catalogue):
    pages = harvest_pages(oai_server, "list_records")
    complete_size = sum(len(page.findall(".//oai:record", NS)) for page in pages)

    cursor = 0
    for number, page in enumerate(pages, start=1):
        records = page.findall(".//oai:record", NS)
        token = page.find(".//oai:resumptionToken", NS)
        if number < len(pages):
            assert len(records) == PAGE_SIZE
        else:
            assert 1 <= len(records) <= PAGE_SIZE
        assert token.get("cursor") == str(cursor)
        assert token.get("completeListSize") == str(complete_size)
        if number < len(pages):
            assert token.text
            expires = datetime.strptime(
                token.get("expirationDate"), "%Y-%m-%dT%H:%M:%SZ"
            )
            assert expires.replace(tzinfo=UTC) > datetime.now(UTC) + timedelta(hours=23)
        else:
            assert not token.text
            assert token.get("expirationDate") is None
        cursor += len(records)


@pytest.mark.live
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_list_records_harvests_oai_dc_of_published(oai_server, catalogue, method):
    state = catalogue_state(oai_server)

    with scythe(oai_server, method) as client:
        records = list(client.list_records(ignore_deleted=True))

    slugs = [r.header.identifier.rsplit(":", 1)[1] for r in records]
    assert len(slugs) == len(set(slugs))
    assert set(slugs) == published(state)
    for record, slug in zip(records, slugs, strict=True):
        assert record.metadata["title"] == [state[slug]["title"]]
        assert record.header.datestamp == state[slug]["datestamp"]
        assert f"{oai_server.url}/descriptions/{slug}" in record.metadata["identifier"]


@pytest.mark.live
def test_harvest_excludes_drafts(oai_server, catalogue):
    draft = catalogue["draft"]

    pages = harvest_pages(oai_server, "list_identifiers")
    identifiers = {
        h.findtext("oai:identifier", namespaces=NS) for h in headers_of(pages)
    }
    with scythe(oai_server) as client:
        with pytest.raises(oai_errors.IdDoesNotExist):
            client.get_record(identifier=identifier(draft))
        with pytest.raises(oai_errors.NoRecordsMatch):
            list(client.list_identifiers(set_="oai-closed"))

    assert identifier(draft) not in identifiers
    assert identifier("oai-closed") not in identifiers


# Selective harvesting --------------------------------------------------------------


@pytest.mark.live
def test_set_harvest_lists_only_its_members(oai_server, catalogue):
    state = catalogue_state(oai_server)

    for set_spec in ("oai-fonds", "oai-photos"):
        pages = harvest_pages(oai_server, "list_identifiers", set_=set_spec)
        live = [h for h in headers_of(pages) if h.get("status") != "deleted"]
        slugs = [
            h.findtext("oai:identifier", namespaces=NS).rsplit(":", 1)[1] for h in live
        ]
        assert len(slugs) == len(set(slugs))
        assert set(slugs) == published(state, top=set_spec)
        for header in headers_of(pages):
            assert header.findtext("oai:setSpec", namespaces=NS) == set_spec


@pytest.mark.live
def test_from_until_select_by_datestamp(oai_server, catalogue):
    state = catalogue_state(oai_server)
    fonds = {
        slug: state[slug]["datestamp"] for slug in published(state, top="oai-fonds")
    }
    stamps = sorted(set(fonds.values()))
    # The target, then the descriptions of 02 and of 03, each in its own second.
    assert len(stamps) >= 3
    first, middle, last = stamps[0], stamps[1], stamps[-1]

    def harvest(**arguments):
        pages = harvest_pages(
            oai_server, "list_identifiers", set_="oai-fonds", **arguments
        )
        ids = [h.findtext("oai:identifier", namespaces=NS) for h in headers_of(pages)]
        return sorted(i.rsplit(":", 1)[1] for i in ids)

    def expected(low="0", high="9"):
        return sorted(s for s, stamp in fonds.items() if low <= stamp <= high)

    assert harvest(from_=last) == expected(low=last)
    assert harvest(until=first) == expected(high=first)
    assert harvest(from_=middle, until=middle) == expected(low=middle, high=middle)
    assert harvest(from_=first[:10], until=last[:10]) == expected()
    with scythe(oai_server) as client:
        with pytest.raises(oai_errors.NoRecordsMatch):
            day_before = (datetime.fromisoformat(first[:10]) - timedelta(days=1)).date()
            list(client.list_identifiers(until=day_before.isoformat()))


# GetRecord against the DC in the METS ----------------------------------------------


def mets_dublin_core(prefix, title):
    """Return {DC element: [values]} of the METS dmdSec whose title is `title`."""
    root = etree.parse(str(mets_path(prefix))).getroot()
    for record in root.iter(f"{{{DCTERMS_NS}}}dublincore"):
        values = {}
        for element in record:
            name = etree.QName(element)
            if name.namespace in (DC_NS, DCTERMS_NS) and (element.text or "").strip():
                values.setdefault(name.localname, []).append(element.text.strip())
        if values.get("title") == [title]:
            return values
    raise AssertionError(f"no dmdSec titled {title!r} in {prefix}")


def record_dc(server, slug):
    document = oai_get(
        server, verb="GetRecord", identifier=identifier(slug), metadataPrefix="oai_dc"
    )
    (dc,) = document.iterfind(".//oai_dc:dc", NS)
    values = {}
    for element in dc:
        values.setdefault(etree.QName(element).localname, []).append(element.text)
    return document, values


@pytest.mark.live
def test_get_record_maps_sip_dublin_core(oai_server, catalogue):
    state = catalogue_state(oai_server)
    (slug,) = [s for s, f in state.items() if f["title"] == "Yamani Weapons"]
    mets = mets_dublin_core("02", "Yamani Weapons")

    document, dc = record_dc(oai_server, slug)

    for name in ("title", "creator", "subject", "description", "publisher",
                 "contributor", "date", "type", "format", "source", "language",
                 "rights"):  # fmt: skip
        assert dc[name] == mets[name], name
    assert dc["identifier"] == [
        f"{oai_server.url}/descriptions/{slug}",
        *mets["identifier"],
    ]
    # The catalogue does not keep dc:relation, so relation names the parent.
    assert dc["relation"] == [f"{oai_server.url}/descriptions/oai-fonds"]
    assert "coverage" not in dc
    header = document.find(".//oai:header", NS)
    assert header.findtext("oai:identifier", namespaces=NS) == identifier(slug)
    assert header.findtext("oai:setSpec", namespaces=NS) == "oai-fonds"
    assert header.findtext("oai:datestamp", namespaces=NS) == state[slug]["datestamp"]


@pytest.mark.live
def test_get_record_maps_file_dublin_core(oai_server, catalogue):
    state = catalogue_state(oai_server)
    (slug,) = [s for s, f in state.items() if f["title"] == "Landing zone"]
    (parent,) = [s for s, f in state.items() if f["title"] == "Yamani Weapons"]
    mets = mets_dublin_core("02", "Landing zone")

    _, dc = record_dc(oai_server, slug)

    assert dc["title"] == mets["title"]
    assert dc["date"] == mets["date"] == ["July 27, 2009"]
    assert dc["relation"] == [f"{oai_server.url}/descriptions/{parent}"]


@pytest.mark.live
def test_get_record_keeps_utf8_title_and_rights(oai_server, catalogue):
    root = etree.parse(str(mets_path("03"))).getroot()
    title = root.findtext(f".//{{{DC_NS}}}title")
    state = catalogue_state(oai_server)
    (slug,) = [s for s, f in state.items() if f["title"] == title]

    with scythe(oai_server) as client:
        record = client.get_record(identifier=identifier(slug))

    assert record.metadata["title"] == [title]
    assert record.metadata["rights"] == ["Public domain"]
    assert record.header.setSpecs == ["oai-fonds"]


@pytest.mark.live
def test_get_record_gives_mime_type_as_format(oai_server, catalogue):
    state = catalogue_state(oai_server)
    items = sorted(
        s
        for s, f in state.items()
        if f["top"] == "oai-photos" and f["status"] == "published" and f["aip"]
    )
    api = requests.get(
        f"{oai_server.url}/api/descriptions/{items[0]}", timeout=10
    ).json()
    mime_type = api["digital_file"]["mime_type"]
    assert mime_type

    with scythe(oai_server) as client:
        record = client.get_record(identifier=identifier(items[0]))

    assert mime_type in record.metadata["format"]


# Deleted records -----------------------------------------------------------------


@pytest.mark.live
def test_redeposit_reports_removed_description_deleted(oai_server, catalogue, tmp_path):
    before = catalogue_state(oai_server)
    photos = published(before, top="oai-photos") - {"oai-photos"}
    # The last original, because the first one's description is the draft.
    skipped_uuid = originals_of("01")[-1]

    wait_for_next_second()
    redeposit_time = datestamp(datetime.now(UTC))
    deposit(oai_server, "01", "oai-photos", tmp_path, skip_uuids=[skipped_uuid])
    # The ingest publishes every description again, the draft included.
    make_drafts(oai_server, [catalogue["draft"]])
    after = catalogue_state(oai_server)
    remaining = published(after, top="oai-photos") - {"oai-photos"}
    (removed,) = photos - remaining

    pages = harvest_pages(oai_server, "list_identifiers", set_="oai-photos")
    headers = {
        h.findtext("oai:identifier", namespaces=NS): h for h in headers_of(pages)
    }
    deleted = headers[identifier(removed)]
    with scythe(oai_server) as client:
        record = client.get_record(identifier=identifier(removed))
        with pytest.raises(oai_errors.NoMetadataFormats):
            list(client.list_metadata_formats(identifier=identifier(removed)))
        recent = list(client.list_identifiers(from_=redeposit_time, set_="oai-photos"))

    assert remaining == photos - {removed}
    assert deleted.get("status") == "deleted"
    assert deleted.findtext("oai:setSpec", namespaces=NS) == "oai-photos"
    assert deleted.findtext("oai:datestamp", namespaces=NS) >= redeposit_time
    assert record.deleted
    assert record.xml.find("oai:metadata", NS) is None
    # The descriptions that came back keep their identifiers, with new datestamps.
    for slug in remaining:
        assert headers[identifier(slug)].get("status") is None
        assert after[slug]["datestamp"] >= redeposit_time
    assert {h.identifier for h in recent} >= {
        identifier(s) for s in remaining | {removed}
    }


# Errors ----------------------------------------------------------------------------


ERROR_CASES = [
    ({}, "badVerb"),
    ({"verb": "ListEverything"}, "badVerb"),
    ({"verb": ["Identify", "ListSets"]}, "badVerb"),
    ({"verb": "Identify", "set": "oai-fonds"}, "badArgument"),
    ({"verb": "ListRecords"}, "badArgument"),
    ({"verb": "GetRecord", "identifier": identifier("oai-fonds")}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": ["oai_dc", "oai_dc"]}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai dc"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "set": "a set"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2024-13-01"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2024-01-01T00:00:00"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2024-01-01", "until": "2024-02-01T00:00:00Z"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2024-02-01", "until": "2024-01-01"}, "badArgument"),
    ({"verb": "ListIdentifiers", "metadataPrefix": "oai_dc", "resumptionToken": "x"}, "badArgument"),
    ({"verb": "ListSets", "set": "oai-fonds"}, "badArgument"),
    ({"verb": "GetRecord", "identifier": "oai:x y <z>", "metadataPrefix": "oai_dc"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "marc21", "from": "yesterday"}, "badArgument"),
    ({"verb": "ListRecords", "resumptionToken": "not-a-token"}, "badResumptionToken"),
    ({"verb": "ListSets", "resumptionToken": "not-a-token"}, "badResumptionToken"),
    ({"verb": "ListRecords", "metadataPrefix": "marc21"}, "cannotDisseminateFormat"),
    ({"verb": "GetRecord", "identifier": identifier("oai-fonds"), "metadataPrefix": "marc21"}, "cannotDisseminateFormat"),
    ({"verb": "GetRecord", "identifier": identifier("no-such-slug"), "metadataPrefix": "oai_dc"}, "idDoesNotExist"),
    ({"verb": "GetRecord", "identifier": "oai:elsewhere.example.org:oai-fonds", "metadataPrefix": "oai_dc"}, "idDoesNotExist"),
    ({"verb": "ListMetadataFormats", "identifier": identifier("no-such-slug")}, "idDoesNotExist"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "until": "2000-01-01"}, "noRecordsMatch"),
    ({"verb": "ListIdentifiers", "metadataPrefix": "oai_dc", "set": "no-such-set"}, "noRecordsMatch"),
]  # fmt: skip


@pytest.mark.live
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_errors_carry_their_codes(oai_server, catalogue, method):
    for arguments, code in ERROR_CASES:
        document = oai_get(oai_server, method, **arguments)

        assert set(oai_error_codes(document)) == {code}, arguments
        request = document.find("oai:request", NS)
        assert request.text == f"{oai_server.url}/oai"
        if code in ("badVerb", "badArgument"):
            assert dict(request.attrib) == {}, arguments
        else:
            assert request.get("verb") == arguments["verb"], arguments


@pytest.mark.live
def test_get_record_reports_two_errors_at_once(oai_server, catalogue):
    document = oai_get(
        oai_server,
        verb="GetRecord",
        identifier=identifier("no-such-slug"),
        metadataPrefix="marc21",
    )

    assert sorted(oai_error_codes(document)) == [
        "cannotDisseminateFormat",
        "idDoesNotExist",
    ]


@pytest.mark.live
def test_client_raises_error_classes(oai_server, catalogue):
    with scythe(oai_server) as client:
        with pytest.raises(oai_errors.BadVerb):
            client.harvest({"verb": "ListEverything"})
        with pytest.raises(oai_errors.BadArgument):
            client.harvest({"verb": "ListRecords"})
        with pytest.raises(oai_errors.CannotDisseminateFormat):
            list(client.list_records(metadata_prefix="marc21"))
        with pytest.raises(oai_errors.IdDoesNotExist):
            client.get_record(identifier=identifier("no-such-slug"))
        with pytest.raises(oai_errors.NoRecordsMatch):
            list(client.list_records(set_="no-such-set"))
        with pytest.raises(oai_errors.BadResumptionToken):
            list(client.list_records(resumption_token="not-a-token"))


@pytest.mark.live
def test_post_needs_form_encoding(oai_server, catalogue):
    response = requests.post(
        f"{oai_server.url}/oai",
        data="verb=Identify",
        headers={"Content-Type": "text/plain"},
        timeout=10,
    )

    document = assert_valid(response.content)
    assert response.status_code == 200
    assert oai_error_codes(document) == ["badArgument"]


def first_token(server, verb, **arguments):
    document = oai_get(server, verb=verb, **arguments)
    return document.findtext(".//oai:resumptionToken", namespaces=NS)


@pytest.mark.live
def test_forged_tokens_are_rejected(oai_server, catalogue):
    token = first_token(oai_server, "ListRecords", metadataPrefix="oai_dc")
    payload, timestamp, signature = token.rsplit(":", 2)
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    forged = [
        token[:-1],
        token + "x",
        f"{payload}:{timestamp}:{flipped}",
        f"{payload[:-2]}:{timestamp}:{signature}",
        "",
        "\u00e9t\u00e9",
    ]

    for bad in forged:
        document = oai_get(oai_server, verb="ListRecords", resumptionToken=bad)
        assert oai_error_codes(document) == ["badResumptionToken"], bad
    # A genuine token is only valid for the verb it was issued for.
    document = oai_get(oai_server, verb="ListIdentifiers", resumptionToken=token)
    assert oai_error_codes(document) == ["badResumptionToken"]
    # And the genuine token still works.
    document = oai_get(oai_server, verb="ListRecords", resumptionToken=token)
    assert oai_error_codes(document) == []
    assert len(document.findall(".//oai:record", NS)) >= 1


# Unit tests on the Django test database -------------------------------------------


def make(slug, parent=None, **fields):
    fields.setdefault("title", slug.replace("-", " ").capitalize())
    return Description.objects.create(slug=slug, parent=parent, **fields)


@pytest.fixture
def oai_settings(settings):
    settings.OAI_REPOSITORY_IDENTIFIER = REPOSITORY
    settings.OAI_ADMIN_EMAILS = [ADMIN_EMAIL]
    settings.OAI_PAGE_SIZE = 3
    return settings


def local_get(client, **arguments):
    response = client.get("/oai", arguments)
    assert response.status_code == 200
    content = (
        b"".join(response.streaming_content) if response.streaming else response.content
    )
    return assert_valid(content)


@pytest.mark.django_db
def test_empty_catalogue_has_no_set_hierarchy(client, oai_settings):
    sets = local_get(client, verb="ListSets")
    records = local_get(
        client, verb="ListRecords", metadataPrefix="oai_dc", set="fonds"
    )
    everything = local_get(client, verb="ListRecords", metadataPrefix="oai_dc")
    identify = local_get(client, verb="Identify")

    assert oai_error_codes(sets) == ["noSetHierarchy"]
    assert oai_error_codes(records) == ["noSetHierarchy"]
    assert oai_error_codes(everything) == ["noRecordsMatch"]
    assert identify.findtext(".//oai:earliestDatestamp", namespaces=NS)


@pytest.mark.django_db
def test_full_page_ends_without_token(client, oai_settings):
    fonds = make("fonds")
    make("box-1", fonds)
    make("box-2", fonds)

    document = local_get(client, verb="ListIdentifiers", metadataPrefix="oai_dc")

    assert len(document.findall(".//oai:header", NS)) == 3
    assert document.find(".//oai:resumptionToken", NS) is None


@pytest.mark.django_db
def test_headers_name_top_level_set(client, oai_settings):
    fonds = make("fonds")
    series = make("series", fonds)
    file = make("file", series)
    make("item", file)
    make("other")

    first = local_get(client, verb="ListIdentifiers", metadataPrefix="oai_dc")
    token = first.findtext(".//oai:resumptionToken", namespaces=NS)
    second = local_get(client, verb="ListIdentifiers", resumptionToken=token)
    headers = headers_of([first, second])

    sets = {
        h.findtext("oai:identifier", namespaces=NS): h.findtext(
            "oai:setSpec", namespaces=NS
        )
        for h in headers
    }
    assert sets == {
        identifier("fonds"): "fonds",
        identifier("series"): "fonds",
        identifier("file"): "fonds",
        identifier("item"): "fonds",
        identifier("other"): "other",
    }


@pytest.mark.django_db
def test_oai_dc_maps_every_field(client, oai_settings):
    fonds = make("fonds", title="Harbour office")
    item = make(
        "register",
        fonds,
        title="Register of ships",
        identifier="HO/1\nHO/1a",
        date_display="1850 - 1860",
        extent_and_medium="1 volume",
        creators=["Harbour master"],
        contributors=["Clerk"],
        publishers=["Port press"],
        scope_and_content="Ships entering.\nAnd leaving.",
        access_conditions="Open",
        languages=["eng", "nld"],
        location_of_originals="City archives",
        subject_access_points=["Shipping"],
        place_access_points=["Rotterdam"],
        dc_type="Text",
    )

    document = local_get(
        client,
        verb="GetRecord",
        identifier=identifier(item.slug),
        metadataPrefix="oai_dc",
    )
    (dc,) = document.iterfind(".//oai_dc:dc", NS)
    values = [(etree.QName(e).localname, e.text) for e in dc]

    assert values == [
        ("title", "Register of ships"),
        ("creator", "Harbour master"),
        ("subject", "Shipping"),
        ("description", "Ships entering.\nAnd leaving."),
        ("publisher", "Port press"),
        ("contributor", "Clerk"),
        ("date", "1850 - 1860"),
        ("type", "Text"),
        ("format", "1 volume"),
        ("identifier", "http://testserver/descriptions/register"),
        ("identifier", "HO/1"),
        ("identifier", "HO/1a"),
        ("source", "City archives"),
        ("language", "eng"),
        ("language", "nld"),
        ("relation", "http://testserver/descriptions/fonds"),
        ("coverage", "Rotterdam"),
        ("rights", "Open"),
    ]


@pytest.mark.django_db
def test_oai_dc_drops_invalid_xml_characters(client, oai_settings):
    make("fonds", title="Bell \x07 ringer\ufffe")

    document = local_get(
        client,
        verb="GetRecord",
        identifier=identifier("fonds"),
        metadataPrefix="oai_dc",
    )

    assert document.findtext(".//dc:title", namespaces=NS) == "Bell  ringer"


@pytest.mark.django_db
def test_draft_parent_gives_no_relation_or_set(client, oai_settings):
    closed = make("closed", publication_status="draft")
    make("letter", closed)

    document = local_get(
        client,
        verb="GetRecord",
        identifier=identifier("letter"),
        metadataPrefix="oai_dc",
    )

    assert document.find(".//dc:relation", NS) is None
    assert document.find(".//oai:setSpec", NS) is None
    assert "closed" not in etree.tostring(document).decode()


@pytest.mark.django_db
def test_deleting_subtree_records_tombstones(oai_settings):
    fonds = make("fonds")
    series = make("series", fonds)
    make("item", series)
    make("draft-item", series, publication_status="draft")

    series.delete()

    tombstones = {t.slug: t.set_spec for t in DeletedRecord.objects.all()}
    assert tombstones == {"series": "fonds", "item": "fonds"}


@pytest.mark.django_db
def test_ingest_style_delete_uses_aip_target(oai_settings):
    fonds = make("fonds")
    aip = AIP.objects.create(
        uuid="5b3f4e3c-0d2a-4c8e-9d7e-2f6a1b9c0e11",
        name="aip",
        target=fonds,
        ingested_at=timezone.now(),
    )
    folder = make("folder", fonds, aip=aip)
    make("photo", folder, aip=aip)

    # The ingest detaches an AIP's descriptions from their parents first.
    Description.objects.filter(aip=aip).update(parent=None)
    Description.objects.filter(aip=aip).delete()

    tombstones = {t.slug: t.set_spec for t in DeletedRecord.objects.all()}
    assert tombstones == {"folder": "fonds", "photo": "fonds"}


@pytest.mark.django_db
def test_withdrawing_to_draft_records_tombstone(client, oai_settings):
    fonds = make("fonds")
    letter = make("letter", fonds)

    letter.publication_status = "draft"
    letter.save()
    withdrawn = local_get(
        client,
        verb="GetRecord",
        identifier=identifier("letter"),
        metadataPrefix="oai_dc",
    )
    letter.publication_status = "published"
    letter.save()
    republished = local_get(
        client,
        verb="GetRecord",
        identifier=identifier("letter"),
        metadataPrefix="oai_dc",
    )

    assert withdrawn.find(".//oai:header", NS).get("status") == "deleted"
    assert withdrawn.find(".//oai:metadata", NS) is None
    assert republished.find(".//oai:header", NS).get("status") is None
    assert republished.find(".//oai:metadata", NS) is not None


@pytest.mark.django_db
def test_renamed_slug_records_old_identifier(oai_settings):
    fonds = make("fonds")
    letter = make("letter", fonds)

    letter.slug = "letter-1"
    letter.save()

    assert list(DeletedRecord.objects.values_list("slug", "set_spec")) == [
        ("letter", "fonds")
    ]


@pytest.mark.django_db
def test_deleted_records_follow_live_ones(client, oai_settings):
    fonds = make("fonds")
    for n in range(4):
        make(f"box-{n}", fonds)
    Description.objects.get(slug="box-1").delete()

    first = local_get(client, verb="ListIdentifiers", metadataPrefix="oai_dc")
    token = first.findtext(".//oai:resumptionToken", namespaces=NS)
    second = local_get(client, verb="ListIdentifiers", resumptionToken=token)
    headers = headers_of([first, second])

    assert [h.findtext("oai:identifier", namespaces=NS) for h in headers] == [
        identifier(slug) for slug in ["fonds", "box-0", "box-2", "box-3", "box-1"]
    ]
    assert [h.get("status") for h in headers] == [None] * 4 + ["deleted"]


@pytest.mark.django_db
def test_list_sets_pages_through_top_levels(client, oai_settings):
    for n in range(4):
        make(f"fonds-{n}")
    make("closed", publication_status="draft")
    Description.objects.filter(slug="fonds-0").update(scope_and_content="Ships.")

    first = local_get(client, verb="ListSets")
    token = first.find(".//oai:resumptionToken", NS)
    second = local_get(client, verb="ListSets", resumptionToken=token.text)
    last = second.find(".//oai:resumptionToken", NS)
    specs = [
        s.text for page in (first, second) for s in page.iterfind(".//oai:setSpec", NS)
    ]

    assert specs == ["fonds-0", "fonds-1", "fonds-2", "fonds-3"]
    descriptions = first.findall(".//oai:setDescription/oai_dc:dc/dc:description", NS)
    assert [d.text for d in descriptions] == ["Ships."]
    assert token.get("cursor") == "0"
    assert token.get("completeListSize") == "4"
    assert last.get("cursor") == "3"
    assert not last.text


@pytest.mark.django_db
def test_expired_token_is_rejected(client, oai_settings):
    token, _ = make_token({"verb": "ListRecords"})
    oai_settings.OAI_TOKEN_LIFETIME = -1

    document = local_get(client, verb="ListRecords", resumptionToken=token)

    assert oai_error_codes(document) == ["badResumptionToken"]
    assert "expired" in document.findtext("oai:error", namespaces=NS)


@pytest.mark.django_db
def test_until_last_day_includes_everything(client, oai_settings):
    make("fonds")

    document = local_get(
        client, verb="ListIdentifiers", metadataPrefix="oai_dc", until="9999-12-31"
    )

    assert len(document.findall(".//oai:header", NS)) == 1


@pytest.mark.django_db
def test_deleted_fonds_keeps_its_deleted_records(client, oai_settings):
    fonds = make("fonds")
    make("letter", fonds)
    make("other")

    fonds.delete()
    document = local_get(
        client, verb="ListIdentifiers", metadataPrefix="oai_dc", set="fonds"
    )
    headers = document.findall(".//oai:header", NS)

    assert [h.findtext("oai:identifier", namespaces=NS) for h in headers] == [
        identifier("fonds"),
        identifier("letter"),
    ]
    assert {h.get("status") for h in headers} == {"deleted"}
    assert {h.findtext("oai:setSpec", namespaces=NS) for h in headers} == {"fonds"}


@pytest.mark.django_db
def test_admin_draft_action_records_tombstone(admin_client, oai_settings):
    fonds = make("fonds")
    letter = make("letter", fonds)
    before = Description.objects.get(slug="letter").updated_at

    response = admin_client.post(
        "/admin/catalogue/description/",
        {"action": "unpublish", "_selected_action": [letter.id]},
    )

    assert response.status_code == 302
    letter.refresh_from_db()
    assert letter.publication_status == "draft"
    assert letter.updated_at > before
    tombstones = {t.slug: t.set_spec for t in DeletedRecord.objects.all()}
    assert tombstones == {"letter": "fonds"}


@pytest.mark.django_db
def test_admin_publish_action_moves_datestamp(admin_client, oai_settings):
    letter = make("letter", publication_status="draft")
    before = letter.updated_at

    admin_client.post(
        "/admin/catalogue/description/",
        {"action": "publish", "_selected_action": [letter.id]},
    )

    letter.refresh_from_db()
    assert letter.publication_status == "published"
    assert letter.updated_at > before
