"""The staff deposits dashboard and retries, against a live server with real DIPs.

The module deposits a DIP that completes and one whose METS is broken, which
fails. A third deposit is committed as queued without a queue message, as if
no worker had picked it up yet. It is removed when the module ends.
"""

import json
import shutil

import pytest
import requests
from django.utils import timezone
from lxml import html

from depositum.deposits import lifecycle
from depositum.deposits.models import Deposit, Source, State
from tests.conftest import ALICE, BOB, CAROL, mets_path

DIP_PACKAGING = "http://purl.org/net/sword-types/METSArchivematicaDIP"
METS_NAME = "METS.828c44bb-e631-4137-8638-bda4434218dc.xml"
# A staff user without superuser rights, created by this module.
DORA = ("dora", "dora-password", "dora@example.org")

pytestmark = pytest.mark.live


def deposit_by_reference(server, dip):
    """Deposit a DIP folder of the deposit directory as alice, return its status URL."""
    response = requests.post(
        f"{server.url}/sword/deposit/fonds",
        headers={"X-Packaging": DIP_PACKAGING, "Content-Location": f"file:///{dip}"},
        auth=ALICE[:2],
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return response.headers["Location"]


def login(server, user):
    """Log `user` in through the admin login page and return the session."""
    session = requests.Session()
    session.get(f"{server.url}/admin/login/", timeout=10).raise_for_status()
    response = session.post(
        f"{server.url}/admin/login/",
        data={
            "username": user[0],
            "password": user[1],
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
            "next": "/dashboard",
        },
        timeout=10,
    )
    assert response.url == f"{server.url}/dashboard", response.text
    return session


def run_json(server, script):
    """Run Python in `depositum shell` and return the JSON it printed after RESULT."""
    output = server.run("shell", "-c", script).stdout
    (line,) = [line for line in output.splitlines() if line.startswith("RESULT ")]
    return json.loads(line.removeprefix("RESULT "))


def deposit_row(page, deposit_id):
    """Return the dashboard row of a deposit as {column header: cell text}."""
    document = html.fromstring(page.content)
    headers = [th.text_content().strip() for th in document.xpath("//thead//th")]
    rows = document.xpath(f"//tr[@id='deposit-{deposit_id}']")
    if not rows:
        return None
    cells = [" ".join(cell.text_content().split()) for cell in rows[0]]
    return dict(zip(headers, cells, strict=True))


def retry_form_token(session, page_url):
    """Return the CSRF token of the Retry form on the page at `page_url`."""
    document = html.fromstring(session.get(page_url, timeout=10).content)
    tokens = document.xpath(
        "//form[.//button[normalize-space()='Retry']]"
        "//input[@name='csrfmiddlewaretoken']/@value"
    )
    assert tokens, f"no Retry form on {page_url}"
    return tokens[0]


def status_url(server, deposit):
    return f"{server.url}/api/deposits/{deposit['uuid']}"


@pytest.fixture(scope="module")
def staff(server):
    server.run("createuser", DORA[0], "--password", DORA[1], "--email", DORA[2])
    server.run(
        "shell",
        "-c",
        "from django.contrib.auth.models import User;"
        f"User.objects.filter(username={DORA[0]!r}).update(is_staff=True)",
    )
    return login(server, DORA)


@pytest.fixture(scope="module")
def completed(server, tmp_path_factory):
    # METS 05 has an AIP of its own, which the retries of METS 10 do not replace.
    dip = build_dip_for(server, tmp_path_factory, "completed", prefix="05")
    return server.wait(deposit_by_reference(server, dip))


@pytest.fixture(scope="module")
def failed(server, tmp_path_factory):
    """A deposit that failed on a truncated METS. Its DIP stays in the deposit dir."""
    dip = build_dip_for(server, tmp_path_factory, "failed")
    mets = server.deposit_dir / dip / METS_NAME
    mets.write_bytes(mets_path("10").read_bytes()[:5000])
    return server.wait(deposit_by_reference(server, dip))


@pytest.fixture(scope="module")
def queued(server, tmp_path_factory):
    """A deposit committed as queued whose message has not reached a worker."""
    dip = build_dip_for(server, tmp_path_factory, "queued")
    script = (
        "import json;"
        "from django.contrib.auth.models import User;"
        "from depositum.catalogue.models import Description;"
        "from depositum.deposits.models import Deposit;"
        "deposit = Deposit.objects.create(state='queued',"
        " target=Description.objects.get(slug='fonds'), target_slug='fonds',"
        f" depositor=User.objects.get(username='alice'), packaging={DIP_PACKAGING!r},"
        f" source='reference', path={str(server.deposit_dir / dip)!r});"
        "print('RESULT', json.dumps({'id': deposit.id, 'uuid': str(deposit.uuid)}))"
    )
    deposit = run_json(server, script)
    yield deposit

    server.run(
        "shell",
        "-c",
        "from depositum.deposits.models import Deposit;"
        f"Deposit.objects.filter(id={deposit['id']}, state='queued').delete()",
    )


def build_dip_for(server, tmp_path_factory, name, prefix="10"):
    """Place a DIP of a fixture METS, named `name`, in the deposit directory and
    return its folder name."""
    from tests.dips import build_dip

    dip = build_dip(mets_path(prefix), tmp_path_factory.mktemp(name), name=name)
    return server.place(dip).name


# Listing


def test_dashboard_lists_completed_deposit(server, staff, completed):
    response = staff.get(f"{server.url}/dashboard", timeout=10)

    assert response.status_code == 200
    row = deposit_row(response, completed["id"])
    assert row is not None, response.text
    assert row["State"] == "Completed"
    total = completed["progress"]["total"]
    assert total > 0
    assert row["Progress"] == f"{total} of {total} {total} of {total}"
    assert row["Depositor"] == "alice"
    assert row["Target"] == "Test fonds"
    assert row["Error"] == ""
    assert row["AIP"].endswith(completed["aip_uuid"])
    assert row["Warnings"].startswith(str(len(completed["warnings"])))


def test_dashboard_links_created_description(server, staff, completed):
    response = staff.get(f"{server.url}/dashboard", timeout=10)
    document = html.fromstring(response.content)

    links = document.xpath(f"//tr[@id='deposit-{completed['id']}']//a/@href")

    assert f"/descriptions/{completed['description']}" in links
    assert f"/deposits/{completed['uuid']}" in links
    assert "/descriptions/fonds" in links


def test_dashboard_shows_progress_bar_values(server, staff, completed):
    response = staff.get(f"{server.url}/dashboard", timeout=10)
    document = html.fromstring(response.content)

    (bar,) = document.xpath(f"//tr[@id='deposit-{completed['id']}']//progress")

    total = str(completed["progress"]["total"])
    assert bar.get("value") == total
    assert bar.get("max") == total
    assert bar.text_content() == f"{total} of {total}"


def test_dashboard_lists_failed_deposit_with_error(server, staff, failed):
    response = staff.get(f"{server.url}/dashboard", timeout=10)

    row = deposit_row(response, failed["id"])
    assert row is not None
    assert failed["state"] == "failed"
    assert row["State"] == "Failed"
    assert row["Error"] == " ".join(failed["error"].split())
    assert row["Finished"] != ""
    assert "Retry" in row["Actions"]


def test_dashboard_lists_queued_deposit_not_started(server, staff, queued):
    response = staff.get(f"{server.url}/dashboard", timeout=10)

    row = deposit_row(response, queued["id"])
    assert row is not None
    assert row["State"] == "Queued"
    assert row["Progress"] == "Not started Not started"
    assert row["Started"] == ""
    assert "Retry" not in row["Actions"]


def test_dashboard_refreshes_while_deposit_unfinished(server, staff, queued):
    response = staff.get(f"{server.url}/dashboard?state=queued", timeout=10)
    document = html.fromstring(response.content)

    (row,) = document.xpath(f"//tr[@id='deposit-{queued['id']}']")
    assert row.get("data-status-url") == f"/api/deposits/{queued['uuid']}"
    assert document.xpath("//noscript/meta[@http-equiv='refresh']")
    (script,) = document.xpath("//script/@src")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert staff.get(f"{server.url}{script}", timeout=10).status_code == 200


def test_dashboard_without_unfinished_does_not_refresh(server, staff, completed):
    response = staff.get(f"{server.url}/dashboard?state=completed", timeout=10)
    document = html.fromstring(response.content)

    assert document.xpath("//tr[@data-status-url]") == []
    assert document.xpath("//meta[@http-equiv='refresh']") == []


def test_dashboard_table_has_caption_and_state_label(server, staff, completed):
    response = staff.get(f"{server.url}/dashboard", timeout=10)
    document = html.fromstring(response.content)

    assert document.xpath("//table/caption/text()") == ["Deposits"]
    (label,) = document.xpath("//label[normalize-space()='State']/@for")
    assert document.xpath(f"//select[@id='{label}']/@name") == ["state"]


# Filters


@pytest.mark.parametrize(
    "query, listed, unlisted",
    [
        ("state=completed", ["completed"], ["failed", "queued"]),
        ("state=failed", ["failed"], ["completed", "queued"]),
        ("state=queued", ["queued"], ["completed", "failed"]),
        ("depositor=alice", ["completed", "failed", "queued"], []),
        ("depositor=bob", [], ["completed", "failed", "queued"]),
        ("target=fonds", ["completed", "failed", "queued"], []),
        ("target=closed", [], ["completed", "failed", "queued"]),
        ("state=nonsense", ["completed", "failed", "queued"], []),
    ],
)
def test_dashboard_filters(
    server, staff, completed, failed, queued, query, listed, unlisted
):
    deposits = {"completed": completed, "failed": failed, "queued": queued}

    response = staff.get(f"{server.url}/dashboard?{query}", timeout=10)

    assert response.status_code == 200
    for name in listed:
        assert deposit_row(response, deposits[name]["id"]) is not None, name
    for name in unlisted:
        assert deposit_row(response, deposits[name]["id"]) is None, name


def test_dashboard_state_filter_is_selected(server, staff, failed):
    response = staff.get(f"{server.url}/dashboard?state=failed", timeout=10)
    document = html.fromstring(response.content)

    selected = document.xpath("//select[@name='state']/option[@selected]/@value")

    assert selected == ["failed"]


@pytest.fixture
def old_deposits(server):
    """30 completed deposit rows into target "paging", dated 2000 so that they
    sort after every other deposit; removed after the test."""
    script = (
        "import datetime, json;"
        "from depositum.deposits.models import Deposit;"
        "created = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC);"
        "rows = Deposit.objects.bulk_create(Deposit(state='completed',"
        " target_slug='paging', packaging='p', source='reference', path='/nowhere',"
        " created_at=created) for _ in range(30));"
        "print('RESULT', json.dumps(len(rows)))"
    )
    yield run_json(server, script)

    server.run(
        "shell",
        "-c",
        "from depositum.deposits.models import Deposit;"
        "Deposit.objects.filter(target_slug='paging').delete()",
    )


def test_dashboard_pages_keep_filters(server, staff, old_deposits):
    first = staff.get(f"{server.url}/dashboard?target=paging", timeout=10)
    document = html.fromstring(first.content)
    (next_link,) = document.xpath("//a[@rel='next']/@href")
    second = staff.get(f"{server.url}/dashboard{next_link}", timeout=10)

    assert "target=paging" in next_link
    assert "page=2" in next_link
    assert len(document.xpath("//tbody/tr")) == 25
    assert len(html.fromstring(second.content).xpath("//tbody/tr")) == 5


# Access


def test_dashboard_sends_anonymous_users_to_login(server):
    response = requests.get(
        f"{server.url}/dashboard", allow_redirects=False, timeout=10
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/login/?next=/dashboard"


@pytest.mark.parametrize("user", [ALICE, BOB], ids=["depositor", "other"])
def test_dashboard_rejects_non_staff_users(server, user):
    response = requests.get(f"{server.url}/dashboard", auth=user[:2], timeout=10)

    assert response.status_code == 403


def test_dashboard_accepts_superuser_by_basic_auth(server):
    response = requests.get(f"{server.url}/dashboard", auth=CAROL[:2], timeout=10)

    assert response.status_code == 200


def test_nav_links_dashboard_for_staff_only(server, staff):
    staff_page = html.fromstring(staff.get(f"{server.url}/", timeout=10).content)
    public_page = html.fromstring(requests.get(f"{server.url}/", timeout=10).content)

    assert staff_page.xpath("//nav//a[@href='/dashboard']/text()") == ["Deposits"]
    assert public_page.xpath("//nav//a[@href='/dashboard']") == []


@pytest.mark.parametrize(
    "path",
    [
        "/admin/auth/user/",
        "/admin/catalogue/targetgrant/",
        "/admin/catalogue/description/",
        "/admin/deposits/deposit/",
    ],
)
def test_admin_covers_users_grants_and_descriptions(server, path):
    session = requests.Session()
    session.get(f"{server.url}/admin/login/", timeout=10)
    session.post(
        f"{server.url}/admin/login/",
        data={
            "username": CAROL[0],
            "password": CAROL[1],
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        timeout=10,
    )

    response = session.get(f"{server.url}{path}", timeout=10)

    assert response.status_code == 200
    assert response.url == f"{server.url}{path}"


# Retry


@pytest.fixture
def failed_again(server, tmp_path):
    """A fresh failed deposit with a truncated METS, for one retry test."""
    from tests.dips import build_dip

    dip = server.place(build_dip(mets_path("10"), tmp_path, name="retried"))
    (dip / METS_NAME).write_bytes(mets_path("10").read_bytes()[:5000])
    status = server.wait(deposit_by_reference(server, dip.name))
    assert status["state"] == "failed", status
    return status, dip


def post_retry(session, server, deposit, token, **data):
    return session.post(
        f"{server.url}/deposits/{deposit['uuid']}/retry",
        data={"csrfmiddlewaretoken": token, **data},
        allow_redirects=False,
        timeout=10,
    )


def test_retry_of_unchanged_dip_fails_again(server, staff, failed_again):
    deposit, _ = failed_again
    token = retry_form_token(staff, f"{server.url}/dashboard?state=failed")

    response = post_retry(staff, server, deposit, token, next="/dashboard?state=failed")
    page = staff.get(f"{server.url}{response.headers['Location']}", timeout=10)
    status = server.wait(status_url(server, deposit))

    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard?state=failed"
    assert f"Deposit {deposit['id']} is queued again." in page.text
    assert status["state"] == "failed"
    assert status["error"] == deposit["error"]
    assert status["attempts"] == 1
    assert status["finished_at"] > deposit["finished_at"]


def test_retry_after_fixing_mets_completes(server, staff, failed_again):
    deposit, dip = failed_again
    shutil.copyfile(mets_path("10"), dip / METS_NAME)
    token = retry_form_token(staff, f"{server.url}/deposits/{deposit['uuid']}")

    response = post_retry(staff, server, deposit, token)
    status = server.wait(status_url(server, deposit))

    assert response.status_code == 302
    assert response.headers["Location"] == f"/deposits/{deposit['uuid']}"
    assert status["state"] == "completed", status
    assert status["error"] is None
    assert status["description"]
    assert status["progress"]["done"] == status["progress"]["total"]


def test_depositor_retries_own_deposit_by_basic_auth(server, failed_again):
    deposit, _ = failed_again
    session = requests.Session()
    session.auth = ALICE[:2]
    token = retry_form_token(session, f"{server.url}/deposits/{deposit['uuid']}")

    response = post_retry(session, server, deposit, token)
    status = server.wait(status_url(server, deposit))

    assert response.status_code == 302
    assert status["state"] == "failed"
    assert status["finished_at"] > deposit["finished_at"]


def test_retry_rejects_other_non_staff_user(server, failed_again):
    deposit, _ = failed_again
    session = requests.Session()
    session.auth = BOB[:2]
    page = session.get(f"{server.url}/deposits/{deposit['uuid']}", timeout=10)
    session.get(f"{server.url}/admin/login/", timeout=10)

    response = post_retry(session, server, deposit, session.cookies["csrftoken"])
    status = server.status(status_url(server, deposit))

    assert "Retry" not in page.text
    assert response.status_code == 403
    assert status["state"] == "failed"
    assert status["finished_at"] == deposit["finished_at"]


def test_retry_requires_csrf_token(server, staff, failed_again):
    deposit, _ = failed_again

    response = post_retry(staff, server, deposit, "")
    status = server.status(status_url(server, deposit))

    assert response.status_code == 403
    assert "CSRF" in response.text
    assert status["state"] == "failed"
    assert status["finished_at"] == deposit["finished_at"]


def test_retry_sends_anonymous_users_to_login(server, failed_again):
    deposit, _ = failed_again
    session = requests.Session()
    session.get(f"{server.url}/admin/login/", timeout=10)

    response = post_retry(session, server, deposit, session.cookies["csrftoken"])

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login/?next=")


def test_retry_of_completed_deposit_is_refused(server, staff, completed, failed):
    token = retry_form_token(staff, f"{server.url}/dashboard?state=failed")

    response = post_retry(staff, server, completed, token, next="/dashboard")
    page = staff.get(f"{server.url}/dashboard", timeout=10)
    status = server.status(status_url(server, completed))

    assert response.status_code == 302
    assert f"Deposit {completed['id']} was not retried" in page.text
    assert status["state"] == "completed"
    assert status["finished_at"] == completed["finished_at"]


def test_retry_ignores_next_url_of_other_site(server, staff, failed_again):
    deposit, _ = failed_again
    token = retry_form_token(staff, f"{server.url}/dashboard?state=failed")

    response = post_retry(staff, server, deposit, token, next="https://example.org/")
    server.wait(status_url(server, deposit))

    assert response.status_code == 302
    assert response.headers["Location"] == f"/deposits/{deposit['uuid']}"


# The state change behind Retry, on the test database


def make_deposit(**fields):
    return Deposit.objects.create(
        target_slug="fonds",
        packaging=DIP_PACKAGING,
        source=Source.REFERENCE,
        path="/srv/deposits/broken-dip",
        **fields,
    )


@pytest.mark.django_db
def test_requeue_failed_resets_deposit(django_capture_on_commit_callbacks):
    now = timezone.now()
    deposit = make_deposit(
        state=State.FAILED,
        attempts=3,
        error="The METS is not well-formed XML",
        warnings=["a warning"],
        progress_done=2,
        progress_total=5,
        started_at=now,
        finished_at=now,
        heartbeat_at=now,
    )

    with django_capture_on_commit_callbacks() as callbacks:
        requeued = lifecycle.requeue_failed(deposit.id, "dora")
    deposit.refresh_from_db()

    assert requeued is True
    assert deposit.state == State.QUEUED
    assert deposit.attempts == 0
    assert deposit.error == ""
    assert deposit.warnings == []
    assert deposit.progress_done == 0
    assert deposit.progress_total == 0
    assert deposit.started_at is None
    assert deposit.finished_at is None
    assert len(callbacks) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "state", [State.QUEUED, State.PROCESSING, State.COMPLETED, State.COLLECTING]
)
def test_requeue_ignores_unfailed_deposit(django_capture_on_commit_callbacks, state):
    deposit = make_deposit(state=state, attempts=1)

    with django_capture_on_commit_callbacks() as callbacks:
        requeued = lifecycle.requeue_failed(deposit.id, "dora")
    deposit.refresh_from_db()

    assert requeued is False
    assert deposit.state == state
    assert deposit.attempts == 1
    assert callbacks == []
