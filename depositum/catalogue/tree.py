"""Queries on the description hierarchy.

Except for subtree_summaries and sibling_index, their cost does not grow with
the number of siblings or the depth. sibling_index counts the siblings before a
description in the index, so its cost grows with the description's position.
Siblings are ordered by (position, title, id), as in
Description.Meta.ordering. A window of siblings, or the previous and next
sibling, comes from keyset conditions on that order, so a description among
50,000 siblings costs a few index seeks, never a scan of all the siblings.
"""

from typing import NamedTuple

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from depositum.catalogue.models import (
    MAX_DEPTH,
    Description,
    DigitalObject,
    PublicationStatus,
)


def siblings_of(description, visible):
    return visible.filter(parent_id=description.parent_id)


def after(description):
    """Return the condition for the siblings that come after `description`."""
    position, title = description.position, description.title
    return Q(position__gte=position) & (
        Q(position__gt=position)
        | Q(title__gt=title)
        | Q(title=title, id__gt=description.id)
    )


def before(description):
    """Return the condition for the siblings that come before `description`."""
    position, title = description.position, description.title
    return Q(position__lte=position) & (
        Q(position__lt=position)
        | Q(title__lt=title)
        | Q(title=title, id__lt=description.id)
    )


def sibling_window(description, visible, size):
    """Return up to `size` visible siblings before and after `description`.

    Both lists are in catalogue order, so the previous sibling is the last of
    the first list and the next sibling the first of the second.
    """
    siblings = siblings_of(description, visible)
    earlier = siblings.filter(before(description)).order_by(
        "-position", "-title", "-id"
    )
    later = siblings.filter(after(description)).order_by("position", "title", "id")
    earlier, later = list(earlier[:size])[::-1], list(later[:size])
    attach_has_children([*earlier, *later], visible)
    return earlier, later


def sibling_index(description, visible):
    """Return the number of visible siblings that come before `description`."""
    return siblings_of(description, visible).filter(before(description)).count()


def attach_has_children(descriptions, visible):
    """Set `has_children` on each description: whether it has visible children."""
    children = visible.filter(parent=OuterRef("pk"))
    attach_annotation(descriptions, "has_children", Exists(children), False)


def attach_child_counts(descriptions, visible):
    """Set `child_count` on each description: its number of visible children."""
    children = (
        visible.filter(parent=OuterRef("pk"))
        .order_by()
        .values("parent")
        .annotate(count=Count("pk"))
        .values("count")
    )
    attach_annotation(descriptions, "child_count", Coalesce(Subquery(children), 0), 0)


def attach_annotation(descriptions, name, expression, default):
    """Set the attribute `name` on each description to the value of `expression`.

    One query serves the whole list. It runs on the rows already fetched,
    because PostgreSQL would evaluate an annotation for every row that an
    OFFSET skips too.
    """
    values = dict(
        Description.objects.filter(id__in=[item.id for item in descriptions])
        .annotate(**{name: expression})
        .values_list("id", name)
    )
    for item in descriptions:
        setattr(item, name, values.get(item.id, default))


class SubtreeSummary(NamedTuple):
    """Counts of the visible descriptions below a description, and a thumbnail."""

    descriptions: int
    digital_objects: int
    # The id of the description below whose thumbnail represents the subtree.
    # It is the lowest id with a DIP thumbnail or an image or PDF master.
    thumbnail_source_id: int | None


EMPTY_SUBTREE = SubtreeSummary(0, 0, None)


def subtree_summaries(ids, staff):
    """Return {id: SubtreeSummary} for each description in `ids`.

    The counts include every level below, not only the children. Only what the
    user may see is counted: for visitors who are not staff, published
    descriptions and the master access copies of published descriptions. A
    published description below a draft counts, as visible_to() shows it too.

    One recursive query walks the subtrees through the parent index, so its
    cost grows with the number of descriptions below.
    NOTE: for subtrees of millions of descriptions this query should give way to
    counts stored on the descriptions and updated by each ingest.
    """
    if not ids:
        return {}

    table = connection.ops.quote_name(Description._meta.db_table)
    objects = connection.ops.quote_name(DigitalObject._meta.db_table)
    placeholders = ", ".join(["%s"] * len(ids))
    counted = "1 = 1" if staff else "tree.publication_status = %s"
    # Masters that derivatives.can_make_thumbnail() accepts.
    renderable = (
        "(master.mime_type LIKE 'image/%%' AND master.mime_type <> 'image/svg+xml')"
        " OR master.mime_type = 'application/pdf'"
    )
    if connection.vendor == "postgresql":
        # PostgreSQL plans the recursive step once, and for a large first level
        # it picks a hash join that scans the whole table at every level, so a
        # deep tree costs a full scan per level. A LATERAL subquery runs once
        # per row and reads the children through the parent index. OFFSET 0
        # stops the planner from turning it back into a join.
        children = f"""
            FROM tree, LATERAL (
                SELECT id, publication_status FROM {table} WHERE parent_id = tree.id
                OFFSET 0
            ) d
            WHERE tree.depth < %s
        """
    else:
        # SQLite runs the recursive step on one queued row at a time, so it
        # reads the children through the parent index already.
        children = f"FROM {table} d JOIN tree ON d.parent_id = tree.id"
        children += " WHERE tree.depth < %s"
    sql = f"""
        WITH RECURSIVE tree (root_id, id, publication_status, depth) AS (
            SELECT parent_id, id, publication_status, 1
            FROM {table} WHERE parent_id IN ({placeholders})
            UNION ALL
            SELECT tree.root_id, d.id, d.publication_status, tree.depth + 1
            {children}
        )
        SELECT
            tree.root_id,
            COUNT(*),
            COUNT(master.id),
            MIN(
                CASE WHEN thumbnail.id IS NOT NULL OR {renderable}
                THEN tree.id END
            )
        FROM tree
        LEFT JOIN {objects} master
            ON master.description_id = tree.id AND master.usage = %s
        LEFT JOIN {objects} thumbnail
            ON thumbnail.description_id = tree.id AND thumbnail.usage = %s
        WHERE {counted}
        GROUP BY tree.root_id
    """
    params = [
        *ids,
        MAX_DEPTH,
        DigitalObject.Usage.MASTER,
        DigitalObject.Usage.THUMBNAIL,
    ]
    if not staff:
        params.append(PublicationStatus.PUBLISHED)

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        summaries = {row[0]: SubtreeSummary(*row[1:]) for row in cursor}
    return {pk: summaries.get(pk, EMPTY_SUBTREE) for pk in ids}
