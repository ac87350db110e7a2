#!/usr/bin/env bash
# Sets up and runs every test of UKey Renew: formatting, vet, staticcheck and the
# Go tests, against real SoftHSM2, PostgreSQL, gnome-keyring and swtpm.
# Safe to run again. Extra arguments go to `go test` (default: ./...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"

# On a machine with an empty Go build cache the Windows builds of the client take
# minutes each, much of it one gcc at a time on go-gl's C files: start them now, beside
# vet and staticcheck, so scripts/package.sh later finds them in the build cache. The
# tags are package.sh's (Fyne's release tags); the link output is thrown away.
warm_log=$(mktemp /tmp/ukey-warm.XXXXXX)
tags=release
grep -Eq '^[[:space:]]*fyneDo[[:space:]]*=[[:space:]]*true' FyneApp.toml && tags=$tags,migrated_fynedo
(
  GOOS=windows GOARCH=amd64 CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc nice -n 10 go build -tags "$tags" -o /dev/null . &
  GOOS=windows GOARCH=386 CGO_ENABLED=1 CC=i686-w64-mingw32-gcc nice -n 10 go build -tags "$tags" -o /dev/null . &
  wait
) >"$warm_log" 2>&1 &
warm_pid=$!
trap 'pkill -P "$warm_pid" 2>/dev/null; rm -f "$warm_log"' EXIT # a failing step ends the warm-up too

echo "== gofmt"
bad=$(gofmt -l $(git ls-files -co --exclude-standard '*.go'))
if [ -n "$bad" ]; then echo "gofmt would change: $bad" >&2; exit 1; fi
echo "== go vet"
go vet ./...
echo "== staticcheck"
staticcheck ./...
echo "== cross-build (windows, macOS)"
bash scripts/cross-build.sh
echo "== installers (build, sign, check; Wine smoke run)"
wait "$warm_pid" || true # package.sh reports a build that fails
rm -f "$warm_log"
UKEY_TEST_STRICT=1 bash scripts/package-check.sh

work=$(mktemp -d /tmp/ukey-test.XXXXXX)
cleanup() {
  [ -f "$work/pg/postmaster.pid" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# A throw-away PostgreSQL cluster on loopback for the store tests.
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
chown postgres "$work"
runuser -u postgres -- "$PGBIN/initdb" -D "$work/pg" --auth=trust -U postgres -E UTF8 >/dev/null
PGPORT=$(( 20000 + RANDOM % 20000 ))
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$work/pg" -w -l "$work/pg.log" \
  -o "-k $work -p $PGPORT -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off" start >/dev/null
export UKEY_TEST_PG_DSN="postgres://postgres@127.0.0.1:$PGPORT/postgres?sslmode=disable"

export UKEY_TEST_STRICT=1 LANG=C.UTF-8
mkdir -m700 "$work/run" "$work/data"
echo "== go test"
# Inside a private D-Bus session with a real Secret Service (gnome-keyring).
XDG_RUNTIME_DIR="$work/run" XDG_DATA_HOME="$work/data" dbus-run-session -- sh -c '
  printf %s ukey-test | gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null 2>&1 &
  kr=$!
  trap "kill $kr 2>/dev/null" EXIT
  i=0
  until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true"; do
    i=$((i+1)); [ $i -gt 100 ] && { echo "gnome-keyring did not start" >&2; exit 1; }
    sleep 0.1
  done
  go test -count=1 -timeout 20m "$@"' sh "${@:-./...}"
