"""Unpack an uploaded zip into a folder, refusing entries that would escape it."""

import logging
import shutil
import stat
import zipfile
import zlib
from itertools import pairwise

from django.conf import settings

from depositum.ingest.plan import IngestError

logger = logging.getLogger(__name__)

# The exceptions that zipfile raises for a zip that it cannot read:
# UnicodeDecodeError for a name flagged UTF-8 that is not, and the others as
# ZipFile.open() of Python 3.11 raises them.
UNREADABLE_ZIP_ERRORS = (
    zipfile.BadZipFile,
    NotImplementedError,
    RuntimeError,
    UnicodeDecodeError,
)


def unpack_zip(zip_path, dest, display_name=None):
    """Extract `zip_path` into the folder `dest`, over what it already holds.

    Entries with absolute names, `..` parts or symlinks are rejected, as are
    archives over the size and entry-count limits in the settings, and
    entries whose names repeat or whose data overlap. zipfile checks each
    entry's local header against the central directory and its CRC-32 as it
    extracts it. Errors name the zip as `display_name`, the name it was
    uploaded under. On failure `dest` is removed.
    """
    name = display_name or zip_path.name
    dest.mkdir(parents=True, exist_ok=True)

    try:
        with zipfile.ZipFile(zip_path) as archive:
            entries = archive.infolist()
            check_entries(name, entries, archive.start_dir)
            for entry in entries:
                extract(archive, entry, dest, name)
    except UNREADABLE_ZIP_ERRORS as e:
        shutil.rmtree(dest, ignore_errors=True)
        raise IngestError(
            f"The uploaded file {name} is not a readable zip:"
            f" {str(e).rstrip('.')}. Build the zip again from the DIP folder and"
            " deposit it again"
        ) from None
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest


def extract(archive, entry, dest, name):
    """Extract one entry, and raise IngestError naming it if its data is damaged
    or it cannot be written as a file, such as a file under a file's name."""
    try:
        archive.extract(entry, dest)
    except UNREADABLE_ZIP_ERRORS as e:
        message = str(e).rstrip(".")
        if entry.filename not in message:
            message = f"entry {entry.filename!r}: {message}"
        raise zipfile.BadZipFile(message) from None
    except (zlib.error, EOFError) as e:
        raise IngestError(
            f"The uploaded file {name} is not a readable zip: the data of entry"
            f" {entry.filename!r} is damaged ({type(e).__name__}: {e}). Build the"
            " zip again from the DIP folder and deposit it again"
        ) from None
    except OSError as e:
        # strerror leaves out the path, which is the server's business.
        logger.warning("Unpacking %s into %s failed: %s", name, dest, e)
        raise IngestError(
            f"The entry {entry.filename!r} of {name} could not be unpacked:"
            f" {e.strerror or type(e).__name__}. Check that no other entry has its"
            " name or a folder of its name, and that names are of usual length"
        ) from None


def check_entries(name, entries, central_directory_offset):
    """Raise IngestError if the zip `name` breaks a limit, repeats a name, has
    entries whose data overlap or an entry that would land outside the folder
    it is unpacked into, and return the number of entries.

    `entries` is read once, so it may be a generator. The names are checked as
    strings, because a PurePosixPath of each name took six times as long on a
    zip of tens of thousands of entries.
    """
    max_entries = settings.ZIP_MAX_ENTRIES
    max_ratio = settings.ZIP_MAX_RATIO
    seen = set()
    extents = []
    total = 0
    for entry in entries:
        if len(extents) == max_entries:
            raise IngestError(
                f"The zip {name} has more than {max_entries} entries, the limit"
                " (DEPOSITUM_ZIP_MAX_ENTRIES): raise the limit or deposit the DIP"
                " by reference"
            )
        if entry.filename in seen:
            raise IngestError(
                f"The zip {name} has two entries named {entry.filename!r}; rebuild"
                " the zip from the DIP folder itself"
            )
        seen.add(entry.filename)
        total += entry.file_size
        if entry.compress_size and entry.file_size / entry.compress_size > max_ratio:
            raise IngestError(
                f"The zip {name} has an entry {entry.filename!r} that unpacks"
                f" {entry.file_size // entry.compress_size} times its packed size,"
                f" over the limit of {max_ratio} (DEPOSITUM_ZIP_MAX_RATIO): it"
                " looks like a zip bomb"
            )
        path = entry.filename.replace("\\", "/")
        if path.startswith("/") or ".." in path.split("/"):
            raise IngestError(
                f"The zip {name} has an entry {entry.filename!r} that points outside"
                " the DIP folder; rebuild the zip from the DIP folder itself"
            )
        if stat.S_ISLNK(entry.external_attr >> 16):
            raise IngestError(
                f"The zip {name} has a symbolic link {entry.filename!r}; DIPs must"
                " contain regular files only"
            )
        extents.append((entry.header_offset, data_end(entry), entry.filename))

    if total > settings.ZIP_MAX_UNCOMPRESSED:
        raise IngestError(
            f"The zip {name} unpacks to {total} bytes, over the limit of"
            f" {settings.ZIP_MAX_UNCOMPRESSED} (DEPOSITUM_ZIP_MAX_UNCOMPRESSED):"
            " raise the limit or deposit the DIP by reference"
        )
    check_overlaps(name, extents, central_directory_offset)
    return len(extents)


# The fixed part of a local file header (PKWARE APPNOTE.TXT 4.3.7), before the
# name and the extra field.
LOCAL_HEADER_SIZE = 30
# General purpose flag bit 11: the name is UTF-8, else code page 437.
UTF8_NAME_FLAG = 0x800


def data_end(entry):
    """Return the offset just past the entry's data, counting the least the
    entry can take: its local extra field and data descriptor are not in the
    central directory."""
    name = entry.orig_filename
    if name.isascii():
        # Both encodings take a byte for each ASCII character, and encoding
        # 26,000 names to cp437 took 50 ms.
        name_size = len(name)
    else:
        encoding = "utf-8" if entry.flag_bits & UTF8_NAME_FLAG else "cp437"
        name_size = len(name.encode(encoding))
    return entry.header_offset + LOCAL_HEADER_SIZE + name_size + entry.compress_size


def check_overlaps(name, extents, end):
    """Raise IngestError if two of the (offset, end, name) extents overlap, or
    one runs past `end`, the offset of the central directory.

    Entries that share their data unpack to many times the zip's size while
    each stays under the ratio limit. Python's zipfile checks for them only
    from 3.12.
    """
    extents.sort()
    # The central directory is where the data of the last entry must end.
    for (_, entry_end, filename), (limit, _, _) in pairwise([*extents, (end, 0, "")]):
        if entry_end > limit:
            raise IngestError(
                f"The zip {name} has an entry {filename!r} whose data overlap"
                " the next entry or the central directory: it looks like a zip"
                " bomb or a damaged zip. Build the zip again from the DIP folder"
            )
