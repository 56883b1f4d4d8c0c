"""The search page and the search JSON API.

Both take the same query string: `q` (words, "phrases", OR and -word), the
facet filters `level`, `decade`, `year`, `subject` and `media` (each may be
repeated, and a result must match all of them), and `page`.
"""

from urllib.parse import urlencode

from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from depositum.search.engine import Filters, search

FACET_HEADINGS = {
    "level": "Level of description",
    "decade": "Decade",
    "year": "Year",
    "subject": "Subject",
    "media": "Media type",
}


@require_safe
def search_page(request):
    results = search(request.user, request.GET)
    params = query_params(request.GET)
    facets = [
        {
            "name": name,
            "heading": FACET_HEADINGS[name],
            "values": with_toggle_urls(entries, name, params),
        }
        for name, entries in results.facets.items()
        if entries
    ]
    # An active filter shows the label of its facet value ("Text", "1990s").
    labels = {
        (name, entry["value"]): entry["label"]
        for name, entries in results.facets.items()
        for entry in entries
    }
    active_filters = [
        {
            "heading": FACET_HEADINGS[name],
            "value": labels.get((name, str(value))) or value,
            "remove_url": toggle_url(params, name, value),
        }
        for name, value in results.filters.items()
    ]
    context = {
        "results": results,
        "page_obj": results.page,
        "facets": facets,
        "active_filters": active_filters,
        "page_query": urlencode(params),
    }
    return render(request, "search/search.html", context)


@require_safe
def api_search(request):
    results = search(request.user, request.GET)
    page = results.page
    return JsonResponse(
        {
            "query": results.query,
            "filters": results.filters.as_dict(),
            "total": results.total,
            "page": page.number,
            "pages": page.paginator.num_pages,
            "results": [result_json(request, result) for result in page],
            "facets": results.facets,
        }
    )


def result_json(request, result):
    description = result.description
    thumbnail = None
    if result.thumbnail_url is not None:
        thumbnail = request.build_absolute_uri(result.thumbnail_url)
    parent = None
    if result.parent is not None:
        parent = {"slug": result.parent.slug, "title": result.parent.title}
    return {
        "slug": description.slug,
        "title": description.title,
        "title_html": result.title_html,
        "level": description.level_of_description,
        "dates": result.dates,
        "parent": parent,
        "url": request.build_absolute_uri(description.get_absolute_url()),
        "api_url": request.build_absolute_uri(
            reverse("api-description", args=[description.slug])
        ),
        "snippet": result.snippet_html,
        "thumbnail": thumbnail,
    }


def query_params(params):
    """Return the query and filters of the request as (name, value) pairs,
    without the page number."""
    pairs = []
    query = params.get("q", "").strip()
    if query:
        pairs.append(("q", query))
    pairs += list(Filters.from_params(params).items())
    return pairs


def toggle_url(params, name, value):
    """Return the search URL with the filter `name`=`value` added, or removed
    if present. Removing a decade also removes the years selected in it."""
    if (name, value) in params:
        pairs = [pair for pair in params if pair != (name, value)]
        if name == "decade":
            pairs = [pair for pair in pairs if pair[0] != "year"]
    else:
        pairs = [*params, (name, value)]
    query = urlencode(pairs)
    return reverse("search") + (f"?{query}" if query else "")


def with_toggle_urls(entries, name, params):
    return [
        {**entry, "url": toggle_url(params, name, entry["value"])} for entry in entries
    ]
