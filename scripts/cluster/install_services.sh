#!/usr/bin/env bash
# PostgreSQL and Redis for `make test-cluster`: installed with apt-get on Debian when their binaries are
# missing (the package index is refreshed only then). Nothing is started here: the driver starts its own
# servers on free loopback ports with their data under a temporary folder.
set -euo pipefail

have_postgres() { compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || command -v postgres >/dev/null; }
have_redis() { command -v redis-server >/dev/null; }

if have_postgres && have_redis; then
    exit 0
fi
missing=()
have_postgres || missing+=(postgresql)
have_redis || missing+=(redis-server)
if ! command -v apt-get >/dev/null; then
    echo "test-cluster needs ${missing[*]}; install them (no apt-get here to do it)" >&2
    exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "test-cluster needs ${missing[*]}: run as root or install them" >&2; exit 1; }
    sudo=(sudo)
fi
echo "::: installing ${missing[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
have_postgres && have_redis || { echo "apt-get ran but ${missing[*]} is still missing" >&2; exit 1; }
