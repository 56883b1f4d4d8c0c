"""Request checks that SWORD 1.3 and 2.0 share: credentials, target, packaging,
mediation and the package itself."""

import logging
import os
import re
import shutil
import socket
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import unquote

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from lxml import etree

from depositum.catalogue.models import (
    AIP,
    Description,
    TargetGrant,
    ancestor_ids,
    may_deposit,
)
from depositum.deposits.models import Source
from depositum.deposits.packages import (
    PackageError,
    SocketBody,
    as_utf8,
    parse_content_md5,
    resolve_reference,
    shorten,
    store_upload,
    zip_mets_names,
)
from depositum.ingest.plan import IngestError
from depositum.ingest.registry import accepted_packagings, get_extractor
from depositum.sword.auth import Throttled, authenticate_basic

logger = logging.getLogger(__name__)

DEPOSITUM_ERROR = "urn:depositum:error:"


class SwordError(Exception):
    """A request the service rejects; `name` is a SWORD error name or a URI."""

    def __init__(self, status, name, summary, headers=None):
        super().__init__(summary)
        self.status = status
        self.name = name
        self.summary = summary
        self.headers = headers or {}


def sword_view(render_error):
    """Turn SwordError and PackageError into `render_error(error, request)`."""

    def decorator(view):
        @csrf_exempt
        def wrapper(request, *args, **kwargs):
            try:
                return view(request, *args, **kwargs)
            except PackageError as e:
                error = SwordError(e.status, e.error, str(e))
            except SwordError as e:
                error = e

            logger.warning(
                "SWORD %s %s rejected with %s %s: %s",
                request.method,
                request.path,
                error.status,
                error.name,
                error.summary,
            )
            response = render_error(error, request)
            for name, value in error.headers.items():
                response[name] = value
            return response

        return wrapper

    return decorator


def error_renderer(error_document):
    """Return a render_error for sword_view that builds with `error_document`."""

    def render_error(error, request):
        user_agent = request.headers.get("User-Agent", "")
        document = error_document(error.name, error.summary, user_agent=user_agent)
        body = etree.tostring(document, xml_declaration=True, encoding="utf-8")
        return HttpResponse(body, status=error.status, content_type="application/xml")

    return render_error


def not_found_view(render_error):
    """Return a view that responds to any unknown SWORD URL with a 404 document."""

    @sword_view(render_error)
    def not_found(request):
        raise SwordError(
            404,
            DEPOSITUM_ERROR + "NotFound",
            f"No SWORD resource at {shorten(request.path)}: start from the service"
            " document",
        )

    return not_found


def require_user(request):
    try:
        user = authenticate_basic(request)
    except Throttled as e:
        raise SwordError(
            429,
            DEPOSITUM_ERROR + "TooManyFailedLogins",
            str(e),
            headers={"Retry-After": str(e.retry_after)},
        ) from None
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
    """Return the description `slug` if `user` may deposit into it."""
    target = Description.objects.filter(slug=slug).first()
    if target is None:
        raise SwordError(
            404,
            DEPOSITUM_ERROR + "TargetNotFound",
            f"No target description has the slug {slug!r}: check the slug in the"
            " deposit URL against the service document",
        )
    if not (holds_grant(user, target) or may_deposit(user, target)):
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


def holds_grant(user, target):
    """Return True if the active `user` has a grant on `target` or an ancestor.

    Checking it first spares the two queries with which may_deposit() loads the
    user's permissions, for every depositor with a grant (as `createtarget
    --grant` gives). may_deposit() still decides when it is False.
    """
    if not user.is_active:
        return False
    ids = [target.id, *ancestor_ids(target)]
    return TargetGrant.objects.filter(user=user, target_id__in=ids).exists()


def service_document_response(request, slug, build):
    """Return the service document for a GET with credentials. `slug` names the
    description whose children to list, or is None for the top.

    `build(targets, url_for=..., packagings=..., mediation=...)` makes the
    document for one SWORD version.
    """
    user = require_user(request)
    require_method(request, "GET", "HEAD")

    if slug is None:
        targets = root_targets(user)
    else:
        targets = Description.objects.filter(parent=find_target(slug, user), aip=None)
    children = Description.objects.filter(parent=OuterRef("pk"), aip=None)
    targets = targets.annotate(has_children=Exists(children))

    def url_for(name, target_slug):
        return request.build_absolute_uri(reverse(name, args=[target_slug]))

    document = build(
        targets,
        url_for=url_for,
        packagings=accepted_packagings(),
        mediation=may_mediate(user),
    )
    body = etree.tostring(document, xml_declaration=True, encoding="utf-8")
    return HttpResponse(body, content_type="application/atomsvc+xml")


def root_targets(user):
    """Return the highest descriptions that `user` may deposit into."""
    made_by_hand = Description.objects.filter(aip=None)
    if user.is_superuser or user.has_perm("catalogue.deposit_any"):
        return made_by_hand.filter(parent=None)

    granted = TargetGrant.objects.filter(user=user).values("target_id")
    return made_by_hand.filter(id__in=granted)


def requested_packaging(request):
    """Return the X-Packaging (1.3) or Packaging (2.0) URI, or the default."""
    value = request.headers.get("X-Packaging") or request.headers.get("Packaging")
    accepted = accepted_packagings()
    if not value:
        return accepted[0]
    if get_extractor(value) is None:
        raise SwordError(
            415,
            "ErrorContent",
            f"Packaging {value!r} is not supported: send {accepted[0]}",
        )
    return value.strip()


def header_flag(request, name, default=False):
    value = request.headers.get(name, "").strip().lower()
    if value == "":
        return default
    if value in ("false", "0", "no"):
        return False
    if value in ("true", "1", "yes"):
        return True
    raise SwordError(
        400, "ErrorBadRequest", f"{name}: {value!r} is invalid: send true or false"
    )


def may_mediate(user):
    return settings.SWORD_MEDIATION and (
        user.is_superuser or user.has_perm("deposits.mediate")
    )


def mediated_owner(request, user, target):
    """Return the user named by X-On-Behalf-Of or On-Behalf-Of, or None.

    An unknown owner gets 403 TargetOwnerUnknown, as in SWORD 2.0. SWORD 1.3
    gave 401, but the mediator's own credentials were valid.
    """
    name = request.headers.get("X-On-Behalf-Of") or request.headers.get("On-Behalf-Of")
    if not name:
        return None

    name = name.strip()
    if not may_mediate(user):
        raise SwordError(
            412,
            "MediationNotAllowed",
            f"Mediated deposit on behalf of {name!r} is not allowed for"
            f" {user.get_username()!r}: deposit with the owner's own credentials,"
            " or ask an administrator to enable mediation for you",
        )

    owners = get_user_model().objects.filter(
        Q(username=name) | Q(email__iexact=name), is_active=True
    )
    if len(owners) != 1:
        raise SwordError(
            403,
            "TargetOwnerUnknown",
            f"On-Behalf-Of names {name!r}, which is not one active depositum user:"
            " give the owner's user name or email address",
        )
    owner = owners[0]
    if not may_deposit(owner, target):
        raise SwordError(
            403,
            DEPOSITUM_ERROR + "Forbidden",
            f"The owner {owner.get_username()!r} may not deposit into"
            f" {target.slug!r}: ask an administrator for a grant",
        )
    return owner


def check_reference(content_location):
    """Resolve Content-Location and check that the folder is a DIP folder.

    The folder must hold the METS itself, not in a subfolder, because it is
    removed whole once the DIP is ingested.
    """
    folder = resolve_reference(content_location)
    extractor = get_extractor(accepted_packagings()[0])
    try:
        dip = extractor.locate(folder)
    except IngestError as e:
        raise SwordError(400, "ErrorBadRequest", str(e)) from None
    if dip != folder:
        raise SwordError(
            400,
            "ErrorBadRequest",
            f"Content-Location names {folder.name!r}, which contains the DIP"
            f" folder {dip.name!r}: name the DIP folder itself,"
            f" file:///{folder.name}/{dip.name}",
        )
    return folder


def content_length(request):
    value = request.headers.get("Content-Length", "").strip()
    if not value:
        raise SwordError(
            411,
            "ErrorBadRequest",
            "Content-Length is missing: send the zip with its length, or deposit"
            " by reference with Content-Location: file:///<DIP folder name>",
        )
    try:
        length = int(value)
    except ValueError:
        length = -1
    if length < 0:
        raise SwordError(
            400, "ErrorBadRequest", f"Content-Length {value!r} is not a byte count"
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
    return length


def receive_part(request, folder, length, *, publish=True):
    """Store the request body as the next zip in the upload `folder`.

    Return the part's record for Deposit.parts. Zips are named by their arrival
    time, so they sort in the order they came. With `publish` false the file
    keeps a ".part" suffix, which hides it from the ingest until
    publish_part() renames it.
    """
    md5 = request.headers.get("Content-MD5")
    expected = parse_content_md5(md5) if md5 else None
    filename = upload_filename(request)

    folder.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns():020d}.zip"
    # gunicorn passes its client socket in the environ. With a timeout on it, a
    # read that waits longer than UPLOAD_READ_TIMEOUT fails, so a stalled
    # client cannot hold a thread and a partial file forever.
    client = request.META.get("gunicorn.socket")
    previous_timeout = client.gettimeout() if client else None
    watchdog = UploadDeadline(client, length)
    if client:
        client.settimeout(settings.UPLOAD_READ_TIMEOUT)
    try:
        size = store_upload(
            SocketBody.of(request, length) or request,
            length,
            folder / f"{name}.part",
            expected_md5=expected,
            display_name=filename or "in the request body",
        )
    except PackageError:
        if watchdog.expired.is_set():
            raise SwordError(
                408,
                "ErrorBadRequest",
                f"The upload of {length} bytes took longer than"
                f" {watchdog.seconds:.0f} seconds, the time it may take at"
                f" {settings.UPLOAD_MIN_RATE_KB} kB/s: send it again over a faster"
                " connection, or deposit the DIP by reference",
            ) from None
        raise
    finally:
        watchdog.cancel()
        if client:
            client.settimeout(previous_timeout)
    part = {
        "name": name,
        "filename": filename,
        "size": size,
        "received_at": timezone.now().isoformat(),
    }
    if publish:
        publish_part(folder, part)
    return part


class UploadDeadline:
    """Stop reading an upload that is slower than UPLOAD_MIN_RATE_KB overall.

    The socket's read timeout catches a client that stops sending, but not one
    that trickles a byte now and then. When the deadline passes, the timer
    shuts the socket for reading, so the body ends early and the response can
    still be sent.
    """

    def __init__(self, client, length):
        rate = settings.UPLOAD_MIN_RATE_KB * 1024
        self.seconds = max(settings.UPLOAD_READ_TIMEOUT, length / rate)
        self.expired = threading.Event()
        self.timer = None
        if client is not None:
            self.timer = threading.Timer(self.seconds, self.expire, args=[client])
            self.timer.daemon = True
            self.timer.start()

    def expire(self, client):
        self.expired.set()
        try:
            client.shutdown(socket.SHUT_RD)
        except OSError:
            pass

    def cancel(self):
        if self.timer is not None:
            self.timer.cancel()


def publish_part(folder, part):
    os.replace(folder / f"{part['name']}.part", folder / part["name"])


def require_mets(record):
    """Raise 400 if none of the package's files near its top is a METS."""
    extractor = get_extractor(record.packaging)
    names = package_names(record)
    if extractor.peek_aip_uuid(names) is None and not any(
        name.rstrip("/").split("/")[-1].startswith("METS.") for name in names
    ):
        package_name = record.filename or "the uploaded zip"
        raise SwordError(
            400,
            "ErrorBadRequest",
            f"{package_name} contains no METS.<AIP UUID>.xml at its top or in its top"
            " folder: send the whole DIP folder as one zip",
        )


def new_upload_folder():
    """Return (deposit UUID, the folder for its uploaded zips)."""
    deposit_uuid = uuid.uuid4()
    return deposit_uuid, Path(settings.UPLOAD_DIR) / str(deposit_uuid)


def remove_upload_folder(folder):
    shutil.rmtree(folder, ignore_errors=True)


def package_names(record):
    """Return the relative file names near the top of a deposit's package."""
    if record.source == Source.UPLOAD:
        names = []
        for part in record.upload_parts():
            names.extend(zip_mets_names(part))
        return names

    folder = Path(record.path)
    names = [path.name for path in folder.iterdir()]
    for sub in folder.iterdir():
        if sub.is_dir():
            names.extend(f"{sub.name}/{path.name}" for path in sub.iterdir())
    return names


def reject_known_aip(record):
    """Raise 409 if the package's AIP is in the catalogue and re-deposits are
    rejected (DEPOSITUM_REDEPOSIT=reject)."""
    if settings.REDEPOSIT != "reject":
        return

    extractor = get_extractor(record.packaging)
    aip_uuid = extractor.peek_aip_uuid(package_names(record))
    aip = AIP.objects.filter(uuid=aip_uuid).first() if aip_uuid else None
    if aip is None:
        return

    top = aip.descriptions.filter(parent=aip.target).first()
    where = f" as {top.slug!r}" if top else ""
    raise SwordError(
        409,
        DEPOSITUM_ERROR + "AIPExists",
        f"AIP {aip_uuid} is already in the catalogue{where}, ingested"
        f" {aip.ingested_at:%Y-%m-%d %H:%M} UTC, and this service rejects"
        " re-deposits (DEPOSITUM_REDEPOSIT=reject): delete the earlier"
        " descriptions first, or ask the administrator to allow replacement",
    )


# Characters that XML 1.0 does not allow, and the C1 controls: a file name with
# one could not be written into the receipt, the statement or the log.
UNPRINTABLE_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def upload_filename(request):
    """Return the file name from Content-Disposition, without any folder part.

    `filename*=UTF-8''<percent-encoded name>` (RFC 6266) is taken before
    `filename`. Raise SwordError 400 if the name contains a control character.
    """
    disposition = request.headers.get("Content-Disposition", "")
    values = {}
    for part in disposition.split(";"):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() in ("filename", "filename*") and value:
            values[name.strip().lower()] = value.strip()

    if "filename*" in values:
        charset, _, rest = values["filename*"].partition("'")
        encoded = rest.partition("'")[2]
        try:
            filename = unquote(encoded, encoding=charset or "utf-8", errors="replace")
        except LookupError:
            filename = unquote(encoded, errors="replace")
    elif "filename" in values:
        filename = as_utf8(values["filename"].strip('"'))
        # Some clients, the PyPI sword2 library among them, percent-encode it.
        filename = unquote(filename)
    else:
        return ""

    filename = Path(filename).name[:1024]
    unprintable = UNPRINTABLE_CHARACTERS.search(filename)
    if unprintable:
        raise SwordError(
            400,
            "ErrorBadRequest",
            f"The file name {ascii(filename)} in Content-Disposition contains"
            f" U+{ord(unprintable[0]):04X}, a control character or one that XML"
            " does not allow: send the name without it",
        )
    return filename
