"""`connection.url` as pgjdbc writes it (`jdbc:postgresql://host:port/db?user=...`) turned into a
libpq connection string; a libpq DSN (`postgresql://...` or `key=value ...`) is taken as it is.

Only pgjdbc parameters with a libpq meaning are translated; any other is refused by name, since
pgbridge connects with libpq and would otherwise drop a setting (TLS, a schema) in silence.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

import psycopg2
from psycopg2.extensions import make_dsn, parse_dsn

from bridge.errors import ConfigError

# pgjdbc parameter -> libpq keyword
_PARAMETERS = {
    "user": "user", "password": "password", "sslmode": "sslmode", "sslrootcert": "sslrootcert",
    "sslcert": "sslcert", "sslkey": "sslkey", "sslpassword": "sslpassword", "ApplicationName": "application_name",
    "applicationName": "application_name", "connectTimeout": "connect_timeout", "targetServerType": "target_session_attrs",
    "gssEncMode": "gssencmode", "tcpKeepAlive": "keepalives",
}
_TARGET_SERVER_TYPES = {"any": "any", "primary": "read-write", "master": "read-write", "secondary": "read-only",
                        "preferSecondary": "prefer-standby", "preferStandby": "prefer-standby", "standby": "standby"}


def libpq_dsn(url: str, label: str, user: str | None = None, password: str | None = None) -> str:
    """The libpq DSN of `url` (named `label` in messages), with `user`/`password` added when given
    (pgjdbc lets the URL's own user and password win over the separate properties)."""
    if url.startswith("jdbc:"):
        params = _from_jdbc(url, label)
    else:
        try:
            params = parse_dsn(url)
        except psycopg2.ProgrammingError as exc:  # with libpq's words
            raise ConfigError(f"{label} is neither a jdbc:postgresql:// URL nor a libpq DSN: {exc}") from None
    if user and "user" not in params:
        params["user"] = user
    if password and "password" not in params:
        params["password"] = password
    return make_dsn(**params)


def _from_jdbc(url: str, label: str) -> dict[str, str]:
    rest = url[len("jdbc:"):]
    if not rest.startswith("postgresql:"):
        raise ConfigError(f"{label} names a {rest.split(':', 1)[0]!r} database: bridge sink writes to PostgreSQL "
                          "only (jdbc:postgresql://host:port/database)")
    if not rest.startswith("postgresql://"):
        raise ConfigError(f"{label}: write the URL with a host, jdbc:postgresql://host:port/database")
    parts = urlsplit(rest)
    hosts, ports = [], []
    for address in parts.netloc.split(","):
        if address.startswith("["):  # [IPv6]:port
            host, _, port = address[1:].partition("]")
            port = port.removeprefix(":")
        else:
            host, _, port = address.partition(":")
        if port and not port.isdigit():
            raise ConfigError(f"{label}: port {port!r} is not a number")
        hosts.append(host or "localhost")
        ports.append(port or "5432")
    params = {"host": ",".join(hosts), "port": ",".join(ports)}
    database = unquote(parts.path.lstrip("/"))
    if database:
        params["dbname"] = database
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "currentSchema":
            params["options"] = f"-c search_path={value}"
        elif key == "targetServerType":
            if value not in _TARGET_SERVER_TYPES:
                raise ConfigError(f"{label}: targetServerType={value!r} is not one pgjdbc knows")
            params["target_session_attrs"] = _TARGET_SERVER_TYPES[value]
        elif key == "tcpKeepAlive":
            params["keepalives"] = "1" if value.lower() == "true" else "0"
        elif key in _PARAMETERS:
            params[_PARAMETERS[key]] = value
        else:
            raise ConfigError(f"{label}: the pgjdbc parameter {key!r} has no libpq equivalent in bridge sink; "
                              "remove it, or give connection.url as a libpq DSN")
    return params
