"""One PostgreSQL role per service, owning its schema and nothing else.

``quarry_auth`` owns schema ``auth`` (and so every table its migrations create there),
``quarry_ingest`` owns ``ingest``, and so on. Migrations run as the service's role: as
owner it can create, alter and drop in its own schema, and it has no privilege on the
others (a schema grants nothing to other roles unless its owner says so). The database
grants PUBLIC nothing; each role may connect and use temporary tables. The roles log
in with scram-sha-256 passwords from ``.quarry/secrets.env`` (deploy/dev_secrets.py).

Re-applied at every start, idempotently: the passwords, the schema owners, and the
ownership of anything a superuser created in a service's schema (a cluster made by an
older launcher, where everything belonged to ``postgres``).
"""

from __future__ import annotations

from collections.abc import Mapping

ROLE_PREFIX = "quarry_"
# Extensions a service needs, created by the superuser (a service's role may not):
# add a name here rather than CREATE EXTENSION in a migration.
EXTENSIONS: tuple[str, ...] = ()


def role_name(service: str) -> str:
    return f"{ROLE_PREFIX}{service}"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _adopt_objects(schema: str, role: str) -> str:
    """SQL giving ``role`` every table, view, sequence, type and function in ``schema``
    that another role owns (sequences of identity/serial columns follow their table)."""
    s, r = _literal(schema), _literal(role)
    return f"""
DO $adopt$
DECLARE item record;
BEGIN
  FOR item IN
    SELECT format('ALTER %s %I.%I OWNER TO %I',
                  CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                                 WHEN 'm' THEN 'MATERIALIZED VIEW'
                                 WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
                  n.nspname, c.relname, {r}) AS statement
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = {s} AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = {r})
      AND NOT EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                        AND d.deptype IN ('a', 'i'))
  UNION ALL
    SELECT format('ALTER TYPE %I.%I OWNER TO %I', n.nspname, t.typname, {r})
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = {s} AND t.typtype IN ('e', 'd', 'r', 'm') AND t.typrelid = 0
      AND t.typowner <> (SELECT oid FROM pg_roles WHERE rolname = {r})
  UNION ALL
    SELECT format('ALTER ROUTINE %I.%I(%s) OWNER TO %I', n.nspname, p.proname,
                  pg_get_function_identity_arguments(p.oid), {r})
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = {s}
      AND p.proowner <> (SELECT oid FROM pg_roles WHERE rolname = {r})
  LOOP
    EXECUTE item.statement;
  END LOOP;
END
$adopt$;
"""  # noqa: S608 - quoted literals of our own names


def roles_sql(database: str, passwords: Mapping[str, str]) -> str:
    """The whole script, for ``psql`` on its standard input (never its arguments, which
    ``ps`` shows): ``passwords`` maps a service (= its schema) to its role's password."""
    lines = [
        "SET client_min_messages = warning;",
        f"REVOKE ALL ON DATABASE {_ident(database)} FROM PUBLIC;",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC;",
        *(f"CREATE EXTENSION IF NOT EXISTS {_ident(name)};" for name in EXTENSIONS),
    ]
    for service, password in passwords.items():
        role = role_name(service)
        lines += [
            f"""DO $role$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_literal(role)}) THEN
    CREATE ROLE {_ident(role)};
  END IF;
END $role$;""",
            f"ALTER ROLE {_ident(role)} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
            f"NOREPLICATION NOBYPASSRLS PASSWORD {_literal(password)};",
            f"GRANT CONNECT, TEMPORARY ON DATABASE {_ident(database)} TO {_ident(role)};",
            f"CREATE SCHEMA IF NOT EXISTS {_ident(service)} AUTHORIZATION {_ident(role)};",
            f"ALTER SCHEMA {_ident(service)} OWNER TO {_ident(role)};",
            _adopt_objects(service, role),
        ]
    return "\n".join(lines) + "\n"
