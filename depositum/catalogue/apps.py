from django.apps import AppConfig


class CatalogueConfig(AppConfig):
    name = "depositum.catalogue"
    verbose_name = "Catalogue"
