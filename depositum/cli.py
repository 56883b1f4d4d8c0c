"""The depositum command: the client verbs, and every Django management command."""

import os
import sys

CLIENT_COMMANDS = ("deposit", "status")


def main(argv=None):
    argv = list(sys.argv if argv is None else argv)
    if len(argv) > 1 and argv[1] in CLIENT_COMMANDS:
        from depositum import client

        return client.main(argv[1:])

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "depositum.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    # Django reports invalid settings as an unknown command, with the reason at
    # the end of a traceback, so they are read and reported here first, unless
    # the command line names other settings for Django to load.
    if not any(arg.startswith(("--settings", "--pythonpath")) for arg in argv):
        try:
            settings.INSTALLED_APPS  # noqa: B018 (reading a setting loads them all)
        except ImproperlyConfigured as e:
            print(f"depositum: invalid settings: {e}", file=sys.stderr)
            return 1

    argv[0] = "depositum"
    execute_from_command_line(argv)
    return 0
