"""Checks of an uploaded zip's entries before its deposit is queued."""

import zipfile

import pytest

from depositum.deposits.packages import PackageError, check_zip, zip_names
from depositum.deposits.unpack import unpack_zip
from depositum.ingest.plan import IngestError

METS_NAME = "dip-828c44bb-e631-4137-8638-bda4434218dc/METS.828c44bb.xml"


def write_zip(path, entries):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for entry in entries:
            archive.writestr(entry, b"<mets/>")
    return path


def test_check_zip_accepts_utf8_names(tmp_path):
    path = write_zip(tmp_path / "ok.zip", [METS_NAME, "dip/café-ü.txt"])

    check_zip(path, "ok.zip")

    assert zip_names(path) == [METS_NAME, "dip/café-ü.txt"]


def test_unpack_rejects_local_header_name_that_differs(tmp_path, settings):
    path = write_zip(tmp_path / "slip.zip", ["dip/objects/aaaa.jpg"])
    data = path.read_bytes()
    # The first occurrence of the name is in the local header, the second in the
    # central directory that zipfile lists.
    start = data.index(b"aaaa")
    path.write_bytes(data[:start] + b"../x" + data[start + 4 :])
    # The request checks only the central directory, which is sound.
    check_zip(path, "slip.zip")

    with pytest.raises(IngestError) as caught:
        unpack_zip(path, tmp_path / "unpacked")

    assert "slip.zip is not a readable zip" in str(caught.value)
    assert "b'dip/objects/../x.jpg' differ" in str(caught.value)
    assert not (tmp_path / "unpacked").exists()
    assert not (tmp_path / "x.jpg").exists()


def test_unpack_rejects_bad_local_signature(tmp_path, settings):
    path = write_zip(tmp_path / "magic.zip", [METS_NAME])
    data = bytearray(path.read_bytes())
    data[0:4] = b"XXXX"
    path.write_bytes(bytes(data))

    with pytest.raises(IngestError) as caught:
        unpack_zip(path, tmp_path / "unpacked")

    assert "Bad magic number" in str(caught.value)
    assert not (tmp_path / "unpacked").exists()


def test_check_zip_bad_central_signature(tmp_path):
    path = write_zip(tmp_path / "magic.zip", [METS_NAME])
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")
    data[central : central + 4] = b"XXXX"
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

    assert zip_names(path) == [METS_NAME]


def test_zip_names_are_the_top_two_levels(tmp_path):
    names = ["METS.x.xml", "dip/", "dip/objects/", "dip/objects/a.jpg", "c/d/e/"]
    path = write_zip(tmp_path / "levels.zip", names)
    check_zip(path, "levels.zip")

    assert zip_names(path) == ["METS.x.xml", "dip/", "dip/objects/"]
