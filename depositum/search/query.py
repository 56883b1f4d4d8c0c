"""Parse what a visitor types into the search box.

The syntax is the one that PostgreSQL's websearch_to_tsquery() accepts. Words
must all match, "quoted phrases" match as a whole, OR goes between two terms,
and -word or -"phrase" excludes a term. Every other character only separates
words, so no input is a syntax error on either database. Each term is rendered
as a quoted FTS5 string or websearch phrase, which makes FTS5 operators such as
NEAR, *, : and ^ plain text that the database's own tokenizer splits into
words. So "e-mail" or "report.pdf" is split the same way in the query as in the
indexed text.
"""

import re
from dataclasses import dataclass, field

# Maximum query length read, in characters, and maximum number of terms kept.
MAX_QUERY_LENGTH = 500
MAX_TERMS = 32

TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
WORD = re.compile(r"\w+")


@dataclass
class Term:
    # The term's text without double quotes. The database splits it into words.
    phrase: str
    excluded: bool = False


@dataclass
class ParsedQuery:
    """A query as groups of terms.

    A description matches the query if it matches any group, and it matches a
    group if it has every included term of the group and no excluded one.
    """

    text: str
    groups: list = field(default_factory=list)

    @property
    def is_empty(self):
        return not self.groups

    @property
    def has_positive_terms(self):
        return any(not term.excluded for group in self.groups for term in group)

    def fts5(self):
        """Return the FTS5 MATCH expression, or "" if no group has a term to
        match (see excluded_fts5)."""
        rendered = []
        for group in self.groups:
            included = [f'"{t.phrase}"' for t in group if not t.excluded]
            excluded = [f'"{t.phrase}"' for t in group if t.excluded]
            if not included:
                continue
            expression = "(" + " AND ".join(included) + ")"
            for phrase in excluded:
                expression = f"({expression} NOT {phrase})"
            rendered.append(expression)
        return " OR ".join(rendered)

    def excluded_fts5(self):
        """Return the FTS5 expression of the excluded terms of a query that has
        no term to match, such as `-draft`."""
        return " OR ".join(f'"{term.phrase}"' for term in self.excluded_terms())

    def websearch(self):
        """Return the same query in websearch_to_tsquery() syntax."""
        rendered = []
        for group in self.groups:
            if not any(not term.excluded for term in group):
                continue
            terms = [
                ("-" if term.excluded else "") + f'"{term.phrase}"' for term in group
            ]
            rendered.append(" ".join(terms))
        return " or ".join(rendered)

    def excluded_websearch(self):
        return " or ".join(f'"{term.phrase}"' for term in self.excluded_terms())

    def excluded_terms(self):
        return [term for group in self.groups for term in group if term.excluded]


def parse(text):
    """Parse a visitor's query. Any string, even an empty one, parses without error."""
    text = (text or "")[:MAX_QUERY_LENGTH].strip()
    groups = [[]]
    count = 0
    for match in TOKEN.finditer(text):
        negation, quoted, bare = match.groups()
        if bare == "OR":
            if groups[-1]:
                groups.append([])
            continue

        excluded = bool(negation)
        if bare is not None:
            excluded = bare.startswith("-") and len(bare) > 1
            quoted = bare[1:] if excluded else bare
        if not WORD.search(quoted):
            continue

        groups[-1].append(Term(" ".join(quoted.replace('"', " ").split()), excluded))
        count += 1
        if count == MAX_TERMS:
            break

    groups = [group for group in groups if group]
    # An excluded term alone in an OR group excludes nothing that the other
    # groups match, so a group needs a term to match unless it is the only one.
    if len(groups) > 1:
        groups = [g for g in groups if any(not t.excluded for t in g)]
    return ParsedQuery(text=text, groups=groups)
