"""SWORD 1.3 deposits against a live server with a real Huey consumer."""

import base64
import hashlib
import io
import shutil
import zipfile

import pytest
import requests
from lxml import etree

from tests.conftest import ALICE, BOB

DIP_PACKAGING = "http://purl.org/net/sword-types/METSArchivematicaDIP"
SWORD_NS = "http://purl.org/net/sword/"
ATOM_NS = "http://www.w3.org/2005/Atom"
APP_NS = "http://www.w3.org/2007/app"

pytestmark = pytest.mark.live


def parse(response):
    return etree.fromstring(response.content)


def archivematica_headers(folder_name):
    """The headers stock Archivematica sends with its deposit request."""
    return {
        "User-Agent": "Archivematica",
        "X-Packaging": DIP_PACKAGING,
        "Content-Type": "application/zip",
        "X-No-Op": "false",
        "X-Verbose": "false",
        "Content-Location": f"file:///{folder_name}",
    }


def zip_dip(dip):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(dip.rglob("*")):
            if path.is_file():
                archive.write(path, f"{dip.name}/{path.relative_to(dip)}")
    return buffer.getvalue()


def assert_sword_error(response, status, name):
    assert response.status_code == status, response.text
    document = parse(response)
    assert document.tag == f"{{{SWORD_NS}}}error"
    assert document.get("href").endswith(name)
    assert document.findtext(f"{{{ATOM_NS}}}summary")
    return document


@pytest.mark.parametrize(
    "prefix", ["/sword", "/index.php/sword", "/;sword", "/index.php/;sword"]
)
def test_it_serves_service_document_at_every_url_form(server, prefix):
    response = requests.get(
        f"{server.url}{prefix}/servicedocument", auth=ALICE[:2], timeout=10
    )

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/atomsvc+xml"
    document = parse(response)
    assert document.findtext(f"{{{SWORD_NS}}}version") == "1.3"
    collections = document.findall(f".//{{{APP_NS}}}collection")
    assert [c.get("href") for c in collections] == [f"{server.url}/sword/deposit/fonds"]
    packagings = collections[0].findall(f"{{{SWORD_NS}}}acceptPackaging")
    assert packagings[0].text == DIP_PACKAGING


def test_it_authenticates_with_the_email_address(server):
    response = requests.get(
        f"{server.url}/sword/servicedocument", auth=(ALICE[2], ALICE[1]), timeout=10
    )

    assert response.status_code == 200


def test_it_rejects_wrong_password_with_401(server):
    response = requests.get(
        f"{server.url}/sword/servicedocument", auth=("alice", "wrong"), timeout=10
    )

    assert_sword_error(response, 401, "AuthenticationFailed")
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_it_records_stock_archivematica_request_as_success(server, build, tmp_path):
    for round, prefix in enumerate(["/index.php/sword", "/;sword"]):
        # Each ingest removes the DIP folder, so every round brings its own copy.
        dip = server.place(build("05", dest=tmp_path / str(round)))

        response = requests.post(
            f"{server.url}{prefix}/deposit/fonds",
            headers=archivematica_headers(dip.name),
            auth=(ALICE[2], ALICE[1]),
            allow_redirects=False,
            timeout=300,
        )

        # Archivematica takes only 200, 201 or 302, always with a Location.
        assert response.status_code == 302
        assert response.headers["Location"].startswith(f"{server.url}/api/deposits/")
        status = server.wait(response.headers["Location"])
        assert status["state"] == "completed", status
        assert not dip.exists()


def test_it_answers_generic_client_with_202(server, build):
    dip = server.place(build("10"))
    headers = archivematica_headers(dip.name)
    headers["User-Agent"] = "generic-sword-client/1.0"

    response = requests.post(
        f"{server.url}/sword/deposit/fonds",
        headers=headers,
        auth=ALICE[:2],
        allow_redirects=False,
        timeout=60,
    )

    assert response.status_code == 202
    entry = parse(response)
    assert entry.findtext(f"{{{SWORD_NS}}}treatment")
    assert entry.findtext(f"{{{SWORD_NS}}}userAgent") == "generic-sword-client/1.0"
    alternate = entry.find(
        f"{{{ATOM_NS}}}link[@rel='alternate'][@type='application/json']"
    )
    assert alternate.get("href") == response.headers["Location"]

    status = server.wait(response.headers["Location"])
    assert status["state"] == "completed"
    assert status["target"] == "fonds"
    assert status["progress"] == {"done": 1, "total": 1}
    assert status["description"] == "hello-txt"
    page = requests.get(status["description_url"], timeout=10)
    assert page.status_code == 200
    assert "hello.txt" in page.text


@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_it_ingests_zip_upload_with_content_md5(server, build, encoding):
    body = zip_dip(build("03"))
    digest = hashlib.md5(body)
    md5 = digest.hexdigest() if encoding == "hex" else base64.b64encode(digest.digest())

    response = requests.post(
        f"{server.url}/sword/deposit/fonds",
        headers={
            "X-Packaging": DIP_PACKAGING,
            "Content-Type": "application/zip",
            "Content-MD5": md5,
            "Content-Disposition": "attachment; filename=dip.zip",
        },
        data=body,
        auth=ALICE[:2],
        timeout=60,
        allow_redirects=False,
    )

    assert response.status_code == 202, response.text
    status = server.wait(response.headers["Location"])
    assert status["state"] == "completed", status
    description = requests.get(
        f"{server.url}/api/descriptions/{status['description']}", timeout=10
    ).json()
    assert description["title"] == (
        "Sed dui velit, varius a varius quis namu2016每月学生会参加者会议项目"
    )


@pytest.mark.parametrize(
    "disposition",
    [
        'attachment; filename="Rapport-€-日本.zip"'.encode(),
        b"attachment; filename=Rapport-%E2%82%AC-%E6%97%A5%E6%9C%AC.zip",
        b"attachment; filename*=UTF-8''Rapport-%E2%82%AC-%E6%97%A5%E6%9C%AC.zip",
    ],
    ids=["raw utf-8", "percent-encoded", "rfc 6266"],
)
def test_it_keeps_a_non_latin1_file_name(server, build, disposition):
    response = requests.post(
        f"{server.url}/sword/deposit/fonds",
        headers={
            "X-Packaging": DIP_PACKAGING,
            "Content-Type": "application/zip",
            "Content-Disposition": disposition,
        },
        data=zip_dip(build("03")),
        auth=ALICE[:2],
        timeout=60,
        allow_redirects=False,
    )

    assert response.status_code == 202, response.text
    status = server.wait(response.headers["Location"])
    assert status["filename"] == "Rapport-€-日本.zip"


def test_it_rejects_checksum_mismatch_with_412(server, build):
    body = zip_dip(build("10"))
    uploads = server.data_dir / "uploads"
    before = set(uploads.glob("*")) if uploads.exists() else set()

    response = requests.post(
        f"{server.url}/sword/deposit/fonds",
        headers={"X-Packaging": DIP_PACKAGING, "Content-MD5": "0" * 32},
        data=body,
        auth=ALICE[:2],
        timeout=60,
    )

    assert_sword_error(response, 412, "ErrorChecksumMismatch")
    assert set(uploads.glob("*")) - before == set()


def test_it_rejects_body_that_is_not_a_zip(server):
    response = requests.post(
        f"{server.url}/sword/deposit/fonds",
        headers={"X-Packaging": DIP_PACKAGING},
        data=b"this is not a zip",
        auth=ALICE[:2],
        timeout=60,
    )

    assert_sword_error(response, 415, "ErrorContent")


def test_it_rejects_unknown_packaging_with_415(server):
    response = requests.post(
        f"{server.url}/sword/deposit/fonds",
        headers={"X-Packaging": "http://example.org/unknown", "Content-Location": "x"},
        auth=ALICE[:2],
        timeout=10,
    )

    assert_sword_error(response, 415, "ErrorContent")


def test_it_rejects_target_without_grant_with_403(server):
    response = requests.post(
        f"{server.url}/sword/deposit/fonds",
        headers=archivematica_headers("anything"),
        auth=BOB[:2],
        timeout=10,
    )

    assert_sword_error(response, 403, "Forbidden")


def test_it_rejects_unknown_target_with_404(server):
    response = requests.post(
        f"{server.url}/sword/deposit/no-such-target",
        headers=archivematica_headers("anything"),
        auth=ALICE[:2],
        timeout=10,
    )

    assert_sword_error(response, 404, "TargetNotFound")


def test_it_rejects_get_on_deposit_with_405(server):
    response = requests.get(
        f"{server.url}/sword/deposit/fonds", auth=ALICE[:2], timeout=10
    )

    assert_sword_error(response, 405, "MethodNotAllowed")
    assert response.headers["Allow"] == "POST"


@pytest.mark.parametrize(
    "location",
    [
        "file:///../etc",
        "file:///%2e%2e/etc",
        "file:///etc/passwd",
        "http://example.org/dip",
        "file:///missing-dip",
    ],
)
def test_it_rejects_content_location_outside_deposit_dir(server, location):
    response = requests.post(
        f"{server.url}/sword/deposit/fonds",
        headers={"X-Packaging": DIP_PACKAGING, "Content-Location": location},
        auth=ALICE[:2],
        timeout=10,
    )

    assert_sword_error(response, 400, "ErrorBadRequest")


def test_it_rejects_folder_without_mets(server, tmp_path):
    (server.deposit_dir / "no-mets").mkdir(parents=True, exist_ok=True)

    response = requests.post(
        f"{server.url}/sword/deposit/fonds",
        headers=archivematica_headers("no-mets"),
        auth=ALICE[:2],
        timeout=10,
    )

    assert_sword_error(response, 400, "ErrorBadRequest")
    assert "METS" in parse(response).findtext(f"{{{ATOM_NS}}}summary")


def test_it_fails_deposit_whose_access_copies_are_missing(server, build):
    dip = server.place(build("01", access_copies=False))

    response = requests.post(
        f"{server.url}/sword/deposit/fonds",
        headers=archivematica_headers(dip.name),
        auth=ALICE[:2],
        timeout=60,
        allow_redirects=False,
    )

    status = server.wait(response.headers["Location"])
    assert status["state"] == "failed"
    assert "access cop" in status["error"]
    assert dip.exists()


def test_it_returns_json_404_for_unknown_deposit(server):
    response = requests.get(f"{server.url}/api/deposits/999999", timeout=10)

    assert response.status_code == 404
    assert response.json() == {"error": "deposit 999999 not found"}


def test_it_fails_dip_that_contains_symlinks(server, build, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the catalogue")
    dip = server.place(build("10", dest=tmp_path / "dips"))
    (dip / "OCRfiles").mkdir(exist_ok=True)
    (dip / "OCRfiles" / "hello-c0ae91a4-00b6-4605-927e-41f900efe10a.txt").symlink_to(
        secret
    )

    response = requests.post(
        f"{server.url}/sword/deposit/fonds",
        headers=archivematica_headers(dip.name),
        auth=ALICE[:2],
        timeout=60,
        allow_redirects=False,
    )

    status = server.wait(response.headers["Location"])
    assert status["state"] == "failed"
    assert "symbolic links" in status["error"]
    assert "hello-c0ae91a4" in status["error"]


@pytest.mark.parametrize("name", ["x" * 300, "loop-a"])
def test_it_rejects_unresolvable_content_location_with_400(server, name):
    loop_a, loop_b = server.deposit_dir / "loop-a", server.deposit_dir / "loop-b"
    if not loop_a.is_symlink():
        loop_a.symlink_to(loop_b)
        loop_b.symlink_to(loop_a)

    response = requests.post(
        f"{server.url}/sword/deposit/fonds",
        headers=archivematica_headers(name),
        auth=ALICE[:2],
        timeout=10,
    )

    assert_sword_error(response, 400, "ErrorBadRequest")


def test_it_rejects_folder_that_only_contains_the_dip(server, build, tmp_path):
    shared = server.deposit_dir / "shared"
    shared.mkdir(exist_ok=True)
    (shared / "keep.txt").write_text("unrelated")
    dip = build("10", dest=tmp_path)
    shutil.copytree(dip, shared / dip.name, dirs_exist_ok=True)

    response = requests.post(
        f"{server.url}/sword/deposit/fonds",
        headers=archivematica_headers("shared"),
        auth=ALICE[:2],
        timeout=10,
    )

    document = assert_sword_error(response, 400, "ErrorBadRequest")
    assert f"file:///shared/{dip.name}" in document.findtext(f"{{{ATOM_NS}}}summary")
    assert (shared / "keep.txt").exists()


def test_it_accepts_base_url_with_trailing_slash(server, build, tmp_path):
    dip = server.place(build("10", dest=tmp_path))

    response = requests.post(
        f"{server.url}/index.php//sword/deposit/fonds",
        headers=archivematica_headers(dip.name),
        auth=ALICE[:2],
        timeout=60,
        allow_redirects=False,
    )

    assert response.status_code == 302
    assert server.wait(response.headers["Location"])["state"] == "completed"


def zip_with(entries):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "entry", ["../evil.txt", "/etc/evil.txt", "dip/../../evil.txt"]
)
def test_it_rejects_zip_slip_before_queueing(server, entry):
    body = zip_with([("dip/METS.x.xml", "<mets/>"), (entry, "x")])

    response = requests.post(
        f"{server.url}/sword/deposit/fonds",
        headers={
            "X-Packaging": DIP_PACKAGING,
            "Content-Disposition": "attachment; filename=evil.zip",
        },
        data=body,
        auth=ALICE[:2],
        timeout=10,
    )

    document = assert_sword_error(response, 400, "ErrorBadRequest")
    assert "evil.zip" in document.findtext(f"{{{ATOM_NS}}}summary")


def test_it_answers_429_after_repeated_wrong_passwords(server):
    # A user of its own, since the throttle would lock out a shared one.
    server.run("createuser", "dave", "--password", "dave-password")
    for _ in range(10):
        requests.get(
            f"{server.url}/sword/servicedocument", auth=("dave", "guess"), timeout=10
        )

    response = requests.get(
        f"{server.url}/sword/servicedocument",
        auth=("dave", "dave-password"),
        timeout=10,
    )

    assert_sword_error(response, 429, "TooManyFailedLogins")
    assert int(response.headers["Retry-After"]) > 0
    assert "guess" not in server.log.read_text()
