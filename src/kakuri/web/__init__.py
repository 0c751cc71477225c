"""Web console and REST API (FastAPI): `create_app(settings)`; `kakuri serve --web HOST:PORT` runs it."""
