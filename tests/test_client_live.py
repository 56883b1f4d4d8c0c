"""The depositum deposit and status commands against a live server."""

import pytest
import requests

from tests.conftest import ALICE, BOB

pytestmark = pytest.mark.live


def deposit(server, *args):
    return server.run(
        "deposit", *args, "--url", server.url, "--target", "fonds",
        "--user", ALICE[0], "--password", ALICE[1], "--poll-interval", "0.2",
        check=False,
    )  # fmt: skip


def test_it_uploads_zip_and_waits_for_completion(server, build):
    result = deposit(server, str(build("07")), "--wait")

    assert result.returncode == 0, result.stderr
    assert "Deposit accepted: " in result.stdout
    assert ": completed" in result.stdout
    assert f"Catalogue: {server.url}/descriptions/" in result.stdout


def test_it_rsyncs_folder_and_deposits_by_reference(server, build):
    dip = build("10")

    result = deposit(
        server, str(dip), "--rsync-target", f"{server.deposit_dir}/", "--wait"
    )

    assert result.returncode == 0, result.stderr
    assert ": completed" in result.stdout
    assert not (server.deposit_dir / dip.name).exists()
    assert dip.exists()


@pytest.mark.parametrize("by_reference", [False, True], ids=["zip", "rsync"])
def test_it_deposits_folder_with_non_latin1_name(server, build, by_reference):
    dip = build("07")
    dip = dip.rename(dip.with_name(f"{dip.name}-€"))
    rsync = ["--rsync-target", f"{server.deposit_dir}/"] if by_reference else []

    result = deposit(server, str(dip), *rsync, "--wait")

    assert result.returncode == 0, result.stderr
    assert ": completed" in result.stdout


def test_it_exits_1_when_the_deposit_fails(server, build):
    result = deposit(server, str(build("02", access_copies=False)), "--wait")

    assert result.returncode == 1
    assert ": failed" in result.stdout
    assert "error: " in result.stdout


def test_it_prints_the_server_error_summary(server, build):
    result = server.run(
        "deposit", str(build("10")), "--url", server.url, "--target", "closed",
        "--user", ALICE[0], "--password", ALICE[1], check=False,
    )  # fmt: skip

    assert result.returncode == 2
    assert "responded 403" in result.stderr
    assert "may not deposit into 'closed'" in result.stderr


def test_it_prints_status_by_id(server, build):
    accepted = deposit(server, str(build("10")), "--wait")
    location = accepted.stdout.split("Deposit accepted: ")[1].split()[0]
    deposit_id = str(requests.get(location, timeout=10).json()["id"])

    result = server.run(
        "status", deposit_id, "--url", server.url,
        "--user", ALICE[0], "--password", ALICE[1], check=False,
    )  # fmt: skip

    assert result.returncode == 0
    assert result.stdout.startswith(f"Deposit {deposit_id}: completed")


def test_it_hides_status_by_id_from_other_users(server, build):
    accepted = deposit(server, str(build("10")))
    location = accepted.stdout.split("Deposit accepted: ")[1].split()[0]
    deposit_id = requests.get(location, timeout=10).json()["id"]

    anonymous = requests.get(f"{server.url}/api/deposits/{deposit_id}", timeout=10)
    bob = requests.get(
        f"{server.url}/api/deposits/{deposit_id}", auth=BOB[:2], timeout=10
    )
    alice = requests.get(
        f"{server.url}/api/deposits/{deposit_id}", auth=ALICE[:2], timeout=10
    )

    assert anonymous.status_code == 404
    assert bob.status_code == 404
    assert alice.status_code == 200
