"""HTTP Basic authentication and its cache of verified credentials."""

import base64

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test import RequestFactory

from depositum.sword import auth

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_cache():
    auth.verified.clear()


@pytest.fixture
def alice():
    return get_user_model().objects.create_user("alice", "alice@example.org", "pw")


@pytest.fixture
def hashes(monkeypatch):
    """Count the PBKDF2 password checks."""
    calls = []
    verify = PBKDF2PasswordHasher.verify

    def counting(self, password, encoded):
        calls.append(password)
        return verify(self, password, encoded)

    monkeypatch.setattr(PBKDF2PasswordHasher, "verify", counting)
    return calls


def request_with(username, password):
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return RequestFactory().get("/", HTTP_AUTHORIZATION=f"Basic {token}")


def test_it_accepts_user_name_and_email(alice):
    assert auth.authenticate_basic(request_with("alice", "pw")) == alice
    assert auth.authenticate_basic(request_with("ALICE@example.org", "pw")) == alice


def test_it_rejects_wrong_password(alice):
    assert auth.authenticate_basic(request_with("alice", "wrong")) is None


def test_it_hashes_verified_credentials_once(alice, hashes):
    for _ in range(3):
        auth.authenticate_basic(request_with("alice", "pw"))

    assert len(hashes) == 1


def test_it_drops_cached_credentials_after_password_change(alice):
    auth.authenticate_basic(request_with("alice", "pw"))
    alice.set_password("new")
    alice.save()

    assert auth.authenticate_basic(request_with("alice", "pw")) is None
    assert auth.authenticate_basic(request_with("alice", "new")) == alice


def test_it_drops_cached_credentials_of_deactivated_user(alice):
    auth.authenticate_basic(request_with("alice", "pw"))
    alice.is_active = False
    alice.save()

    assert auth.authenticate_basic(request_with("alice", "pw")) is None


@pytest.mark.parametrize(
    "header",
    ["", "Bearer x", "Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode()],
)
def test_it_ignores_malformed_authorization(alice, header):
    request = RequestFactory().get("/", HTTP_AUTHORIZATION=header)

    assert auth.authenticate_basic(request) is None


def test_it_throttles_repeated_failures(alice, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(3):
        assert auth.authenticate_basic(request_with("alice", "wrong")) is None

    with pytest.raises(auth.Throttled) as raised:
        auth.authenticate_basic(request_with("alice", "pw"))

    assert raised.value.retry_after > 0
    assert "Too many failed logins for 'alice' from 127.0.0.1" in str(raised.value)


def test_it_forgets_failures_after_a_success(alice, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(2):
        auth.authenticate_basic(request_with("alice", "wrong"))
    auth.authenticate_basic(request_with("alice", "pw"))

    for _ in range(2):
        auth.authenticate_basic(request_with("alice", "wrong"))

    auth.verified.clear()
    assert auth.authenticate_basic(request_with("alice", "pw")) == alice


def test_it_logs_user_and_address_but_not_password(alice, caplog):
    auth.authenticate_basic(request_with("alice", "s3cret-guess"))

    assert "'alice' from 127.0.0.1" in caplog.text
    assert "s3cret-guess" not in caplog.text


def test_it_throttles_every_spelling_of_an_account(alice, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for login in ["alice", "alice@example.org", "ALICE@EXAMPLE.ORG"]:
        auth.authenticate_basic(request_with(login, "wrong"))

    with pytest.raises(auth.Throttled):
        auth.authenticate_basic(request_with("Alice@Example.org", "pw"))
