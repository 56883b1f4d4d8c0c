"""The two sources of a deposit's package: a folder in the deposit directory,
and a zip streamed from the request body to the upload directory."""

import base64
import binascii
import fcntl
import hashlib
import io
import logging
import os
import socket
import ssl
import struct
import threading
import time
import zipfile
from collections import OrderedDict
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings

from depositum.deposits.central_directory import CentralDirectory

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024
# Bytes that one splice(2) moves through the pipe. Linux lets an unprivileged
# process raise a pipe's size to /proc/sys/fs/pipe-max-size, 1 MiB by default.
PIPE_SIZE = 1024 * 1024


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
    if as_utf8(name) != name:
        candidates.append(as_utf8(name))

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


def as_utf8(value):
    """Return the header value `value` decoded again as UTF-8, or as it is if
    its characters are not the bytes of UTF-8 text.

    HTTP header values arrive decoded as Latin-1, so a client that sent raw
    UTF-8 bytes meant the UTF-8 reading.
    """
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


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

    `stream` is a SocketBody or a file-like object with read(). The body is
    read in chunks and never held in memory, and its MD5 is computed only when
    `expected_md5` is given. The file is checked against `expected_md5` and
    opened as a zip; on any failure it is removed and PackageError is raised.
    """
    md5 = hashlib.md5() if expected_md5 is not None else None
    received = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        with open(dest, "xb") as f:
            if isinstance(stream, SocketBody):
                received = stream.copy_to(f, md5)
                method = stream.method
            else:
                received = copy_stream(stream, f, content_length, md5)
                method = "wsgi.input"
        stored = time.monotonic()

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

        if md5 is not None and md5.digest() != expected_md5:
            raise PackageError(
                f"Content-MD5 {expected_md5.hex()} does not match the body received"
                f" (MD5 {md5.hexdigest()}, {received} bytes): the upload was"
                " damaged or the checksum is of another file",
                status=412,
                error="ErrorChecksumMismatch",
            )

        check_zip(dest, display_name)
        logger.info(
            "Upload to %s: %s bytes stored in %.2fs through %s, zip checked in %.2fs",
            dest,
            received,
            stored - started,
            method,
            time.monotonic() - stored,
        )
    except OSError as e:
        # Django reports a failed body read as UnreadablePostError, with the
        # socket's error as its cause.
        dest.unlink(missing_ok=True)
        if isinstance(stream, SocketBody):
            received = stream.received
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


def copy_stream(stream, file, content_length, md5):
    """Copy up to `content_length` bytes from `stream` to `file` and return the count."""
    received = 0
    while received < content_length:
        chunk = stream.read(min(CHUNK_SIZE, content_length - received))
        if not chunk:
            break
        file.write(chunk)
        if md5 is not None:
            md5.update(chunk)
        received += len(chunk)
    return received


def set_receive_timeout(client, seconds):
    """Set the socket's SO_RCVTIMEO to `seconds`, or clear it for None."""
    seconds = seconds or 0
    whole = int(seconds)
    value = struct.pack("ll", whole, int((seconds - whole) * 1_000_000))
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)


class SocketBody:
    """The body of a request that gunicorn serves, read from its client socket.

    gunicorn's wsgi.input copies every chunk of a body several times in Python,
    which made an upload several times slower than a local copy of the file.
    This class takes the part of the body that gunicorn has already buffered,
    then moves the rest from the socket to the file with splice(2), inside the
    kernel. When an MD5 must see the bytes, it reads them with recv_into() into
    one reused buffer instead. It keeps gunicorn's count of the body bytes left
    up to date, so gunicorn can still drain or close the connection after the
    response.

    NOTE: this reads private attributes of gunicorn's request body, as gunicorn
    27.0.1 has them. of() returns None for any other shape, and the upload then
    goes through wsgi.input.
    """

    def __init__(self, client, body, content_length):
        self.client = client
        self.body = body
        self.content_length = content_length
        self.received = 0
        # How the bytes after gunicorn's buffer were read, for the log.
        self.method = "gunicorn's buffer"

    @classmethod
    def of(cls, request, content_length):
        """Return the SocketBody of `request`, or None if it cannot be read so."""
        client = request.META.get("gunicorn.socket")
        body = request.META.get("wsgi.input")
        if client is None or isinstance(client, ssl.SSLSocket):
            return None
        if getattr(request, "_read_started", True):
            return None
        try:
            from gunicorn.http.body import Body, LengthReader
            from gunicorn.http.unreader import SocketUnreader
        except ImportError:
            return None
        if type(body) is not Body or type(body.reader) is not LengthReader:
            return None
        unreader = body.reader.unreader
        if type(unreader) is not SocketUnreader or unreader.sock is not client:
            return None
        if body.buf.tell() or body.reader.length != content_length:
            return None
        return cls(client, body, content_length)

    def copy_to(self, file, md5):
        """Copy the body to `file`, and into `md5` unless it is None.

        Return the number of bytes copied, fewer than the content length if the
        client closed the connection early. Raise TimeoutError when no data
        comes for the socket's timeout.
        """
        self.take_buffered(file, md5)
        if self.received < self.content_length:
            file.flush()
            if md5 is None and hasattr(os, "splice"):
                self.method = "splice"
                self.splice_to(file)
            else:
                self.method = "recv_into"
                self.receive_to(file, md5)
        return self.received

    def count(self, size):
        self.received += size
        self.body.reader.length = self.content_length - self.received

    def take_buffered(self, file, md5):
        unreader = self.body.reader.unreader
        buffered = unreader.buf.getvalue()
        unreader.buf = io.BytesIO()
        part = buffered[: self.content_length]
        if len(buffered) > len(part):
            # A pipelined next request: leave it for gunicorn.
            unreader.unread(buffered[len(part) :])
        if part:
            file.write(part)
            if md5 is not None:
                md5.update(part)
            self.count(len(part))

    def splice_to(self, file):
        """Move the rest of the body into `file` with blocking splice(2) calls.

        A blocking splice() keeps moving data while the socket has some, up to
        the requested size, and waits inside the kernel when it has none. The
        socket's timeout becomes SO_RCVTIMEO for the time of the copy, which
        bounds each wait as the timeout bounds a recv(): Linux's TCP splice
        returns EAGAIN when it runs out.
        """
        timeout = self.client.gettimeout()
        read_end, write_end = os.pipe()
        self.client.settimeout(None)
        set_receive_timeout(self.client, timeout)
        try:
            try:
                fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
            except OSError:
                pass  # The pipe keeps its default size of 64 KiB.
            while self.received < self.content_length:
                requested = min(PIPE_SIZE, self.content_length - self.received)
                try:
                    moved = os.splice(self.client.fileno(), write_end, requested)
                except BlockingIOError:
                    raise TimeoutError(
                        f"no data from the client for {timeout} seconds"
                    ) from None
                if moved == 0:
                    return
                left = moved
                while left:
                    left -= os.splice(read_end, file.fileno(), left)
                self.count(moved)
        finally:
            os.close(read_end)
            os.close(write_end)
            set_receive_timeout(self.client, None)
            self.client.settimeout(timeout)

    def receive_to(self, file, md5):
        buffer = memoryview(bytearray(CHUNK_SIZE))
        while self.received < self.content_length:
            requested = min(CHUNK_SIZE, self.content_length - self.received)
            size = self.client.recv_into(buffer, requested)
            if size == 0:
                return
            chunk = buffer[:size]
            file.write(chunk)
            if md5 is not None:
                md5.update(chunk)
            self.count(size)


ENCRYPTED_FLAG = 0x1
# Compressed patched data (bit 5) and strong encryption (bit 6).
UNSUPPORTED_FLAGS = 0x20 | 0x40
SUPPORTED_METHODS = {
    zipfile.ZIP_STORED,
    zipfile.ZIP_DEFLATED,
    zipfile.ZIP_BZIP2,
    zipfile.ZIP_LZMA,
}
# The METS names of the zips check_zip() read last, by file identity, so that
# the checks later in the same request need not read the directory again.
ZIP_NAMES_CACHE_SIZE = 16
# A DIP has one METS, and the cache keeps no more names than this of a zip.
MAX_METS_NAMES = 16
zip_names_cache = OrderedDict()
zip_names_lock = threading.Lock()


def check_zip(path, display_name):
    """Check the zip's central directory as the unpacking will, before queueing.

    The entries' local headers and data are read only when the worker unpacks
    the zip, where a fault fails the deposit with the entry's name. Reading
    each local header here, one pread() per entry, took 80 ms for a zip of
    26,000 entries, a fifth of the time that `cp` takes to copy it.
    """
    from depositum.deposits.unpack import UNREADABLE_ZIP_ERRORS, check_entries
    from depositum.ingest.plan import IngestError

    names = []

    def checked(directory):
        for entry in directory:
            check_method(entry)
            if is_mets_name(entry.filename):
                if len(names) == MAX_METS_NAMES:
                    raise PackageError(
                        f"The zip {display_name} has more than {MAX_METS_NAMES}"
                        " files named METS.* at its top or in its top folder, and"
                        " a DIP has one: send one DIP folder per deposit"
                    )
                names.append(entry.filename)
            yield entry

    try:
        directory = CentralDirectory(path)
        if not check_entries(display_name, checked(directory), directory.start_dir):
            raise PackageError(f"The zip {display_name} is empty")
    except IngestError as e:
        raise PackageError(str(e)) from None
    except UNREADABLE_ZIP_ERRORS as e:
        raise PackageError(
            f"The request body is not a readable zip ({e}): send the DIP folder"
            " as a zip file, or deposit it by reference with Content-Location",
            status=415,
            error="ErrorContent",
        ) from None
    remember_zip_names(path, names)


def check_method(entry):
    """Raise what ZipFile.open() of Python 3.11 raises for an entry that it
    cannot read, from the flags and method in the central directory."""
    if entry.flag_bits & UNSUPPORTED_FLAGS:
        raise NotImplementedError(
            f"{entry.orig_filename!r} uses compressed patched data or strong encryption"
        )
    if entry.flag_bits & ENCRYPTED_FLAG:
        raise RuntimeError(
            f"File {entry.orig_filename!r} is encrypted, password required"
            " for extraction"
        )
    if entry.compress_type not in SUPPORTED_METHODS:
        raise NotImplementedError(
            f"{entry.orig_filename!r}: compression method"
            f" {entry.compress_type} is not supported"
        )


def file_identity(path):
    status = os.stat(path)
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


def remember_zip_names(path, names):
    with zip_names_lock:
        zip_names_cache[file_identity(path)] = names
        while len(zip_names_cache) > ZIP_NAMES_CACHE_SIZE:
            zip_names_cache.popitem(last=False)


def is_mets_name(name):
    """Return whether the entry `name` may be a DIP's METS: a name that starts
    with "METS." at the top of a package or one folder down."""
    parts = name.strip("/").split("/")
    return len(parts) <= 2 and parts[-1].startswith("METS.")


def zip_mets_names(path):
    """Return the names of the entries of the zip at `path` that may be its
    METS, as is_mets_name() finds them.

    A zip that check_zip() accepted keeps its identity (device, inode, size
    and modification time) when it is renamed, so its names come from the
    cache. The cache keeps only these names, because all the names of a zip of
    26,000 entries took 2.5 MB.
    """
    with zip_names_lock:
        names = zip_names_cache.get(file_identity(path))
    if names is not None:
        return list(names)
    with zipfile.ZipFile(path) as archive:
        return [name for name in archive.namelist() if is_mets_name(name)]
