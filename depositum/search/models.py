"""The search app has no Django models: depositum.search.schema creates its
tables. This module exists because Django sends post_migrate only to apps that
have a models module, and the app listens to it."""
