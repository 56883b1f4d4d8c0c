from django.db import migrations

from depositum.search import schema


def create_index(apps, schema_editor):
    schema.install(schema_editor.connection)
    schema.rebuild(schema_editor.connection)


def drop_index(apps, schema_editor):
    schema.uninstall(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("catalogue", "0001_initial")]

    operations = [migrations.RunPython(create_index, drop_index)]
