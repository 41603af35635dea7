#!/bin/bash
# First start of the compose postgres only (an empty data volume): one database per service, all
# owned by the loa role that POSTGRES_USER created. POSTGRES_DB (loa_gateway) already exists.
set -euo pipefail
for service in media publishing feedback search; do
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<SQL
SELECT 'CREATE DATABASE loa_${service} OWNER ${POSTGRES_USER}'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'loa_${service}')\gexec
SQL
done
