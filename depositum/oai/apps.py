from django.apps import AppConfig


class OAIConfig(AppConfig):
    name = "depositum.oai"
    label = "oai"
    verbose_name = "OAI-PMH"

    def ready(self):
        # Record deleted and withdrawn descriptions as deleted OAI-PMH records.
        from depositum.oai import deletions  # noqa: F401
