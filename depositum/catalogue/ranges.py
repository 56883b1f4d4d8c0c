"""Byte ranges (RFC 9110, section 14) for the media files the catalogue sends.

Browsers request ranges to seek in audio and video. One range per request is
served. A request for several ranges, or a Range header that does not parse,
gets the whole file with 200, which RFC 9110 allows a server to do.
"""

import re

from django.http import HttpResponse, StreamingHttpResponse

SINGLE_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK_SIZE = 256 * 1024


class Unsatisfiable(Exception):
    """The requested range starts at or after the end of the file."""


def requested_range(header, size):
    """Return (first, last) byte positions for the Range `header`, or None.

    None means that the whole file is sent. Raise Unsatisfiable when no byte of
    the range lies in the file.
    """
    match = SINGLE_RANGE.match(header.strip())
    if match is None:
        return None

    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        # A suffix range: the last N bytes.
        length = int(last)
        if length == 0:
            raise Unsatisfiable()
        return max(size - length, 0), size - 1

    first = int(first)
    if last and int(last) < first:
        return None
    if first >= size:
        raise Unsatisfiable()
    last = int(last) if last else size - 1
    return first, min(last, size - 1)


def partial_response(request, file_path, content_type):
    """Return a 206 or 416 response for the request's Range header, or None
    when the whole file is to be sent.

    An If-Range header is not compared with the file's validators, so a request
    that carries one gets the whole file. RFC 9110 defines ranges for GET only,
    so a HEAD request gets the headers of the whole file.
    """
    header = request.headers.get("Range")
    if request.method != "GET" or not header or "If-Range" in request.headers:
        return None

    size = file_path.stat().st_size
    try:
        byte_range = requested_range(header, size)
    except Unsatisfiable:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    if byte_range is None:
        return None

    first, last = byte_range
    response = StreamingHttpResponse(
        read_range(file_path, first, last), status=206, content_type=content_type
    )
    response["Content-Length"] = str(last - first + 1)
    response["Content-Range"] = f"bytes {first}-{last}/{size}"
    return response


def read_range(file_path, first, last):
    with file_path.open("rb") as file:
        file.seek(first)
        left = last - first + 1
        while left > 0:
            chunk = file.read(min(CHUNK_SIZE, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk
