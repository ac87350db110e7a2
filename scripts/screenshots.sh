#!/usr/bin/env bash
# Builds the desktop client, runs it under Xvfb on a demo SoftHSM2 UKey and saves a
# screenshot of each screen state to docs/screenshots/:
#   tokens-empty.png      no UKey inserted ("请插入您的 UKey")
#   tokens-one.png        the demo UKey inserted while the window is open, with its certificate
#   pin-dialog.png        the PIN dialog opened from the token card
#   pin-wrong.png         the PIN dialog after one wrong PIN (tries running low)
#   tokens-one-dark.png   the Tokens screen in the dark theme
#   tokens-one-en.png     the Tokens screen in English (LANG=en_US.UTF-8)
#   first-run.png         no renewal service configured: the first-run dialog over the window
# Then measures cold start to first frame and resident memory of the client against a
# minimal Fyne window built the same way (cmd/minimalwindow), alternating runs,
# and prints the figures for docs/benchmarks/gui.md.
#   bash scripts/screenshots.sh            # screenshots and figures (RUNS=5 each)
#   RUNS=7 bash scripts/screenshots.sh     # the figures of docs/benchmarks/gui.md
#   RUNS=0 bash scripts/screenshots.sh     # screenshots only
# Needs cgo (go-gl: the first cold build takes ~7 min on 2 cores), xvfb-run, ImageMagick
# (import), xdotool and SoftHSM2. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
RUNS=${RUNS:-5}
out=docs/screenshots
mkdir -p "$out"
for tool in xvfb-run import xdotool xwd softhsm2-util; do
  command -v "$tool" >/dev/null || { echo "screenshots: $tool is missing (apt-get install xvfb imagemagick xdotool x11-apps softhsm2)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/ukey-shots.XXXXXX)
trap 'cp "$work/app.log" /tmp/ukey-screenshots-app.log 2>/dev/null; rm -rf "$work"' EXIT
echo "== build (cgo)"
go build -o "$work/ukeyrenew" .
go build -o "$work/minimalwindow" ./cmd/minimalwindow

# A private demo UKey, and a private home so no user preferences leak in.
eval "$(UKEY_DEMO_DIR="$work/demo" bash scripts/demo-token.sh)"
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_DATA_HOME="$work/home/.local/share"
mkdir -p "$HOME"
mkdir "$work/unplugged"
# renewd --dev's address, so the client does not ask for one at first run (nothing
# listens there: the Tokens screens need no service); first-run.png unsets it.
export UKEY_SERVICE_URL=http://127.0.0.1:8080

# The scene runs inside one Xvfb server, with -noreset: by default the server resets
# when its last client leaves, and the next connection (between two runs) fails. Coordinates are those of the window at
# 960x680 at the top left of the screen, in Fyne's default scale.
cat > "$work/scene.sh" <<'SCENE'
set -euo pipefail
work=$1 out=$2
title="证书续期助手"
shot() { # shot NAME: the client's window only
  local wid
  wid=$(xdotool search --onlyvisible --name "$title" | head -1)
  [ -n "$wid" ] || { echo "screenshots: no window titled $title" >&2; exit 1; }
  import -window "$wid" "$out/$1"
  echo "saved $out/$1"
}
start() { # start ENV...: run the client, wait for its window and the first listing
  env "$@" "$work/ukeyrenew" >>"$work/app.log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do # at most 20 s
    xdotool search --onlyvisible --name "$title" >/dev/null 2>&1 && break
    sleep 0.1
  done
  sleep 1.5
}
stop() { # the client must still be running: a crash fails the script
  kill -TERM "$pid" || { echo "screenshots: the client exited early (see /tmp/ukey-screenshots-app.log)" >&2; exit 1; }
  wait "$pid" || true
}
tokens() { ls "$work/demo/tokens"; }

# 1. No UKey: the demo token is "pulled out" (its directory moved away).
mv "$work/demo/tokens/"* "$work/unplugged/"
start FYNE_THEME=light LANG=zh_CN.UTF-8
shot tokens-empty.png
# 2. Insert it while the window is open: the watcher shows it by itself.
before=$(xwd -root -silent | md5sum)
mv "$work/unplugged/"* "$work/demo/tokens/"
t0=$(date +%s%N)
for _ in $(seq 500); do
  [ "$(xwd -root -silent 2>/dev/null | md5sum)" != "$before" ] && break
  sleep 0.01
done
echo "insertion shown on screen after $(( ($(date +%s%N) - t0) / 1000000 )) ms (SoftHSM2 is re-read every 1 s)"
sleep 0.5
shot tokens-one.png
# 3. The PIN dialog from the token card's button, then one wrong PIN.
xdotool mousemove 896 121 click 1
sleep 0.8
shot pin-dialog.png
xdotool type --delay 40 "0000"
xdotool key Return
sleep 1
shot pin-wrong.png
stop
# 4. Dark theme and English.
start FYNE_THEME=dark LANG=zh_CN.UTF-8
shot tokens-one-dark.png
stop
title="UKey Renew"
start FYNE_THEME=light LANG=en_US.UTF-8 LANGUAGE=
shot tokens-one-en.png
stop
# 5. First run: no service configured anywhere (the private home has no config file).
title="证书续期助手"
start FYNE_THEME=light LANG=zh_CN.UTF-8 UKEY_SERVICE_URL=
xdotool type --delay 40 "renew.example-ca.cn"
sleep 0.5
shot first-run.png
stop
SCENE

echo "== screenshots"
xvfb-run -a -n $((300 + RANDOM % 300)) -s "-screen 0 1024x768x24 -noreset" bash "$work/scene.sh" "$work" "$out"
if grep -q "Error in Fyne call thread" "$work/app.log"; then
  echo "screenshots: the client touched widgets off the UI goroutine:" >&2
  grep -A3 "Error in Fyne call thread" "$work/app.log" >&2
  exit 1
fi

[ "$RUNS" -gt 0 ] || exit 0
# Start-up figures: time from exec to the first frame on screen (the root window's
# content changes from the empty screen), the CPU time the program has used by then
# (all threads, and the main thread alone, from /proc/PID/task/*/schedstat), and VmRSS
# 3 s after it, RUNS times each,
# alternating: the client with the demo UKey, the client with no PKCS#11 module, the
# minimal window, and the minimal window with the client's theme (the CJK font).
cat > "$work/measure.sh" <<'MEASURE'
set -euo pipefail
work=$1 runs=$2
blank=$(xwd -root -silent | md5sum)
empty=$(printf '' | md5sum) # what a failed xwd hashes to
one() { # one NAME ENV... PROGRAM ARGS...: prints "NAME ms rss_kib"
  local name=$1 t0 pid h ms rss
  shift
  t0=$(date +%s%N)
  env FYNE_THEME=light LANG=zh_CN.UTF-8 "$@" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 3000); do # a window being destroyed can make one xwd fail: ignore it
    h=$(xwd -root -silent 2>/dev/null | md5sum) || true
    [ "$h" != "$blank" ] && [ "$h" != "$empty" ] && break
  done
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  # CPU time of all its threads (Go, Mesa's) so far: scatters less than wall time on a busy machine.
  cpu=$(cat /proc/$pid/task/*/schedstat 2>/dev/null | awk '{s+=$1} END {printf "%d", s/1000000}')
  # The main thread's alone: Fyne keeps the main goroutine on it, so this is the critical path.
  main_cpu=$(awk '{printf "%d", $1/1000000}' /proc/$pid/task/$pid/schedstat 2>/dev/null)
  sleep 3
  rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  kill -TERM $pid; wait $pid || true
  sleep 0.5
  echo "$name $ms $rss $cpu $main_cpu"
}
for i in $(seq "$runs"); do
  one client "$work/ukeyrenew"
  one minimal "$work/minimalwindow"
  one client-no-module UKEY_PKCS11_MODULE=/nonexistent/module.so "$work/ukeyrenew"
  one minimal-cjk "$work/minimalwindow" -cjk
done
MEASURE
echo "== start-up: $RUNS runs each, alternating"
xvfb-run -a -n $((300 + RANDOM % 300)) -s "-screen 0 1024x768x24 -noreset" bash "$work/measure.sh" "$work" "$RUNS" | tee "$work/runs.txt"
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
for p in client minimal client-no-module minimal-cjk; do
  ms=$(awk -v p=$p '$1==p {print $2}' "$work/runs.txt" | median)
  rss=$(awk -v p=$p '$1==p {print $3}' "$work/runs.txt" | median)
  cpu=$(awk -v p=$p '$1==p {print $4}' "$work/runs.txt" | median)
  main_cpu=$(awk -v p=$p '$1==p {print $5}' "$work/runs.txt" | median)
  printf '%-17s first frame median %5s ms   RSS median %4s MiB   CPU to first frame median %4s ms (main thread %4s ms)\n' \
    "$p" "$ms" "$((${rss%.*} / 1024))" "$cpu" "$main_cpu"
  case $p in client) c_ms=$ms c_rss=$rss c_cpu=$cpu c_main=$main_cpu ;; minimal) m_ms=$ms m_rss=$rss m_cpu=$cpu m_main=$main_cpu ;; esac
done
awk -v a="$c_ms" -v b="$m_ms" -v c="$c_rss" -v d="$m_rss" -v e="$c_cpu" -v f="$m_cpu" -v g="$c_main" -v h="$m_main" \
  'BEGIN {printf "ratio client/minimal: first frame %.2fx, RSS %.2fx, CPU to first frame %.2fx (main thread %.2fx)\n", a/b, c/d, e/f, g/h}'
