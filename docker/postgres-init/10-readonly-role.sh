#!/bin/sh
# Runs once, when the postgres container initialises an empty data volume (docker-entrypoint-initdb.d).
# Creates the read-only login role that BI tools use: SUTRO_READER_USER / SUTRO_READER_PASSWORD.
#
# Schema sutro does not exist yet: the worker's first migration creates it, as POSTGRES_USER. So the
# reader gets default privileges of that role instead: USAGE on the schemas it creates and SELECT on
# the tables and views it creates, now and in every later migration. The role can write nothing.
#
# With a data volume initialised before this script existed, run instead:
#   sutro-sync grant-reader <role>
#
# No `exit` and no `set`: the entrypoint sources this file when it is not executable.

if [ -z "${SUTRO_READER_PASSWORD:-}" ]; then
  echo "10-readonly-role.sh: SUTRO_READER_PASSWORD is empty; no read-only role created" >&2
else
  psql -v ON_ERROR_STOP=1 --no-psqlrc \
    --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
    -v reader="${SUTRO_READER_USER:-sutro_reader}" \
    -v reader_password="$SUTRO_READER_PASSWORD" \
    -v owner="$POSTGRES_USER" <<'SQL'
CREATE ROLE :"reader" LOGIN PASSWORD :'reader_password';
-- A second guard besides the grants: a session of the reader cannot write even where it may.
ALTER ROLE :"reader" SET default_transaction_read_only = on;
GRANT CONNECT ON DATABASE :"DBNAME" TO :"reader";
-- Every role may create temporary tables, through PUBLIC; this database is sutro-sync's alone, so
-- only its owner keeps that.
REVOKE TEMPORARY ON DATABASE :"DBNAME" FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" GRANT USAGE ON SCHEMAS TO :"reader";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" GRANT SELECT ON TABLES TO :"reader";
SQL
  echo "10-readonly-role.sh: created read-only role ${SUTRO_READER_USER:-sutro_reader}"
fi
