#!/bin/sh
# Starts Redis with a password: `sh redis-start.sh COMMAND [ARGS...]` runs COMMAND ARGS - with
# `requirepass <the password in REDIS_PASSWORD_FILE>` on its standard input (redis-server reads its
# configuration from stdin when its last argument is "-"). So the password is on no command line and in no
# environment variable, and this script never prints it.
set -eu
file=${REDIS_PASSWORD_FILE:-}
if [ -z "$file" ]; then echo 'redis-start: REDIS_PASSWORD_FILE must name the password file' >&2; exit 1; fi
if [ ! -s "$file" ]; then echo "redis-start: $file is missing or empty (did provision run?)" >&2; exit 1; fi
if [ $# -eq 0 ]; then echo 'redis-start: give the redis-server command to run' >&2; exit 1; fi
password=$(cat "$file")
# One line of plain characters, so it cannot add a second configuration line.
case $password in
  *[!A-Za-z0-9._~+-]*) echo "redis-start: the password in $file must be letters, digits and . _ ~ + -" >&2; exit 1 ;;
esac
exec "$@" - <<CONFIG
requirepass $password
CONFIG
