"""ASGI entry point for daphne, uvicorn and runserver: HTTP to Django, websockets to Channels."""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kvproject.settings")

from django.core.asgi import get_asgi_application

from kvproject.env import refusing_bad_environment

with refusing_bad_environment():
    django_application = get_asgi_application()

# Below the set-up: these need Django's settings and apps.
from kvapp.server.application import build_application
from kvapp.server.daphne_http import install_daphne_http
from kvapp.server.startup import freeze_startup_objects, open_store_or_exit, relax_young_collections
from kvapp.server.uvicorn_http import install_uvicorn_http

open_store_or_exit()
install_daphne_http()
install_uvicorn_http()
if "daphne.server" in sys.modules:  # daphne or runserver serves: adapt its websocket before it builds one
    from kvapp.server.daphne_websocket import adapt_daphne_websockets

    adapt_daphne_websockets()
freeze_startup_objects()  # last: everything loaded so far lives as long as the process
relax_young_collections()

application = build_application(django_application)
