"""Resolving Content-Location and receiving uploads, without a server."""

import base64
import hashlib
import io
import zipfile

import pytest

from depositum.deposits.packages import (
    PackageError,
    parse_content_md5,
    resolve_reference,
    store_upload,
)


@pytest.fixture
def deposit_dir(tmp_path, settings):
    settings.DEPOSIT_DIR = tmp_path / "deposits"
    (settings.DEPOSIT_DIR / "MyDIP-1234").mkdir(parents=True)
    (settings.DEPOSIT_DIR / "name with spaces").mkdir()
    (tmp_path / "outside").mkdir()
    return settings.DEPOSIT_DIR


@pytest.mark.parametrize(
    "location",
    ["file:///MyDIP-1234", "file://MyDIP-1234", "MyDIP-1234", "file:///MyDIP-1234/"],
)
def test_it_resolves_every_spelling_of_a_folder(deposit_dir, location):
    assert resolve_reference(location) == (deposit_dir / "MyDIP-1234").resolve()


def test_it_resolves_unencoded_name_with_spaces(deposit_dir):
    folder = resolve_reference("file:///name with spaces")

    assert folder == (deposit_dir / "name with spaces").resolve()


def test_it_resolves_percent_encoded_name(deposit_dir):
    folder = resolve_reference("file:///name%20with%20spaces")

    assert folder == (deposit_dir / "name with spaces").resolve()


def test_it_accepts_full_path_inside_deposit_dir(deposit_dir):
    folder = resolve_reference(f"file://{deposit_dir}/MyDIP-1234")

    assert folder == (deposit_dir / "MyDIP-1234").resolve()


@pytest.mark.parametrize(
    "location",
    [
        "file:///../outside",
        "file:///%2e%2e/outside",
        "../outside",
        "file:///MyDIP-1234/../../outside",
        "file:///",
        "ftp://host/MyDIP-1234",
        "http://host/MyDIP-1234",
        "smb://host/share/MyDIP-1234",
    ],
)
def test_it_rejects_locations_outside_deposit_dir(deposit_dir, location):
    with pytest.raises(PackageError):
        resolve_reference(location)


def test_it_rejects_symlink_that_leaves_deposit_dir(deposit_dir, tmp_path):
    (deposit_dir / "link").symlink_to(tmp_path / "outside")

    with pytest.raises(PackageError):
        resolve_reference("file:///link")


def test_it_parses_hex_and_base64_md5():
    digest = hashlib.md5(b"dip").digest()

    assert parse_content_md5(digest.hex()) == digest
    assert parse_content_md5(base64.b64encode(digest).decode()) == digest


@pytest.mark.parametrize("value", ["abc", "z" * 32, "not base64!"])
def test_it_rejects_malformed_md5(value):
    with pytest.raises(PackageError):
        parse_content_md5(value)


def zip_bytes():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("dip/METS.x.xml", "<mets/>")
    return buffer.getvalue()


def test_it_stores_upload_and_checks_md5(tmp_path):
    body = zip_bytes()
    dest = tmp_path / "upload.zip"

    size = store_upload(
        io.BytesIO(body), len(body), dest, expected_md5=hashlib.md5(body).digest()
    )

    assert size == len(body)
    assert dest.read_bytes() == body


def test_it_removes_upload_with_wrong_md5(tmp_path):
    body = zip_bytes()
    dest = tmp_path / "upload.zip"

    with pytest.raises(PackageError) as raised:
        store_upload(io.BytesIO(body), len(body), dest, expected_md5=b"\0" * 16)

    assert raised.value.status == 412
    assert not dest.exists()


def test_it_removes_truncated_upload(tmp_path):
    body = zip_bytes()
    dest = tmp_path / "upload.zip"

    with pytest.raises(PackageError) as raised:
        store_upload(io.BytesIO(body[:10]), len(body), dest)

    assert "ended after 10" in str(raised.value)
    assert not dest.exists()
