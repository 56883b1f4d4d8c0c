"""Catalogue pages, the description JSON API and the media files they link to.

Every view shows only what Description.objects.visible_to(user) returns, so
anonymous visitors see published descriptions and staff users see drafts too.
The media view applies the same rule to the digital objects it serves.
"""

import mimetypes
from pathlib import Path

from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import Count, OuterRef, Prefetch, Subquery
from django.db.models.functions import Coalesce
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.text import capfirst
from django.views.decorators.http import require_safe

from depositum.catalogue.models import Description, DigitalFile, DigitalObject
from depositum.deposits.models import Deposit

DESCRIPTIONS_PER_PAGE = 50
RECENT_DEPOSITS = 5

# Description fields under ISAD(G) area headings, in display order. The grouping
# is looser than ISAD(G), because access points and the DC type are not ISAD(G)
# elements, languages belong to 3.4 and location of originals to 3.5 (allied
# materials). The JSON API returns these fields under their model names.
ISAD_AREAS = [
    (
        "Identity statement",
        ["identifier", "date_display", "level_of_description", "extent_and_medium"],
    ),
    ("Context", ["creators", "contributors", "publishers", "acquisition"]),
    (
        "Content and structure",
        [
            "scope_and_content",
            "subject_access_points",
            "place_access_points",
            "dc_type",
            "languages",
        ],
    ),
    ("Conditions of access and use", ["access_conditions", "location_of_originals"]),
]
API_DESCRIPTION_FIELDS = [
    *(name for _, names in ISAD_AREAS for name in names),
    "start_date",
    "end_date",
]
API_DIGITAL_FILE_FIELDS = [
    "object_uuid",
    "relative_path",
    "original_name",
    "original_size",
    "ingested_at",
    "preservation_copy_name",
    "preservation_copy_size",
    "preservation_copy_normalized_at",
    "format_puid",
    "format_name",
    "format_version",
    "mime_type",
    "checksum",
    "checksum_type",
    "ocr_text",
]
API_PREMIS_EVENT_FIELDS = [
    "event_identifier",
    "event_type",
    "event_datetime",
    "event_detail",
    "event_outcome",
    "event_outcome_detail",
]
USAGE_ORDER = list(DigitalObject.Usage.values)

# Image types that browsers display in an <img>. A master access copy of
# another type, such as TIFF, is shown through its thumbnail instead.
WEB_IMAGE_TYPES = {
    "image/avif",
    "image/gif",
    "image/jpeg",
    "image/png",
    "image/svg+xml",
    "image/webp",
}
# Media types that can run script when a browser opens them from this site's
# origin. The media view sends them as downloads in a sandbox.
ACTIVE_CONTENT_TYPES = {
    "application/xhtml+xml",
    "application/xml",
    "image/svg+xml",
    "text/html",
    "text/xml",
}


@require_safe
def home(request):
    visible = Description.objects.visible_to(request.user)
    top_level = _with_child_counts(visible.filter(parent=None), visible)
    ctx = {
        "page_obj": _paginate(request, _with_thumbnails(top_level)),
        "recent_deposits": _recent_deposits(request.user),
    }
    return render(request, "home.html", ctx)


@require_safe
def description(request, slug):
    visible = Description.objects.visible_to(request.user)
    description = get_object_or_404(_with_digital_objects(visible), slug=slug)
    children = _with_child_counts(visible.filter(parent=description), visible)
    digital_objects = {obj.usage: obj for obj in description.digital_objects.all()}
    master = digital_objects.get(DigitalObject.Usage.MASTER)
    show_master_inline = master is not None and master.mime_type in WEB_IMAGE_TYPES

    ctx = {
        "description": description,
        "breadcrumb": _breadcrumb(description, visible),
        "areas": _isad_areas(description),
        "master": master,
        "thumbnail": digital_objects.get(DigitalObject.Usage.THUMBNAIL),
        "show_master_inline": show_master_inline,
        "digital_file": _digital_file(description),
        "page_obj": _paginate(request, _with_thumbnails(children)),
    }
    return render(request, "description.html", ctx)


@require_safe
def api_description(request, slug):
    visible = Description.objects.visible_to(request.user)
    queryset = _with_digital_objects(visible.select_related("parent"))
    description = queryset.filter(slug=slug).first()
    if description is None:
        return JsonResponse({"error": f"description not found: {slug}"}, status=404)
    return JsonResponse(_description_json(request, description, visible))


@require_safe
def media(request, path):
    """Send the stored file at `path`, relative to MEDIA_ROOT.

    Only files that belong to a digital object of a description visible to the
    user are sent. Anything else is a 404, so the response does not reveal
    whether a file exists outside the catalogue or under a draft.
    """
    root, file_path = _resolve_media_path(path)
    visible = Description.objects.visible_to(request.user)
    digital_object = DigitalObject.objects.filter(
        file=file_path.relative_to(root).as_posix(), description__in=visible
    ).first()
    if digital_object is None:
        raise Http404(f"media file not found: {path}")
    return _file_response(file_path, digital_object)


def _paginate(request, queryset):
    return Paginator(queryset, DESCRIPTIONS_PER_PAGE).get_page(request.GET.get("page"))


def _with_child_counts(queryset, visible):
    """Annotate each description with `child_count`, its number of visible children."""
    children = (
        visible.filter(parent=OuterRef("pk"))
        .order_by()
        .values("parent")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return queryset.annotate(child_count=Coalesce(Subquery(children), 0))


def _with_thumbnails(queryset):
    """Prefetch each description's thumbnail into the list `thumbnails`."""
    thumbnails = DigitalObject.objects.filter(usage=DigitalObject.Usage.THUMBNAIL)
    return queryset.prefetch_related(
        Prefetch("digital_objects", queryset=thumbnails, to_attr="thumbnails")
    )


def _with_digital_objects(queryset):
    return queryset.select_related("digital_file__aip").prefetch_related(
        "digital_objects", "digital_file__premis_events"
    )


def _recent_deposits(user):
    if not user.is_staff:
        return []
    return Deposit.objects.select_related("depositor")[:RECENT_DEPOSITS]


def _breadcrumb(description, visible):
    """Return the ancestors, the top-level one first, each with a `visible` flag.

    A published description can sit below a draft. The template names such a
    draft ancestor without its title or a link.
    """
    ancestors = description.ancestors()
    ancestor_ids = [ancestor.id for ancestor in ancestors]
    visible_ids = set(visible.filter(id__in=ancestor_ids).values_list("id", flat=True))
    return [
        {"description": ancestor, "visible": ancestor.id in visible_ids}
        for ancestor in ancestors
    ]


def _isad_areas(description):
    """Return the ISAD(G) areas that have values, each with its rows of values.

    Every row has a `label` and a list of `values`, so text fields and the
    lists of names or access points render alike.
    """
    areas = []
    for heading, names in ISAD_AREAS:
        rows = []
        for name in names:
            values = _display_values(description, name)
            if values:
                label = capfirst(Description._meta.get_field(name).verbose_name)
                rows.append({"label": label, "values": values})
        if rows:
            areas.append({"heading": heading, "rows": rows})
    return areas


def _display_values(description, name):
    value = getattr(description, name)
    if name == "date_display" and not value:
        value = _date_range(description.start_date, description.end_date)
    if isinstance(value, list):
        return [item for item in value if item]
    return [value] if value else []


def _date_range(start, end):
    if start and end and start != end:
        return f"{start.isoformat()} – {end.isoformat()}"
    date = start or end
    return date.isoformat() if date else ""


def _digital_file(description):
    try:
        return description.digital_file
    except DigitalFile.DoesNotExist:
        return None


def _description_json(request, description, visible):
    fields = {name: getattr(description, name) for name in API_DESCRIPTION_FIELDS}
    children = visible.filter(parent=description).values_list("slug", flat=True)
    digital_objects = sorted(
        description.digital_objects.all(), key=lambda obj: USAGE_ORDER.index(obj.usage)
    )
    return {
        "slug": description.slug,
        "title": description.title,
        **fields,
        "publication_status": description.publication_status,
        "parent": _parent_slug(description, visible),
        "children": list(children),
        "url": request.build_absolute_uri(description.get_absolute_url()),
        "digital_objects": [
            _digital_object_json(request, obj) for obj in digital_objects
        ],
        "digital_file": _digital_file_json(_digital_file(description)),
    }


def _parent_slug(description, visible):
    """Return the parent's slug, or None if there is none or the user may not see it."""
    if description.parent is None:
        return None
    if not visible.filter(id=description.parent_id).exists():
        return None
    return description.parent.slug


def _digital_object_json(request, digital_object):
    return {
        "usage": digital_object.usage,
        "name": digital_object.name,
        "mime_type": digital_object.mime_type,
        "size": digital_object.size,
        "checksum": digital_object.checksum,
        "url": request.build_absolute_uri(
            reverse("media", args=[digital_object.file.name])
        ),
    }


def _digital_file_json(digital_file):
    if digital_file is None:
        return None
    properties = {name: getattr(digital_file, name) for name in API_DIGITAL_FILE_FIELDS}
    events = [
        {name: getattr(event, name) for name in API_PREMIS_EVENT_FIELDS}
        for event in digital_file.premis_events.all()
    ]
    return {
        **properties,
        "aip": {"uuid": digital_file.aip.uuid, "name": digital_file.aip.name},
        "premis_events": events,
    }


def _resolve_media_path(path):
    """Return MEDIA_ROOT and the file that `path` names in it, both resolved.

    Raise Http404 if the file is missing or lies outside MEDIA_ROOT, whether
    through "..", an absolute path or a symbolic link.
    """
    root = Path(settings.MEDIA_ROOT).resolve()
    try:
        file_path = (root / path).resolve()
    except (OSError, ValueError):
        # Path.resolve raises ValueError for a path that contains a NUL byte.
        raise Http404(f"media file not found: {path}") from None
    if not file_path.is_relative_to(root) or not file_path.is_file():
        raise Http404(f"media file not found: {path}")
    return root, file_path


def _file_response(file_path, digital_object):
    content_type = (
        digital_object.mime_type
        or mimetypes.guess_type(file_path.name)[0]
        or "application/octet-stream"
    )
    is_active = content_type in ACTIVE_CONTENT_TYPES
    response = FileResponse(
        file_path.open("rb"),
        content_type=content_type,
        as_attachment=is_active,
        filename=digital_object.name,
    )
    if is_active:
        response["Content-Security-Policy"] = "sandbox"
    return response
