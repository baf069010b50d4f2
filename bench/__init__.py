"""kvstore's benchmark: real servers, driven by wrk and a websocket client (``make bench``)."""
