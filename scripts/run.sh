#!/usr/bin/env bash
# Sets up and runs UKey Renew on this machine:
#  - renewd --dev: the renewal service with its embedded SQLite database, the demo CA,
#    SMS/bank/mail outboxes and the WeChat Pay simulator, approving applications and
#    paying QR codes by itself (--dev-auto-review) so one person can walk the journey;
#  - the demo UKey in SoftHSM2 (user PIN 12345678), shown by ukeyctl;
#  - the desktop client, on $DISPLAY, or under Xvfb with a screenshot when there is none.
# Safe to run again: it reuses the demo token and the service's data; Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
mkdir -p bin
echo "== building (the first build of the GUI compiles OpenGL bindings: several minutes)"
go build -o bin/ukeyctl ./cmd/ukeyctl
go build -o bin/renewd ./cmd/renewd
go build -o bin/ukeyrenew .
eval "$(bash scripts/demo-token.sh)"

STATE=$HOME/.local/share/ukeyrenew
mkdir -p "$STATE"
if [ -f "$STATE/renewd.pid" ] && kill -0 "$(cat "$STATE/renewd.pid")" 2>/dev/null; then
  kill "$(cat "$STATE/renewd.pid")"; sleep 1 # a service left by an earlier run
fi
LISTEN=${UKEY_DEV_LISTEN:-127.0.0.1:8080}
bin/renewd --dev --data "$STATE/renewd-dev" --listen "$LISTEN" \
  --dev-ca-chain "$UKEY_DEMO_CA" --dev-ca-key "$UKEY_DEMO_CA_KEY" --dev-known-cert "$UKEY_DEMO_CERT" \
  --dev-auto-review >"$STATE/renewd.log" 2>&1 &
echo $! > "$STATE/renewd.pid"
pids=($!)
trap 'kill "${pids[@]}" 2>/dev/null; rm -f "$STATE/renewd.pid"' EXIT INT TERM
for _ in $(seq 100); do
  curl -fsS "http://$LISTEN/readyz" >/dev/null 2>&1 && break
  kill -0 "${pids[0]}" 2>/dev/null || { echo "renewd did not start:" >&2; tail -20 "$STATE/renewd.log" >&2; exit 1; }
  sleep 0.1
done
echo "== renewd --dev is up (log: $STATE/renewd.log)"
head -20 "$STATE/renewd.log" | grep -v '^{' || true
echo "== ukeyctl tokens"; bin/ukeyctl tokens
echo "== ukeyctl certs";  bin/ukeyctl certs
cat <<TXT

Sign in with mobile 13800138000; the SMS code is in the outbox: curl http://$LISTEN/dev/outbox/sms
The UKey's PIN is 12345678. Command line: export SOFTHSM2_CONF=$SOFTHSM2_CONF; bin/ukeyctl --help
TXT
case "${LANG:-C}" in C|C.*|POSIX) export LANG=zh_CN.UTF-8 ;; esac # the clerk's language
CLIENT=(bin/ukeyrenew --service "http://$LISTEN")
if [ -n "${DISPLAY:-}" ]; then
  echo "== the desktop client (close its window to stop)"
  "${CLIENT[@]}"
else
  SHOT=$STATE/ukeyrenew-screen.png
  echo "== no display: the desktop client runs under Xvfb; Ctrl-C stops it"
  xvfb-run -a -s "-screen 0 1024x768x24" sh -c '"$@" & c=$!; sleep 4; import -window root "'"$SHOT"'"; echo "screenshot: '"$SHOT"'"; wait $c' sh "${CLIENT[@]}" &
  pids+=($!)
  wait "${pids[1]}"
fi
