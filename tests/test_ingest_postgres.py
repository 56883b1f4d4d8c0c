"""The writer stores the same catalogue rows on PostgreSQL as on SQLite.

On PostgreSQL the writer sends rows with COPY, elsewhere with INSERT, so both
paths run here: each in a subprocess with its own database, ingesting the same
DIPs, and each dumps the rows without their ids and timestamps.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import postgres_database

REPO = Path(__file__).resolve().parent.parent

INGEST_AND_DUMP = """
import json, sys
import django

django.setup()
from django.core.management import call_command

from depositum.catalogue.models import (
    Description, DigitalFile, DigitalObject, PREMISEvent,
)
from depositum.ingest.archivematica import ArchivematicaDIPExtractor
from depositum.ingest.writer import PlanWriter
from tests.conftest import mets_path
from tests.dips import build_dip

call_command("migrate", verbosity=0)
fonds = Description.objects.create(slug="fonds", title="Fonds")
work = sys.argv[1]
# 01 twice: the second ingest replaces the first and keeps its slugs.
for number, prefix in enumerate(["01", "02", "05", "06", "03", "01"]):
    dip = build_dip(mets_path(prefix), f"{work}/dips-{number}")
    plan = ArchivematicaDIPExtractor(dip).plan()
    writer = PlanWriter(plan, fonds, media_folder=f"aips/{number}")
    writer.store_files()
    writer.write()

keys = {row.id: row.aip_key or row.slug for row in Description.objects.all()}
files = {row.id: str(row.object_uuid) for row in DigitalFile.objects.all()}

def dump(model, drop, links):
    rows = []
    for row in model.objects.values():
        for name in drop:
            row.pop(name)
        for name, names in links.items():
            row[name] = names.get(row[name])
        rows.append(json.dumps(row, sort_keys=True, default=str))
    return sorted(rows)

print(json.dumps({
    "descriptions": dump(
        Description, ["id", "aip_id", "created_at", "updated_at"],
        {"parent_id": keys},
    ),
    "digital_objects": dump(DigitalObject, ["id"], {"description_id": keys}),
    "digital_files": dump(DigitalFile, ["id", "aip_id"], {"description_id": keys}),
    "events": dump(PREMISEvent, ["id"], {"digital_file_id": files}),
}))
"""


def ingest_and_dump(tmp_path, name, database_url=None):
    work = tmp_path / name
    work.mkdir()
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env["DEPOSITUM_DATA_DIR"] = str(work / "data")
    env["DJANGO_SETTINGS_MODULE"] = "depositum.settings"
    if database_url:
        env["DATABASE_URL"] = database_url
    result = subprocess.run(
        [sys.executable, "-c", INGEST_AND_DUMP, str(work)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_postgres_rows_equal_sqlite_rows(tmp_path):
    database_url, drop = postgres_database()
    try:
        on_postgres = ingest_and_dump(tmp_path, "postgres", database_url)
    finally:
        drop()
    on_sqlite = ingest_and_dump(tmp_path, "sqlite")

    assert len(on_sqlite["descriptions"]) > 20
    assert len(on_sqlite["events"]) > 50
    for table in ("descriptions", "digital_objects", "digital_files", "events"):
        assert on_postgres[table] == on_sqlite[table], table
