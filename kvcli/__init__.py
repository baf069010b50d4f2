"""Command-line client for kvstore: talks to the server over HTTP and websockets only."""
