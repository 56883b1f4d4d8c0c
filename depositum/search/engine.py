"""Run a search: match the index, apply the facet filters, count the facets over
the whole match set, rank one page and highlight its matches.

Only descriptions in Description.objects.visible_to(user) are searched, so
anonymous visitors never see a draft, not even as a facet count.
"""

import datetime
import html
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import partial

from django.core.paginator import Paginator
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    F,
    FilteredRelation,
    Func,
    IntegerField,
    Prefetch,
    Q,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Greatest, Least, NullIf
from django.urls import reverse

from depositum.catalogue.derivatives import can_make_thumbnail
from depositum.catalogue.models import Description, DigitalObject
from depositum.search import schema
from depositum.search.query import parse

RESULTS_PER_PAGE = 20
# Maximum number of subjects in the subject facet, the most frequent first.
MAX_SUBJECTS = 20
MAX_FILTER_LENGTH = 1024

MEDIA_TYPES = {
    "image": "Image",
    "audio": "Audio",
    "video": "Video",
    "text": "Text",
    "other": "Other",
}
# Media types of documents that are grouped with text/*.
DOCUMENT_TYPES = [
    "application/epub+zip",
    "application/msword",
    "application/pdf",
    "application/rtf",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
]

# Marks around each match in the snippets that the databases return. The
# private-use characters cannot be confused with HTML once the text is escaped.
MARK_START = "\ue000"
MARK_END = "\ue001"
MARKED = re.compile(f"{MARK_START}(.*?){MARK_END}", re.DOTALL)


@dataclass
class Filters:
    """The facet values a search is narrowed to, from the request's query string.

    Invalid values are dropped, so a hand-edited URL still gets a result page.
    """

    level: list = field(default_factory=list)
    decade: list = field(default_factory=list)
    year: list = field(default_factory=list)
    subject: list = field(default_factory=list)
    media: list = field(default_factory=list)

    NAMES = ("level", "decade", "year", "subject", "media")

    @classmethod
    def from_params(cls, params):
        def texts(name):
            values = (value.strip() for value in params.getlist(name))
            return [v for v in values if v and len(v) <= MAX_FILTER_LENGTH]

        def years(name, first, last, step):
            values = []
            for value in params.getlist(name):
                try:
                    year = int(value)
                except ValueError:
                    continue
                if first <= year <= last and year % step == 0:
                    values.append(year)
            return values

        return cls(
            level=texts("level"),
            decade=years("decade", 0, 9990, 10),
            year=years("year", 1, 9999, 1),
            subject=texts("subject"),
            media=[value for value in texts("media") if value in MEDIA_TYPES],
        )

    def items(self):
        for name in self.NAMES:
            for value in getattr(self, name):
                yield name, str(value)

    def as_dict(self):
        return {name: getattr(self, name) for name in self.NAMES}


@dataclass
class Result:
    description: Description
    title_html: str
    snippet_html: str
    parent: Description | None
    # The thumbnail view of the description, or None if it has nothing to show.
    thumbnail_url: str | None

    @property
    def dates(self):
        return display_dates(self.description)


@dataclass
class SearchResults:
    query: str
    filters: Filters
    page: object
    facets: dict

    @property
    def total(self):
        return self.page.paginator.count


def search(user, params):
    """Search the catalogue as `user` with the request's query string `params`."""
    parsed = parse(params.get("q", ""))
    filters = Filters.from_params(params)
    if connection.vendor == "postgresql":
        backend = PostgreSQLBackend()
    else:
        backend = SQLiteBackend()

    visible = Description.objects.visible_to(user)
    scope = apply_filters(visible, filters, backend)
    matched = scope
    if parsed.has_positive_terms:
        matched = matched.filter(id__in=backend.match(parsed))
    elif not parsed.is_empty:
        matched = matched.exclude(id__in=backend.match_excluded(parsed))

    count = matched.count()
    if parsed.has_positive_terms:
        ordered = RankedIds(count, partial(backend.ranked_ids, parsed, scope))
    else:
        ordered = matched.order_by("title", "id").values_list("id", flat=True)
    page = Paginator(ordered, RESULTS_PER_PAGE).get_page(params.get("page"))
    page.object_list = load_results(list(page.object_list), parsed, visible, backend)

    facets = {
        "level": level_facet(matched, filters),
        **date_facets(matched, filters),
        "subject": subject_facet(matched, filters, backend),
        "media": media_facet(matched, filters),
    }
    return SearchResults(query=parsed.text, filters=filters, page=page, facets=facets)


class RankedIds:
    """The ids of the matches in rank order, read one page at a time."""

    def __init__(self, count, fetch):
        self._count = count
        self.fetch = fetch

    def count(self):
        return self._count

    def __len__(self):
        return self._count

    def __getitem__(self, key):
        return self.fetch(key.start, key.stop)


# Filters -----------------------------------------------------------------------


def apply_filters(queryset, filters, backend):
    for level in filters.level:
        queryset = queryset.filter(level_of_description=level)
    for decade in filters.decade:
        queryset = overlapping(queryset, decade, decade + 9)
    for year in filters.year:
        queryset = overlapping(queryset, year, year)
    for number, subject in enumerate(filters.subject):
        name = f"has_subject_{number}"
        queryset = queryset.alias(**{name: backend.has_subject(subject)})
        queryset = queryset.filter(**{name: True})
    if filters.media:
        queryset = with_media_type(queryset)
        for media in filters.media:
            queryset = queryset.filter(media_type=media)
    return queryset


def with_date_range(queryset):
    """Annotate `first_date` and `last_date`, the description's dates in order.
    A description with one date has it as both."""
    if "first_date" in queryset.query.annotations:
        return queryset
    start = Coalesce("start_date", "end_date")
    end = Coalesce("end_date", "start_date")
    return queryset.alias(first_date=Least(start, end), last_date=Greatest(start, end))


def overlapping(queryset, first_year, last_year):
    """Narrow to descriptions whose dates overlap the years given, inclusive."""
    queryset = with_date_range(queryset)
    return queryset.filter(
        first_date__lte=datetime.date(min(last_year, 9999), 12, 31),
        last_date__gte=datetime.date(max(first_year, 1), 1, 1),
    )


def with_media_type(queryset):
    """Annotate `media_type`, the group of the master access copy's MIME type,
    or of the original's where there is no master: image, audio, video, text,
    other, or "" for a description without either."""
    if "media_type" in queryset.query.annotations:
        return queryset
    return with_mime_type(queryset).alias(
        media_type=Case(
            When(mime_type="", then=Value("")),
            When(mime_type__startswith="image/", then=Value("image")),
            When(mime_type__startswith="audio/", then=Value("audio")),
            When(mime_type__startswith="video/", then=Value("video")),
            When(
                Q(mime_type__startswith="text/") | Q(mime_type__in=DOCUMENT_TYPES),
                then=Value("text"),
            ),
            default=Value("other"),
            output_field=CharField(),
        )
    )


def with_mime_type(queryset):
    """Annotate `mime_type`, the master access copy's MIME type, else the
    original's, else ""."""
    # A join, which PostgreSQL can hash, is faster here than a subquery per
    # row, and one_object_per_usage makes it give one row per description.
    master = FilteredRelation(
        "digital_objects",
        condition=Q(digital_objects__usage=DigitalObject.Usage.MASTER),
    )
    mime_type = Coalesce(
        NullIf(F("master__mime_type"), Value("")),
        NullIf(F("digital_file__mime_type"), Value("")),
        Value(""),
        output_field=CharField(),
    )
    return queryset.alias(master=master).alias(mime_type=mime_type)


# Facets ------------------------------------------------------------------------


def facet_values(counts, selected, label=str):
    """Return facet entries for `counts`, a list of (value, count), with the
    selected values first and kept even where their count is 0."""
    entries = [
        {"value": str(value), "label": label(value), "count": count}
        for value, count in counts
    ]
    present = {entry["value"] for entry in entries}
    for value in selected:
        if str(value) not in present:
            entries.append({"value": str(value), "label": label(value), "count": 0})
    chosen = {str(value) for value in selected}
    for entry in entries:
        entry["selected"] = entry["value"] in chosen
    return sorted(entries, key=lambda entry: not entry["selected"])


def level_facet(matched, filters):
    rows = (
        matched.exclude(level_of_description="")
        .order_by()
        .values_list("level_of_description")
        .annotate(count=Count("id"))
        .order_by("-count", "level_of_description")
    )
    return facet_values(list(rows), filters.level)


def media_facet(matched, filters):
    # Grouping by MIME type and mapping the few distinct types to media types
    # here is faster than grouping by the CASE of with_media_type().
    rows = (
        with_mime_type(matched)
        .order_by()
        .values_list(F("mime_type"))
        .annotate(count=Count("id"))
    )
    counts = Counter()
    for mime_type, count in rows:
        if mime_type:
            counts[media_type_of(mime_type)] += count
    ordered = [(key, counts[key]) for key in MEDIA_TYPES if counts.get(key)]
    return facet_values(ordered, filters.media, label=MEDIA_TYPES.get)


def media_type_of(mime_type):
    """Return the media type group of a MIME type, as with_media_type() does."""
    for group in ("image", "audio", "video", "text"):
        if mime_type.startswith(f"{group}/"):
            return group
    return "text" if mime_type in DOCUMENT_TYPES else "other"


def date_facets(matched, filters):
    """Return the decade facet, and the year facet of the first selected decade.

    A description counts in every decade (or year) that its dates overlap.
    One GROUP BY query gives the number of descriptions that begin in each
    year and that end in each year, and sums turn them into overlap
    counts: a description overlaps a period if it begins before the period
    ends and does not end before the period begins.
    """
    dated = with_date_range(matched).exclude(first_date=None).order_by()
    spans = (
        dated.annotate(first_year=Year("first_date"), last_year=Year("last_date"))
        .values_list("first_year", "last_year")
        .annotate(count=Count("id"))
    )
    first_years, last_years = Counter(), Counter()
    for first_year, last_year, count in spans:
        first_years[first_year] += count
        last_years[last_year] += count

    def overlap_counts(periods):
        counts = []
        for first, last in periods:
            begun = sum(n for year, n in first_years.items() if year <= last)
            ended = sum(n for year, n in last_years.items() if year < first)
            if begun - ended:
                counts.append((first, begun - ended))
        return counts

    facets = {}
    if first_years:
        decades = range(min(first_years) // 10 * 10, max(last_years) + 1, 10)
        facets["decade"] = facet_values(
            overlap_counts((decade, decade + 9) for decade in decades),
            filters.decade,
            label=lambda decade: f"{decade}s",
        )
    else:
        facets["decade"] = facet_values([], filters.decade, lambda d: f"{d}s")
    if filters.decade:
        decade = filters.decade[0]
        years = overlap_counts((year, year) for year in range(decade, decade + 10))
        facets["year"] = facet_values(years, filters.year)
    return facets


def subject_facet(matched, filters, backend):
    counts = backend.subject_counts(matched.values("id"), MAX_SUBJECTS)
    return facet_values(counts, filters.subject)


# Results -----------------------------------------------------------------------


def load_results(ids, parsed, visible, backend):
    """Return a Result for each id, in the order of `ids`."""
    # The DIP's thumbnail, or a master from which one can be made.
    usages = [DigitalObject.Usage.THUMBNAIL, DigitalObject.Usage.MASTER]
    pictures = DigitalObject.objects.filter(usage__in=usages).only(
        "description_id", "usage", "mime_type", "name"
    )
    rows = Description.objects.filter(id__in=ids).select_related("parent")
    rows = rows.prefetch_related(
        Prefetch("digital_objects", queryset=pictures, to_attr="pictures")
    )
    descriptions = {description.id: description for description in rows}
    parent_ids = [d.parent_id for d in descriptions.values() if d.parent_id]
    visible_parents = set(
        visible.filter(id__in=parent_ids).values_list("id", flat=True)
    )
    highlights = backend.highlights(ids, parsed) if parsed.has_positive_terms else {}

    results = []
    for description_id in ids:
        description = descriptions.get(description_id)
        if description is None:
            continue
        title_html, snippet_html = highlights.get(description_id, (None, ""))
        parent = description.parent
        results.append(
            Result(
                description=description,
                title_html=title_html or html.escape(description.title),
                snippet_html=snippet_html,
                parent=parent if parent and parent.id in visible_parents else None,
                thumbnail_url=thumbnail_url(description),
            )
        )
    return results


def thumbnail_url(description):
    for picture in description.pictures:
        if picture.usage == DigitalObject.Usage.THUMBNAIL or can_make_thumbnail(
            picture
        ):
            return reverse("thumbnail", args=[description.slug])
    return None


def marked_html(text):
    """Escape `text` and turn the database's match marks into <mark> elements."""
    escaped = html.escape(text or "")
    marked = MARKED.sub(r"<mark>\1</mark>", escaped)
    return marked.replace(MARK_START, "").replace(MARK_END, "")


def best_snippet(*snippets):
    """Return the first snippet with a match, else the first non-empty one."""
    for snippet in snippets:
        if snippet and MARK_START in snippet:
            return marked_html(snippet)
    return marked_html(next((snippet for snippet in snippets if snippet), ""))


def display_dates(description):
    if description.date_display:
        return description.date_display
    start, end = description.start_date, description.end_date
    if start and end and start != end:
        return f"{start.isoformat()} – {end.isoformat()}"
    date = start or end
    return date.isoformat() if date else ""


class Year(Func):
    """The year of a date as an integer. Django's ExtractYear calls a Python
    function per row on SQLite, which made the date facet about two to four
    times slower on a catalogue of 50,000 descriptions (a rough measurement
    on a shared two-core machine)."""

    output_field = IntegerField()

    def as_sql(self, compiler, connection, **extra_context):
        return self.as_sql_template(compiler, connection, "EXTRACT(YEAR FROM %s)::int")

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql_template(
            compiler, connection, "CAST(substr(%s, 1, 4) AS integer)"
        )

    def as_sql_template(self, compiler, connection, template):
        (expression,) = self.get_source_expressions()
        sql, params = compiler.compile(expression)
        return template % sql, params


# Databases ---------------------------------------------------------------------


class SQLiteBackend:
    """FTS5 queries on the search_fts table."""

    # bm25() weights of the title, metadata and OCR columns.
    RANK = "bm25(search_fts, 10.0, 2.0, 1.0)"

    def match(self, parsed):
        return RawSQL(
            "SELECT rowid FROM search_fts WHERE search_fts MATCH %s", [parsed.fts5()]
        )

    def match_excluded(self, parsed):
        return RawSQL(
            "SELECT rowid FROM search_fts WHERE search_fts MATCH %s",
            [parsed.excluded_fts5()],
        )

    def ranked_ids(self, parsed, scope, start, stop):
        scope_sql, scope_params = scope.values("id").query.sql_with_params()
        with connection.cursor() as cursor:
            # With the scope as a rowid constraint of search_fts, FTS5 would
            # run the MATCH once per description in scope, so the matches are
            # materialized first and the scope is applied to them.
            cursor.execute(
                f"WITH matches AS MATERIALIZED ("
                f" SELECT rowid AS id, {self.RANK} AS score FROM search_fts"
                f" WHERE search_fts MATCH %s)"
                f" SELECT id FROM matches WHERE id IN ({scope_sql})"
                f" ORDER BY score, id LIMIT %s OFFSET %s",
                [parsed.fts5(), *scope_params, stop - start, start],
            )
            return [row[0] for row in cursor.fetchall()]

    def highlights(self, ids, parsed):
        if not ids:
            return {}
        marks = f"'{MARK_START}', '{MARK_END}'"
        placeholders = ", ".join(["%s"] * len(ids))
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT rowid, highlight(search_fts, 0, {marks}),"
                f" snippet(search_fts, 1, {marks}, '…', 24),"
                f" snippet(search_fts, 2, {marks}, '…', 24)"
                f" FROM search_fts WHERE search_fts MATCH %s"
                f" AND rowid IN ({placeholders})",
                [parsed.fts5(), *ids],
            )
            return {
                row[0]: (marked_html(row[1]), best_snippet(row[2], row[3]))
                for row in cursor.fetchall()
            }

    def has_subject(self, subject):
        return RawSQL(
            "EXISTS (SELECT 1 FROM json_each(CASE WHEN"
            " json_valid(catalogue_description.subject_access_points)"
            " THEN catalogue_description.subject_access_points ELSE '[]' END)"
            " WHERE type = 'text' AND value = %s)",
            [subject],
            output_field=BooleanField(),
        )

    def subject_counts(self, ids, limit):
        ids_sql, ids_params = ids.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT subject.value, count(DISTINCT d.id) AS n"
                " FROM catalogue_description d, json_each(CASE WHEN"
                " json_valid(d.subject_access_points) THEN d.subject_access_points"
                " ELSE '[]' END) AS subject"
                f" WHERE subject.type = 'text' AND d.id IN ({ids_sql})"
                " GROUP BY subject.value ORDER BY n DESC, subject.value LIMIT %s",
                [*ids_params, limit],
            )
            return cursor.fetchall()


class PostgreSQLBackend:
    """Full text search on the search_document table."""

    TSQUERY = f"websearch_to_tsquery('{schema.PG_CONFIG}', %s)"
    HEADLINE_OPTIONS = (
        f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=30, MinWords=12,"
        ' MaxFragments=2, FragmentDelimiter=" … "'
    )

    def match(self, parsed):
        return RawSQL(
            f"SELECT description_id FROM search_document"
            f" WHERE document @@ {self.TSQUERY}",
            [parsed.websearch()],
        )

    def match_excluded(self, parsed):
        return RawSQL(
            f"SELECT description_id FROM search_document"
            f" WHERE document @@ {self.TSQUERY}",
            [parsed.excluded_websearch()],
        )

    def ranked_ids(self, parsed, scope, start, stop):
        scope_sql, scope_params = scope.values("id").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT description_id FROM search_document,"
                f" {self.TSQUERY} AS query"
                f" WHERE document @@ query AND description_id IN ({scope_sql})"
                f" ORDER BY ts_rank_cd(document, query) DESC, description_id"
                f" LIMIT %s OFFSET %s",
                [parsed.websearch(), *scope_params, stop - start, start],
            )
            return [row[0] for row in cursor.fetchall()]

    def highlights(self, ids, parsed):
        if not ids:
            return {}
        fields = schema.IndexedFields(connection)
        config = f"'{schema.PG_CONFIG}'"
        options = self.HEADLINE_OPTIONS
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT d.id,"
                f" ts_headline({config}, d.title, query, %s),"
                f" ts_headline({config}, {schema.pg_metadata(fields, 'd')}, query, %s),"
                f" ts_headline({config}, coalesce(f.ocr_text, ''), query, %s)"
                f" FROM catalogue_description d"
                f" LEFT JOIN catalogue_digitalfile f ON f.description_id = d.id,"
                f" {self.TSQUERY} AS query"
                f" WHERE d.id = ANY(%s)",
                [
                    options + ", HighlightAll=true",
                    options,
                    options,
                    parsed.websearch(),
                    list(ids),
                ],
            )
            return {
                row[0]: (marked_html(row[1]), best_snippet(row[2], row[3]))
                for row in cursor.fetchall()
            }

    def has_subject(self, subject):
        return RawSQL(
            "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN"
            " jsonb_typeof(catalogue_description.subject_access_points) = 'array'"
            " THEN catalogue_description.subject_access_points ELSE '[]' END)"
            " AS subject WHERE subject #>> '{}' = %s)",
            [subject],
            output_field=BooleanField(),
        )

    def subject_counts(self, ids, limit):
        ids_sql, ids_params = ids.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT subject #>> '{}' AS value, count(DISTINCT d.id) AS n"
                " FROM catalogue_description d, jsonb_array_elements(CASE WHEN"
                " jsonb_typeof(d.subject_access_points) = 'array'"
                " THEN d.subject_access_points ELSE '[]' END) AS subject"
                f" WHERE jsonb_typeof(subject) = 'string' AND d.id IN ({ids_sql})"
                " GROUP BY 1 ORDER BY n DESC, 1 LIMIT %s",
                [*ids_params, limit],
            )
            return cursor.fetchall()
