"""The items that the OAI-PMH provider serves, and the queries that page through them.

An item is a published description (a record with oai_dc metadata) or a
DeletedRecord (a header with status "deleted"). A list request walks two phases
in primary key order: the published descriptions, then the deleted records
whose slug no published description has. Each page ends at a (phase, id)
position, and the next page starts after it. Descriptions created or deleted
during a harvest therefore neither shift nor repeat the items of later pages.

A set is a published top-level description, and its setSpec is the slug. An
item belongs to the set of its top-level ancestor.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.models import Min
from django.db.models.expressions import RawSQL

from depositum.catalogue.models import AIP, Description, PublicationStatus
from depositum.oai.models import DeletedRecord

PUBLISHED = PublicationStatus.PUBLISHED
LIVE, DELETED = 0, 1


def oai_identifier(slug):
    """Return the OAI-PMH identifier of the description with `slug`."""
    return f"oai:{settings.OAI_REPOSITORY_IDENTIFIER}:{slug}"


def slug_from_identifier(identifier):
    """Return the slug in an identifier of this repository, or None."""
    prefix = f"oai:{settings.OAI_REPOSITORY_IDENTIFIER}:"
    if not identifier.startswith(prefix):
        return None
    slug = identifier[len(prefix) :]
    if not slug or not all(c.isascii() and (c.isalnum() or c in "-_") for c in slug):
        return None
    return slug


@dataclass
class ListQuery:
    """The selective harvesting arguments of ListIdentifiers or ListRecords.

    `from_` is inclusive and `until` exclusive, because the parser turns an
    `until` of a whole second or day into the start of the next one.
    """

    verb: str
    metadata_prefix: str
    from_: datetime | None = None
    until: datetime | None = None
    set_spec: str | None = None


@dataclass
class Item:
    slug: str
    datestamp: datetime
    set_spec: str
    phase: int
    pk: int
    # The published description, or None for a deleted record.
    description: Description | None = None

    @property
    def deleted(self):
        return self.phase == DELETED

    @property
    def identifier(self):
        return oai_identifier(self.slug)


def published_descriptions():
    return Description.objects.filter(publication_status=PUBLISHED)


def set_members(set_spec):
    """Return SQL that selects the ids of the descriptions in a set.

    The set is the published top-level description whose slug is `set_spec`,
    and its members are that description and everything below it.
    """
    table = connection.ops.quote_name(Description._meta.db_table)
    sql = f"""
        WITH RECURSIVE subtree (id) AS (
            SELECT id FROM {table}
            WHERE slug = %s AND parent_id IS NULL AND publication_status = %s
            UNION ALL
            SELECT child.id FROM {table} child
            JOIN subtree ON child.parent_id = subtree.id
        )
        SELECT id FROM subtree
    """
    return RawSQL(sql, [set_spec, PUBLISHED])


def live_queryset(query, *, with_metadata):
    queryset = published_descriptions()
    if query.from_ is not None:
        queryset = queryset.filter(updated_at__gte=query.from_)
    if query.until is not None:
        queryset = queryset.filter(updated_at__lt=query.until)
    if query.set_spec is not None:
        queryset = queryset.filter(id__in=set_members(query.set_spec))
    if with_metadata:
        return queryset.select_related("parent", "digital_file")
    return queryset.only("id", "slug", "parent_id", "publication_status", "updated_at")


def deleted_queryset(query):
    queryset = DeletedRecord.objects.exclude(
        slug__in=published_descriptions().values("slug")
    )
    if query.from_ is not None:
        queryset = queryset.filter(deleted_at__gte=query.from_)
    if query.until is not None:
        queryset = queryset.filter(deleted_at__lt=query.until)
    if query.set_spec is not None:
        queryset = queryset.filter(set_spec=query.set_spec)
    return queryset


def count_items(query):
    live = live_queryset(query, with_metadata=False).count()
    return live + deleted_queryset(query).count()


def fetch_page(query, phase, after_id, size, *, with_metadata):
    """Return up to `size` items after the position (phase, after_id).

    Return (items, next position or None when the list is complete). One more
    row than `size` is read, so a list that ends exactly at a page boundary
    gets no resumption token that would lead to an empty page.
    """
    rows = []
    while phase <= DELETED and len(rows) <= size:
        limit = size + 1 - len(rows)
        if phase == LIVE:
            queryset = live_queryset(query, with_metadata=with_metadata)
        else:
            queryset = deleted_queryset(query)
        batch = list(queryset.filter(id__gt=after_id).order_by("id")[:limit])
        rows.extend((phase, row) for row in batch)
        if len(batch) == limit:
            break
        phase, after_id = phase + 1, 0

    next_position = None
    if len(rows) > size:
        rows = rows[:size]
        last_phase, last_row = rows[-1]
        next_position = (last_phase, last_row.pk)
    return make_items(rows), next_position


def make_items(rows):
    resolver = TopLevelResolver()
    live = [row for phase, row in rows if phase == LIVE]
    resolver.remember(live)
    set_specs = resolver.set_specs([row.id for row in live])

    items = []
    for phase, row in rows:
        if phase == LIVE:
            items.append(
                Item(
                    slug=row.slug,
                    datestamp=row.updated_at,
                    set_spec=set_specs[row.id],
                    phase=LIVE,
                    pk=row.pk,
                    description=row,
                )
            )
        else:
            items.append(
                Item(
                    slug=row.slug,
                    datestamp=row.deleted_at,
                    set_spec=row.set_spec,
                    phase=DELETED,
                    pk=row.pk,
                )
            )
    return items


def find_item(slug):
    """Return the item with `slug`, live or deleted, or None."""
    queryset = published_descriptions().select_related("parent", "digital_file")
    description = queryset.filter(slug=slug).first()
    if description is not None:
        return make_items([(LIVE, description)])[0]
    deleted = DeletedRecord.objects.filter(slug=slug).first()
    if deleted is not None:
        return make_items([(DELETED, deleted)])[0]
    return None


def earliest_datestamp():
    """Return the earliest datestamp of any item, or None when there is none."""
    live = published_descriptions().aggregate(earliest=Min("updated_at"))
    deleted = DeletedRecord.objects.aggregate(earliest=Min("deleted_at"))
    dates = [value for value in (live["earliest"], deleted["earliest"]) if value]
    return min(dates) if dates else None


def list_sets(after_id, size):
    """Return up to `size` sets after the top-level description `after_id`,
    and the id to continue after, or None when the list is complete."""
    queryset = published_descriptions().filter(parent=None, id__gt=after_id)
    rows = list(queryset.order_by("id")[: size + 1])
    if len(rows) > size:
        return rows[:size], rows[size - 1].pk
    return rows, None


def set_count():
    return published_descriptions().filter(parent=None).count()


class TopLevelResolver:
    """Find the top-level ancestors of descriptions, with one query per level
    of the tree for all the requested descriptions at once."""

    def __init__(self):
        # id -> (parent_id, slug, publication_status), or None for a missing id.
        self.rows = {}

    def remember(self, descriptions):
        """Cache the rows of descriptions that were already loaded, so that
        load() does not query them again."""
        for description in descriptions:
            self.rows[description.id] = (
                description.parent_id,
                description.slug,
                description.publication_status,
            )

    def set_specs(self, ids):
        """Return {id: setSpec} for `ids`, "" where the top level is a draft."""
        self.load(ids)
        return {id: self.set_spec(id) for id in ids}

    def set_spec(self, description_id):
        self.load([description_id])
        seen = set()
        node = description_id
        while node is not None and node not in seen:
            seen.add(node)
            row = self.rows.get(node)
            if row is None:
                return ""
            parent_id, slug, status = row
            if parent_id is None:
                return slug if status == PUBLISHED else ""
            node = parent_id
        # A cycle in the parent links, which only a hand edit can make.
        return ""

    def load(self, ids):
        """Load the rows of `ids` and of all their ancestors that are not cached
        yet, one level of the tree per query."""
        level = set(ids)
        seen = set()
        while level:
            missing = level - self.rows.keys()
            if missing:
                found = Description.objects.filter(id__in=missing).values_list(
                    "id", "parent_id", "slug", "publication_status"
                )
                for id, parent_id, slug, status in found:
                    self.rows[id] = (parent_id, slug, status)
                for id in missing:
                    self.rows.setdefault(id, None)

            seen |= level
            parents = {self.rows[id][0] for id in level if self.rows[id] is not None}
            level = parents - {None} - seen

    def set_spec_of_deleted(self, description, aip_targets):
        """Return the setSpec of a description that is about to be deleted.

        The ingest detaches the descriptions of an AIP from their parents
        before it deletes them, so a description without a parent but with an
        AIP belongs to the set of that AIP's deposit target. `aip_targets`
        caches {AIP id: target id}.
        """
        start = description.parent_id
        if start is None and description.aip_id is not None:
            if description.aip_id not in aip_targets:
                target = AIP.objects.filter(id=description.aip_id).values_list(
                    "target_id", flat=True
                )
                aip_targets[description.aip_id] = target.first()
            start = aip_targets[description.aip_id]
        if start is None:
            return description.slug
        return self.set_spec(start)
