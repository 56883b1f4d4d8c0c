"""HTTP Basic authentication for the SWORD endpoints."""

import base64
import binascii
import hashlib
import hmac
import logging
import threading
import time

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.backends import ModelBackend
from django.utils import timezone

from depositum.deposits.models import LoginFailure

logger = logging.getLogger(__name__)


class UsernameOrEmailBackend(ModelBackend):
    """Authenticate by user name, or by email address where no user has that name.

    Stock Archivematica sends the access system user's email address as the
    Basic auth user name. The password is hashed once either way.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if not username or password is None:
            return None

        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None and "@" in username:
            users = User.objects.filter(email__iexact=username)[:2]
            user = users[0] if len(users) == 1 else None
        if user is None:
            # Spend the time of a hash, so that an unknown user name takes as
            # long to reject as a wrong password.
            User().set_password(password)
            return None

        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


def basic_credentials(request):
    """Return (user name, password) from the Authorization header, or None."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None

    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None

    username, sep, password = decoded.partition(":")
    if not sep:
        return None
    return username, password


def authenticate_basic(request):
    """Return the active user that the request's Basic credentials name, or None.

    Django hashes passwords with PBKDF2 at a cost of most of a second here, too
    slow to pay on every SWORD request, so credentials that passed are kept for
    CREDENTIALS_TTL seconds under an HMAC of the user name and password. A
    changed password or a deactivated user misses the cache.
    """
    credentials = basic_credentials(request)
    if credentials is None:
        return None

    username, password = credentials
    key = credentials_key(username, password)
    user = cached_user(key)
    if user is not None:
        return user

    address = request.META.get("REMOTE_ADDR", "unknown")[:64]
    account = throttle_key(username)
    check_throttle(account, address)
    user = authenticate(request, username=username, password=password)
    if user is not None:
        with verified_lock:
            verified[key] = (user.id, user.password, time.monotonic())
        LoginFailure.objects.filter(username=account, address=address).delete()
    else:
        logger.warning(
            "Basic authentication failed for user %r from %s", username, address
        )
        record_failure(account, address)
    return user


def throttle_key(login):
    """Return the name failures are counted under: the account's user name
    for any spelling of it or of its email address, else the login itself,
    both in lower case."""
    User = get_user_model()
    user = User.objects.filter(username=login).first()
    if user is None and "@" in login:
        users = User.objects.filter(email__iexact=login)[:2]
        user = users[0] if len(users) == 1 else None
    if user is None:
        user = User.objects.filter(username__iexact=login).first()
    name = user.get_username() if user is not None else login
    return name.lower()[:255]


class Throttled(Exception):
    """Too many failed logins for a user name from one address."""

    def __init__(self, username, address, retry_after):
        super().__init__(
            f"Too many failed logins for {username!r} from {address}: wait"
            f" {retry_after} seconds, then try again with the right password"
        )
        self.retry_after = retry_after


def check_throttle(username, address):
    window = timezone.timedelta(seconds=settings.LOGIN_FAILURE_WINDOW)
    failures = LoginFailure.objects.filter(
        username=username,
        address=address,
        failed_at__gte=timezone.now() - window,
    ).order_by("failed_at")
    if failures.count() < settings.LOGIN_FAILURE_LIMIT:
        return

    oldest = failures.first().failed_at
    retry_after = max(1, int((oldest + window - timezone.now()).total_seconds()) + 1)
    logger.warning(
        "Login for user %r from %s throttled for %ss", username, address, retry_after
    )
    raise Throttled(username, address, retry_after)


def record_failure(username, address):
    cutoff = timezone.now() - timezone.timedelta(seconds=settings.LOGIN_FAILURE_WINDOW)
    LoginFailure.objects.filter(failed_at__lt=cutoff).delete()
    LoginFailure.objects.create(username=username, address=address)


CREDENTIALS_TTL = 300
# {HMAC of the credentials: (user id, password hash, when verified)}
verified = {}
verified_lock = threading.Lock()


def credentials_key(username, password):
    message = f"{username}\0{password}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).digest()


def cached_user(key):
    with verified_lock:
        entry = verified.get(key)
        if entry and time.monotonic() - entry[2] > CREDENTIALS_TTL:
            del verified[key]
            entry = None
    if entry is None:
        return None

    user_id, password_hash, _ = entry
    user = get_user_model().objects.filter(id=user_id, is_active=True).first()
    if user is None or user.password != password_hash:
        with verified_lock:
            verified.pop(key, None)
        return None
    return user
