"""A corpus of hostile and broken inputs, run against a live server and worker.

Each case is one request or one DIP with the status, SWORD error or deposit
outcome it must get. After the corpus, a check that no file was written where
the cases aimed, and that the catalogue contains no descriptions of an ingest
that did not complete.
"""

import base64
import io
import json
import socket
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest
import requests
from lxml import etree

from tests.conftest import ALICE, BOB, mets_path
from tests.dips import build_dip

pytestmark = pytest.mark.live

ATOM = "http://www.w3.org/2005/Atom"
DIP = "http://purl.org/net/sword-types/METSArchivematicaDIP"
EDGE = Path(__file__).parent / "fixtures" / "mets" / "edge"
# Files the cases try to create; none of them may exist after the corpus.
TARGETS = ["/tmp/depositum-evil.txt", "/etc/depositum-evil.txt"]


def zip_of(entries, symlinks=()):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries:
            archive.writestr(name, data)
        for name, target in symlinks:
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def zip_claiming(entry_count, claimed_size):
    """A small zip whose central directory claims huge uncompressed sizes."""
    data = bytearray(zip_of([(f"dip/{n}.bin", b"x") for n in range(entry_count)]))
    position = data.find(b"PK\x01\x02")
    while position != -1:
        struct.pack_into("<I", data, position + 24, claimed_size)
        position = data.find(b"PK\x01\x02", position + 4)
    return bytes(data)


def tar_gz():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("dip/METS.x.xml")
        archive.addfile(info, io.BytesIO(b""))
    return buffer.getvalue()


METS = b"dip/METS.828c44bb-e631-4137-8638-bda4434218dc.xml"
SLIP = TARGETS[0]

# (case, headers, body, expected status, expected SWORD error name)
REQUEST_CASES = [
    ("dot-dot location", {"Content-Location": "file:///../etc"}, b"", 400, "ErrorBadRequest"),
    ("encoded dot-dot", {"Content-Location": "file:///%2e%2e/etc"}, b"", 400, "ErrorBadRequest"),
    ("absolute location", {"Content-Location": "file:///etc"}, b"", 400, "ErrorBadRequest"),
    ("http scheme", {"Content-Location": "http://127.0.0.1/dip"}, b"", 400, "ErrorBadRequest"),
    ("ftp scheme", {"Content-Location": "ftp://127.0.0.1/dip"}, b"", 400, "ErrorBadRequest"),
    ("smb scheme", {"Content-Location": "smb://host/share/dip"}, b"", 400, "ErrorBadRequest"),
    ("empty location", {"Content-Location": "file:///"}, b"", 400, "ErrorBadRequest"),
    ("long location", {"Content-Location": "x" * 400}, b"", 400, "ErrorBadRequest"),
    ("outside link", {"Content-Location": "file:///link-out"}, b"", 400, "ErrorBadRequest"),
    ("link loop", {"Content-Location": "file:///loop-a"}, b"", 400, "ErrorBadRequest"),
    ("zip slip", {}, zip_of([(METS.decode(), "<m/>"), ("../../depositum-evil.txt", "x")]), 400, "ErrorBadRequest"),
    ("absolute entry", {}, zip_of([(METS.decode(), "<m/>"), (SLIP, "x")]), 400, "ErrorBadRequest"),
    ("backslash entry", {}, zip_of([(METS.decode(), "<m/>"), ("..\\..\\evil.txt", "x")]), 400, "ErrorBadRequest"),
    ("symlink entry", {}, zip_of([(METS.decode(), "<m/>")], [("dip/objects/a", "/etc/passwd")]), 400, "ErrorBadRequest"),
    ("zip bomb size", {}, zip_claiming(300, 0xFFFFFFF0), 400, "ErrorBadRequest"),
    ("truncated zip", {}, zip_of([(METS.decode(), "<m/>" * 500)])[:-30], 415, "ErrorContent"),
    ("not a zip", {}, b"GIF89a not a zip at all", 415, "ErrorContent"),
    ("tar.gz body", {}, tar_gz(), 415, "ErrorContent"),
    ("empty zip", {}, zip_of([]), 400, "ErrorBadRequest"),
    ("short end record", {}, b"PK\x05\x06\0\0", 415, "ErrorContent"),
    ("control character in name", {"Content-Disposition": 'attachment; filename="a%01b.zip"'}, zip_of([(METS.decode(), "<m/>")]), 400, "ErrorBadRequest"),
    ("line break in name", {"Content-Disposition": "attachment; filename=a%0d%0ab.zip"}, zip_of([(METS.decode(), "<m/>")]), 400, "ErrorBadRequest"),
    ("line break in rfc 6266 name", {"Content-Disposition": "attachment; filename*=UTF-8''a%0d%0ab.zip"}, zip_of([(METS.decode(), "<m/>")]), 400, "ErrorBadRequest"),
    ("zip without mets", {}, zip_of([("dip/inner.zip", zip_of([(METS.decode(), "<m/>")]))]), 400, "ErrorBadRequest"),
    ("wrong md5", {"Content-MD5": "0" * 32}, zip_of([(METS.decode(), "<m/>")]), 412, "ErrorChecksumMismatch"),
    ("garbled md5", {"Content-MD5": "not-md5"}, zip_of([(METS.decode(), "<m/>")]), 400, "ErrorBadRequest"),
    ("unknown packaging", {"X-Packaging": "http://example.org/x"}, b"PK", 415, "ErrorContent"),
    ("bad no-op flag", {"X-No-Op": "perhaps"}, b"PK", 400, "ErrorBadRequest"),
    ("mediation refused", {"X-On-Behalf-Of": "bob"}, b"PK", 412, "MediationNotAllowed"),
]  # fmt: skip


@pytest.fixture(scope="module")
def links(server, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    server.deposit_dir.mkdir(parents=True, exist_ok=True)
    for name, target in [
        ("link-out", outside),
        ("loop-a", server.deposit_dir / "loop-b"),
        ("loop-b", server.deposit_dir / "loop-a"),
    ]:
        link = server.deposit_dir / name
        if not link.is_symlink():
            link.symlink_to(target)


def assert_error(response, status, name):
    assert response.status_code == status, response.text
    document = etree.fromstring(response.content)
    assert document.get("href").endswith(name)
    summary = document.findtext(f"{{{ATOM}}}summary")
    assert summary
    assert "Traceback" not in summary


@pytest.mark.parametrize(
    "headers, body, status, name",
    [case[1:] for case in REQUEST_CASES],
    ids=[case[0] for case in REQUEST_CASES],
)
def test_hostile_request_gets_sword_error(server, links, headers, body, status, name):
    headers = {"X-Packaging": DIP, **headers}

    response = requests.post(
        f"{server.url}/sword/deposit/fonds",
        headers=headers,
        data=body,
        auth=ALICE[:2],
        timeout=30,
    )

    assert_error(response, status, name)


@pytest.mark.parametrize(
    "path, auth, status, name",
    [
        ("/sword/deposit/no-such-target", ALICE[:2], 404, "TargetNotFound"),
        ("/sword/deposit/d%C3%A9p%C3%B4t", ALICE[:2], 404, "TargetNotFound"),
        ("/sword/deposit/fonds", BOB[:2], 403, "Forbidden"),
        (
            "/sword/deposit/fonds",
            ("alice", "wrong-password"),
            401,
            "AuthenticationFailed",
        ),
        ("/sword/deposit/fonds", None, 401, "AuthenticationFailed"),
    ],
    ids=[
        "unknown target",
        "non-ascii slug",
        "no grant",
        "wrong password",
        "no credentials",
    ],
)
def test_hostile_target_or_credentials(server, path, auth, status, name):
    response = requests.post(
        f"{server.url}{path}",
        headers={"X-Packaging": DIP, "Content-Location": "x"},
        auth=auth,
        timeout=30,
    )

    assert_error(response, status, name)


def test_garbled_authorization_gets_401(server):
    response = requests.post(
        f"{server.url}/sword/deposit/fonds",
        headers={"X-Packaging": DIP, "Authorization": "Basic %%%not-base64"},
        timeout=30,
    )

    assert_error(response, 401, "AuthenticationFailed")


def test_wrong_method_gets_405(server):
    response = requests.delete(
        f"{server.url}/sword/deposit/fonds", auth=ALICE[:2], timeout=30
    )

    assert_error(response, 405, "MethodNotAllowed")


def raw_post(server, headers, body):
    credentials = base64.b64encode(f"{ALICE[0]}:{ALICE[1]}".encode()).decode()
    head = (
        f"POST /sword/deposit/fonds HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Basic {credentials}\r\nX-Packaging: {DIP}\r\n"
        f"Connection: close\r\n{headers}\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
        conn.sendall(head.encode() + body)
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer.decode("utf-8", "replace")


def test_body_shorter_than_content_length_gets_400(server):
    answer = raw_post(server, "Content-Length: 5000\r\n", b"PK\x03\x04 short")

    assert answer.startswith("HTTP/1.1 400")
    assert "ended after 10 of the 5000 bytes" in answer


def test_body_without_content_length_gets_411(server):
    answer = raw_post(server, "", b"")

    assert answer.startswith("HTTP/1.1 411")


# Broken or hostile METS and DIP folders: accepted, then failed by the worker.
METS_CASES = [
    ("external entity", (EDGE / "external_entity.xml").read_bytes(), "failed"),
    ("billion laughs", b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(b'<!ENTITY %c "&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;">' % ((98 + i,) + (97 + i,) * 10) for i in range(8))
        + b']><m>&i;</m>', "failed"),
    ("truncated mets", mets_path("10").read_bytes()[:5000], "failed"),
    ("wrong root", b"<?xml version='1.0'?><html><body/></html>", "failed"),
    ("no filesec", (EDGE / "no_filesec.xml").read_bytes(), "failed"),
    ("no structmap", (EDGE / "no_structmap.xml").read_bytes(), "failed"),
    ("href outside", (EDGE / "href_outside.xml").read_bytes(), "failed"),
    ("binary mets", bytes(range(256)) * 8, "failed"),
    ("latin-1 mets", mets_path("10").read_bytes().replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"', 1), "completed"),
]  # fmt: skip


def deposit_dip(server, dip):
    response = requests.post(
        f"{server.url}/sword/deposit/fonds",
        headers={"X-Packaging": DIP, "Content-Location": f"file:///{dip.name}"},
        auth=ALICE[:2],
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return server.wait(response.headers["Location"])


@pytest.mark.parametrize(
    "mets, outcome",
    [case[1:] for case in METS_CASES],
    ids=[case[0] for case in METS_CASES],
)
def test_hostile_mets_ends_cleanly(server, build, tmp_path, mets, outcome):
    dip = build("10", dest=tmp_path)
    (dip / "METS.828c44bb-e631-4137-8638-bda4434218dc.xml").write_bytes(mets)

    status = deposit_dip(server, server.place(dip))

    assert status["state"] == outcome, status
    if outcome == "failed":
        assert status["error"]
        assert "internal error" not in status["error"]


def test_dip_with_link_to_etc_fails(server, tmp_path):
    dip = server.place(build_dip(mets_path("10"), tmp_path))
    access_copy = dip / "objects" / "c0ae91a4-00b6-4605-927e-41f900efe10a-hello.txt"
    access_copy.unlink()
    access_copy.symlink_to("/etc/passwd")

    status = deposit_dip(server, dip)

    assert status["state"] == "failed"
    assert "symbolic links" in status["error"]


def test_corpus_left_nothing_outside_and_no_partial_trees(server):
    for target in TARGETS:
        assert not Path(target).exists(), target
    escaped = [p for p in server.data_dir.parent.rglob("*evil*") if p.is_file()]
    assert escaped == []

    script = (
        "import json;"
        "from depositum.catalogue.models import Description;"
        "from depositum.deposits.models import Deposit;"
        "done = Deposit.objects.filter(state='completed').values('aip');"
        "orphans = Description.objects.exclude(aip=None).exclude(aip__in=done);"
        "print('ORPHANS', json.dumps(orphans.count()))"
    )
    output = server.run("shell", "-c", script).stdout
    (line,) = [line for line in output.splitlines() if line.startswith("ORPHANS ")]
    assert json.loads(line.removeprefix("ORPHANS ")) == 0


def test_zip_bomb_ratio_gets_400(server):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(METS.decode(), "<m/>")
        archive.writestr("dip/objects/bomb.bin", b"\0" * (20 * 1024 * 1024))
    body = buffer.getvalue()

    response = requests.post(
        f"{server.url}/sword/deposit/fonds",
        headers={"X-Packaging": DIP},
        data=body,
        auth=ALICE[:2],
        timeout=30,
    )

    assert_error(response, 400, "ErrorBadRequest")
    assert "zip bomb" in etree.fromstring(response.content).findtext(
        f"{{{ATOM}}}summary"
    )


def test_html_pages_carry_security_headers(server):
    response = requests.get(f"{server.url}/", timeout=10)

    policy = response.headers["Content-Security-Policy"]
    # Scripts come only from the site's own static files, never inline, so a
    # title that carries a <script> element cannot run.
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_stalled_upload_gets_408_and_leaves_no_file(server):
    credentials = base64.b64encode(f"{ALICE[0]}:{ALICE[1]}".encode()).decode()
    uploads = server.data_dir / "uploads"
    before = set(uploads.rglob("*")) if uploads.exists() else set()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
        conn.sendall(
            (
                "POST /sword/deposit/fonds HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Basic {credentials}\r\nX-Packaging: {DIP}\r\n"
                "Content-Length: 5000\r\n\r\nPK\x03\x04"
            ).encode()
        )
        # Send nothing more and keep the connection open.
        answer = b""
        while b"</sword:error>" not in answer:
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
        answer = answer.decode("utf-8", "replace")

    assert answer.startswith("HTTP/1.1 408")
    assert "The upload stalled" in answer
    leftovers = {p for p in uploads.rglob("*") if p.is_file()} - before
    assert leftovers == set()


def test_trickled_upload_gets_408_at_its_deadline(server):
    credentials = base64.b64encode(f"{ALICE[0]}:{ALICE[1]}".encode()).decode()
    # 4000 bytes at the test server's 1 kB/s take at most about 4 seconds.
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as conn:
        conn.sendall(
            (
                "POST /sword/deposit/fonds HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Basic {credentials}\r\nX-Packaging: {DIP}\r\n"
                "Content-Length: 4000\r\n\r\nPK"
            ).encode()
        )
        conn.settimeout(1)
        answer = b""
        for _ in range(30):
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                conn.sendall(b"x")
                continue
            if not chunk:
                break
            answer += chunk
            if b"</sword:error>" in answer:
                break

    text = answer.decode("utf-8", "replace")
    assert text.startswith("HTTP/1.1 408")
    assert "took longer than" in text
