from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from slugify import slugify

from depositum.catalogue.models import Description, TargetGrant, match_level


class Command(BaseCommand):
    help = "Create or update a description that DIPs can be deposited into."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--title", required=True)
        parser.add_argument(
            "--level",
            default="Fonds",
            help="level of description (default: Fonds)",
        )
        parser.add_argument(
            "--parent",
            metavar="SLUG",
            help="slug of the description to create it under (default: top level)",
        )
        parser.add_argument(
            "--grant",
            action="append",
            default=[],
            metavar="USER",
            help="user allowed to deposit into it; repeat for several users",
        )

    def handle(self, slug, title, level, grant, parent, **options):
        if slugify(slug) != slug:
            raise CommandError(
                f"{slug!r} is not a valid slug: use lowercase letters, digits and"
                f" hyphens, e.g. {slugify(slug) or 'my-fonds'}"
            )
        known_level = match_level(level)
        if known_level is None:
            raise CommandError(f"{level!r} is not a known level of description")

        User = get_user_model()
        users = []
        for username in grant:
            user = User.objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"No user named {username!r}: create it first")
            users.append(user)

        existing = Description.objects.filter(slug=slug).first()
        if existing is not None and existing.aip_id is not None:
            raise CommandError(
                f"{slug!r} is a description created by an ingest: choose another slug"
            )

        parent_description = None
        if parent:
            parent_description = Description.objects.filter(slug=parent).first()
            if parent_description is None:
                raise CommandError(f"No description has the slug {parent!r}")

        target, created = Description.objects.update_or_create(
            slug=slug,
            defaults={
                "title": title,
                "level_of_description": known_level,
                "parent": parent_description,
            },
        )
        for user in users:
            TargetGrant.objects.get_or_create(user=user, target=target)

        verb = "Created" if created else "Updated"
        granted = f", granted to {', '.join(grant)}" if grant else ""
        self.stdout.write(f"{verb} target {slug}{granted}")
