"""kvstore's Django app: the store, its HTTP API, the watch socket and the page."""
