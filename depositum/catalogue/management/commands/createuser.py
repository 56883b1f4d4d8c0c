from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create a user, or set the password and email of an existing one."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password", required=True, help="the user's password")
        parser.add_argument("--email", default="", help="the user's email address")
        parser.add_argument(
            "--superuser",
            action="store_true",
            help="make the user a superuser, with every permission and the admin",
        )

    def handle(self, username, password, email, superuser, **options):
        if not password:
            raise CommandError("--password must not be empty")

        User = get_user_model()
        user, created = User.objects.get_or_create(username=username)
        user.set_password(password)
        if email:
            user.email = email
        if superuser:
            user.is_superuser = user.is_staff = True
        user.save()

        verb = "Created" if created else "Updated"
        kind = "superuser" if user.is_superuser else "user"
        self.stdout.write(f"{verb} {kind} {username}")
