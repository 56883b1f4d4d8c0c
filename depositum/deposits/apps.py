from django.apps import AppConfig


class DepositsConfig(AppConfig):
    name = "depositum.deposits"
    verbose_name = "Deposits"
