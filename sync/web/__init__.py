"""The web app: reports, runs, the directory and support's controls for people, a JSON API for tools, and
the webhooks of the messaging providers (README, "The web app").

app.py builds the FastAPI application; server.py serves it (`rostersync web`, or a thread in `serve`).
Handlers stay thin: who may do what is decided by access.py (pure), what a page shows by report_view.py
(pure) and queries.py (reads), and every change goes through the directory service or the sync's own
functions (actions.py), never by writing the directory's tables here.
"""
