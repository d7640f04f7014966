"""``embrace hub serve``: a self-hosted, Hugging Face Hub compatible server (FastAPI + uvicorn).

Metadata lives behind :class:`~embrace.hub.server.storage.HubStorage` (SQLite by default), file bytes in a
content-addressed blob store. Build the app with :func:`embrace.hub.server.app.create_app`.
"""
