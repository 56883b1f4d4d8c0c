"""The JSON API against its OpenAPI document, on a live server with real DIPs.

The document itself is checked with openapi-spec-validator. Every documented
path is then called on the live server, and openapi-core validates each
request and response against the document. Its schemas forbid members they
do not list, so a field that the API returns but the document lacks fails.
"""

from pathlib import Path

import pytest
import requests
import yaml
from openapi_core import OpenAPI
from openapi_core.contrib.requests import (
    RequestsOpenAPIRequest,
    RequestsOpenAPIResponse,
)
from openapi_spec_validator import validate as validate_spec

import depositum
from tests.conftest import ALICE, BOB, CAROL, mets_path
from tests.dips import build_dip

SPEC_PATH = Path(depositum.__file__).parent / "deposits" / "openapi.yaml"
DIP_PACKAGING = "http://purl.org/net/sword-types/METSArchivematicaDIP"
# Every path the document lists, each called by a test below.
TESTED_PATHS = {
    "/api/deposits",
    "/api/deposits/{deposit}",
    "/api/descriptions/{slug}",
    "/api/search",
    "/api/openapi.json",
    "/api/openapi.yaml",
}

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def spec():
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def openapi(spec):
    return OpenAPI.from_dict(spec)


def check(openapi, response, *, valid_request=True):
    """Validate a live response, and its request unless the test sent a bad one."""
    request = RequestsOpenAPIRequest(response.request)
    if valid_request:
        openapi.validate_request(request)
    openapi.validate_response(request, RequestsOpenAPIResponse(response))
    return response


def deposit(server, dip_dir, prefix, *, broken=False):
    """Deposit a DIP of a fixture METS as alice and return its status once finished.

    With `broken`, the METS is cut short, so the ingest fails.
    """
    dip = server.place(build_dip(mets_path(prefix), dip_dir, name=f"api-{prefix}"))
    if broken:
        (mets,) = dip.glob("METS.*.xml")
        mets.write_bytes(mets.read_bytes()[:5000])
    response = requests.post(
        f"{server.url}/sword/deposit/fonds",
        headers={
            "X-Packaging": DIP_PACKAGING,
            "Content-Location": f"file:///{dip.name}",
        },
        auth=ALICE[:2],
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return server.wait(response.headers["Location"])


@pytest.fixture(scope="module")
def completed(server, tmp_path_factory):
    # METS 01 has ten images, so the descriptions have digital objects with
    # thumbnails and PREMIS events.
    status = deposit(server, tmp_path_factory.mktemp("completed"), "01")
    assert status["state"] == "completed", status
    return status


@pytest.fixture(scope="module")
def failed(server, tmp_path_factory):
    status = deposit(server, tmp_path_factory.mktemp("failed"), "10", broken=True)
    assert status["state"] == "failed", status
    return status


def get(server, path, **kwargs):
    kwargs.setdefault("timeout", 10)
    return requests.get(f"{server.url}{path}", **kwargs)


# The document


def test_openapi_document_is_valid(spec):
    validate_spec(spec)

    assert spec["openapi"].startswith("3.1.")


def test_openapi_document_paths_are_tested(spec):
    assert set(spec["paths"]) == TESTED_PATHS


def test_openapi_json_matches_document(server, openapi, spec):
    response = check(openapi, get(server, "/api/openapi.json"))

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == spec


def test_openapi_yaml_is_document_file(server, openapi):
    response = check(openapi, get(server, "/api/openapi.yaml"))

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/yaml")
    assert response.content == SPEC_PATH.read_bytes()


# Deposit status


def test_deposit_status_by_uuid(server, openapi, completed):
    response = check(openapi, get(server, f"/api/deposits/{completed['uuid']}"))

    assert response.status_code == 200
    status = response.json()
    assert status["state"] == "completed"
    assert status["progress"]["done"] == status["progress"]["total"]
    assert status["aip_uuid"]
    assert status["description"]


def test_failed_deposit_status(server, openapi, failed):
    response = check(openapi, get(server, f"/api/deposits/{failed['uuid']}"))

    assert response.status_code == 200
    assert response.json()["state"] == "failed"
    assert response.json()["error"]


def test_deposit_status_by_number(server, openapi, completed):
    response = check(
        openapi, get(server, f"/api/deposits/{completed['id']}", auth=ALICE[:2])
    )

    assert response.status_code == 200
    assert response.json()["uuid"] == completed["uuid"]


@pytest.mark.parametrize("auth", [None, BOB[:2]], ids=["anonymous", "other"])
def test_deposit_by_number_hidden_from_others(server, openapi, completed, auth):
    response = get(server, f"/api/deposits/{completed['id']}", auth=auth)

    check(openapi, response, valid_request=auth is not None)
    assert response.status_code == 404
    assert response.json() == {"error": f"deposit {completed['id']} not found"}


def test_unknown_deposit_uuid_is_404(server, openapi):
    response = get(server, "/api/deposits/00000000-0000-4000-8000-000000000000")

    check(openapi, response)
    assert response.status_code == 404
    assert "not found" in response.json()["error"]


@pytest.mark.parametrize(
    "path", ["/api/deposits/abc", "/api/deposits/-1", "/api/nothing", "/api/"]
)
def test_unknown_api_url_is_json_404(server, path):
    response = get(server, path)

    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert "openapi.json" in response.json()["error"]


def test_deposit_status_as_atom_entry(server, openapi, completed):
    response = get(
        server,
        f"/api/deposits/{completed['uuid']}",
        headers={"Accept": "application/atom+xml"},
    )

    check(openapi, response)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/atom+xml")
    assert "Accept" in response.headers["Vary"]


# Deposit list


def test_deposit_list_for_staff(server, openapi, completed, failed):
    response = check(openapi, get(server, "/api/deposits", auth=CAROL[:2]))

    assert response.status_code == 200
    listed = response.json()
    ids = [status["id"] for status in listed["results"]]
    assert completed["id"] in ids
    assert failed["id"] in ids
    assert ids == sorted(ids, reverse=True)
    assert listed["count"] >= 2
    assert listed["page"] == 1


def test_deposit_list_filters_by_state(server, openapi, completed, failed):
    response = check(openapi, get(server, "/api/deposits?state=failed", auth=CAROL[:2]))

    states = {status["state"] for status in response.json()["results"]}
    ids = [status["id"] for status in response.json()["results"]]
    assert states == {"failed"}
    assert failed["id"] in ids
    assert completed["id"] not in ids


def test_deposit_list_filters_by_depositor(server, openapi, completed):
    alice = check(openapi, get(server, "/api/deposits?depositor=alice", auth=CAROL[:2]))
    bob = check(openapi, get(server, "/api/deposits?depositor=bob", auth=CAROL[:2]))

    assert completed["id"] in [status["id"] for status in alice.json()["results"]]
    assert bob.json()["count"] == 0


def test_deposit_list_of_depositor_is_own(server, openapi, completed):
    response = check(openapi, get(server, "/api/deposits", auth=ALICE[:2]))

    depositors = {status["depositor"] for status in response.json()["results"]}
    assert completed["id"] in [status["id"] for status in response.json()["results"]]
    assert depositors == {"alice"}


def test_deposit_list_of_other_user_is_empty(server, openapi, completed):
    response = check(openapi, get(server, "/api/deposits", auth=BOB[:2]))

    assert response.status_code == 200
    assert response.json()["count"] == 0
    assert response.json()["results"] == []
    assert response.json()["next"] is None


def test_deposit_list_for_session_login(server, openapi, completed):
    session = requests.Session()
    session.get(f"{server.url}/admin/login/", timeout=10)
    session.post(
        f"{server.url}/admin/login/",
        data={
            "username": CAROL[0],
            "password": CAROL[1],
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        timeout=10,
    )

    response = check(openapi, session.get(f"{server.url}/api/deposits", timeout=10))

    assert response.status_code == 200
    assert completed["id"] in [status["id"] for status in response.json()["results"]]


def test_deposit_list_requires_login(server, openapi):
    response = get(server, "/api/deposits")

    check(openapi, response, valid_request=False)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    "query, message",
    [("state=lost", "invalid state 'lost'"), ("page=999", "invalid page '999'")],
)
def test_deposit_list_rejects_bad_query(server, openapi, query, message):
    response = get(server, f"/api/deposits?{query}", auth=CAROL[:2])

    check(openapi, response, valid_request=False)
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)


# Descriptions


def test_description_of_deposit(server, openapi, completed):
    slug = completed["description"]

    response = check(openapi, get(server, f"/api/descriptions/{slug}"))
    child = check(
        openapi, get(server, f"/api/descriptions/{response.json()['children'][0]}")
    )

    assert response.status_code == 200
    assert response.json()["slug"] == slug
    assert child.status_code == 200
    assert child.json()["parent"] == slug


def test_description_with_digital_file(server, openapi, completed):
    description = find_description_with_file(server, completed["description"])

    response = check(openapi, get(server, f"/api/descriptions/{description}"))

    digital_file = response.json()["digital_file"]
    usages = [obj["usage"] for obj in response.json()["digital_objects"]]
    assert digital_file["aip"]["uuid"] == completed["aip_uuid"]
    assert digital_file["premis_events"]
    assert "master" in usages


def test_unknown_description_is_404(server, openapi):
    response = get(server, "/api/descriptions/no-such-description")

    check(openapi, response)
    assert response.status_code == 404
    assert response.json() == {"error": "description not found: no-such-description"}


def find_description_with_file(server, slug, limit=50):
    """Return the slug of the first description below `slug` that has a
    digital file, searching breadth first through at most `limit` descriptions."""
    queue = [slug]
    for _ in range(limit):
        if not queue:
            break
        description = get(server, f"/api/descriptions/{queue.pop(0)}").json()
        if description["digital_file"] is not None:
            return description["slug"]
        queue.extend(description["children"])
    raise AssertionError(f"no description with a digital file below {slug}")


# Search


def test_search_finds_deposited_description(server, openapi, completed):
    slug = find_description_with_file(server, completed["description"])
    title = get(server, f"/api/descriptions/{slug}").json()["title"]
    word = max(title.replace(".", " ").replace("_", " ").split(), key=len)

    response = check(openapi, get(server, "/api/search", params={"q": word}))

    matches = [r for r in response.json()["results"] if r["slug"] == slug]
    assert response.status_code == 200
    assert len(matches) == 1
    assert "<mark>" in matches[0]["title_html"]


def test_search_with_filters_and_facets(server, openapi, completed):
    params = {"media": "image", "decade": ["1855", "2020"], "level": "Item"}

    response = check(openapi, get(server, "/api/search", params=params))

    filters = response.json()["filters"]
    assert response.status_code == 200
    assert filters["media"] == ["image"]
    assert filters["decade"] == [2020]
    assert filters["level"] == ["Item"]
    assert "year" in response.json()["facets"]


def test_search_without_query_lists_all(server, openapi, completed):
    response = check(openapi, get(server, "/api/search"))

    assert response.status_code == 200
    assert response.json()["total"] >= completed["descriptions_created"]
    assert response.json()["query"] == ""


def test_openapi_lists_every_status_field(spec, server, completed):
    """The required members of DepositStatus are exactly those the API returns."""
    schema = spec["components"]["schemas"]["DepositStatus"]

    status = get(server, f"/api/deposits/{completed['uuid']}").json()

    assert set(schema["required"]) == set(status)
    assert set(schema["properties"]) == set(status)
