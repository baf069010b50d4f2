"""Websocket routes: the watch socket, and a 404 for any other path."""

from django.urls import path, re_path

from kvapp.consumers import WatchConsumer
from kvapp.ws_fallback import UnknownPathConsumer

websocket_urlpatterns = [
    path("ws/watch", WatchConsumer.as_asgi()),
    re_path("", UnknownPathConsumer.as_asgi()),  # last: whatever the routes above did not take
]
