from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SearchConfig(AppConfig):
    name = "depositum.search"
    verbose_name = "Search"

    def ready(self):
        from depositum.search import schema

        post_migrate.connect(schema.sync_after_migrate, sender=self)
