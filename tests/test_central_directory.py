"""CentralDirectory against Python's zipfile, on the same bytes."""

import struct
import zipfile

import pytest

from depositum.deposits.central_directory import CentralDirectory, Entry

FIELDS = Entry._fields


def write_zip(path, names, **options):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, **options) as archive:
        for number, name in enumerate(names):
            archive.writestr(name, b"data of entry %d " % number * 40)
    return path


def patch(path, change):
    data = bytearray(path.read_bytes())
    change(data)
    path.write_bytes(bytes(data))
    return path


def first_file_header(data):
    return data.index(b"PK\x01\x02")


def end_record(data):
    return data.rindex(b"PK\x05\x06")


def read_with_zipfile(path):
    with zipfile.ZipFile(path) as archive:
        entries = [
            Entry(*(getattr(info, field) for field in FIELDS))
            for info in archive.infolist()
        ]
        return entries, archive.start_dir


def read_with_central_directory(path):
    directory = CentralDirectory(path)
    return list(directory), directory.start_dir


def outcome(read, path):
    try:
        return read(path)
    except Exception as e:
        return type(e), str(e)


def plain(path):
    return write_zip(
        path, ["dip/METS.xml", "dip/objects/a.tif", "dip/thumbnails/a.jpg"]
    )


def utf8_names(path):
    return write_zip(path, ["dip/café.xml", "dip/objects/日本語.tif"])


def cp437_names(path):
    # Clearing bit 11 makes zipfile read the UTF-8 bytes of the name as cp437.
    def clear_utf8_flag(data):
        flags_at = first_file_header(data) + 8
        data[flags_at + 1] &= ~0x08

    return patch(write_zip(path, ["dip/café.xml"]), clear_utf8_flag)


def name_with_nul(path):
    def put_nul(data):
        at = first_file_header(data) + 46 + len("dip/a")
        data[at] = 0

    return patch(write_zip(path, ["dip/a.xml"]), put_nul)


def with_comment(path):
    with zipfile.ZipFile(write_zip(path, ["dip/METS.xml"]), "a") as archive:
        archive.comment = b"built from the DIP folder " * 100
    return path


def end_signature_in_comment(path):
    # Both take the last end signature in the file, which is the comment's.
    with zipfile.ZipFile(write_zip(path, ["dip/METS.xml"]), "a") as archive:
        archive.comment = b"PK\x05\x06 is the end signature"
    return path


def after_other_data(path):
    data = write_zip(path, ["dip/METS.xml", "dip/objects/a.tif"]).read_bytes()
    path.write_bytes(b"#!/bin/sh\nexit 0\n" * 100 + data)
    return path


def many_entries(path):
    # Over 65,535 entries, zipfile writes the ZIP64 end record and locator.
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for number in range(65_600):
            archive.writestr(f"dip/objects/{number:05d}.txt", b"")
    return path


def zip64_extra(path):
    """Move the sizes and the offset of the second entry's file header into a
    ZIP64 extra field, as a writer does past 4 GiB."""
    write_zip(path, ["dip/METS.xml", "dip/objects/a.tif"])

    def move_to_extra(data):
        header = data.index(b"PK\x01\x02", first_file_header(data) + 4)
        compress_size, file_size = struct.unpack_from("<2L", data, header + 20)
        name_length, extra_length = struct.unpack_from("<2H", data, header + 28)
        (offset,) = struct.unpack_from("<L", data, header + 42)
        extra = struct.pack("<2H3Q", 0x0001, 24, file_size, compress_size, offset)
        struct.pack_into("<2L", data, header + 20, 0xFFFFFFFF, 0xFFFFFFFF)
        struct.pack_into("<H", data, header + 30, extra_length + len(extra))
        struct.pack_into("<L", data, header + 42, 0xFFFFFFFF)
        insert_at = header + 46 + name_length + extra_length
        data[insert_at:insert_at] = extra
        end = end_record(data)
        (size,) = struct.unpack_from("<L", data, end + 12)
        struct.pack_into("<L", data, end + 12, size + len(extra))

    return patch(path, move_to_extra)


def short_zip64_extra(path):
    def cut_extra(data):
        header = data.index(b"PK\x01\x02", first_file_header(data) + 4)
        name_length, extra_length = struct.unpack_from("<2H", data, header + 28)
        at = header + 46 + name_length
        # Keep the file size, drop the compressed size and the offset.
        struct.pack_into("<H", data, at + 2, 8)
        struct.pack_into("<H", data, header + 30, 12)
        del data[at + 12 : at + extra_length]
        end = end_record(data)
        (size,) = struct.unpack_from("<L", data, end + 12)
        struct.pack_into("<L", data, end + 12, size - (extra_length - 12))

    return patch(zip64_extra(path), cut_extra)


def trailing_bytes(path):
    # The end record is exactly as far from the end as zipfile searches.
    data = write_zip(path, ["dip/METS.xml"]).read_bytes()
    path.write_bytes(data + bytes(1 << 16))
    return path


def last_record_overruns(path):
    # The last record's comment length runs past the directory's stated size.
    def lengthen_comment(data):
        last = data.rindex(b"PK\x01\x02")
        struct.pack_into("<H", data, last + 32, 10)

    return patch(plain(path), lengthen_comment)


def short_end_record(path):
    path.write_bytes(b"PK\x05\x06\0\0")
    return path


def not_a_zip(path):
    path.write_bytes(b"%PDF-1.7\n" * 1000)
    return path


def truncated_directory(path):
    def shrink(data):
        end = end_record(data)
        struct.pack_into("<L", data, end + 12, 30)

    return patch(plain(path), shrink)


def bad_file_header_signature(path):
    def damage(data):
        data[first_file_header(data) + 2] = ord("X")

    return patch(plain(path), damage)


def bad_utf8_name(path):
    def damage(data):
        at = first_file_header(data) + 46 + len("dip/caf")
        data[at] = 0xFF

    return patch(write_zip(path, ["dip/café.xml"]), damage)


def newer_version(path):
    def damage(data):
        struct.pack_into("<H", data, first_file_header(data) + 6, 64)

    return patch(plain(path), damage)


def multiple_disks(path):
    def damage(data):
        locator = data.rindex(b"PK\x06\x07")
        struct.pack_into("<L", data, locator + 16, 2)

    return patch(many_entries(path), damage)


def empty(path):
    return write_zip(path, [])


BUILDERS = [
    plain,
    utf8_names,
    cp437_names,
    name_with_nul,
    with_comment,
    end_signature_in_comment,
    after_other_data,
    many_entries,
    zip64_extra,
    short_zip64_extra,
    trailing_bytes,
    last_record_overruns,
    short_end_record,
    not_a_zip,
    truncated_directory,
    bad_file_header_signature,
    bad_utf8_name,
    newer_version,
    multiple_disks,
    empty,
]


@pytest.mark.parametrize("build", BUILDERS, ids=[build.__name__ for build in BUILDERS])
def test_reads_what_zipfile_reads(tmp_path, build):
    path = build(tmp_path / "dip.zip")

    expected = outcome(read_with_zipfile, path)
    assert outcome(read_with_central_directory, path) == expected


def test_builders_cover_both_outcomes(tmp_path):
    """Keep the comparison honest: some builders must give zips that zipfile
    reads, and others zips that it rejects."""
    read, rejected = [], []
    for build in BUILDERS:
        path = build(tmp_path / f"{build.__name__}.zip")
        result = outcome(read_with_zipfile, path)
        (rejected if isinstance(result[0], type) else read).append(build.__name__)

    assert {"plain", "with_comment", "zip64_extra", "trailing_bytes"} <= set(read)
    assert {"not_a_zip", "short_zip64_extra", "bad_utf8_name"} <= set(rejected)


def test_zip64_extra_values_are_read(tmp_path):
    path = zip64_extra(tmp_path / "dip.zip")

    entries, _ = read_with_central_directory(path)

    assert entries[1].header_offset > 0
    assert entries[1].file_size == len(b"data of entry 1 " * 40)
