"""ASGI entry point for daphne, uvicorn and runserver: HTTP to Django, websockets to Channels."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kvproject.settings")

from django.core.asgi import get_asgi_application

django_application = get_asgi_application()

from kvapp.asgi_app import build_application  # noqa: E402 - needs Django set up
from kvapp.daphne_limits import raise_daphne_message_limit  # noqa: E402
from kvapp.startup import freeze_startup_objects, open_store_or_exit, relax_young_collections  # noqa: E402

open_store_or_exit()
raise_daphne_message_limit()
freeze_startup_objects()  # last: everything loaded so far lives as long as the process
relax_young_collections()

application = build_application(django_application)
