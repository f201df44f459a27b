"""HTTP side of the server: the Pusher HTTP API, health endpoints, and the WSGI entry point."""
