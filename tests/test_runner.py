"""The worker side of an ingest: claiming, and a child process that dies."""

import datetime
import multiprocessing
import os
import signal

import pytest

from depositum.catalogue.models import Description
from depositum.deposits import child, lifecycle, runner
from depositum.deposits.models import Deposit, Source, State

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def deposit():
    target = Description.objects.create(slug="fonds", title="Fonds")
    return Deposit.objects.create(
        target=target,
        target_slug=target.slug,
        packaging="http://purl.org/net/sword-types/METSArchivematicaDIP",
        source=Source.REFERENCE,
        path="/nonexistent/dip",
    )


def kill_self(deposit_id, token):
    os.kill(os.getpid(), signal.SIGKILL)


def test_it_fails_deposit_whose_ingest_process_is_killed(deposit, monkeypatch):
    # A forked child runs the replaced function; the forkserver would not.
    monkeypatch.setattr(runner, "context", lambda: multiprocessing.get_context("fork"))
    monkeypatch.setattr(child, "ingest_in_child", kill_self)

    runner.run_deposit(deposit.id)

    deposit.refresh_from_db()
    assert deposit.state == State.FAILED
    assert "killed by SIGKILL" in deposit.error
    assert deposit.attempts == 1
    assert deposit.finished_at is not None


def test_it_claims_a_deposit_once(deposit):
    first = lifecycle.claim(deposit.id)
    second = lifecycle.claim(deposit.id)

    assert first is not None
    assert second is None


def test_it_ignores_writes_with_a_stale_token(deposit):
    lifecycle.claim(deposit.id)

    written = lifecycle.fail(deposit.id, "not-the-token", "boom")

    deposit.refresh_from_db()
    assert written is False
    assert deposit.state == State.PROCESSING


def test_it_requeues_deposit_without_heartbeat(deposit, settings):
    settings.STALE_AFTER = 60
    lifecycle.claim(deposit.id)
    later = deposit.created_at + datetime.timedelta(seconds=3600)

    requeued = lifecycle.requeue_or_fail_stale(now=later)

    deposit.refresh_from_db()
    assert requeued == [deposit.id]
    assert deposit.state == State.QUEUED


def test_it_fails_stale_deposit_after_last_attempt(deposit, settings):
    settings.STALE_AFTER = 60
    settings.MAX_ATTEMPTS = 1
    lifecycle.claim(deposit.id)
    later = deposit.created_at + datetime.timedelta(seconds=3600)

    lifecycle.requeue_or_fail_stale(now=later)

    deposit.refresh_from_db()
    assert deposit.state == State.FAILED
    assert "each of 1 attempts" in deposit.error
