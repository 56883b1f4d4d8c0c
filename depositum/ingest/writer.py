"""Turn an IngestPlan into catalogue rows and stored access copies.

1. Link, clone or copy the access copies and thumbnails into a folder of their
   own under MEDIA_ROOT, reporting progress once per batch of files.
2. In one transaction, which waits for other ingests' writes to end: remove the
   descriptions of an earlier ingest of the same AIP, and create the new
   descriptions level by level with bulk inserts. Then add their digital
   objects, technical properties and PREMIS events, one batch of files at a
   time, and call `on_commit_check`, which raises if the deposit is no longer
   ours.
3. After the commit, remove the earlier ingest's media folder. If anything
   fails, the caller removes the new one instead.

The number of queries grows with the number of batches, not of files: slugs are
read for a whole level of descriptions at once.
"""

import errno
import fcntl
import hashlib
import logging
import mimetypes
import os
import shutil
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from functools import cache
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import CharField, Max
from django.utils import timezone
from slugify import slugify

from depositum.catalogue.models import (
    AIP,
    Description,
    DigitalFile,
    DigitalObject,
    PREMISEvent,
)
from depositum.ingest.bulk import RowInserter
from depositum.ingest.plan import IngestError

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
SLUG_MAX_LENGTH = 200
# Threads that store files and compute their checksums.
CHECKSUM_THREADS = 4
# The Linux ioctl request FICLONE, _IOW(0x94, 9, int), which makes a file share
# the data blocks of another (a reflink) on file systems such as Btrfs and XFS.
FICLONE = 0x40049409


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
        """Store every access copy and thumbnail in the media folder.

        Each file is hard-linked where the file system allows, else cloned or
        copied (see `link_or_copy`). Return the number of access copies, and
        call `on_progress` after every BATCH_SIZE of them and after the last.
        """
        nodes = [node for node in self.plan.nodes() if node.access_copy]
        total = len(nodes)
        dest_root = self.media_root / self.media_folder
        if dest_root.exists():
            # A dead attempt of this same deposit left it behind.
            shutil.rmtree(dest_root)
        dest_root.mkdir(parents=True)

        # hashlib releases the GIL while it hashes, so a few threads overlap
        # the checksums with the reads and links of the next files.
        with ThreadPoolExecutor(max_workers=CHECKSUM_THREADS) as pool:
            for start in range(0, total, BATCH_SIZE):
                batch = nodes[start : start + BATCH_SIZE]
                for node, stored in zip(
                    batch, pool.map(self.store_node, batch), strict=True
                ):
                    self.stored[node.key] = stored
                self.on_progress(start + len(batch), total)
        return total

    def store_node(self, node):
        """Store the access copy and thumbnail of `node`; return their fields.

        Both go straight into the ingest's media folder, named after the
        object's UUID. A folder per object cost ext4 1.5 s for the 10,000
        objects of a 9 s ingest.
        """
        folder = Path(self.media_folder)
        object_uuid = node.file.object_uuid
        name = stored_name(object_uuid, node.access_copy.name)
        stored = {"master": self.store(node.access_copy, folder / name)}
        if node.thumbnail:
            # Every access copy's name starts with "<UUID>-", so this one is free.
            thumbnail = folder / f"{object_uuid}.thumbnail.jpg"
            stored["thumbnail"] = self.store(node.thumbnail, thumbnail)
        return stored

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
        # NOTE: Django's delete collector loads the earlier rows as model
        # instances to apply on_delete and send signals. On a shared 2-core
        # host, replacing a 10,000-file ingest took about 12 s longer than
        # the first ingest of the same DIP, most of it here.
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
        """Insert the plan's nodes level by level; return {key: Description}.

        The Descriptions carry their id, key, slug, title, level, position,
        parent and AIP. Django loads any other field on first access.
        """
        slugs = SlugAllocator(old_slugs)
        inserter = RowInserter(Description)
        loaded = ["id", "parent_id", "aip_id", "aip_key", "position", "slug"]
        loaded += ["title", "level_of_description"]
        created = {}
        level = [(node, self.target.id) for node in self.plan.roots]
        # The DIP's top descriptions follow those already under the target, so
        # the children of a target list one deposit after another.
        first_position = self.next_position_under_target()
        while level:
            level_slugs = slugs.allocate_all(
                [(node.key, node.title) for node, _ in level]
            )
            rows = []
            for position, ((node, parent_id), slug) in enumerate(
                zip(level, level_slugs, strict=True), start=first_position
            ):
                row = dict(
                    node.fields,
                    title=node.title,
                    level_of_description=node.level_of_description,
                    aip_key=node.key,
                )
                row = fit(Description, **row)
                row.update(
                    parent_id=parent_id,
                    aip_id=aip.id,
                    position=position,
                    slug=slug,
                    publication_status=settings.DEFAULT_PUBLICATION_STATUS,
                )
                rows.append(row)

            inserter.insert(rows)
            ids = read_ids(
                Description.objects.filter(aip=aip),
                "aip_key",
                [row["aip_key"] for row in rows],
            )
            for row in rows:
                values = [ids[row["aip_key"]]] + [row[name] for name in loaded[1:]]
                created[row["aip_key"]] = Description.from_db(
                    connection.alias, loaded, values
                )

            level = [
                (child, created[node.key].id)
                for node, _ in level
                for child in node.children
            ]
            first_position = 0
        return created

    def next_position_under_target(self):
        siblings = Description.objects.filter(parent=self.target)
        last = siblings.aggregate(last=Max("position"))["last"]
        return 0 if last is None else last + 1

    def create_files(self, aip, descriptions):
        """Insert the digital objects, digital files and PREMIS events.

        The rows are built and inserted one batch of nodes at a time, so only
        one batch of OCR texts and events is in memory as rows at once.
        """
        objects = RowInserter(DigitalObject)
        files = RowInserter(DigitalFile)
        events = RowInserter(PREMISEvent)
        nodes = list(self.plan.nodes())
        for start in range(0, len(nodes), BATCH_SIZE):
            batch = nodes[start : start + BATCH_SIZE]
            object_rows = []
            file_rows = []
            for node in batch:
                description_id = descriptions[node.key].id
                for usage, stored in self.stored.get(node.key, {}).items():
                    object_rows.append(
                        dict(stored, description_id=description_id, usage=usage)
                    )
                if node.file is not None:
                    row = fit(DigitalFile, **digital_file_values(node.file))
                    row.update(description_id=description_id, aip_id=aip.id)
                    file_rows.append(row)
            objects.insert(object_rows)
            files.insert(file_rows)
            file_ids = read_ids(
                DigitalFile.objects.all(),
                "description_id",
                [row["description_id"] for row in file_rows],
            )

            event_rows = []
            for node in batch:
                if node.file is None:
                    continue
                file_id = file_ids[descriptions[node.key].id]
                for event in node.file.events:
                    row = fit(PREMISEvent, **event_values(event))
                    row["digital_file_id"] = file_id
                    event_rows.append(row)
            events.insert(event_rows)


# The maximum length of a stored access copy's name, in bytes. File systems
# allow 255, and the name of a derivative adds up to 33
# (".<16 hex digits>.reference.jpg").
MAX_STORED_NAME = 220


def stored_name(object_uuid, name):
    """Return the name under which the access copy `name` of an object is stored.

    Every name starts with "<UUID>-". Archivematica already names access copies
    so; other names get the prefix. A name that would be too long keeps only
    its suffix, because the download offers the original name anyway.
    """
    if not name.startswith(f"{object_uuid}-"):
        name = f"{object_uuid}-{name}"
    if len(name.encode()) <= MAX_STORED_NAME:
        return name
    suffix = Path(name).suffix
    if len(suffix.encode()) > 16:
        suffix = ""
    return f"{object_uuid}-access{suffix}"


def read_ids(queryset, key, values):
    """Return {key value: id} for the rows of `queryset` whose `key` is in
    `values`, read BATCH_SIZE values per query."""
    ids = {}
    for start in range(0, len(values), BATCH_SIZE):
        batch = values[start : start + BATCH_SIZE]
        filtered = queryset.filter(**{f"{key}__in": batch})
        ids.update(filtered.values_list(key, "id"))
    return ids


def digital_file_values(properties):
    """Return the DigitalFile field values of a plan's FileProperties."""
    values = {
        name: getattr(properties, name)
        for name in field_names(type(properties))
        if name not in ("ocr_path", "events")
    }
    values["ocr_text"] = properties.ocr_text
    return values


def event_values(event):
    return {name: getattr(event, name) for name in field_names(type(event))}


@cache
def field_names(dataclass_type):
    return tuple(item.name for item in fields(dataclass_type))


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
    the earlier slug back, so links to it keep working. Equal titles get the
    suffixes -2, -3 and so on, the lowest one free. Whether a candidate slug is
    in use is read with exact `slug IN (...)` queries of up to BATCH_SIZE slugs,
    which the unique index serves on SQLite and PostgreSQL alike. Each level of
    descriptions takes two of them per batch, plus one for each title whose
    suffixes run beyond the candidates read in advance.
    """

    def __init__(self, old_slugs):
        self.old_slugs = old_slugs
        # Earlier slugs stay reserved for the descriptions that replace theirs.
        self.slugs_in_use = set(old_slugs.values())
        # Slugs whose use in the catalogue has been read.
        self.checked = set()
        # The suffix number that `allocate` tries first for each base slug.
        self.next_numbers = {}

    def allocate_all(self, requests):
        """Return a unique slug for each (key, title) in `requests`, in order."""
        bases = [
            None if key in self.old_slugs else base_slug(title)
            for key, title in requests
        ]
        counts = Counter(base for base in bases if base is not None)
        self.read_slugs_in_use(counts)

        # Read in advance the suffixed slugs that equal titles, or a title
        # whose slug is taken, will try.
        candidates = []
        for base, count in counts.items():
            first = self.next_numbers.get(base, 1)
            if first == 1 and base not in self.slugs_in_use:
                count -= 1
            candidates.extend(candidate(base, max(first, 2) + i) for i in range(count))
        self.read_slugs_in_use(candidates)

        return [
            self.old_slugs[key] if base is None else self.allocate(base)
            for (key, _), base in zip(requests, bases, strict=True)
        ]

    def allocate(self, base):
        number = self.next_numbers.get(base, 1)
        slug = candidate(base, number)
        while True:
            if slug not in self.checked:
                self.read_slugs_in_use(
                    candidate(base, n) for n in range(number, number + BATCH_SIZE)
                )
            if slug not in self.slugs_in_use:
                break
            number += 1
            slug = candidate(base, number)
        self.slugs_in_use.add(slug)
        self.next_numbers[base] = number
        return slug

    def read_slugs_in_use(self, slugs):
        unread = [slug for slug in dict.fromkeys(slugs) if slug not in self.checked]
        for start in range(0, len(unread), BATCH_SIZE):
            batch = unread[start : start + BATCH_SIZE]
            in_use = Description.objects.filter(slug__in=batch)
            self.slugs_in_use.update(in_use.values_list("slug", flat=True))
            self.checked.update(batch)


def base_slug(title):
    return slugify(title, max_length=SLUG_MAX_LENGTH) or "description"


def candidate(base, number):
    """Return the slug with suffix `number`: the base itself for 1."""
    return base if number == 1 else f"{base}-{number}"


def fit(model, **values):
    """Cut string values to the max_length of their fields in `model`.

    METS values have no length limit, and PostgreSQL rejects a value longer
    than its column.
    """
    limits = max_lengths(model)
    for name, value in values.items():
        limit = limits.get(name)
        if limit is not None and isinstance(value, str) and len(value) > limit:
            values[name] = value[: limit - 1] + "…"
    return values


@cache
def max_lengths(model):
    """Return the max_length of each CharField of `model`, by field name."""
    return {
        field.name: field.max_length
        for field in model._meta.get_fields()
        if isinstance(field, CharField) and field.max_length
    }


def link_or_copy(source, dest):
    """Put a copy of `source` at `dest`, as cheaply as the file system allows.

    A hard link comes first. Where it fails, such as across file systems, a
    reflink clone (FICLONE) shares the data blocks, and then copy_file_range
    copies inside the kernel. shutil.copyfile is the last resort.
    """
    try:
        os.link(source, dest)
        return
    except FileExistsError:
        dest.unlink()
        try:
            os.link(source, dest)
            return
        except OSError:
            pass
    except OSError:
        pass
    with open(source, "rb") as source_file, open(dest, "wb") as dest_file:
        try:
            fcntl.ioctl(dest_file.fileno(), FICLONE, source_file.fileno())
            return
        except OSError:
            pass
        try:
            copy_file_range(source_file.fileno(), dest_file.fileno())
            return
        except OSError as error:
            if error.errno not in FALLBACK_ERRORS:
                raise
    shutil.copyfile(source, dest)


# copy_file_range fails with these where the kernel or file systems lack it.
FALLBACK_ERRORS = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP}


def copy_file_range(source_fd, dest_fd):
    size = os.fstat(source_fd).st_size
    copied = 0
    while copied < size:
        count = os.copy_file_range(source_fd, dest_fd, size - copied)
        if count == 0:
            break
        copied += count


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
