#!/usr/bin/env bash
# Runs the desktop client under Xvfb against `renewd --dev` (its WeChat Pay simulator and
# bank outbox) and the demo SoftHSM2 UKey, walks the clerk's journey and saves a screenshot
# of each journey screen to docs/screenshots/:
#   journey-signin.png        sign-in: mobile + SMS code, the 60 s resend countdown running
#   journey-signed-in.png     signed in: who, and where the session is kept
#   journey-renew.png         the renewal form pre-filled for the certificate on the UKey,
#                             with an ID number refused as it is typed (impossible birth date)
#   journey-apps-editing.png  the applications list: a draft with its allowed actions
#   journey-apps-approved.png approved by the reviewer: pay, verification, cancel
#   journey-pay.png           the WeChat Pay QR code and its countdown
#   journey-paid.png          paid (at the simulator, as a phone would)
#   journey-finverify.png     financial verification: the 0.01 CNY transfer's code
#   journey-write-pin.png     write to the UKey: the PIN dialog
#   journey-write-done.png    the renewed certificate written, verified and confirmed
#   bash scripts/screenshots-journey.sh
# Needs cgo (go-gl), xvfb-run, ImageMagick (import), xdotool, curl, python3 and SoftHSM2.
# Reviewer steps (approve) and the phone's payment go through the service's API and /dev/
# routes. Safe to run again: everything lives in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
out=docs/screenshots
mkdir -p "$out"
for tool in xvfb-run import xdotool softhsm2-util curl python3; do
  command -v "$tool" >/dev/null || { echo "screenshots-journey: $tool is missing (apt-get install xvfb imagemagick xdotool softhsm2 curl python3)" >&2; exit 1; }
done
work=$(mktemp -d /tmp/ukey-journey.XXXXXX)
renewd_pid=
cleanup() {
  [ -n "$renewd_pid" ] && kill "$renewd_pid" 2>/dev/null && wait "$renewd_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
echo "== build (cgo)"
go build -o "$work/ukeyrenew" .
go build -o "$work/renewd" ./cmd/renewd

# A private demo UKey and home; the renewal service in dev mode, issuing with the demo CA
# and knowing the demo certificate.
eval "$(UKEY_DEMO_DIR="$work/demo" bash scripts/demo-token.sh)"
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_DATA_HOME="$work/home/.local/share"
mkdir -p "$HOME"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
"$work/renewd" --dev --data "$work/renewd-data" --listen "127.0.0.1:$port" --dev-known-cert "$UKEY_DEMO_CERT" \
  --dev-ca-chain "$UKEY_DEMO_CA" --dev-ca-key "$work/demo/pki/ca.key" >"$work/renewd.log" 2>&1 &
renewd_pid=$!
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$base/healthz" >/dev/null || { cat "$work/renewd.log" >&2; exit 1; }

# What the reviewer and the clerk's phone do, through the service's API.
cat > "$work/api.py" <<'PY'
import json, sys, time, urllib.request, urllib.error
BASE, cmd = sys.argv[1], sys.argv[2]
MOBILE = "13800138000"
def call(method, path, body=None, token=None, key=False):
    req = urllib.request.Request(BASE + path, data=json.dumps(body).encode() if body is not None else None, method=method)
    req.add_header("Content-Type", "application/json")
    if token: req.add_header("Authorization", "Bearer " + token)
    if key: req.add_header("Idempotency-Key", "shot-%f" % time.time())
    try:
        with urllib.request.urlopen(req) as r:
            b = r.read()
            return json.loads(b) if b else None
    except urllib.error.HTTPError as e:
        raise SystemExit("%s %s: %d %s" % (method, path, e.code, e.read().decode()[:300]))
def clerk():
    for _ in range(90):  # the service allows one SMS a minute
        try:
            call("POST", "/v1/auth/sms-code", {"mobile": MOBILE}); break
        except SystemExit as e:
            if "sms_too_soon" not in str(e): raise
            time.sleep(1)
    code = call("GET", "/dev/outbox/sms?mobile=" + MOBILE)[-1]["code"]
    return call("POST", "/v1/auth/sms-login", {"mobile": MOBILE, "code": code})["access_token"]
def reviewer():
    return call("POST", "/v1/auth/login", {"account": "reviewer", "password": "reviewer-dev"})["access_token"]
if cmd == "sms-code":
    print(call("GET", "/dev/outbox/sms?mobile=" + MOBILE)[-1]["code"])
elif cmd == "complete-submit-approve":
    # The rest of the form, as the clerk would type it; submitted; approved by the reviewer.
    t = clerk()
    a = call("GET", "/v1/applications", token=t)["items"][0]
    f = a["form"]
    org = f["organisation"]
    f["legal_representative"] = {"name": "张三", "id_number": "11010519491231002X", "mobile": MOBILE}
    f["bank"] = {"account_name": org["name"], "bank_name": "招商银行深圳分行", "account_number": "755912345610801"}
    f["invoice"] = {"kind": "e_invoice", "title": org["name"], "tax_id": org["credit_code"], "email": "finance@example.cn", "phone": MOBILE}
    f["pickup"] = {"method": "on_site"}
    a = call("PUT", "/v1/applications/" + a["id"], {"version": a["version"], "rekey": False, "form": f}, t)
    a = call("POST", "/v1/applications/" + a["id"] + "/submit", {"version": a["version"], "comment": "请审核"}, t, True)
    a = call("POST", "/v1/applications/" + a["id"] + "/approve", {"version": a["version"], "reason": ""}, reviewer(), True)
    print(a["id"], a["status"])
elif cmd == "pay":
    a = call("GET", "/v1/applications", token=reviewer())["items"][0]
    call("POST", "/dev/applications/" + a["id"] + "/pay")
elif cmd == "bank-code":
    print(call("GET", "/dev/outbox/bank")[-1]["remark"][-6:])
PY

cat > "$work/scene.sh" <<'SCENE'
set -euo pipefail
work=$1 out=$2 base=$3
title="证书续期助手"
api() { python3 "$work/api.py" "$base" "$@"; }
shot() {
  local wid
  wid=$(xdotool search --onlyvisible --name "$title" | head -1)
  [ -n "$wid" ] || { echo "screenshots-journey: no window titled $title" >&2; exit 1; }
  import -window "$wid" "$out/$1"
  echo "saved $out/$1"
}
click() { xdotool mousemove "$1" "$2" click 1; sleep "${3:-0.6}"; }
# The navigation rail on the left: one entry every 80 px (the window is 960x680 at the top left).
nav() { click 40 $((45 + 80 * $1)) 1; }
NAV_SIGNIN=1 NAV_RENEW=2 NAV_APPS=3 NAV_PAY=4 NAV_FINVERIFY=5 NAV_WRITE=6
FYNE_THEME=light LANG=zh_CN.UTF-8 "$work/ukeyrenew" --service "$base" >>"$work/app.log" 2>&1 &
pid=$!
for _ in $(seq 200); do xdotool search --onlyvisible --name "$title" >/dev/null 2>&1 && break; sleep 0.1; done
sleep 2
# Sign in with the SMS code from the service's outbox.
nav $NAV_SIGNIN
click 500 187; xdotool type --delay 30 13800138000
click 904 260 1.5
click 470 260; xdotool type --delay 30 "$(api sms-code)"
sleep 0.5
shot journey-signin.png
xdotool key Return; sleep 2
shot journey-signed-in.png
# The renewal form for the certificate on the UKey; an ID number typed wrong.
nav $NAV_RENEW
click 500 71; click 400 102 2
click 733 437; xdotool type --delay 20 "11010519491331"
sleep 0.5
shot journey-renew.png
nav $NAV_APPS
shot journey-apps-editing.png
api complete-submit-approve
nav $NAV_RENEW; nav $NAV_APPS
shot journey-apps-approved.png
click 123 223 2
shot journey-pay.png
api pay; sleep 1.5
shot journey-paid.png
sleep 2
nav $NAV_APPS
click 138 223 1.5
click 450 144; xdotool type --delay 30 "$(api bank-code)"; sleep 0.5
shot journey-finverify.png
xdotool key Return; sleep 1.5
nav $NAV_APPS
click 141 223 1.5
click 152 148 1.2
shot journey-write-pin.png
xdotool type --delay 30 "${UKEY_DEMO_PIN:-12345678}"; xdotool key Return; sleep 3
shot journey-write-done.png
kill -TERM "$pid"; wait "$pid" || true
SCENE

echo "== journey screenshots"
timeout 300 xvfb-run -a -s "-screen 0 1024x768x24" bash "$work/scene.sh" "$work" "$out" "$base"
if grep -q "Error in Fyne call thread" "$work/app.log"; then
  echo "screenshots-journey: the client touched widgets off the UI goroutine:" >&2
  grep -A3 "Error in Fyne call thread" "$work/app.log" >&2
  exit 1
fi
