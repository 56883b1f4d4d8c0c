"""Checks of an uploaded zip's entries before its deposit is queued."""

import tracemalloc
import zipfile

import pytest

from depositum.deposits.packages import PackageError, check_zip, zip_mets_names
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

    assert zip_mets_names(path) == [METS_NAME]


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

    assert zip_mets_names(renamed) == [METS_NAME]


def test_zip_names_of_unchecked_zip(tmp_path):
    path = write_zip(tmp_path / "plain.zip", [METS_NAME, "dip/objects/a.jpg"])

    assert zip_mets_names(path) == [METS_NAME]


def test_zip_mets_names_are_near_the_top(tmp_path):
    names = ["METS.x.xml", "dip/", "dip/METS.y.xml", "dip/objects/METS.z.xml", "c/"]
    path = write_zip(tmp_path / "levels.zip", names)
    check_zip(path, "levels.zip")

    assert zip_mets_names(path) == ["METS.x.xml", "dip/METS.y.xml"]


def test_unpack_names_entry_with_damaged_data(tmp_path):
    path = tmp_path / "deflated.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("dip/objects/a.txt", b"some text " * 100)
    data = bytearray(path.read_bytes())
    # The deflate stream starts after the 30-byte local header and the name.
    data[30 + len("dip/objects/a.txt")] = 0xFF
    path.write_bytes(bytes(data))

    with pytest.raises(IngestError) as caught:
        unpack_zip(path, tmp_path / "unpacked", "photos.zip")

    message = str(caught.value)
    assert message.startswith("The uploaded file photos.zip is not a readable zip")
    assert "'dip/objects/a.txt' is damaged" in message
    assert str(tmp_path) not in message
    assert not (tmp_path / "unpacked").exists()


def test_unpack_names_bad_local_signature_entry(tmp_path):
    path = write_zip(tmp_path / "magic.zip", [METS_NAME])
    data = bytearray(path.read_bytes())
    data[0:4] = b"XXXX"
    path.write_bytes(bytes(data))

    with pytest.raises(IngestError) as caught:
        unpack_zip(path, tmp_path / "unpacked")

    assert f"entry {METS_NAME!r}: Bad magic number" in str(caught.value)


def test_unpack_file_under_folder_name(tmp_path):
    # A file "dip/clash" and a file below a folder of the same name cannot
    # both be unpacked.
    path = tmp_path / "stored.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("dip/clash", b"file")
        archive.writestr("dip/clash/x.txt", b"file below a file")

    with pytest.raises(IngestError) as caught:
        unpack_zip(path, tmp_path / "unpacked", "clash.zip")

    message = str(caught.value)
    assert "The entry 'dip/clash/x.txt' of clash.zip could not be unpacked" in message
    assert str(tmp_path) not in message
    assert not (tmp_path / "unpacked").exists()


def test_check_zip_rejects_duplicate_names(tmp_path):
    path = tmp_path / "twice.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(METS_NAME, b"<mets/>")
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr(METS_NAME, b"<not-mets/>")

    with pytest.raises(PackageError) as caught:
        check_zip(path, "twice.zip")

    assert caught.value.status == 400
    assert f"two entries named {METS_NAME!r}" in str(caught.value)


def test_check_zip_rejects_shared_entry_data(tmp_path):
    path = write_zip(tmp_path / "shared.zip", [METS_NAME, "dip/objects/a.jpg"])
    data = bytearray(path.read_bytes())
    # Point the second central directory record at the first local header, so
    # two entries unpack the same data.
    second = data.index(b"PK\x01\x02", data.index(b"PK\x01\x02") + 4)
    data[second + 42 : second + 46] = (0).to_bytes(4, "little")
    path.write_bytes(bytes(data))

    with pytest.raises(PackageError) as caught:
        check_zip(path, "shared.zip")

    assert caught.value.status == 400
    assert "whose data overlap the next entry" in str(caught.value)


def test_check_zip_accepts_cp437_names(tmp_path):
    path = tmp_path / "dos.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(METS_NAME, b"<mets/>")
        info = zipfile.ZipInfo("dip/objects/caf\xe9.txt")
        archive.writestr(info, b"x")
    data = bytearray(path.read_bytes())
    # Clear the UTF-8 flag that zipfile set for the non-ASCII name, in the
    # local header and in the central directory, so the name reads as cp437.
    name = "dip/objects/café.txt".encode()
    local = data.index(name) - 30
    data[local + 7] &= ~0x08
    central = data.index(name, data.index(b"PK\x01\x02")) - 46
    data[central + 9] &= ~0x08
    path.write_bytes(bytes(data))

    check_zip(path, "dos.zip")

    assert zip_mets_names(path) == [METS_NAME]
    unpack_zip(path, tmp_path / "unpacked")
    cp437_name = "café.txt".encode().decode("cp437")
    assert (tmp_path / "unpacked/dip/objects" / cp437_name).is_file()


def test_check_zip_rejects_invalid_utf8_name(tmp_path):
    path = write_zip(tmp_path / "bytes.zip", [METS_NAME, "dip/objects/badxx.txt"])
    data = bytearray(path.read_bytes())
    central = data.index(b"badxx", data.index(b"PK\x01\x02"))
    data[central + 3 : central + 5] = b"\xff\xfe"
    # Set the UTF-8 name flag of that central directory record.
    record = data.rindex(b"PK\x01\x02", 0, central)
    data[record + 9] |= 0x08
    path.write_bytes(bytes(data))

    with pytest.raises(PackageError) as caught:
        check_zip(path, "bytes.zip")

    assert caught.value.status == 415


def test_check_zip_rejects_too_many_entries(tmp_path, settings):
    settings.ZIP_MAX_ENTRIES = 2
    path = write_zip(tmp_path / "many.zip", [METS_NAME, "dip/a.jpg", "dip/b.jpg"])

    with pytest.raises(PackageError) as caught:
        check_zip(path, "many.zip")

    assert caught.value.status == 400
    assert str(caught.value) == (
        "The zip many.zip has more than 2 entries, the limit"
        " (DEPOSITUM_ZIP_MAX_ENTRIES): raise the limit or deposit the DIP by"
        " reference"
    )

    settings.ZIP_MAX_ENTRIES = 3
    check_zip(path, "many.zip")


def test_check_zip_rejects_too_many_unpacked_bytes(tmp_path, settings):
    # Each entry contains the 7 bytes of "<mets/>".
    settings.ZIP_MAX_UNCOMPRESSED = 13
    path = write_zip(tmp_path / "big.zip", [METS_NAME, "dip/a.xml"])

    with pytest.raises(PackageError) as caught:
        check_zip(path, "big.zip")

    assert caught.value.status == 400
    assert "big.zip unpacks to 14 bytes, over the limit of 13" in str(caught.value)

    with pytest.raises(IngestError):
        unpack_zip(path, tmp_path / "unpacked", "big.zip")
    assert not (tmp_path / "unpacked").exists()


def test_check_zip_rejects_data_past_central_directory(tmp_path):
    path = write_zip(tmp_path / "long.zip", [METS_NAME])
    data = bytearray(path.read_bytes())
    # A compressed size past the start of the central directory.
    central = data.index(b"PK\x01\x02")
    data[central + 20 : central + 24] = (1000).to_bytes(4, "little")
    path.write_bytes(bytes(data))

    with pytest.raises(PackageError) as caught:
        check_zip(path, "long.zip")

    assert caught.value.status == 400
    assert "overlap the next entry or the central directory" in str(caught.value)


def test_check_zip_rejects_offsets_before_start(tmp_path):
    path = write_zip(tmp_path / "shifted.zip", [METS_NAME])
    data = bytearray(path.read_bytes())
    # A central directory offset past its real place moves every entry's
    # offset, as zipfile computes it, before the start of the file.
    end = data.rindex(b"PK\x05\x06")
    offset = int.from_bytes(data[end + 16 : end + 20], "little")
    data[end + 16 : end + 20] = (offset + 1).to_bytes(4, "little")
    path.write_bytes(bytes(data))

    with pytest.raises(PackageError) as caught:
        check_zip(path, "shifted.zip")

    assert caught.value.status == 400
    assert "before the start of the file" in str(caught.value)


@pytest.mark.parametrize("first_byte", [b"\0", b"."])
def test_check_zip_rejects_entry_without_name(tmp_path, first_byte):
    path = write_zip(tmp_path / "unnamed.zip", [METS_NAME, "x"])
    data = bytearray(path.read_bytes())
    # The name "x" becomes "\0", which zipfile reads as "", or ".".
    central = data.index(b"x", data.index(b"PK\x01\x02", data.index(b"PK\x01\x02") + 4))
    data[central : central + 1] = first_byte
    path.write_bytes(bytes(data))

    with pytest.raises(PackageError) as caught:
        check_zip(path, "unnamed.zip")

    assert caught.value.status == 400
    assert "with no file name" in str(caught.value)


@pytest.mark.parametrize(
    "long_name",
    ["dip/" + "a" * 256, "dip/" + "é" * 128, "dip/" + "/".join(["a" * 250] * 17)],
    ids=["ascii component", "utf-8 component", "whole path"],
)
def test_check_zip_rejects_names_too_long_to_unpack(tmp_path, long_name):
    path = write_zip(tmp_path / "long.zip", [METS_NAME, long_name])

    with pytest.raises(PackageError) as caught:
        check_zip(path, "long.zip")

    assert caught.value.status == 400
    assert "whose name is too long to unpack" in str(caught.value)
    assert len(str(caught.value)) < 600


def test_check_zip_accepts_longest_names(tmp_path, settings):
    # 4,095 bytes of PATH_MAX, less "/srv/uploads" and "/<UUID>.unpacked/".
    settings.UPLOAD_DIR = "/srv/uploads"
    longest = "/".join(["b" * 255] * 15) + "/" + "c" * 196
    assert len(longest) == 4095 - 12 - 47
    names = [METS_NAME, "dip/" + "é" * 127, longest]
    path = write_zip(tmp_path / "long.zip", names)

    check_zip(path, "long.zip")

    path = write_zip(tmp_path / "longer.zip", [METS_NAME, longest + "c"])
    with pytest.raises(PackageError) as caught:
        check_zip(path, "longer.zip")
    assert "and 4036 for the whole name here" in str(caught.value)


def test_check_zip_rejects_deep_folders(tmp_path):
    path = write_zip(tmp_path / "deep.zip", [METS_NAME, "dip/" + "a/" * 300 + "f"])

    with pytest.raises(PackageError) as caught:
        check_zip(path, "deep.zip")

    assert caught.value.status == 400
    assert "that is 301 folders deep, over the limit of 256" in str(caught.value)


def test_check_zip_rejects_names_of_same_file(tmp_path):
    names = [METS_NAME, "dip/objects/a.jpg", "dip/./objects//a.jpg"]
    path = write_zip(tmp_path / "same.zip", names)

    with pytest.raises(PackageError) as caught:
        check_zip(path, "same.zip")

    assert caught.value.status == 400
    assert "two entries named 'dip/objects/a.jpg'" in str(caught.value)


def test_check_zip_memory_does_not_grow_with_names(tmp_path):
    # 2,000 names of 4,000 bytes: 8 MB of names in the central directory.
    names = [METS_NAME] + [
        f"dip/{number:04d}/" + "/".join(["n" * 249] * 16)[:3990]
        for number in range(2000)
    ]
    path = write_zip(tmp_path / "names.zip", names)
    tracemalloc.start()

    check_zip(path, "names.zip")

    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 3_000_000


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_unpack_names_entry_with_damaged_data_of_method(tmp_path, method):
    path = tmp_path / "packed.zip"
    with zipfile.ZipFile(path, "w", method) as archive:
        archive.writestr("dip/objects/a.txt", b"some text " * 200)
    data = bytearray(path.read_bytes())
    start = 30 + len("dip/objects/a.txt")
    for at in range(start + 4, start + 24):
        data[at] ^= 0x5A
    path.write_bytes(bytes(data))

    with pytest.raises(IngestError) as caught:
        unpack_zip(path, tmp_path / "unpacked", "packed.zip")

    message = str(caught.value)
    assert message.startswith("The uploaded file packed.zip is not a readable zip")
    assert "the data of entry 'dip/objects/a.txt' is damaged" in message
    assert not (tmp_path / "unpacked").exists()


def test_check_zip_finds_overlap_out_of_order(tmp_path):
    path = write_zip(tmp_path / "order.zip", [METS_NAME, "dip/a.jpg", "dip/b.jpg"])
    data = bytearray(path.read_bytes())
    # The third record points at the first entry's data, after the second.
    third = data.rindex(b"PK\x01\x02")
    data[third + 42 : third + 46] = (0).to_bytes(4, "little")
    path.write_bytes(bytes(data))

    with pytest.raises(PackageError) as caught:
        check_zip(path, "order.zip")

    assert caught.value.status == 400
    assert "has entries whose data overlap at byte" in str(caught.value)


def test_check_zip_rejects_many_mets_names(tmp_path):
    names = [f"dip/METS.{number}.xml" for number in range(17)]
    path = write_zip(tmp_path / "mets.zip", names)

    with pytest.raises(PackageError) as caught:
        check_zip(path, "mets.zip")

    assert caught.value.status == 400
    assert "more than 16 files named METS.*" in str(caught.value)
