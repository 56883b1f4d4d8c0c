"""Checks of an uploaded zip's entries before its deposit is queued."""

import zipfile

import pytest

from depositum.deposits.packages import PackageError, check_zip, zip_names

METS_NAME = "dip-828c44bb-e631-4137-8638-bda4434218dc/METS.828c44bb.xml"


def write_zip(path, entries):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for entry in entries:
            archive.writestr(entry, b"<mets/>")
    return path


def test_check_zip_accepts_utf8_names(tmp_path):
    path = write_zip(tmp_path / "ok.zip", [METS_NAME, "dip/objects/café-ü.jpg"])

    check_zip(path, "ok.zip")

    assert zip_names(path) == [METS_NAME, "dip/objects/café-ü.jpg"]


def test_check_zip_local_header_name_differs(tmp_path):
    path = write_zip(tmp_path / "slip.zip", ["dip/objects/aaaa.jpg"])
    data = path.read_bytes()
    # The first occurrence of the name is in the local header, the second in the
    # central directory that zipfile lists.
    start = data.index(b"aaaa")
    path.write_bytes(data[:start] + b"../x" + data[start + 4 :])

    with pytest.raises(PackageError) as caught:
        check_zip(path, "slip.zip")

    assert caught.value.status == 415
    assert "differ" in str(caught.value)


def test_check_zip_bad_local_signature(tmp_path):
    path = write_zip(tmp_path / "magic.zip", [METS_NAME])
    data = bytearray(path.read_bytes())
    data[0:4] = b"XXXX"
    path.write_bytes(bytes(data))

    with pytest.raises(PackageError) as caught:
        check_zip(path, "magic.zip")

    assert caught.value.status == 415


def test_check_zip_encrypted_entry(tmp_path):
    path = write_zip(tmp_path / "secret.zip", [METS_NAME])
    data = bytearray(path.read_bytes())
    # Set flag bit 0, "encrypted", in the local header and the central directory.
    data[6] |= 0x1
    central = data.index(b"PK\x01\x02")
    data[central + 8] |= 0x1
    path.write_bytes(bytes(data))

    with pytest.raises(PackageError) as caught:
        check_zip(path, "secret.zip")

    assert caught.value.status == 415
    assert "encrypted" in str(caught.value)


def test_check_zip_unknown_compression(tmp_path):
    path = write_zip(tmp_path / "method.zip", [METS_NAME])
    data = bytearray(path.read_bytes())
    # Compression method 99 (AES in WinZip's extension) in both headers.
    local_method = 8
    data[local_method : local_method + 2] = (99).to_bytes(2, "little")
    central = data.index(b"PK\x01\x02")
    data[central + 10 : central + 12] = (99).to_bytes(2, "little")
    path.write_bytes(bytes(data))

    with pytest.raises(PackageError) as caught:
        check_zip(path, "method.zip")

    assert caught.value.status == 415


def test_zip_names_survive_rename(tmp_path):
    path = write_zip(tmp_path / "part.zip.part", [METS_NAME])
    check_zip(path, "part.zip")
    renamed = path.rename(tmp_path / "part.zip")

    assert zip_names(renamed) == [METS_NAME]


def test_zip_names_of_unchecked_zip(tmp_path):
    path = write_zip(tmp_path / "plain.zip", [METS_NAME, "dip/objects/a.jpg"])

    assert zip_names(path) == [METS_NAME, "dip/objects/a.jpg"]
