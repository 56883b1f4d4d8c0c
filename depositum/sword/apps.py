from django.apps import AppConfig


class SwordConfig(AppConfig):
    name = "depositum.sword"
    verbose_name = "SWORD"
