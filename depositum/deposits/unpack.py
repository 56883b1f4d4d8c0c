"""Unpack an uploaded zip into a folder, refusing entries that would escape it."""

import logging
import shutil
import stat
import zipfile

from django.conf import settings

from depositum.ingest.plan import IngestError

logger = logging.getLogger(__name__)


def unpack_zip(zip_path, dest):
    """Extract `zip_path` into the folder `dest`, over what it already holds.

    Entries with absolute names, `..` parts or symlinks are rejected, as are
    archives over the size and entry-count limits in the settings. zipfile
    checks each entry's local header against the central directory and its
    CRC-32 as it extracts it. On failure `dest` is removed.
    """
    dest.mkdir(parents=True, exist_ok=True)

    try:
        with zipfile.ZipFile(zip_path) as archive:
            entries = archive.infolist()
            check_entries(zip_path.name, entries)
            for entry in entries:
                archive.extract(entry, dest)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as e:
        shutil.rmtree(dest, ignore_errors=True)
        raise IngestError(
            f"The uploaded file {zip_path.name} is not a readable zip:"
            f" {str(e).rstrip('.')}."
            " Build the zip again from the DIP folder and deposit it again"
        ) from None
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest


def check_entries(name, entries):
    """Raise IngestError if the zip `name` breaks a limit or has an entry that
    would land outside the folder it is unpacked into.

    The names are checked as strings, because a PurePosixPath of each name
    took six times as long on a zip of tens of thousands of entries.
    """
    if len(entries) > settings.ZIP_MAX_ENTRIES:
        raise IngestError(
            f"The zip {name} has {len(entries)} entries, over the limit of"
            f" {settings.ZIP_MAX_ENTRIES} (DEPOSITUM_ZIP_MAX_ENTRIES): raise the"
            " limit or deposit the DIP by reference"
        )

    total = sum(entry.file_size for entry in entries)
    if total > settings.ZIP_MAX_UNCOMPRESSED:
        raise IngestError(
            f"The zip {name} unpacks to {total} bytes, over the limit of"
            f" {settings.ZIP_MAX_UNCOMPRESSED} (DEPOSITUM_ZIP_MAX_UNCOMPRESSED):"
            " raise the limit or deposit the DIP by reference"
        )

    max_ratio = settings.ZIP_MAX_RATIO
    for entry in entries:
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
