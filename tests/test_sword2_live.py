"""SWORD 2.0 against a live server: the PyPI sword2 client, and raw requests."""

import io
import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest
import requests
from lxml import etree

from tests.conftest import ALICE, BOB, skip_or_fail

pytestmark = pytest.mark.live

ATOM_NS = "http://www.w3.org/2005/Atom"
SWORD2_NS = "http://purl.org/net/sword/terms/"
DIP_PACKAGING = "http://purl.org/net/sword-types/METSArchivematicaDIP"
STATE_SCHEME = "http://purl.org/net/sword/terms/state"
CLIENT = Path(__file__).parent / "sword2_client.py"


@pytest.fixture(scope="session")
def sword2_python():
    """The Python of a virtualenv with the PyPI sword2 client (make test builds it)."""
    python = os.getenv("DEPOSITUM_TEST_SWORD2_PYTHON", "")
    if not python or not Path(python).exists():
        skip_or_fail(
            "DEPOSITUM_TEST_SWORD2_PYTHON names no Python with sword2: run make test"
        )
    return python


def zip_files(dip, predicate=lambda path: True):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(dip.rglob("*")):
            if path.is_file() and predicate(path.relative_to(dip)):
                archive.write(path, f"{dip.name}/{path.relative_to(dip)}")
    return buffer.getvalue()


def run_client(sword2_python, server, zip_path, *flags):
    # httplib2 caches responses in .cache under the working directory.
    result = subprocess.run(
        [
            sword2_python,
            str(CLIENT),
            f"{server.url}/sword2/servicedocument",
            ALICE[0],
            ALICE[1],
            str(zip_path),
            *flags,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=zip_path.parent,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_it_works_with_pypi_sword2_client(server, build, tmp_path, sword2_python):
    zip_path = tmp_path / "dip.zip"
    zip_path.write_bytes(zip_files(build("10")))

    report = run_client(sword2_python, server, zip_path)

    assert report["version"] == "2.0"
    assert report["collection"] == f"{server.url}/sword2/collection/fonds"
    assert report["create_code"] == 201
    assert report["edit"].startswith(f"{server.url}/sword2/edit/")
    assert report["edit_media"].startswith(f"{server.url}/sword2/edit-media/")
    assert report["se_iri"] == report["edit"]
    assert report["atom_statement"].startswith(f"{server.url}/sword2/statement/")
    assert report["receipt_code"] == 200
    assert report["valid"] is True
    final_state, description = report["states"][-1]
    assert final_state == "urn:depositum:state:completed", report
    assert description.startswith("Completed: 1 descriptions ingested")
    assert report["ore_states"][0][0] == "urn:depositum:state:completed"


def test_it_completes_in_progress_deposit_with_pypi_client(
    server, build, tmp_path, sword2_python
):
    zip_path = tmp_path / "dip.zip"
    zip_path.write_bytes(zip_files(build("03")))

    report = run_client(sword2_python, server, zip_path, "--in-progress")

    assert report["create_code"] == 201
    assert report["complete_code"] == 200
    assert report["states"][-1][0] == "urn:depositum:state:completed", report


def post(server, path, body=b"", **headers):
    return requests.post(
        f"{server.url}{path}", data=body, headers=headers, auth=ALICE[:2], timeout=60
    )


def status_link(response):
    """Return the JSON status link of a deposit receipt."""
    receipt = etree.fromstring(response.content)
    link = receipt.find(
        f"{{{ATOM_NS}}}link[@rel='alternate'][@type='application/json']"
    )
    return link.get("href")


def state_of(response):
    feed = etree.fromstring(response.content)
    category = feed.find(f"{{{ATOM_NS}}}category[@scheme='{STATE_SCHEME}']")
    return category.get("term"), category.text


def test_it_collects_zips_until_the_deposit_is_completed(server, build):
    dip = build("01")
    mets_zip = zip_files(dip, lambda path: path.parts[0] != "objects")
    objects_zip = zip_files(dip, lambda path: path.parts[0] == "objects")

    created = post(
        server,
        "/sword2/collection/fonds",
        mets_zip,
        **{"In-Progress": "true", "Packaging": DIP_PACKAGING},
    )
    assert created.status_code == 201, created.text
    edit = created.headers["Location"]
    receipt = etree.fromstring(created.content)
    statement = receipt.find(
        f"{{{ATOM_NS}}}link[@type='application/atom+xml;type=feed']"
    ).get("href")
    collecting = requests.get(statement, auth=ALICE[:2], timeout=10)
    assert state_of(collecting)[0] == "urn:depositum:state:collecting"

    added = requests.post(
        edit,
        data=objects_zip,
        headers={
            "In-Progress": "true",
            "Content-Disposition": "attachment; filename=o.zip",
        },
        auth=ALICE[:2],
        timeout=60,
    )
    assert added.status_code == 201
    completed = requests.post(
        edit, headers={"In-Progress": "false"}, auth=ALICE[:2], timeout=60
    )
    assert completed.status_code == 200

    status = server.wait(status_link(created))
    assert status["state"] == "completed", status
    assert status["progress"] == {"done": 10, "total": 10}


def test_it_keeps_zip_after_rejected_replace(server, build):
    dip = build("01")
    created = post(
        server,
        "/sword2/collection/fonds",
        zip_files(dip),
        **{"In-Progress": "true", "Packaging": DIP_PACKAGING},
    )
    assert created.status_code == 201, created.text
    edit = created.headers["Location"]
    edit_media = edit.replace("/edit/", "/edit-media/")
    headers = {
        "In-Progress": "true",
        "Content-Disposition": "attachment; filename=d.zip",
    }

    rejected = requests.put(
        edit_media, data=b"PK\x05\x06\0", headers=headers, auth=ALICE[:2], timeout=60
    )
    original = requests.get(edit_media, auth=ALICE[:2], timeout=10)
    replaced = requests.put(
        edit_media, data=zip_files(dip), headers=headers, auth=ALICE[:2], timeout=60
    )
    completed = requests.post(
        edit, headers={"In-Progress": "false"}, auth=ALICE[:2], timeout=60
    )

    assert rejected.status_code == 415
    assert original.status_code == 200
    assert original.content == zip_files(dip)
    assert replaced.status_code == 204
    assert completed.status_code == 200
    assert server.wait(status_link(created))["state"] == "completed"


def test_it_lists_the_zips_of_a_collecting_container(server, build):
    dip = build("01")
    created = post(
        server,
        "/sword2/collection/fonds",
        zip_files(dip, lambda path: path.parts[0] != "objects"),
        **{"In-Progress": "true", "Packaging": DIP_PACKAGING},
    )
    edit = created.headers["Location"]
    requests.post(
        edit,
        data=zip_files(dip, lambda path: path.parts[0] == "objects"),
        headers={"In-Progress": "true"},
        auth=ALICE[:2],
        timeout=60,
    )

    response = requests.get(
        edit.replace("/edit/", "/edit-media/"), auth=ALICE[:2], timeout=10
    )

    assert response.status_code == 404
    assert "has 2 zips" in response.text


def test_it_rejects_no_op_on_sword2(server, build):
    response = post(
        server,
        "/sword2/collection/fonds",
        zip_files(build("01")),
        **{"X-No-Op": "true", "Packaging": DIP_PACKAGING},
    )

    assert response.status_code == 400
    assert "X-No-Op is a SWORD 1.3 header" in response.text


def test_it_deletes_a_container_not_yet_ingested(server, build):
    created = post(
        server,
        "/sword2/collection/fonds",
        zip_files(build("10")),
        **{"In-Progress": "true"},
    )
    edit = created.headers["Location"]

    deleted = requests.delete(edit, auth=ALICE[:2], timeout=10)
    fetched = requests.get(edit, auth=ALICE[:2], timeout=10)

    assert deleted.status_code == 204
    assert fetched.status_code == 404


def test_it_refuses_to_delete_an_ingested_container(server, build):
    created = post(server, "/sword2/collection/fonds", zip_files(build("10")))
    edit = created.headers["Location"]
    server.wait(status_link(created))

    deleted = requests.delete(edit, auth=ALICE[:2], timeout=10)

    assert deleted.status_code == 409
    assert etree.fromstring(deleted.content).tag == f"{{{SWORD2_NS}}}error"


def test_it_hides_a_container_from_other_users(server, build):
    created = post(server, "/sword2/collection/fonds", zip_files(build("10")))

    fetched = requests.get(created.headers["Location"], auth=BOB[:2], timeout=10)

    # The same response as for an id that does not exist.
    assert fetched.status_code == 404


def test_it_rejects_multipart_deposit_with_415(server):
    response = post(
        server,
        "/sword2/collection/fonds",
        b"--x--",
        **{"Content-Type": 'multipart/related; boundary="x"'},
    )

    assert response.status_code == 415
    assert etree.fromstring(response.content).get("href").endswith("ErrorContent")


def test_it_rejects_atom_entry_without_in_progress(server):
    response = post(
        server,
        "/sword2/collection/fonds",
        b"<entry xmlns='http://www.w3.org/2005/Atom'/>",
        **{"Content-Type": "application/atom+xml;type=entry"},
    )

    assert response.status_code == 400


def test_it_answers_atom_status_to_sword_1_clients(server, build):
    created = post(server, "/sword/deposit/fonds", zip_files(build("10")))
    location = created.headers["Location"]
    server.wait(location)

    atom = requests.get(
        location, headers={"Accept": "application/atom+xml"}, timeout=10
    )
    html = requests.get(location, headers={"Accept": "text/html"}, timeout=10)
    plain = requests.get(location, timeout=10)

    assert atom.headers["Content-Type"].startswith("application/atom+xml")
    entry = etree.fromstring(atom.content)
    category = entry.find(f"{{{ATOM_NS}}}category[@scheme='{STATE_SCHEME}']")
    assert category.get("term") == "urn:depositum:state:completed"
    assert category.text.startswith("Completed")
    assert html.headers["Content-Type"].startswith("text/html")
    assert plain.json()["state"] == "completed"


def test_it_rejects_empty_body_with_400(server):
    response = post(server, "/sword2/collection/fonds", b"")

    assert response.status_code == 400


def test_it_rejects_zip_without_mets_before_queueing(server):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("dip/hello.txt", "no METS here")

    response = post(
        server,
        "/sword2/collection/fonds",
        buffer.getvalue(),
        **{"Content-Disposition": "attachment; filename=notdip.zip"},
    )

    assert response.status_code == 400
    summary = etree.fromstring(response.content).findtext(f"{{{ATOM_NS}}}summary")
    assert "notdip.zip contains no METS" in summary


def test_it_completes_with_a_post_without_content_length(server, build):
    created = post(
        server,
        "/sword2/collection/fonds",
        zip_files(build("10")),
        **{"In-Progress": "true"},
    )
    request = requests.Request(
        "POST",
        created.headers["Location"],
        headers={"In-Progress": "false"},
        auth=ALICE[:2],
    ).prepare()
    del request.headers["Content-Length"]

    completed = requests.Session().send(request, timeout=60)

    assert completed.status_code == 200, completed.text
    assert server.wait(status_link(created))["state"] == "completed"


def test_it_answers_410_for_zips_removed_after_ingest(server, build):
    created = post(server, "/sword2/collection/fonds", zip_files(build("10")))
    server.wait(status_link(created))
    edit_media = created.headers["Location"].replace("/edit/", "/edit-media/")

    response = requests.get(edit_media, auth=ALICE[:2], timeout=10)

    assert response.status_code == 410
    assert etree.fromstring(response.content).tag == f"{{{SWORD2_NS}}}error"


@pytest.mark.parametrize(
    "path",
    [
        "/sword2/edit/abc",
        "/sword2/edit-media/1/..%2f..%2fsecret_key",
        "/sword/deposit/fonds/extra",
    ],
)
def test_it_answers_unknown_sword_urls_with_xml_404(server, path):
    response = requests.get(f"{server.url}{path}", auth=ALICE[:2], timeout=10)

    assert response.status_code == 404
    assert etree.fromstring(response.content).get("href").endswith("NotFound")


def test_it_serves_sword2_behind_index_php(server):
    response = requests.get(
        f"{server.url}/index.php/sword2/servicedocument", auth=ALICE[:2], timeout=10
    )

    assert response.status_code == 200
