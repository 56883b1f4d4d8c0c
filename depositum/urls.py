from django.contrib import admin
from django.urls import path, re_path

from depositum.catalogue import views as catalogue
from depositum.deposits import api as deposits_api
from depositum.deposits import health
from depositum.deposits import views as deposits
from depositum.oai import views as oai
from depositum.search import views as search
from depositum.sword import v2 as sword2
from depositum.sword import views as sword

# Stock Archivematica builds SWORD URLs from a base that often ends in /index.php,
# and AtoM 1.x spelled the module ";sword", so all four forms reach one view.
# A base URL that ends in a slash gives a double slash, which is accepted too.
SWORD_PREFIX = r"^(?:/*index\.php)?/*;?sword/"
SWORD2_PREFIX = r"^(?:/*index\.php)?/*sword2/"

urlpatterns = [
    path("", catalogue.home, name="home"),
    path("descriptions/<slug:slug>", catalogue.description, name="description"),
    path("search", search.search_page, name="search"),
    path("api/search", search.api_search, name="api-search"),
    path(
        "descriptions/<slug:slug>/children",
        catalogue.children,
        name="description-children",
    ),
    path("descriptions/<slug:slug>/thumbnail", catalogue.thumbnail, name="thumbnail"),
    path("descriptions/<slug:slug>/reference", catalogue.reference, name="reference"),
    # A deposit's UUID is its public name; its number needs the depositor's login.
    path("deposits/<uuid:deposit_uuid>", deposits.deposit_page, name="deposit"),
    path("deposits/<int:deposit_id>", deposits.deposit_page, name="deposit-by-id"),
    path("deposits/<uuid:deposit_uuid>/retry", deposits.retry, name="deposit-retry"),
    path("dashboard", deposits.dashboard, name="dashboard"),
    path("api/deposits", deposits_api.api_deposit_list, name="api-deposits"),
    path(
        "api/deposits/<uuid:deposit_uuid>",
        deposits_api.api_deposit,
        name="api-deposit",
    ),
    path(
        "api/deposits/<int:deposit_id>",
        deposits_api.api_deposit,
        name="api-deposit-by-id",
    ),
    path(
        "api/descriptions/<slug:slug>",
        catalogue.api_description,
        name="api-description",
    ),
    path("api/openapi.json", deposits_api.openapi_json, name="openapi-json"),
    path("api/openapi.yaml", deposits_api.openapi_yaml, name="openapi-yaml"),
    # Any other API URL gets a JSON 404, not an HTML page.
    re_path(r"^api/", deposits_api.not_found),
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
    re_path(
        SWORD2_PREFIX + r"servicedocument(?:/(?P<slug>[^/]+))?/?$",
        sword2.service_document,
        name="sword2-servicedocument",
    ),
    re_path(
        SWORD2_PREFIX + r"collection/(?P<slug>[^/]+)/?$",
        sword2.collection,
        name="sword2-collection",
    ),
    path("sword2/edit/<int:deposit_id>", sword2.edit, name="sword2-edit"),
    path(
        "sword2/edit-media/<int:deposit_id>",
        sword2.edit_media,
        name="sword2-edit-media",
    ),
    path(
        "sword2/edit-media/<int:deposit_id>/<str:part>",
        sword2.edit_media,
        name="sword2-edit-media-part",
    ),
    path(
        "sword2/statement/<int:deposit_id>",
        sword2.statement,
        name="sword2-statement",
    ),
    path(
        "sword2/statement/<int:deposit_id>/ore",
        sword2.statement_ore,
        name="sword2-statement-ore",
    ),
    # Any other SWORD URL gets a SWORD error document, not an HTML page.
    re_path(SWORD2_PREFIX, sword2.not_found),
    re_path(SWORD_PREFIX, sword.not_found),
    path("oai", oai.endpoint, name="oai"),
    path("healthz", health.healthz, name="healthz"),
    path("metrics", health.metrics, name="metrics"),
    path("admin/", admin.site.urls),
]
