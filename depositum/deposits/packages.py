"""The two sources of a deposit's package: a folder in the deposit directory,
and a zip streamed from the request body to the upload directory."""

import base64
import binascii
import hashlib
import logging
import os
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024


class PackageError(Exception):
    """The request does not name or carry a usable package.

    `error` is the SWORD error name of the response.
    """

    def __init__(self, message, *, status=400, error="ErrorBadRequest"):
        super().__init__(message)
        self.status = status
        self.error = error


def reference_name(content_location):
    """Return the folder path that a Content-Location header names.

    Stock Archivematica sends `file:///<DIP folder name>`; `file://name` and a
    bare name are accepted too. The result is relative to the deposit directory.
    """
    value = content_location.strip()
    parts = urlsplit(value)
    if parts.scheme and parts.scheme.lower() != "file":
        raise PackageError(
            f"Content-Location {value!r} uses the scheme {parts.scheme!r}: only"
            " file:///<folder name> in the deposit directory is accepted"
        )

    if parts.scheme:
        # In file://name the name lands in the host part of the URL.
        name = (parts.netloc + parts.path) if parts.netloc else parts.path
    else:
        name = value
    return name


def resolve_reference(content_location):
    """Return the absolute DIP folder that `content_location` names.

    The folder must lie inside DEPOSIT_DIR after every symlink is resolved.
    Archivematica does not percent-encode the name, so a literal match is tried
    before the percent-decoded one.
    """
    name = reference_name(content_location)
    deposit_dir = Path(settings.DEPOSIT_DIR).resolve()

    candidates = [name]
    if unquote(name) != name:
        candidates.append(unquote(name))
    try:
        # HTTP header values arrive decoded as Latin-1; a client that sent
        # the name as raw UTF-8 bytes meant this.
        candidates.append(name.encode("latin-1").decode("utf-8"))
    except UnicodeError:
        pass

    for candidate in candidates:
        folder = folder_in(deposit_dir, candidate)
        try:
            if folder is not None and folder.is_dir():
                return folder
        except OSError:
            continue

    raise PackageError(
        f"Content-Location {shorten(content_location.strip())!r}: no DIP folder"
        f" named {shorten(name.strip('/'))!r} in the deposit directory"
        f" {deposit_dir}. Copy the"
        " DIP folder there first (rsync it to the directory that"
        " DEPOSITUM_DEPOSIT_DIR names), then deposit it by its folder name"
    )


def shorten(value, limit=200):
    return value if len(value) <= limit else value[:limit] + "…"


def folder_in(deposit_dir, name):
    """Return deposit_dir/name resolved, or None if it escapes deposit_dir."""
    if "\x00" in name:
        return None

    path = Path(name)
    if path.is_absolute():
        # Archivematica's file:///<name> is relative to the deposit directory,
        # but a full path that points inside it is accepted as well.
        inside = Path(os.path.normpath(path))
        if inside.is_relative_to(deposit_dir):
            path = inside.relative_to(deposit_dir)
        else:
            path = Path(*path.parts[1:])

    if ".." in path.parts or not path.parts:
        return None

    try:
        resolved = (deposit_dir / path).resolve()
        # The DIP folder is removed after its ingest; a link would leave its
        # target in place and could point anywhere in the deposit directory.
        is_link = (deposit_dir / path).is_symlink()
    except (OSError, RuntimeError):
        # A name too long for the file system, or a symlink loop.
        return None
    if is_link or resolved == deposit_dir or not resolved.is_relative_to(deposit_dir):
        return None
    return resolved


def parse_content_md5(value):
    """Return the MD5 digest as bytes from a hex or base64 Content-MD5 value."""
    value = value.strip()
    try:
        if len(value) == 32:
            return bytes.fromhex(value)
        digest = base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        digest = b""
    if len(digest) != 16:
        raise PackageError(
            f"Content-MD5 {value!r} is not an MD5 digest: send 32 hex digits or"
            " the base64 of the 16-byte digest"
        )
    return digest


def store_upload(
    stream, content_length, dest, *, expected_md5=None, display_name="the zip"
):
    """Stream `content_length` bytes from `stream` into the file `dest`.

    The body is read in chunks and never held in memory. The file is checked
    against `expected_md5` and opened as a zip; on any failure it is removed
    and PackageError is raised.
    """
    md5 = hashlib.md5()
    received = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(dest, "xb") as f:
            while received < content_length:
                chunk = stream.read(min(CHUNK_SIZE, content_length - received))
                if not chunk:
                    break
                f.write(chunk)
                md5.update(chunk)
                received += len(chunk)

        if received < content_length:
            logger.warning(
                "Upload to %s ended after %s of %s bytes",
                dest,
                received,
                content_length,
            )
            raise PackageError(
                f"The request body ended after {received} of the {content_length}"
                " bytes that Content-Length announced: send the whole zip again"
            )

        if expected_md5 is not None and md5.digest() != expected_md5:
            raise PackageError(
                f"Content-MD5 {expected_md5.hex()} does not match the body received"
                f" (MD5 {md5.hexdigest()}, {received} bytes): the upload was"
                " damaged or the checksum is of another file",
                status=412,
                error="ErrorChecksumMismatch",
            )

        check_zip(dest, display_name)
    except OSError as e:
        # Django reports a failed body read as UnreadablePostError, with the
        # socket's error as its cause.
        dest.unlink(missing_ok=True)
        if not isinstance(e.__cause__ or e, TimeoutError):
            logger.warning("Upload to %s broke after %s bytes: %s", dest, received, e)
            raise PackageError(
                f"The upload broke off after {received} of {content_length} bytes"
                f" ({e}): send the zip again"
            ) from None
        logger.warning("Upload to %s stalled after %s bytes", dest, received)
        raise PackageError(
            f"The upload stalled: no data for {settings.UPLOAD_READ_TIMEOUT} seconds"
            f" after {received} of {content_length} bytes. Send the zip again",
            status=408,
        ) from None
    except BaseException:
        dest.unlink(missing_ok=True)
        raise

    return received


def check_zip(path, display_name):
    """Open the zip and check its entries as the unpacking will, before queueing."""
    from depositum.deposits.unpack import check_entries
    from depositum.ingest.plan import IngestError

    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            if not entries:
                raise PackageError(f"The zip {display_name} is empty")
            check_entries(display_name, entries)
            for entry in entries:
                # Opening reads the local header, whose name must match the
                # central directory that check_entries() examined.
                archive.open(entry).close()
    except IngestError as e:
        raise PackageError(str(e)) from None
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as e:
        raise PackageError(
            f"The request body is not a readable zip ({e}): send the DIP folder"
            " as a zip file, or deposit it by reference with Content-Location",
            status=415,
            error="ErrorContent",
        ) from None
