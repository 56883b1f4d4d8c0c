"""Stateless resumption tokens.

A token contains the request arguments and the position where the next page
starts, signed with the secret key by django.core.signing so that a harvester
cannot forge or change one. Nothing is stored on the server, and a token stays
valid for OAI_TOKEN_LIFETIME seconds after it was issued, across restarts.
"""

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.utils import timezone

SALT = "depositum.oai.resumption-token"


class InvalidToken(Exception):
    """A resumption token that is malformed, forged, expired or for another verb."""


def make_token(state):
    """Return a signed token for the dict `state`, and its expiration time."""
    token = signing.dumps(state, salt=SALT, compress=True)
    expiration = timezone.now() + timedelta(seconds=settings.OAI_TOKEN_LIFETIME)
    return token, expiration


def read_token(token, verb):
    """Return the state signed into `token`, which must be one issued for `verb`.

    Raise InvalidToken with the reason otherwise.
    """
    try:
        state = signing.loads(token, salt=SALT, max_age=settings.OAI_TOKEN_LIFETIME)
    except signing.SignatureExpired:
        raise InvalidToken(
            "the resumption token has expired: start the list again without it"
        ) from None
    except signing.BadSignature:
        raise InvalidToken(
            "the resumption token is invalid: use the token of the last response"
            " unchanged"
        ) from None

    if not isinstance(state, dict) or state.get("verb") != verb:
        issued_for = state.get("verb") if isinstance(state, dict) else None
        raise InvalidToken(
            f"the resumption token was issued for {issued_for}, not for {verb}"
        )
    return state
