"""Turn an IngestPlan into catalogue rows and stored access copies.

1. Link or copy the access copies and thumbnails into a folder of their own
   under MEDIA_ROOT, reporting progress as files are stored.
2. In one transaction, which waits for other ingests' writes to end: remove the
   descriptions of an earlier ingest of the same AIP, and create the new
   descriptions level by level with bulk inserts. Then add their digital
   objects, technical properties and PREMIS events, and call `on_commit_check`,
   which raises if the deposit is no longer ours.
3. After the commit, remove the earlier ingest's media folder. If anything
   fails, the caller removes the new one instead.
"""

import hashlib
import logging
import mimetypes
import os
import shutil
from dataclasses import asdict
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import CharField
from django.utils import timezone
from slugify import slugify

from depositum.catalogue.models import (
    AIP,
    Description,
    DigitalFile,
    DigitalObject,
    PREMISEvent,
)
from depositum.ingest.plan import IngestError

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
SLUG_MAX_LENGTH = 200


class PlanWriter:
    def __init__(self, plan, target, *, media_folder, on_progress=None):
        """Prepare to write `plan` under the description `target`.

        `media_folder` is the folder, relative to MEDIA_ROOT, that receives this
        ingest's files; `on_progress(done, total)` is called as files are stored.
        """
        self.plan = plan
        self.target = target
        self.media_folder = media_folder
        self.on_progress = on_progress or (lambda done, total: None)
        self.media_root = Path(settings.MEDIA_ROOT)
        self.stored = {}

    def store_files(self):
        """Link or copy every access copy and thumbnail into the media folder."""
        nodes = [node for node in self.plan.nodes() if node.access_copy]
        total = len(nodes)
        dest_root = self.media_root / self.media_folder
        if dest_root.exists():
            # A dead attempt of this same deposit left it behind.
            shutil.rmtree(dest_root)

        for done, node in enumerate(nodes, start=1):
            folder = Path(self.media_folder) / node.file.object_uuid
            (self.media_root / folder).mkdir(parents=True, exist_ok=True)
            master = folder / node.access_copy.name
            files = {"master": (node.access_copy, master)}
            if node.thumbnail:
                files["thumbnail"] = (node.thumbnail, folder / "thumbnail.jpg")

            self.stored[node.key] = {
                usage: self.store(source, relative)
                for usage, (source, relative) in files.items()
            }
            if done % BATCH_SIZE == 0 or done == total:
                self.on_progress(done, total)
        return total

    def store(self, source, relative):
        dest = self.media_root / relative
        link_or_copy(source, dest)
        return {
            "file": str(relative),
            "name": source.name,
            "size": dest.stat().st_size,
            "checksum": sha256(dest),
            "mime_type": mimetypes.guess_type(source.name)[0] or "",
        }

    def write(self, on_commit_check=None):
        """Create the catalogue rows in one transaction.

        `on_commit_check(aip, descriptions)` runs last inside the transaction
        and may raise to roll everything back. Return (AIP, {key: Description}).
        """
        with transaction.atomic():
            lock_catalogue()
            old_slugs, old_media = self.remove_earlier_ingest()
            aip = AIP.objects.create(
                uuid=self.plan.aip_uuid,
                name=self.plan.aip_name,
                target=self.target,
                media_path=self.media_folder,
                ingested_at=timezone.now(),
            )
            descriptions = self.create_descriptions(aip, old_slugs)
            self.create_files(aip, descriptions)
            if on_commit_check is not None:
                on_commit_check(aip, descriptions)

        if old_media and old_media != self.media_folder:
            shutil.rmtree(self.media_root / old_media, ignore_errors=True)
        return aip, descriptions

    def remove_earlier_ingest(self):
        """Delete an earlier ingest of the same AIP; return its slugs by key."""
        earlier = AIP.objects.filter(uuid=self.plan.aip_uuid).first()
        if earlier is None:
            return {}, ""
        if settings.REDEPOSIT == "reject":
            raise IngestError(
                f"AIP {earlier.uuid} is already in the catalogue, ingested"
                f" {earlier.ingested_at:%Y-%m-%d %H:%M} UTC, and re-deposits are"
                " rejected (DEPOSITUM_REDEPOSIT=reject): delete the earlier"
                " descriptions first, or ask the administrator to allow replacement"
            )

        old_slugs = dict(
            Description.objects.filter(aip=earlier)
            .exclude(aip_key="")
            .values_list("aip_key", "slug")
        )
        logger.info(
            "Replacing %d descriptions of AIP %s from an earlier ingest",
            len(old_slugs),
            earlier.uuid,
        )
        PREMISEvent.objects.filter(digital_file__aip=earlier).delete()
        DigitalFile.objects.filter(aip=earlier).delete()
        DigitalObject.objects.filter(description__aip=earlier).delete()
        # Detached from their parents, the rows can go in one DELETE without
        # a cascade that walks the tree.
        Description.objects.filter(aip=earlier).update(parent=None)
        Description.objects.filter(aip=earlier).delete()
        media = earlier.media_path
        earlier.delete()
        return old_slugs, media

    def create_descriptions(self, aip, old_slugs):
        """Insert the plan's nodes level by level; return {key: Description}."""
        slugs = SlugAllocator(old_slugs)
        created = {}
        level = [(node, self.target) for node in self.plan.roots]
        while level:
            rows = []
            for position, (node, parent) in enumerate(level):
                fields = fit(
                    Description,
                    title=node.title,
                    level_of_description=node.level_of_description,
                    aip_key=node.key,
                    **node.fields,
                )
                rows.append(
                    Description(
                        parent=parent,
                        aip=aip,
                        position=position,
                        slug=slugs.allocate(node.key, node.title),
                        publication_status=settings.DEFAULT_PUBLICATION_STATUS,
                        **fields,
                    )
                )
            for row in Description.objects.bulk_create(rows, batch_size=BATCH_SIZE):
                created[row.aip_key] = row

            level = [
                (child, created[node.key])
                for node, _ in level
                for child in node.children
            ]
        return created

    def create_files(self, aip, descriptions):
        digital_objects = []
        digital_files = []
        events = []
        for node in self.plan.nodes():
            description = descriptions[node.key]
            for usage, stored in self.stored.get(node.key, {}).items():
                digital_objects.append(
                    DigitalObject(description=description, usage=usage, **stored)
                )
            if node.file is None:
                continue

            properties = asdict(node.file)
            node_events = [
                fit(PREMISEvent, **event) for event in properties.pop("events")
            ]
            digital_file = DigitalFile(
                description=description, aip=aip, **fit(DigitalFile, **properties)
            )
            digital_files.append(digital_file)
            events.append((digital_file, node_events))

        DigitalObject.objects.bulk_create(digital_objects, batch_size=BATCH_SIZE)
        DigitalFile.objects.bulk_create(digital_files, batch_size=BATCH_SIZE)
        PREMISEvent.objects.bulk_create(
            (
                PREMISEvent(digital_file=digital_file, **event)
                for digital_file, node_events in events
                for event in node_events
            ),
            batch_size=BATCH_SIZE,
        )


# Key of the PostgreSQL advisory lock that serialises catalogue writes.
CATALOGUE_LOCK = 41712026


def lock_catalogue():
    """Wait until no other ingest is writing the catalogue.

    Concurrent transactions cannot see each other's new slugs or AIPs, so two
    ingests could pick the same slug and one would fail at commit. SQLite lets
    one writer in at a time anyway. On PostgreSQL a transaction-level advisory
    lock does the same, for the write phase only, after the files are stored.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CATALOGUE_LOCK])


class SlugAllocator:
    """Give each new description a unique slug made from its title.

    A description that replaces one from an earlier ingest of the same AIP gets
    the earlier slug back, so links to it keep working. The slugs in use that
    start with a title's slug are read once per title, in one query.
    """

    def __init__(self, old_slugs):
        self.old_slugs = old_slugs
        # Earlier slugs stay reserved for the descriptions that replace theirs.
        self.slugs_in_use = set(old_slugs.values())
        self.read_bases = set()

    def allocate(self, key, title):
        if key in self.old_slugs:
            return self.old_slugs[key]

        base = slugify(title, max_length=SLUG_MAX_LENGTH) or "description"
        if base not in self.read_bases:
            in_use = Description.objects.filter(slug__startswith=base)
            self.slugs_in_use.update(in_use.values_list("slug", flat=True))
            self.read_bases.add(base)

        candidate = base
        suffix = 1
        while candidate in self.slugs_in_use:
            suffix += 1
            candidate = f"{base}-{suffix}"
        self.slugs_in_use.add(candidate)
        return candidate


def fit(model, **values):
    """Cut string values to the max_length of their fields in `model`.

    METS values have no length limit, and PostgreSQL rejects a value longer
    than its column.
    """
    for name, value in values.items():
        field = model._meta.get_field(name)
        if not isinstance(field, CharField) or not isinstance(value, str):
            continue
        if len(value) > field.max_length:
            values[name] = value[: field.max_length - 1] + "…"
    return values


def link_or_copy(source, dest):
    """Hard-link `source` to `dest` where the file system allows, else copy it."""
    dest.unlink(missing_ok=True)
    try:
        os.link(source, dest)
    except OSError:
        shutil.copyfile(source, dest)


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()
