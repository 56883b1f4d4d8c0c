"""Byte ranges on media files, which audio and video players need to seek."""

import hashlib

import pytest

from depositum.catalogue.models import Description, DigitalObject, PublicationStatus
from depositum.catalogue.ranges import Unsatisfiable, requested_range

AUDIO = bytes(range(256)) * 40  # 10,240 bytes
AUDIO_PATH = "aips/ranges/recording.mp3"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 10239)),
        ("bytes=-500", (9740, 10239)),
        ("bytes=-20000", (0, 10239)),
        ("bytes=10000-20000", (10000, 10239)),
        ("bytes=5-4", None),
        ("bytes=-", None),
        ("bytes=0-1,5-6", None),
        ("items=0-9", None),
        ("bytes=abc", None),
    ],
)
def test_requested_range_parses_header(header, expected):
    assert requested_range(header, len(AUDIO)) == expected


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=99999-100000", "bytes=-0"])
def test_requested_range_past_end_is_unsatisfiable(header):
    with pytest.raises(Unsatisfiable):
        requested_range(header, len(AUDIO))


@pytest.fixture
def recording(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    path = tmp_path / AUDIO_PATH
    path.parent.mkdir(parents=True)
    path.write_bytes(AUDIO)
    description = Description.objects.create(slug="recording", title="Recording")
    DigitalObject.objects.create(
        description=description,
        usage=DigitalObject.Usage.MASTER,
        file=AUDIO_PATH,
        name="recording.mp3",
        mime_type="audio/mpeg",
        size=len(AUDIO),
        checksum=hashlib.sha256(AUDIO).hexdigest(),
    )
    return description


def body(response):
    return b"".join(response.streaming_content)


@pytest.mark.django_db
def test_media_sends_requested_range(client, recording):
    response = client.get(f"/media/{AUDIO_PATH}", HTTP_RANGE="bytes=100-199")

    assert response.status_code == 206
    assert response["Content-Range"] == "bytes 100-199/10240"
    assert response["Content-Length"] == "100"
    assert response["Content-Type"] == "audio/mpeg"
    assert response["Accept-Ranges"] == "bytes"
    assert body(response) == AUDIO[100:200]


@pytest.mark.django_db
def test_media_sends_suffix_range(client, recording):
    response = client.get(f"/media/{AUDIO_PATH}", HTTP_RANGE="bytes=-16")

    assert response.status_code == 206
    assert body(response) == AUDIO[-16:]


@pytest.mark.django_db
def test_media_without_range_sends_whole_file(client, recording):
    response = client.get(f"/media/{AUDIO_PATH}")

    assert response.status_code == 200
    assert response["Accept-Ranges"] == "bytes"
    assert body(response) == AUDIO


@pytest.mark.django_db
def test_media_range_past_end_is_416(client, recording):
    response = client.get(f"/media/{AUDIO_PATH}", HTTP_RANGE="bytes=20000-")

    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */10240"


@pytest.mark.django_db
def test_media_with_if_range_sends_whole_file(client, recording):
    response = client.get(
        f"/media/{AUDIO_PATH}", HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"x"'
    )

    assert response.status_code == 200
    assert body(response) == AUDIO


@pytest.mark.django_db
def test_media_range_of_draft_is_404(client, recording):
    recording.publication_status = PublicationStatus.DRAFT
    recording.save()

    response = client.get(f"/media/{AUDIO_PATH}", HTTP_RANGE="bytes=0-9")

    assert response.status_code == 404


@pytest.mark.django_db
def test_media_head_ignores_range(client, recording):
    response = client.head(f"/media/{AUDIO_PATH}", HTTP_RANGE="bytes=0-9")

    assert response.status_code == 200
    assert response["Content-Length"] == str(len(AUDIO))
