# Throwaway PostgreSQL cluster for the test suite. Source it (as root, under
# `set -euo pipefail`) from .ci/run: it finds or installs the server, runs initdb and
# starts the cluster as the unprivileged user tessera-pg, on a free loopback port,
# and exports:
#   TESSERA_TEST_POSTGRES_URL     postgres://tessera:PASSWORD@127.0.0.1:PORT/postgres
#   TESSERA_TEST_PG_BINDIR        directory holding initdb, pg_ctl, postgres
#   TESSERA_TEST_PG_DATA          the data directory (pg_ctl -D)
#   TESSERA_TEST_PG_LOG           the server log (pg_ctl -l)
#   TESSERA_TEST_PG_OPTIONS_FILE  file holding the exact `pg_ctl -o` string (no newline)
#   TESSERA_TEST_PG_USER          the user the cluster runs as (tessera-pg)
# A test may stop and restart the same cluster, as root, from a directory the user can
# read (e.g. /):
#   setpriv --reuid=tessera-pg --regid=tessera-pg --init-groups -- \
#     "$TESSERA_TEST_PG_BINDIR/pg_ctl" -D "$TESSERA_TEST_PG_DATA" stop -m fast -w
#   setpriv --reuid=tessera-pg --regid=tessera-pg --init-groups -- \
#     "$TESSERA_TEST_PG_BINDIR/pg_ctl" -D "$TESSERA_TEST_PG_DATA" -l "$TESSERA_TEST_PG_LOG" \
#     -w -t 60 -o "$(cat "$TESSERA_TEST_PG_OPTIONS_FILE")" start
# NOTE: this script sets the shell's EXIT trap (and INT/TERM/HUP traps that exit, so the
# EXIT trap runs then too) to tessera_pg_stop, which stops the cluster and removes its
# files. A caller that needs its own EXIT trap must call tessera_pg_stop from it.

tessera_pg_user=tessera-pg
tessera_pg_dir=

# Runs a command as tessera-pg, from / (the user can't read root's working directory).
# setpriv needs no PAM session or systemd, unlike su/runuser.
tessera_pg_as_user() {
  (cd / && setpriv --reuid="$tessera_pg_user" --regid="$tessera_pg_user" --init-groups -- "$@")
}

# Prints the directory holding initdb, pg_ctl and postgres, or nothing.
tessera_pg_find_bindir() {
  local dir dirs=()
  if command -v pg_config >/dev/null; then
    dir=$(pg_config --bindir 2>/dev/null || true)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
      echo "$dir"
      return
    fi
  fi
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ] && dirs+=("$dir")
  done
  if ((${#dirs[@]})); then
    printf '%s\n' "${dirs[@]}" | sort -V | tail -n 1
    return
  fi
  dir=$(command -v initdb || true)
  if [ -n "$dir" ]; then
    dir=$(dirname "$dir")
    [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ] && echo "$dir"
  fi
  return 0
}

# Stops the cluster (if running) and removes its files. Never fails: it runs as a trap.
tessera_pg_stop() {
  [ -n "$tessera_pg_dir" ] || return 0
  if [ -f "$tessera_pg_dir/data/postmaster.pid" ]; then
    tessera_pg_as_user "$TESSERA_TEST_PG_BINDIR/pg_ctl" -D "$tessera_pg_dir/data" stop -m fast -w -t 60 >/dev/null ||
      echo "tessera_pg_stop: pg_ctl stop failed (log: $tessera_pg_dir/postgres.log)" >&2
  fi
  rm -rf "$tessera_pg_dir" || true
  tessera_pg_dir=
  return 0
}

tessera_pg_start() {
  local bindir gid password port options version

  bindir=$(tessera_pg_find_bindir)
  if [ -z "$bindir" ]; then
    echo "PostgreSQL server not found: installing the postgresql package" >&2
    apt-get update -qq
    # Its postinst may try (and fail) to start a system cluster, which we never use:
    # only whether the binaries are there afterwards matters.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql ||
      echo "apt-get install postgresql exited non-zero; looking for the binaries anyway" >&2
    bindir=$(tessera_pg_find_bindir)
    [ -n "$bindir" ] || { echo "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found" >&2; return 1; }
  fi
  command -v psql >/dev/null || [ -x "$bindir/psql" ] || echo "note: psql is not installed" >&2

  # initdb and postgres refuse to run as root.
  if ! getent passwd "$tessera_pg_user" >/dev/null; then
    if getent group "$tessera_pg_user" >/dev/null; then
      useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
        --gid "$tessera_pg_user" "$tessera_pg_user"
    else
      useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
        --user-group "$tessera_pg_user"
    fi
  fi
  gid=$(id -g "$tessera_pg_user")

  # Set the traps before creating anything, so a failure below still cleans up.
  trap tessera_pg_stop EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM HUP
  # Under /tmp (not $TMPDIR, which may be inside root's home) so the user can reach it.
  tessera_pg_dir=$(mktemp -d /tmp/tessera-pg.XXXXXXXX)
  mkdir "$tessera_pg_dir/sock"
  chown -R "$tessera_pg_user:$gid" "$tessera_pg_dir"
  chmod 755 "$tessera_pg_dir" "$tessera_pg_dir/sock"

  password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  [ ${#password} = 32 ] || { echo "could not generate a password" >&2; return 1; }
  (umask 077 && printf '%s\n' "$password" >"$tessera_pg_dir/pwfile")
  chown "$tessera_pg_user:$gid" "$tessera_pg_dir/pwfile"
  local locales locale=C
  locales=$(locale -a 2>/dev/null || true)
  grep -qixE 'c\.utf-?8' <<<"$locales" && locale=C.UTF-8
  if ! tessera_pg_as_user "$bindir/initdb" -D "$tessera_pg_dir/data" -U tessera \
    --auth-local=trust --auth-host=scram-sha-256 --pwfile="$tessera_pg_dir/pwfile" \
    -E UTF8 --locale="$locale" >"$tessera_pg_dir/initdb.log" 2>&1; then
    cat "$tessera_pg_dir/initdb.log" >&2
    echo "initdb failed" >&2
    return 1
  fi
  rm -f "$tessera_pg_dir/pwfile"

  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  options="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$tessera_pg_dir/sock"
  options+=" -c fsync=on -c synchronous_commit=on -c max_connections=200"
  printf '%s' "$options" >"$tessera_pg_dir/start-options"

  export TESSERA_TEST_PG_BINDIR="$bindir"
  export TESSERA_TEST_PG_DATA="$tessera_pg_dir/data"
  export TESSERA_TEST_PG_LOG="$tessera_pg_dir/postgres.log"
  export TESSERA_TEST_PG_OPTIONS_FILE="$tessera_pg_dir/start-options"
  export TESSERA_TEST_PG_USER="$tessera_pg_user"
  if ! tessera_pg_as_user "$bindir/pg_ctl" -D "$TESSERA_TEST_PG_DATA" -l "$TESSERA_TEST_PG_LOG" \
    -w -t 60 -o "$options" start >/dev/null; then
    tail -n 50 "$TESSERA_TEST_PG_LOG" >&2 || true
    echo "pg_ctl start failed" >&2
    return 1
  fi
  export TESSERA_TEST_POSTGRES_URL="postgres://tessera:$password@127.0.0.1:$port/postgres"

  version=$("$bindir/postgres" --version)
  echo "PostgreSQL ${version##* (PostgreSQL) } is running on 127.0.0.1:$port"
}

tessera_pg_start
