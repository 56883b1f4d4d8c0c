"""Unpack an uploaded zip into a folder, refusing entries that would escape it."""

import errno
import hashlib
import logging
import lzma
import os
import shutil
import stat
import zipfile
import zlib
from array import array
from itertools import pairwise

from django.conf import settings

from depositum.deposits.central_directory import UTF8_NAME_FLAG
from depositum.deposits.packages import shorten
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
    except (zlib.error, lzma.LZMAError, EOFError, OSError) as e:
        # bz2 reports damaged data as an OSError without an errno.
        if isinstance(e, OSError) and e.errno is not None:
            # strerror leaves out the path, which is the server's business.
            logger.warning("Unpacking %s into %s failed: %s", name, dest, e)
            if e.errno == errno.ENAMETOOLONG:
                advice = "Shorten the name in the DIP folder and build the zip again"
            else:
                advice = (
                    "Check that no other entry has its name or a folder of its name"
                )
            raise IngestError(
                f"The entry {shown(entry.filename)} of {name} could not be"
                f" unpacked: {e.strerror or type(e).__name__}. {advice}"
            ) from None
        detail = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        raise IngestError(
            f"The uploaded file {name} is not a readable zip: the data of entry"
            f" {shown(entry.filename)} is damaged ({detail}). Build the zip again"
            " from the DIP folder and deposit it again"
        ) from None


def check_entries(name, entries, central_directory_offset):
    """Raise IngestError if the zip `name` breaks a limit, repeats a name, has
    entries whose data overlap or an entry that could not be unpacked into its
    folder, and return the number of entries.

    `entries` is read once, so it may be a generator. Of each entry only an
    8-byte digest of its name and the offsets of its data are kept, about 90
    bytes, because a request checks zips of up to ZIP_MAX_ENTRIES entries. Two
    names share a digest with a chance of about 1 in 10^8 for 500,000 entries,
    and the zip is then rejected as if they were one name. The names are
    checked as strings: a PurePosixPath of each name took six times as long
    on a zip of tens of thousands of entries.
    """
    max_entries = settings.ZIP_MAX_ENTRIES
    max_ratio = settings.ZIP_MAX_RATIO
    seen = set()
    extents = DataExtents(name)
    total = 0
    for entry in entries:
        if len(extents) == max_entries:
            raise IngestError(
                f"The zip {name} has more than {max_entries} entries, the limit"
                " (DEPOSITUM_ZIP_MAX_ENTRIES): raise the limit or deposit the DIP"
                " by reference"
            )
        # zipfile unpacks "a//b" and "a/./b" to the same file as "a/b".
        parts = entry.filename.split("/")
        if "" in parts or "." in parts:
            key = "/".join(part for part in parts if part not in ("", "."))
        else:
            key = entry.filename
        check_name(name, entry, key, parts)

        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        if digest in seen:
            raise IngestError(
                f"The zip {name} has two entries named {shown(key)}; rebuild the"
                " zip from the DIP folder itself"
            )
        seen.add(digest)

        total += entry.file_size
        if entry.compress_size and entry.file_size / entry.compress_size > max_ratio:
            raise IngestError(
                f"The zip {name} has an entry {shown(entry.filename)} that unpacks"
                f" {entry.file_size // entry.compress_size} times its packed size,"
                f" over the limit of {max_ratio} (DEPOSITUM_ZIP_MAX_RATIO): it"
                " looks like a zip bomb"
            )
        if stat.S_ISLNK(entry.external_attr >> 16):
            raise IngestError(
                f"The zip {name} has a symbolic link {shown(entry.filename)}; DIPs"
                " must contain regular files only"
            )
        if entry.header_offset < 0:
            raise IngestError(
                f"The zip {name} is damaged: its central directory places the entry"
                f" {shown(entry.filename)} before the start of the file. Build the"
                " zip again from the DIP folder"
            )
        extents.add(entry.header_offset, data_end(entry), entry.filename)

    if total > settings.ZIP_MAX_UNCOMPRESSED:
        raise IngestError(
            f"The zip {name} unpacks to {total} bytes, over the limit of"
            f" {settings.ZIP_MAX_UNCOMPRESSED} (DEPOSITUM_ZIP_MAX_UNCOMPRESSED):"
            " raise the limit or deposit the DIP by reference"
        )
    extents.check(central_directory_offset)
    return len(extents)


# Linux's PATH_MAX, 4,096 bytes with the terminating NUL, and the NAME_MAX of
# ext4, XFS and Btrfs: longer paths and names cannot be unpacked.
MAX_PATH_BYTES = 4095
MAX_COMPONENT_BYTES = 255
# os.makedirs() calls itself once for each missing folder, and Python stops at
# 1,000 frames by default.
MAX_FOLDER_DEPTH = 256
# The unpacked folder, UPLOAD_DIR/<deposit UUID>.unpacked/, in front of each name.
UNPACKED_FOLDER_BYTES = len("/00000000-0000-0000-0000-000000000000.unpacked/")


def check_name(name, entry, key, parts):
    """Raise IngestError if the entry's name is empty, points outside the
    folder the zip is unpacked into, or is too long to be a file's name.

    `key` is the name as zipfile unpacks it, and `parts` the name split at "/".
    """
    filename = entry.filename
    if not key:
        raise IngestError(
            f"The zip {name} has an entry {shown(entry.orig_filename)} with no file"
            " name; rebuild the zip from the DIP folder itself"
        )

    if "\\" in filename:
        parts = filename.replace("\\", "/").split("/")
    if not parts[0] or ".." in parts:
        raise IngestError(
            f"The zip {name} has an entry {shown(filename)} that points outside"
            " the DIP folder; rebuild the zip from the DIP folder itself"
        )

    size = len(filename) if filename.isascii() else len(filename.encode())
    if size <= MAX_COMPONENT_BYTES:
        return
    max_size = (
        MAX_PATH_BYTES - len(os.fsencode(settings.UPLOAD_DIR)) - UNPACKED_FOLDER_BYTES
    )
    if size > max_size or any(
        len(part.encode()) > MAX_COMPONENT_BYTES for part in parts
    ):
        raise IngestError(
            f"The zip {name} has an entry {shown(filename)} whose name is too long"
            f" to unpack: {MAX_COMPONENT_BYTES} bytes is the limit for a file or"
            f" folder name, and {max_size} for the whole name here. Shorten the"
            " name in the DIP folder and build the zip again"
        )
    if len(parts) > MAX_FOLDER_DEPTH:
        raise IngestError(
            f"The zip {name} has an entry {shown(filename)} that is"
            f" {len(parts) - 1} folders deep, over the limit of {MAX_FOLDER_DEPTH}."
            " Flatten the folders of the DIP and build the zip again"
        )


def shown(filename):
    """Return the quoted name of an entry for a message, cut if it is long."""
    return repr(shorten(filename))


# The fixed part of a local file header (PKWARE APPNOTE.TXT 4.3.7), before the
# name and the extra field.
LOCAL_HEADER_SIZE = 30


def data_end(entry):
    """Return the offset just past the entry's data, counting the least the
    entry can take: its local extra field and data descriptor are not in the
    central directory."""
    name = entry.orig_filename
    if entry.flag_bits & UTF8_NAME_FLAG and not name.isascii():
        name_size = len(name.encode())
    else:
        # cp437 has one byte for each character, so this skips its slow
        # encoder: 26,000 names took 50 ms.
        name_size = len(name)
    return entry.header_offset + LOCAL_HEADER_SIZE + name_size + entry.compress_size


class DataExtents:
    """The extents of the entries' data in a zip, checked for overlaps.

    Entries that share their data unpack to many times the zip's size while
    each stays under the ratio limit, and Python's zipfile checks for them
    only from 3.12. Writers list the entries in the order of their data, so
    each entry is compared with the one before it as it comes, and an overlap
    is reported with the entry's name. The offsets and ends are also kept in
    two arrays, which are sorted and checked at the end when the order
    differs, and an overlap found then is reported by its offset.
    """

    def __init__(self, name):
        self.name = name
        self.offsets = array("q")
        self.ends = array("q")
        self.in_order = True
        self.previous = None

    def __len__(self):
        return len(self.offsets)

    def add(self, offset, end, filename):
        """Add the data of the entry `filename`, from `offset` to `end`."""
        if self.in_order and self.previous is not None:
            previous_offset, previous_end, previous_name = self.previous
            if offset < previous_offset:
                self.in_order = False
            elif previous_end > offset:
                self.raise_overlap(previous_name)
        self.previous = (offset, end, shorten(filename))
        self.offsets.append(offset)
        self.ends.append(end)

    def check(self, central_directory_offset):
        """Raise IngestError if the data of two entries overlap, or the data
        of one runs past the central directory's offset."""
        if self.in_order:
            if (
                self.previous is not None
                and self.previous[1] > central_directory_offset
            ):
                self.raise_overlap(self.previous[2])
            return

        order = sorted(range(len(self.offsets)), key=self.offsets.__getitem__)
        for index, following in pairwise([*order, None]):
            if following is None:
                limit = central_directory_offset
            else:
                limit = self.offsets[following]
            if self.ends[index] > limit:
                raise IngestError(
                    f"The zip {self.name} has entries whose data overlap at byte"
                    f" {limit}: it looks like a zip bomb or a damaged zip. Build"
                    " the zip again from the DIP folder"
                )

    def raise_overlap(self, filename):
        raise IngestError(
            f"The zip {self.name} has an entry {filename!r} whose data overlap"
            " the next entry or the central directory: it looks like a zip"
            " bomb or a damaged zip. Build the zip again from the DIP folder"
        )
