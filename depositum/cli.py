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
    from django.core.management import execute_from_command_line

    argv[0] = "depositum"
    execute_from_command_line(argv)
    return 0
