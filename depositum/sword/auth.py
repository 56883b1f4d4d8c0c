"""HTTP Basic authentication for the SWORD endpoints."""

import base64
import binascii
import logging

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.backends import ModelBackend

logger = logging.getLogger(__name__)


class EmailBackend(ModelBackend):
    """Authenticate with the email address in place of the user name.

    Stock Archivematica sends the access system user's email address as the
    Basic auth user name.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if not username or "@" not in username or password is None:
            return None

        users = get_user_model().objects.filter(email__iexact=username)
        if len(users) != 1:
            return None

        user = users[0]
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
    """Return the active user that the request's Basic credentials name, or None."""
    credentials = basic_credentials(request)
    if credentials is None:
        return None

    username, password = credentials
    user = authenticate(request, username=username, password=password)
    if user is None:
        logger.warning(
            "Basic authentication failed for user %r from %s",
            username,
            request.META.get("REMOTE_ADDR", "unknown address"),
        )
    return user
