from django.contrib import admin
from django.urls import path, re_path

from depositum.catalogue import views as catalogue
from depositum.deposits import api as deposits_api
from depositum.deposits import views as deposits
from depositum.sword import views as sword

# Stock Archivematica builds SWORD URLs from a base that often ends in /index.php,
# and AtoM 1.x spelled the module ";sword", so all four forms reach one view.
SWORD_PREFIX = r"^(?:index\.php/)?;?sword/"

urlpatterns = [
    path("", catalogue.home, name="home"),
    path("descriptions/<slug:slug>", catalogue.description, name="description"),
    path("deposits/<int:deposit_id>", deposits.deposit_page, name="deposit"),
    path("api/deposits/<int:deposit_id>", deposits_api.api_deposit, name="api-deposit"),
    path(
        "api/descriptions/<slug:slug>",
        catalogue.api_description,
        name="api-description",
    ),
    re_path(r"^media/(?P<path>.+)$", catalogue.media, name="media"),
    re_path(
        SWORD_PREFIX + r"servicedocument(?:/(?P<slug>[^/]+))?/?$",
        sword.service_document,
        name="sword-servicedocument",
    ),
    re_path(
        SWORD_PREFIX + r"deposit/(?P<slug>[^/]+)/?$",
        sword.deposit,
        name="sword-deposit",
    ),
    path("admin/", admin.site.urls),
]
