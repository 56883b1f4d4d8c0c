"""The search app has no Django models, because depositum.search.schema creates
its tables. This module exists because Django sends post_migrate only to apps
that have a models module, and SearchConfig.ready() connects a handler to it."""
