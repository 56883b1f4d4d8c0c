"""SWORD 1.3 and 2.0 requirements, one test each, against a live server.

Each test names the requirement it checks: "must" and "should" follow the
SWORD 1.3 profile (swordapp.org, AtomPub profile 1.3) and the SWORD 2.0
profile (swordapp.github.io/SWORDv2-Profile). Every error body is parsed as
XML, because SWORD clients crash on HTML error pages.
"""

import base64
import hashlib
import io
import socket
import subprocess
import zipfile
from pathlib import Path

import pytest
import requests
from lxml import etree

from tests.conftest import ALICE, BOB, CAROL

pytestmark = pytest.mark.live

ATOM = "http://www.w3.org/2005/Atom"
APP = "http://www.w3.org/2007/app"
SWORD1 = "http://purl.org/net/sword/"
SWORD2 = "http://purl.org/net/sword/terms/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
ORE = "http://www.openarchives.org/ore/terms/"
DIP = "http://purl.org/net/sword-types/METSArchivematicaDIP"
DIP_ALT = "http://purl.org/net/sword/package/METSArchivematicaDIP"
STATE_SCHEME = "http://purl.org/net/sword/terms/state"
SCRIPT = Path(__file__).parent.parent / "scripts" / "sword1-deposit.sh"

# The base URLs an Archivematica upload configuration can hold, and the module
# spelling of AtoM 2 and AtoM 1 that stock Archivematica appends to them.
ARCHIVEMATICA_FORMS = [
    (base, module)
    for base in ("", "/index.php", "/index.php/")
    for module in ("/sword", "/;sword")
]


def xml(response):
    return etree.fromstring(response.content)


def find(element, namespace, path):
    return element.find(path.replace("{}", f"{{{namespace}}}"))


def zipped(dip):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(dip.rglob("*")):
            if path.is_file():
                archive.write(path, f"{dip.name}/{path.relative_to(dip)}")
    return buffer.getvalue()


def sword1_error(response, status, name):
    """Check a SWORD 1.3 error document and return it."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/xml"
    document = xml(response)
    assert document.tag == f"{{{SWORD1}}}error"
    assert document.get("href").endswith(name)
    assert find(document, ATOM, "{}title") is not None
    assert find(document, ATOM, "{}updated") is not None
    assert find(document, ATOM, "{}summary").text
    assert find(document, SWORD1, "{}treatment") is not None
    return document


def sword2_error(response, status, name):
    assert response.status_code == status, response.text
    document = xml(response)
    assert document.tag == f"{{{SWORD2}}}error"
    assert document.get("href").endswith(name)
    assert find(document, ATOM, "{}summary").text
    return document


@pytest.fixture(scope="module")
def sd1(server):
    response = requests.get(
        f"{server.url}/sword/servicedocument", auth=ALICE[:2], timeout=10
    )
    assert response.status_code == 200
    return xml(response)


@pytest.fixture(scope="module")
def sd2(server):
    response = requests.get(
        f"{server.url}/sword2/servicedocument", auth=ALICE[:2], timeout=10
    )
    assert response.status_code == 200
    return xml(response)


def deposit1(server, body=b"", auth=ALICE[:2], path="/sword/deposit/fonds", **headers):
    headers.setdefault("X-Packaging", DIP)
    return requests.post(
        f"{server.url}{path}",
        data=body,
        headers=headers,
        auth=auth,
        timeout=120,
        allow_redirects=False,
    )


def deposit2(server, body=b"", auth=ALICE[:2], **headers):
    headers.setdefault("Packaging", DIP)
    headers.setdefault("Content-Disposition", "attachment; filename=dip.zip")
    return requests.post(
        f"{server.url}/sword2/collection/fonds",
        data=body,
        headers=headers,
        auth=auth,
        timeout=120,
    )


# SWORD 1.3: service document


def test_sd1_must_state_version_1_3(sd1):
    assert find(sd1, SWORD1, "{}version").text == "1.3"


def test_sd1_must_state_verbose_and_no_op_support(sd1):
    assert find(sd1, SWORD1, "{}verbose").text == "true"
    assert find(sd1, SWORD1, "{}noOp").text == "true"


def test_sd1_should_state_max_upload_size_in_kb(sd1):
    assert find(sd1, SWORD1, "{}maxUploadSize").text == "10240"


def test_sd1_collection_must_state_mediation(sd1):
    collection = find(sd1, APP, ".//{}collection")
    assert find(collection, SWORD1, "{}mediation").text == "false"


def test_sd1_collection_should_have_policy_treatment_abstract(sd1):
    collection = find(sd1, APP, ".//{}collection")
    assert find(collection, SWORD1, "{}collectionPolicy").text
    assert find(collection, SWORD1, "{}treatment").text
    assert collection.find("{http://purl.org/dc/terms/}abstract").text


def test_sd1_collection_may_list_accepted_packaging(sd1):
    collection = find(sd1, APP, ".//{}collection")
    packagings = [e.text for e in collection.findall(f"{{{SWORD1}}}acceptPackaging")]
    assert packagings == [DIP, DIP_ALT]


def test_sd1_states_mediation_true_for_allowed_mediator(server):
    response = requests.get(
        f"{server.url}/sword/servicedocument", auth=CAROL[:2], timeout=10
    )
    collection = find(xml(response), APP, ".//{}collection")
    assert find(collection, SWORD1, "{}mediation").text == "true"


def test_sd1_nests_a_service_for_children(server):
    server.run(
        "createtarget", "series", "--title", "Series", "--level", "Series",
        "--parent", "fonds",
    )  # fmt: skip

    top = requests.get(
        f"{server.url}/sword/servicedocument", auth=ALICE[:2], timeout=10
    )
    nested = requests.get(
        f"{server.url}/sword/servicedocument/fonds", auth=ALICE[:2], timeout=10
    )

    service = find(xml(top), SWORD1, ".//{}service")
    assert service.text == f"{server.url}/sword/servicedocument/fonds"
    hrefs = [c.get("href") for c in xml(nested).iter(f"{{{APP}}}collection")]
    assert hrefs == [f"{server.url}/sword/deposit/series"]


def test_sd1_must_require_authentication(server):
    response = requests.get(f"{server.url}/sword/servicedocument", timeout=10)

    sword1_error(response, 401, "AuthenticationFailed")
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


# SWORD 1.3: deposit


@pytest.mark.parametrize("base, module", ARCHIVEMATICA_FORMS)
def test_dep1_stock_archivematica_request_succeeds(
    server, build, tmp_path, base, module
):
    dip = server.place(build("10", dest=tmp_path))

    response = requests.post(
        f"{server.url}{base.rstrip('/')}{module}/deposit/fonds",
        headers={
            "User-Agent": "Archivematica",
            "X-Packaging": DIP,
            "Content-Type": "application/zip",
            "X-No-Op": "false",
            "X-Verbose": "false",
            "Content-Location": f"file:///{dip.name}",
        },
        auth=(ALICE[2], ALICE[1]),
        allow_redirects=False,
        timeout=300,
    )

    # Archivematica records success only for 200, 201 or 302 with a Location.
    assert response.status_code == 302
    # Waiting also keeps the ingest from removing the next form's folder.
    assert server.wait(response.headers["Location"])["state"] == "completed"


def test_dep1_must_answer_202_with_location_and_entry(server, build):
    response = deposit1(server, zipped(build("10")))

    assert response.status_code == 202
    assert response.headers["Location"].startswith(f"{server.url}/api/deposits/")
    assert response.headers["Content-Type"] == "application/atom+xml;type=entry"
    entry = xml(response)
    assert entry.tag == f"{{{ATOM}}}entry"
    for name in ("id", "title", "updated", "author"):
        assert find(entry, ATOM, "{}" + name) is not None, name


def test_dep1_entry_must_have_treatment(server, build):
    entry = xml(deposit1(server, zipped(build("10"))))

    assert find(entry, SWORD1, "{}treatment").text


def test_dep1_entry_echoes_request_headers(server, build):
    response = deposit1(server, zipped(build("10")), **{"User-Agent": "test-agent/1"})

    entry = xml(response)
    assert find(entry, SWORD1, "{}packaging").text == DIP
    assert find(entry, SWORD1, "{}userAgent").text == "test-agent/1"
    assert find(entry, SWORD1, "{}noOp").text == "false"


def test_dep1_entry_links_to_status(server, build):
    response = deposit1(server, zipped(build("10")))

    entry = xml(response)
    links = {
        (link.get("rel"), link.get("type")): link.get("href")
        for link in entry.findall(f"{{{ATOM}}}link")
    }
    assert links[("alternate", "application/json")] == response.headers["Location"]
    assert links[("alternate", "text/html")].startswith(f"{server.url}/deposits/")


def test_dep1_status_link_answers_json_atom_and_html(server, build):
    location = deposit1(server, zipped(build("10"))).headers["Location"]
    server.wait(location)

    accepts = {
        "application/json": "application/json",
        "application/atom+xml": "application/atom+xml",
        "text/html": "text/html",
    }
    for accept, expected in accepts.items():
        response = requests.get(location, headers={"Accept": accept}, timeout=10)
        assert response.headers["Content-Type"].startswith(expected), accept


def test_dep1_no_op_must_not_create_anything(server, build):
    dip = server.place(build("01"))

    response = deposit1(
        server, **{"X-No-Op": "true", "Content-Location": f"file:///{dip.name}"}
    )

    assert response.status_code == 200
    assert "Location" not in response.headers
    entry = xml(response)
    assert find(entry, SWORD1, "{}noOp").text == "true"
    assert "would create 10 descriptions" in find(entry, ATOM, "{}summary").text
    assert dip.exists()


def test_dep1_no_op_reports_failing_package(server, build):
    dip = server.place(build("01", access_copies=False))

    response = deposit1(
        server, **{"X-No-Op": "true", "Content-Location": f"file:///{dip.name}"}
    )

    document = sword1_error(response, 400, "ErrorBadRequest")
    assert "would fail" in find(document, ATOM, "{}summary").text


def test_dep1_verbose_adds_verbose_description(server, build):
    response = deposit1(
        server,
        zipped(build("10")),
        **{"X-Verbose": "true", "Content-Disposition": "attachment; filename=dip.zip"},
    )

    verbose = find(xml(response), SWORD1, "{}verboseDescription").text
    assert "Target: fonds" in verbose
    assert "By value: zip dip.zip" in verbose


def test_dep1_records_content_disposition_filename(server, build):
    response = deposit1(
        server,
        zipped(build("10")),
        **{"Content-Disposition": 'attachment; filename="my-dip.zip"'},
    )

    status = requests.get(response.headers["Location"], timeout=10).json()
    assert status["filename"] == "my-dip.zip"


def test_dep1_accepts_both_packaging_spellings(server, build):
    body = zipped(build("10"))

    first = deposit1(server, body, **{"X-Packaging": DIP_ALT})
    second = deposit1(server, body, **{"Packaging": DIP})

    assert first.status_code == 202
    assert second.status_code == 202


def test_dep1_unknown_packaging_is_415_error_content(server):
    response = deposit1(server, b"PK", **{"X-Packaging": "http://example.org/x"})

    sword1_error(response, 415, "ErrorContent")


def test_dep1_wrong_checksum_is_412_checksum_mismatch(server, build):
    response = deposit1(server, zipped(build("10")), **{"Content-MD5": "0" * 32})

    sword1_error(response, 412, "ErrorChecksumMismatch")


def test_dep1_base64_checksum_is_accepted(server, build):
    body = zipped(build("10"))
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()

    assert deposit1(server, body, **{"Content-MD5": md5}).status_code == 202


def announce_body(server, path, length):
    """Send headers that announce `length` bytes but no body; return the response."""
    credentials = base64.b64encode(f"{ALICE[0]}:{ALICE[1]}".encode()).decode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Basic {credentials}\r\n"
            f"Content-Type: application/zip\r\nContent-Length: {length}\r\n\r\n".encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += conn.recv(65536)
        head, body = answer.split(b"\r\n\r\n", 1)
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while len(body) < length:
            body += conn.recv(65536)
        return (head + b"\r\n\r\n" + body).decode("utf-8", "replace")


def test_dep1_over_max_size_is_413_early(server):
    answer = announce_body(server, "/sword/deposit/fonds", 20 * 1024 * 1024)

    assert answer.startswith("HTTP/1.1 413")
    assert "MaxUploadSizeExceeded" in answer


def test_dep1_wrong_method_is_405_with_allow(server):
    response = requests.put(
        f"{server.url}/sword/deposit/fonds", auth=ALICE[:2], timeout=10
    )

    sword1_error(response, 405, "MethodNotAllowed")
    assert response.headers["Allow"] == "POST"


def test_dep1_bad_credentials_are_401_with_www_authenticate(server):
    response = deposit1(server, auth=("alice", "wrong"))

    sword1_error(response, 401, "AuthenticationFailed")
    assert response.headers["WWW-Authenticate"] == 'Basic realm="depositum SWORD"'


def test_dep1_no_permission_is_403(server):
    sword1_error(deposit1(server, auth=BOB[:2]), 403, "Forbidden")


def test_dep1_unknown_target_is_404(server):
    response = deposit1(server, path="/sword/deposit/no-such-slug")

    sword1_error(response, 404, "TargetNotFound")


def test_dep1_mediation_refused_without_permission(server):
    response = deposit1(server, **{"X-On-Behalf-Of": "bob"})

    sword1_error(response, 412, "MediationNotAllowed")


def test_dep1_mediation_for_unknown_owner_is_403(server):
    response = deposit1(server, auth=CAROL[:2], **{"X-On-Behalf-Of": "nobody"})

    sword1_error(response, 403, "TargetOwnerUnknown")


def test_dep1_mediated_deposit_names_the_owner(server, build):
    response = deposit1(
        server, zipped(build("10")), auth=CAROL[:2], **{"X-On-Behalf-Of": "alice"}
    )

    assert response.status_code == 202
    contributor = find(xml(response), ATOM, "{}contributor/{}name")
    assert contributor.text == "alice"


@pytest.mark.parametrize("location", ["file:///{}", "file://{}", "{}", "file:///{}/"])
def test_dep1_content_location_spellings(server, build, tmp_path, location):
    dip = server.place(build("10", dest=tmp_path))

    response = deposit1(server, **{"Content-Location": location.format(dip.name)})

    assert response.status_code == 202, response.text
    # The ingest removes the folder, which the next spelling brings again.
    server.wait(response.headers["Location"])


def test_dep1_trailing_slash_is_accepted(server, build):
    response = deposit1(server, zipped(build("10")), path="/sword/deposit/fonds/")

    assert response.status_code == 202


def test_dep1_curl_script_polls_status_to_completed(server, build, tmp_path):
    zip_path = tmp_path / "dip.zip"
    zip_path.write_bytes(zipped(build("10")))

    result = subprocess.run(
        [str(SCRIPT), server.url, ALICE[0], ALICE[1], "fonds", str(zip_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "completed"


def test_dep1_curl_script_deposits_by_reference(server, build, tmp_path):
    dip = server.place(build("03", dest=tmp_path))

    result = subprocess.run(
        [str(SCRIPT), server.url, ALICE[0], ALICE[1], "fonds", dip.name],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "completed"


# SWORD 2.0: service document


def test_sd2_must_state_version_2_0(sd2):
    assert find(sd2, SWORD2, "{}version").text == "2.0"


def test_sd2_should_state_max_upload_size(sd2):
    assert find(sd2, SWORD2, "{}maxUploadSize").text == "10240"


def test_sd2_collection_lists_packaging_and_mediation(sd2, server):
    collection = find(sd2, APP, ".//{}collection")

    assert collection.get("href") == f"{server.url}/sword2/collection/fonds"
    assert [e.text for e in collection.findall(f"{{{SWORD2}}}acceptPackaging")] == [
        DIP,
        DIP_ALT,
    ]
    assert find(collection, SWORD2, "{}mediation").text == "false"


# SWORD 2.0: deposit and container


@pytest.fixture(scope="module")
def container(server, tmp_path_factory):
    from tests.conftest import mets_path
    from tests.dips import build_dip

    dip = build_dip(mets_path("10"), tmp_path_factory.mktemp("container"))
    response = deposit2(server, zipped(dip))
    assert response.status_code == 201, response.text
    status = xml(response).find(f"{{{ATOM}}}link[@type='application/json']")
    server.wait(status.get("href"))
    return response


def receipt_links(receipt):
    return {
        (link.get("rel"), link.get("type")): link.get("href")
        for link in receipt.findall(f"{{{ATOM}}}link")
    }


def test_dep2_must_answer_201_with_edit_iri_location(container, server):
    assert container.status_code == 201
    assert container.headers["Location"].startswith(f"{server.url}/sword2/edit/")


def test_dep2_receipt_must_have_edit_links(container):
    links = receipt_links(xml(container))

    assert links[("edit", None)] == container.headers["Location"]
    assert links[("edit-media", None)]
    assert links[(f"{SWORD2}add", None)] == container.headers["Location"]


def test_dep2_receipt_must_link_statements(container):
    links = receipt_links(xml(container))

    assert links[(f"{SWORD2}statement", "application/atom+xml;type=feed")]
    assert links[(f"{SWORD2}statement", "application/rdf+xml")]


def test_dep2_receipt_must_have_one_treatment(container):
    assert len(xml(container).findall(f"{{{SWORD2}}}treatment")) == 1


def test_dep2_edit_iri_get_returns_receipt(container):
    response = requests.get(container.headers["Location"], auth=ALICE[:2], timeout=10)

    assert response.status_code == 200
    assert xml(response).tag == f"{{{ATOM}}}entry"


def test_dep2_atom_statement_has_state_with_description(container):
    statement = receipt_links(xml(container))[
        (f"{SWORD2}statement", "application/atom+xml;type=feed")
    ]

    feed = xml(requests.get(statement, auth=ALICE[:2], timeout=10))

    category = feed.find(f"{{{ATOM}}}category[@scheme='{STATE_SCHEME}']")
    assert category.get("term") == "urn:depositum:state:completed"
    assert category.text.startswith("Completed")


def test_dep2_ore_statement_aggregates_and_states(container):
    statement = receipt_links(xml(container))[
        (f"{SWORD2}statement", "application/rdf+xml")
    ]

    document = xml(requests.get(statement, auth=ALICE[:2], timeout=10))

    assert document.tag == f"{{{RDF}}}RDF"
    assert document.find(f".//{{{ORE}}}describes") is not None
    assert document.find(f".//{{{ORE}}}aggregates") is not None
    state = document.find(f".//{{{SWORD2}}}state").get(f"{{{RDF}}}resource")
    assert state == "urn:depositum:state:completed"
    assert document.find(f".//{{{SWORD2}}}stateDescription").text


def test_dep2_wrong_checksum_is_412(server, build):
    response = deposit2(server, zipped(build("10")), **{"Content-MD5": "0" * 32})

    sword2_error(response, 412, "ErrorChecksumMismatch")


def test_dep2_unknown_packaging_is_415(server):
    response = deposit2(server, b"PK", Packaging="http://example.org/x")

    sword2_error(response, 415, "ErrorContent")


def test_dep2_over_max_size_is_413(server):
    answer = announce_body(server, "/sword2/collection/fonds", 20 * 1024 * 1024)

    assert answer.startswith("HTTP/1.1 413")
    body = answer.split("\r\n\r\n", 1)[1]
    assert etree.fromstring(body.encode()).tag == f"{{{SWORD2}}}error"


def test_dep2_wrong_method_is_405(server):
    response = requests.put(
        f"{server.url}/sword2/collection/fonds", auth=ALICE[:2], timeout=10
    )

    sword2_error(response, 405, "MethodNotAllowed")
    assert response.headers["Allow"] == "POST"


def test_dep2_mediation_refused_is_412(server):
    response = deposit2(server, b"PK", **{"On-Behalf-Of": "bob"})

    sword2_error(response, 412, "MediationNotAllowed")


def test_dep2_unknown_owner_is_403(server):
    response = deposit2(server, b"PK", auth=CAROL[:2], **{"On-Behalf-Of": "nobody"})

    sword2_error(response, 403, "TargetOwnerUnknown")


def test_dep2_completed_container_refuses_more_content(container):
    response = requests.post(
        container.headers["Location"],
        data=b"PK",
        headers={"In-Progress": "true"},
        auth=ALICE[:2],
        timeout=10,
    )

    sword2_error(response, 409, "NotInProgress")
