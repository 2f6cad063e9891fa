"""The web app: pages and the public HTTP API."""
