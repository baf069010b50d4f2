"""Websocket routes."""

from django.urls import path

from kvapp.consumers import WatchConsumer

websocket_urlpatterns = [path("ws/watch", WatchConsumer.as_asgi())]
