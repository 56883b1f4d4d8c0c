"""Fuzzing the METS reader: whatever the METS holds, an ingest either plans or
fails with IngestError, never with another exception.

The suite runs a short search. For a longer one:
    DEPOSITUM_FUZZ_EXAMPLES=5000 .venv/bin/pytest tests/test_fuzz_mets.py
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from depositum.ingest.archivematica import ArchivematicaDIPExtractor
from depositum.ingest.plan import IngestError
from tests.conftest import mets_path
from tests.dips import build_dip

EXAMPLES = int(os.getenv("DEPOSITUM_FUZZ_EXAMPLES", "60"))
SAMPLES = [mets_path(prefix).read_bytes() for prefix in ("02", "05", "10")]
TEMPLATE = Path(tempfile.mkdtemp(prefix="fuzz-dip-"))
atexit.register(shutil.rmtree, TEMPLATE, True)
DIP = build_dip(mets_path("10"), TEMPLATE)
(METS_NAME,) = [path.name for path in DIP.glob("METS.*.xml")]


def plan_with(mets_bytes):
    """Plan a copy of the template DIP whose METS is `mets_bytes`."""
    with tempfile.TemporaryDirectory() as work:
        dip = Path(work) / DIP.name
        shutil.copytree(DIP, dip)
        (dip / METS_NAME).write_bytes(mets_bytes)
        try:
            ArchivematicaDIPExtractor(dip).plan()
        except IngestError:
            pass


@st.composite
def mutated_mets(draw):
    """A real METS with a few bytes replaced, inserted or cut away."""
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["replace", "insert", "cut"]))
        chunk = draw(st.binary(min_size=1, max_size=16))
        if action == "replace":
            data[position : position + len(chunk)] = chunk
        elif action == "insert":
            data[position:position] = chunk
        else:
            del data[position : position + len(chunk) * 64]
    return bytes(data)


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(mutated_mets())
def test_mutated_mets_plans_or_raises_ingest_error(mets_bytes):
    plan_with(mets_bytes)


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_plan_or_raise_ingest_error(mets_bytes):
    plan_with(mets_bytes)
