"""Python packages that only some configurations need, installed as pip extras.

The embedded default, SQLite and SqliteHuey, needs neither psycopg nor redis,
and Huey imports both whenever they are installed, which costs each web and
worker process about 18 MB.
"""

import importlib.util

from django.core.exceptions import ImproperlyConfigured


def require(module, extra, setting):
    """Raise ImproperlyConfigured if `module` cannot be imported.

    `setting` names the value that needs it, as the message shows it.
    """
    if importlib.util.find_spec(module) is None:
        raise ImproperlyConfigured(
            f"{setting} needs the Python package {module}, which is not"
            f" installed: pip install 'depositum[{extra}]' in depositum's"
            " virtualenv"
        )
