"""SWORD 1.3 endpoints: the service document and the deposit of a DIP.

A deposit is answered as soon as its row is committed as queued; a worker does
the ingest later, and the Location header leads to the deposit's status.
"""

import logging
import uuid
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from depositum.catalogue.models import Description, TargetGrant, may_deposit
from depositum.deposits import lifecycle
from depositum.deposits.models import Deposit, Source
from depositum.deposits.packages import (
    PackageError,
    parse_content_md5,
    resolve_reference,
    store_upload,
)
from depositum.ingest.plan import IngestError
from depositum.ingest.registry import accepted_packagings, get_extractor
from depositum.sword import documents
from depositum.sword.auth import authenticate_basic

logger = logging.getLogger(__name__)

ATOM_ENTRY = "application/atom+xml;type=entry"
DEPOSITUM_ERROR = "urn:depositum:error:"


class SwordError(Exception):
    def __init__(self, status, name, summary, headers=None):
        super().__init__(summary)
        self.status = status
        self.name = name
        self.summary = summary
        self.headers = headers or {}


def error_response(error, user_agent):
    body = documents.to_bytes(
        documents.error_document(error.name, error.summary, user_agent=user_agent)
    )
    response = HttpResponse(body, status=error.status, content_type="application/xml")
    for name, value in error.headers.items():
        response[name] = value
    return response


def sword_view(view):
    """Answer SwordError, and PackageError, with a SWORD error document."""

    @csrf_exempt
    def wrapper(request, *args, **kwargs):
        user_agent = request.headers.get("User-Agent", "")
        try:
            return view(request, *args, **kwargs)
        except PackageError as e:
            error = SwordError(e.status, e.error, str(e))
        except SwordError as e:
            error = e

        logger.warning(
            "SWORD %s %s answered %s %s: %s",
            request.method,
            request.path,
            error.status,
            error.name,
            error.summary,
        )
        return error_response(error, user_agent)

    return wrapper


def require_user(request):
    user = authenticate_basic(request)
    if user is None:
        raise SwordError(
            401,
            DEPOSITUM_ERROR + "AuthenticationFailed",
            "Authentication failed: send HTTP Basic credentials of an active"
            " depositum user (user name or email address, and password)",
            headers={"WWW-Authenticate": 'Basic realm="depositum SWORD"'},
        )
    return user


def require_method(request, *methods):
    if request.method not in methods:
        raise SwordError(
            405,
            "MethodNotAllowed",
            f"{request.method} is not allowed here: use {' or '.join(methods)}",
            headers={"Allow": ", ".join(methods)},
        )


def find_target(slug, user):
    target = Description.objects.filter(slug=slug).first()
    if target is None:
        raise SwordError(
            404,
            DEPOSITUM_ERROR + "TargetNotFound",
            f"No target description has the slug {slug!r}: check the slug in the"
            " deposit URL against the service document",
        )
    if not may_deposit(user, target):
        raise SwordError(
            403,
            DEPOSITUM_ERROR + "Forbidden",
            f"User {user.get_username()!r} may not deposit into {slug!r}: ask an"
            " administrator for a grant on that description",
        )
    if target.aip_id is not None:
        raise SwordError(
            403,
            DEPOSITUM_ERROR + "Forbidden",
            f"{slug!r} was created by the ingest of AIP {target.aip.uuid} and would"
            " be replaced with it: deposit into a description made in the catalogue",
        )
    return target


@sword_view
def service_document(request, slug=None):
    user = require_user(request)
    require_method(request, "GET", "HEAD")

    if slug is None:
        targets = root_targets(user)
    else:
        parent = find_target(slug, user)
        targets = Description.objects.filter(parent=parent, aip=None)

    children = Description.objects.filter(parent=OuterRef("pk"), aip=None)
    targets = targets.annotate(has_children=Exists(children))

    def url_for(name, target_slug):
        return request.build_absolute_uri(reverse(name, args=[target_slug]))

    document = documents.service_document(
        targets,
        url_for=url_for,
        has_children=lambda target: target.has_children,
        packagings=accepted_packagings(),
    )
    return HttpResponse(
        documents.to_bytes(document), content_type="application/atomsvc+xml"
    )


def root_targets(user):
    """Return the highest descriptions that `user` may deposit into."""
    made_by_hand = Description.objects.filter(aip=None)
    if user.is_superuser or user.has_perm("catalogue.deposit_any"):
        return made_by_hand.filter(parent=None)

    granted = TargetGrant.objects.filter(user=user).values("target_id")
    return made_by_hand.filter(id__in=granted)


@sword_view
def deposit(request, slug):
    user = require_user(request)
    require_method(request, "POST")
    target = find_target(slug, user)
    packaging = requested_packaging(request)
    user_agent = request.headers.get("User-Agent", "")

    on_behalf_of = request.headers.get("X-On-Behalf-Of") or request.headers.get(
        "On-Behalf-Of"
    )
    if on_behalf_of:
        raise SwordError(
            412,
            "MediationNotAllowed",
            f"Mediated deposit on behalf of {on_behalf_of!r} is not enabled here:"
            " deposit with the owner's own credentials and no X-On-Behalf-Of",
        )

    no_op = header_flag(request, "X-No-Op")
    deposit_uuid = uuid.uuid4()
    content_location = request.headers.get("Content-Location", "").strip()
    if content_location:
        source, path, size = Source.REFERENCE, check_reference(content_location), None
        filename = path.name
    else:
        source = Source.UPLOAD
        path = Path(settings.UPLOAD_DIR) / f"{deposit_uuid}.zip"
        size = receive_upload(request, path)
        filename = upload_filename(request)

    record = Deposit(
        uuid=deposit_uuid,
        target=target,
        target_slug=target.slug,
        depositor=user,
        packaging=packaging,
        source=source,
        path=str(path),
        filename=filename,
        size=size,
        user_agent=user_agent[:1024],
    )
    if no_op:
        if source == Source.UPLOAD:
            path.unlink(missing_ok=True)
        return deposit_response(request, record, status=200, no_op=True)

    try:
        record.save()
    except BaseException:
        if source == Source.UPLOAD:
            path.unlink(missing_ok=True)
        raise

    logger.info(
        "Deposit %s received from %s into %s (%s %s)",
        record.id,
        user.get_username(),
        target.slug,
        source,
        filename,
    )
    transaction.on_commit(lambda: lifecycle.enqueue(record.id))
    return deposit_response(request, record, status=accepted_status(user_agent))


def requested_packaging(request):
    value = request.headers.get("X-Packaging") or request.headers.get("Packaging")
    accepted = accepted_packagings()
    if not value:
        return accepted[0]
    if get_extractor(value) is None:
        raise SwordError(
            415,
            "ErrorContent",
            f"Packaging {value!r} is not supported: send X-Packaging {accepted[0]}",
        )
    return value.strip()


def header_flag(request, name):
    value = request.headers.get(name, "").strip().lower()
    if value in ("", "false", "0", "no"):
        return False
    if value in ("true", "1", "yes"):
        return True
    raise SwordError(400, "ErrorBadRequest", f"{name}: {value!r} is not true or false")


def check_reference(content_location):
    """Resolve Content-Location and check that the folder contains a DIP."""
    folder = resolve_reference(content_location)
    try:
        extractor = get_extractor(accepted_packagings()[0])
        extractor.locate(folder)
    except IngestError as e:
        raise SwordError(400, "ErrorBadRequest", str(e)) from None
    return folder


def receive_upload(request, path):
    length = request.headers.get("Content-Length", "").strip()
    if not length:
        raise SwordError(
            411,
            "ErrorBadRequest",
            "Content-Length is missing: send the zip with its length, or deposit"
            " by reference with Content-Location: file:///<DIP folder name>",
        )
    try:
        length = int(length)
    except ValueError:
        raise SwordError(
            400, "ErrorBadRequest", f"Content-Length {length!r} is not a number"
        ) from None
    if length == 0:
        raise SwordError(
            400,
            "ErrorBadRequest",
            "The request has no body and no Content-Location: send the DIP as a"
            " zip, or name its folder in the deposit directory with"
            " Content-Location: file:///<DIP folder name>",
        )

    max_bytes = settings.MAX_UPLOAD_SIZE_KB * 1024
    if length > max_bytes:
        raise SwordError(
            413,
            "MaxUploadSizeExceeded",
            f"The body of {length} bytes is over the maximum upload size of"
            f" {settings.MAX_UPLOAD_SIZE_KB} kB: deposit the DIP by reference"
            " instead",
        )

    md5 = request.headers.get("Content-MD5")
    expected = parse_content_md5(md5) if md5 else None
    return store_upload(request, length, path, expected_md5=expected)


def upload_filename(request):
    disposition = request.headers.get("Content-Disposition", "")
    for part in disposition.split(";"):
        name, _, value = part.strip().partition("=")
        if name.lower() == "filename" and value:
            return Path(value.strip().strip('"')).name[:1024]
    return ""


def accepted_status(user_agent):
    """Return 302 for clients that take only 200, 201 or 302 as success, else 202."""
    agent = user_agent.strip().lower()
    for prefix in settings.SWORD_302_USER_AGENTS:
        if agent.startswith(prefix.lower()):
            return 302
    return 202


def deposit_response(request, record, *, status, no_op=False):
    if no_op:
        status_url = page_url = request.build_absolute_uri(request.path)
        summary = "No-op: the package was checked and nothing was stored."
    else:
        status_url = request.build_absolute_uri(record.get_api_url())
        page_url = request.build_absolute_uri(record.get_absolute_url())
        summary = f"Deposit {record.id} is queued for ingest."

    entry = documents.deposit_entry(
        record, status_url=status_url, page_url=page_url, no_op=no_op, summary=summary
    )
    response = HttpResponse(
        documents.to_bytes(entry), status=status, content_type=ATOM_ENTRY
    )
    if not no_op:
        response["Location"] = status_url
    return response
