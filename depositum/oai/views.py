"""The OAI-PMH 2.0 endpoint: the six verbs, their arguments and error codes.

Requests come as GET with a query string or as POST with an
application/x-www-form-urlencoded body. Every response, errors included, is an
OAI-PMH document with HTTP status 200, as the protocol requires.
"""

import logging
import re
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from depositum.oai import documents, records
from depositum.oai.tokens import InvalidToken, make_token, read_token

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/xml; charset=utf-8"
METADATA_PREFIX = "oai_dc"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

# Verb -> (required arguments, optional arguments). The list verbs also take
# a resumptionToken, which excludes every other argument.
VERB_ARGUMENTS = {
    "Identify": (set(), set()),
    "ListMetadataFormats": (set(), {"identifier"}),
    "ListSets": (set(), set()),
    "GetRecord": ({"identifier", "metadataPrefix"}, set()),
    "ListIdentifiers": ({"metadataPrefix"}, {"from", "until", "set"}),
    "ListRecords": ({"metadataPrefix"}, {"from", "until", "set"}),
}
RESUMABLE_VERBS = {"ListSets", "ListIdentifiers", "ListRecords"}
# The keys of the state in the resumption tokens of each kind of list.
SET_TOKEN_KEYS = {"after", "cursor", "total"}
LIST_TOKEN_KEYS = {
    "prefix",
    "from",
    "until",
    "set",
    "phase",
    "after",
    "cursor",
    "total",
}

# The syntax of metadataPrefix and setSpec in the OAI-PMH 2.0 XML schema.
METADATA_PREFIX_SYNTAX = re.compile(r"[A-Za-z0-9\-_.!~*'()]+")
SET_SPEC_SYNTAX = re.compile(r"[A-Za-z0-9\-_.!~*'()]+(:[A-Za-z0-9\-_.!~*'()]+)*")
# The repositoryIdentifier syntax of the oai-identifier scheme: a domain name.
DOMAIN_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9\-]*(\.[a-zA-Z][a-zA-Z0-9\-]*)+")
# The characters of a URI (RFC 3986), with well-formed percent escapes. The
# request element of a response repeats the identifier as an xs:anyURI.
URI_SYNTAX = re.compile(r"([A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
SECOND = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


class OAIError(Exception):
    """One or more OAI-PMH errors, as (code, message) pairs."""

    def __init__(self, *errors):
        super().__init__("; ".join(f"{code}: {message}" for code, message in errors))
        self.errors = errors


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def endpoint(request):
    base_url = request.build_absolute_uri(reverse("oai"))
    try:
        verb, arguments = parse_request(request)
    except OAIError as e:
        return error_response(request, base_url, None, e.errors)

    handler = HANDLERS[verb]
    try:
        container, children, stream = handler(request, base_url, arguments)
    except OAIError as e:
        return error_response(request, base_url, {"verb": verb, **arguments}, e.errors)

    body = documents.render(base_url, {"verb": verb, **arguments}, container, children)
    if stream:
        return StreamingHttpResponse(body, content_type=CONTENT_TYPE)
    return HttpResponse(b"".join(body), content_type=CONTENT_TYPE)


def error_response(request, base_url, arguments, errors):
    # The request element of a badVerb or badArgument response has no attributes.
    if any(code in ("badVerb", "badArgument") for code, _ in errors):
        arguments = None
    for code, message in errors:
        log = logger.warning if code == "badResumptionToken" else logger.info
        log("OAI-PMH %s from %s: %s", code, request.META.get("REMOTE_ADDR"), message)
    children = [documents.error(code, message) for code, message in errors]
    body = documents.render(base_url, arguments, None, children)
    return HttpResponse(b"".join(body), content_type=CONTENT_TYPE)


def parse_request(request):
    """Return the verb and the other arguments of a request, checked against
    the verb's required, optional and exclusive arguments."""
    if request.method == "POST":
        # An empty body has no arguments, so it fails as a request without a verb.
        if request.content_type != FORM_CONTENT_TYPE and request.body:
            raise OAIError(
                (
                    "badArgument",
                    f"a POST request must have the content type {FORM_CONTENT_TYPE},"
                    f" not {request.content_type or 'none'}",
                )
            )
        parameters = request.POST
    else:
        parameters = request.GET

    verbs = parameters.getlist("verb")
    if not verbs:
        raise OAIError(("badVerb", "the verb argument is missing"))
    if len(verbs) > 1:
        raise OAIError(("badVerb", "the verb argument is repeated"))
    verb = verbs[0]
    if verb not in VERB_ARGUMENTS:
        raise OAIError(("badVerb", f"{verb!r} is not an OAI-PMH verb"))

    arguments = {}
    problems = []
    for name, values in parameters.lists():
        if name == "verb":
            continue
        if len(values) > 1:
            problems.append(f"the argument {name} is repeated")
        arguments[name] = values[0]

    required, optional = VERB_ARGUMENTS[verb]
    if verb in RESUMABLE_VERBS and "resumptionToken" in arguments:
        others = sorted(set(arguments) - {"resumptionToken"})
        if others:
            problems.append(
                "resumptionToken is an exclusive argument, but the request also"
                f" has {', '.join(others)}"
            )
    else:
        for name in sorted(set(arguments) - required - optional):
            problems.append(f"{verb} has no argument {name}")
        for name in sorted(required - set(arguments)):
            problems.append(f"{verb} requires the argument {name}")

    prefix = arguments.get("metadataPrefix")
    if prefix is not None and not METADATA_PREFIX_SYNTAX.fullmatch(prefix):
        problems.append(f"metadataPrefix={prefix!r} is not a valid metadata prefix")
    identifier = arguments.get("identifier")
    if identifier is not None and not URI_SYNTAX.fullmatch(identifier):
        problems.append(f"identifier={identifier!r} is not a valid URI")
    set_spec = arguments.get("set")
    if set_spec is not None and not SET_SPEC_SYNTAX.fullmatch(set_spec):
        problems.append(f"set={set_spec!r} is not a valid setSpec")

    if problems:
        raise OAIError(*(("badArgument", problem) for problem in problems))
    return verb, arguments


# Verbs ------------------------------------------------------------------------


def identify(request, base_url, arguments):
    repository_identifier = settings.OAI_REPOSITORY_IDENTIFIER
    if not DOMAIN_NAME.fullmatch(repository_identifier):
        # The oai-identifier description requires a domain name.
        repository_identifier = None
    sample = records.published_descriptions().order_by("id").first()

    children = documents.identify(
        repository_name=settings.SITE_TITLE,
        base_url=base_url,
        admin_emails=admin_emails(),
        earliest=records.earliest_datestamp() or datetime.now(UTC),
        repository_identifier=repository_identifier,
        sample_slug=sample.slug if sample else "my-fonds",
    )
    return "Identify", children, False


def admin_emails():
    """Return DEPOSITUM_OAI_ADMIN_EMAILS, else the active superusers' addresses.

    Identify must name at least one address, so a catalogue with neither gets
    postmaster@<repository identifier>.
    """
    if settings.OAI_ADMIN_EMAILS:
        return settings.OAI_ADMIN_EMAILS
    superusers = get_user_model().objects.filter(is_superuser=True, is_active=True)
    emails = sorted(set(superusers.exclude(email="").values_list("email", flat=True)))
    if emails:
        return emails

    fallback = f"postmaster@{settings.OAI_REPOSITORY_IDENTIFIER}"
    logger.warning(
        "Identify lists %s as the OAI-PMH adminEmail because no active superuser"
        " has an email address. Set DEPOSITUM_OAI_ADMIN_EMAILS to choose one.",
        fallback,
    )
    return [fallback]


def list_metadata_formats(request, base_url, arguments):
    identifier = arguments.get("identifier")
    if identifier is not None:
        item = find_item(identifier)
        if item.deleted:
            raise OAIError(
                (
                    "noMetadataFormats",
                    f"{identifier} is a deleted record and has no metadata",
                )
            )
    return "ListMetadataFormats", [documents.metadata_format()], False


def list_sets(request, base_url, arguments):
    size = settings.OAI_PAGE_SIZE
    token = arguments.get("resumptionToken")
    if token is None:
        after_id, cursor, total = 0, 0, None
    else:
        state = resume(token, "ListSets", SET_TOKEN_KEYS)
        after_id, cursor, total = state["after"], state["cursor"], state["total"]

    sets, next_after = records.list_sets(after_id, size)
    if not sets:
        if token is None:
            raise OAIError(
                (
                    "noSetHierarchy",
                    "the catalogue has no published top-level description, so"
                    " there are no sets",
                )
            )
        raise OAIError(("badResumptionToken", "the list of sets has changed"))

    children = [documents.set_element(description) for description in sets]
    if token is not None or next_after is not None:
        total = total if total is not None else records.set_count()
        state = {
            "verb": "ListSets",
            "after": next_after,
            "cursor": cursor + len(sets),
            "total": total,
        }
        children.append(token_element(state, next_after is not None, cursor, total))
    return "ListSets", children, False


def get_record(request, base_url, arguments):
    errors = []
    if arguments["metadataPrefix"] != METADATA_PREFIX:
        errors.append(cannot_disseminate(arguments["metadataPrefix"]))
    try:
        item = find_item(arguments["identifier"])
    except OAIError as e:
        errors.extend(e.errors)
    if errors:
        raise OAIError(*errors)
    return "GetRecord", [documents.record(item, request)], False


def list_identifiers(request, base_url, arguments):
    items, token = list_items(request, arguments, "ListIdentifiers")
    children = [documents.header(item) for item in items]
    return "ListIdentifiers", children + token, False


def list_records(request, base_url, arguments):
    items, token = list_items(request, arguments, "ListRecords")
    children = (documents.record(item, request) for item in items)
    return "ListRecords", chain(children, token), True


def chain(*iterables):
    for iterable in iterables:
        yield from iterable


HANDLERS = {
    "Identify": identify,
    "ListMetadataFormats": list_metadata_formats,
    "ListSets": list_sets,
    "GetRecord": get_record,
    "ListIdentifiers": list_identifiers,
    "ListRecords": list_records,
}


# Helpers of the verbs ---------------------------------------------------------


def find_item(identifier):
    slug = records.slug_from_identifier(identifier)
    item = records.find_item(slug) if slug else None
    if item is None:
        raise OAIError(
            ("idDoesNotExist", f"{identifier} is not an identifier in this repository")
        )
    return item


def cannot_disseminate(prefix):
    return (
        "cannotDisseminateFormat",
        f"{prefix} is not a metadata format of this repository: use oai_dc",
    )


def list_items(request, arguments, verb):
    """Return the items of one page and a list with the page's resumptionToken
    element, which is empty when the whole list fits on one page."""
    size = settings.OAI_PAGE_SIZE
    with_metadata = verb == "ListRecords"
    token = arguments.get("resumptionToken")

    if token is None:
        query = list_query(verb, arguments)
        phase, after_id, cursor, total = records.LIVE, 0, 0, None
    else:
        state = resume(token, verb, LIST_TOKEN_KEYS)
        query = records.ListQuery(
            verb=verb,
            metadata_prefix=state["prefix"],
            from_=parse_stored_time(state["from"]),
            until=parse_stored_time(state["until"]),
            set_spec=state["set"],
        )
        phase, after_id = state["phase"], state["after"]
        cursor, total = state["cursor"], state["total"]

    if query.set_spec is not None and records.set_count() == 0:
        raise OAIError(
            ("noSetHierarchy", "the catalogue has no published top-level description")
        )
    items, next_position = records.fetch_page(
        query, phase, after_id, size, with_metadata=with_metadata
    )
    if not items:
        raise OAIError(("noRecordsMatch", "no records match the request's arguments"))
    if token is None and next_position is None:
        return items, []

    total = total if total is not None else records.count_items(query)
    state = {
        "verb": verb,
        "prefix": query.metadata_prefix,
        "from": format_stored_time(query.from_),
        "until": format_stored_time(query.until),
        "set": query.set_spec,
        "phase": next_position[0] if next_position else None,
        "after": next_position[1] if next_position else None,
        "cursor": cursor + len(items),
        "total": total,
    }
    return items, [token_element(state, next_position is not None, cursor, total)]


def list_query(verb, arguments):
    """Return the ListQuery of a first list request, or raise its errors."""
    from_ = until = None
    from_step = until_step = None
    if "from" in arguments:
        from_, from_step = parse_datestamp("from", arguments["from"])
    if "until" in arguments:
        until, until_step = parse_datestamp("until", arguments["until"])
    if from_step and until_step and from_step != until_step:
        raise OAIError(("badArgument", "from and until must have the same granularity"))
    if from_ and until and from_ > until:
        raise OAIError(
            (
                "badArgument",
                f"from={arguments['from']} is later than until={arguments['until']}",
            )
        )

    # The prefix is checked after the dates because a badArgument error takes
    # precedence, and its request element leaves out the malformed values.
    if arguments["metadataPrefix"] != METADATA_PREFIX:
        raise OAIError(cannot_disseminate(arguments["metadataPrefix"]))

    return records.ListQuery(
        verb=verb,
        metadata_prefix=METADATA_PREFIX,
        from_=from_,
        # The whole second or day that `until` names is included.
        until=end_of(until, until_step),
        set_spec=arguments.get("set"),
    )


def parse_datestamp(name, value):
    """Return the start of the UTC second or day that `value` names, and the
    length of that period."""
    if DAY.fullmatch(value):
        pattern, step = "%Y-%m-%d", timedelta(days=1)
    elif SECOND.fullmatch(value):
        pattern, step = "%Y-%m-%dT%H:%M:%SZ", timedelta(seconds=1)
    else:
        raise OAIError(
            (
                "badArgument",
                f"{name}={value!r} is not a UTC datestamp: use YYYY-MM-DD or"
                " YYYY-MM-DDThh:mm:ssZ",
            )
        )
    try:
        return datetime.strptime(value, pattern).replace(tzinfo=UTC), step
    except ValueError:
        raise OAIError(
            ("badArgument", f"{name}={value!r} is not a valid date")
        ) from None


def end_of(start, step):
    if start is None:
        return None
    try:
        return start + step
    except OverflowError:
        # No datestamp follows the end of the year 9999, so the range has no
        # upper bound.
        return None


def format_stored_time(value):
    return value.isoformat() if value is not None else None


def parse_stored_time(value):
    return datetime.fromisoformat(value) if value is not None else None


def resume(token, verb, keys):
    """Return the state of a resumption token issued for `verb`."""
    try:
        state = read_token(token, verb)
    except InvalidToken as e:
        raise OAIError(("badResumptionToken", str(e))) from None
    if not keys <= state.keys():
        # Signed by this repository, but by a version that stored other keys.
        raise OAIError(
            ("badResumptionToken", "the resumption token is from an older version")
        )
    return state


def token_element(state, more, cursor, total):
    """Return the resumptionToken element of a page that starts at `cursor`:
    a token for the next page, or an empty one on the last page.

    `state["cursor"]` is where the next page starts. completeListSize is the
    size counted at the first request, raised to that cursor when items were
    added since.
    """
    complete_list_size = max(total, state["cursor"])
    if not more:
        return documents.resumption_token(
            "", cursor=cursor, complete_list_size=complete_list_size
        )
    token, expiration = make_token(state)
    return documents.resumption_token(
        token,
        cursor=cursor,
        complete_list_size=complete_list_size,
        expiration=expiration,
    )
