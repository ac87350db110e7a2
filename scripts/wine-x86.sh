# shellcheck shell=bash
# The x86 client under Wine, and the PKCS#11 path of both Windows clients.
# Sourced by scripts/package-check.sh inside its Wine section, whose helpers
# (ok, bad, check, skip, wexport) and variables (dist, log, c, shot, version,
# appname, WINEPREFIX, DISPLAY) it uses. wine_x86_checks:
#  - puts the 32-bit ProcessPrng stand-in into the prefix's syswow64;
#  - installs the x86 MSI and starts its .exe from Program Files (x86) in a
#    Chinese locale: its window shows (screenshot dist/windows-wine-x86.png);
#  - builds the PKCS#11 test module (packaging/wine/p11test.c) for x64 and x86
#    with one generated certificate, and starts each client with the module of
#    its width (--module): the module's trace shows the client's process (a
#    WoW64 one for x86) calling it from C_GetFunctionList through the token's
#    label to the certificate's value; the window then differs from the one
#    without a module, and the x86 window from the x64 one only where the
#    label and serial name the width (dist/windows-wine-*-p11test.png); the
#    x86 client given the x64 module never runs it and says why on screen;
#  - uninstalls the x86 MSI.
# With --screenshot its screenshots go to docs/screenshots/ too.

# wine_x86_window NAME EXE [ARGS...]: starts EXE under Wine, waits for its
# window (at most 120 s: the first start of a 32-bit program in a prefix
# loads its WoW64 side, slow on a loaded machine) and leaves the program
# running; wine_x86_pid is its pid. Fails if no window shows.
wine_x86_window() {
  local name=$1 t0 win=
  shift
  t0=$(date +%s%N)
  # A service address, so the first-run dialog does not cover the tokens screen.
  UKEY_SERVICE_URL=http://127.0.0.1:9 wexport wine "$@" >"$log/wine-$name" 2>&1 &
  wine_x86_pid=$!
  for _ in $(seq 1 1200); do
    win=$(xdotool search --onlyvisible --class ukeyrenew 2>/dev/null | head -1)
    [ -n "$win" ] && break
    kill -0 "$wine_x86_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$win" ]; then
    bad "$name: the window shows under Wine"
    tail -10 "$log/wine-$name" | sed 's/^/     | /'
    return 1
  fi
  ok "$name: the window shows under Wine after $((($(date +%s%N) - t0) / 1000000)) ms (LANG=zh_CN.UTF-8)"
  local title
  title=$(xdotool getwindowname "$win")
  check "$name: its window title is $appname ($title)" grep -qF "$appname" <<<"$title"
}

# wine_x86_shot NAME: the screen as dist/NAME.png, which must not be blank.
wine_x86_shot() {
  local png=$dist/$1.png colours
  import -window root "$png"
  colours=$(convert "$png" -format %k info:)
  check "$1: the screenshot shows a drawn window ($colours colours)" test "$colours" -gt 50
  if [ "$shot" = 1 ]; then mkdir -p docs/screenshots && cp "$png" "docs/screenshots/$1.png"; fi
}

# wine_x86_stop: ends the programs started in the prefix.
wine_x86_stop() {
  wineserver -k 2>/dev/null
  wait "$wine_x86_pid" 2>/dev/null
}

# wine_x86_differs A B: the screenshots differ in more than 1000 pixels.
wine_x86_differs() {
  local n
  n=$(compare -metric AE "$dist/$1.png" "$dist/$2.png" null: 2>&1)
  echo "$n pixels differ"
  [ "${n%%.*}" -gt 1000 ] 2>/dev/null
}

# wine_x86_alike A B: the screenshots differ, but in at most 5000 pixels
# inside a band at most 80 pixels high: the token card's label and serial
# lines, which name the module's width, and nothing else.
wine_x86_alike() {
  local n box
  n=$(compare -metric AE "$dist/$1.png" "$dist/$2.png" null: 2>&1)
  compare "$dist/$1.png" "$dist/$2.png" -compose src -highlight-color white -lowlight-color black "$log/mask.png" 2>/dev/null
  box=$(convert "$log/mask.png" -format %@ info:)
  echo "$n pixels differ, within $box"
  [ "${n%%.*}" -gt 0 ] 2>/dev/null && [ "${n%%.*}" -le 5000 ] && [ "$(cut -dx -f2 <<<"${box%%+*}")" -le 80 ]
}

# wine_x86_module ARCH EXE NAME: starts EXE with the p11test module built for
# ARCH and checks, in the module's own trace, that it was loaded by EXE's
# process and called until the certificate's value was read.
wine_x86_module() {
  local arch=$1 exe=$2 name=$3 dir winpath bits wow64 trace
  if [ "$arch" = x86 ]; then
    dir="$c/Program Files (x86)/UKey Renew TEST" winpath='C:\Program Files (x86)\UKey Renew TEST\p11test.dll' bits=32 wow64=yes
  else
    dir="$c/Program Files/UKey Renew TEST" winpath='C:\Program Files\UKey Renew TEST\p11test.dll' bits=64 wow64=no
  fi
  trace=$dir/p11test.dll.trace
  mkdir -p "$dir" && cp "$log/p11test/p11test-$arch.dll" "$dir/p11test.dll" && rm -f "$trace"
  wine_x86_window "$name" "$exe" --module "$winpath" || { wine_x86_stop; return; }
  # The client lists the token once its first frame is drawn; the last
  # thing listing does is read the certificate's value.
  for _ in $(seq 1 600); do # at most 60 s
    grep -q 'CKA_VALUE: ' "$trace" 2>/dev/null && break
    sleep 0.1
  done
  sleep 3 # let it draw the listed token
  wine_x86_shot "$name"
  wine_x86_stop
  cp "$trace" "$dist/$name.trace" 2>/dev/null
  local exewin
  exewin=$(wexport winepath -w "$exe" 2>/dev/null)
  check "$name: the $arch module was loaded, $bits-bit, by the client's process ($exewin)" \
    grep -qF "loaded: p11test $arch build, pointers $bits bits, CK_ULONG 4 bytes, CK_FUNCTION_LIST $((2 + 68 * bits / 8)) bytes, WoW64 process $wow64, process $exewin" "$trace"
  for call in 'C_GetFunctionList' 'C_Initialize -> 0x0' 'C_GetSlotList(list) -> 0x0, 1 slot' \
    "C_GetTokenInfo(1) -> label \"$arch 测试 UKey\", serial P11TEST-$arch" \
    'C_OpenSession(1, flags 0x4) -> 0x0' 'C_FindObjects(' \
    "CKA_VALUE: $(stat -c %s "$log/p11test/cert.der") bytes copied"; do
    check "$name: the client called $call" grep -qF "$call" "$trace"
  done
  check "$name: the client called nothing the module does not support" bash -c 'test -s "$1" && ! grep -q "no such attribute\|-> 0x[1-9a-f]" "$1"' _ "$trace"
}

wine_x86_checks() {
  echo "== Wine: the x86 client, and the PKCS#11 module of each client's width"
  if ! dpkg-query -W -f='${Status}' wine32:i386 libgl1-mesa-dri:i386 2>/dev/null | grep -q '^install ok installed.*install ok installed$'; then
    skip "the x86 client under Wine (32-bit Wine and Mesa: scripts/setup.sh installs wine32:i386 libgl1-mesa-dri:i386)"
    return
  fi
  # A prefix made before 32-bit Wine was installed has no 32-bit system yet.
  if [ ! -f "$c/windows/syswow64/kernel32.dll" ]; then
    HOME=$dist/wine/home wineboot -u >"$log/wineboot-u" 2>&1
    wineserver -w
  fi
  # The 32-bit ProcessPrng stand-in, where 32-bit programs look for it.
  i686-w64-mingw32-gcc -shared -O2 -Wl,--enable-stdcall-fixup -o "$c/windows/syswow64/bcryptprimitives.dll" \
    packaging/wine/bcryptprimitives.c packaging/wine/bcryptprimitives.def -ladvapi32

  # The test module, for both widths, with one certificate.
  local p m=$log/p11test inc
  mkdir -p "$m"
  inc=$(go list -m -f '{{.Dir}}' github.com/miekg/pkcs11 2>/dev/null)
  if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$m/key.pem" -outform DER \
    -out "$m/cert.der" -days 365 -utf8 -subj "/C=CN/O=UKey Renew TEST/CN=张三" \
    -addext basicConstraints=critical,CA:false >"$m/openssl" 2>&1; then
    bad "make the test module's certificate"
    return
  fi
  {
    echo 'static const unsigned char p11test_cert[] = {'
    od -An -v -tx1 "$m/cert.der" | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'
    echo '};'
  } >"$m/cert.h"
  for p in x86:i686 x64:x86_64; do
    check "the PKCS#11 test module builds for ${p%%:*} (${p#*:}-w64-mingw32-gcc, headers of $(basename "$inc"))" \
      "${p#*:}-w64-mingw32-gcc" -shared -O2 -Wall -Wextra -Werror -static-libgcc -I"$inc" -I"$m" -DP11TEST_CERT_H='"cert.h"' \
      -o "$m/p11test-${p%%:*}.dll" packaging/wine/p11test.c packaging/wine/p11test.def
    check "the ${p%%:*} test module exports C_GetFunctionList only" bash -c \
      '"$1-w64-mingw32-objdump" -p "$2" | sed -n "/Ordinal\/Name Pointer/,/^$/p" | grep -c "^\s*\[ *[0-9]*\] " | grep -qx 1 &&
       "$1-w64-mingw32-objdump" -p "$2" | grep -q "\] C_GetFunctionList$"' _ "${p#*:}" "$m/p11test-${p%%:*}.dll"
  done

  # The x64 client with the x64 module: the known-good path first.
  wine_x86_module x64 "$dist/windows-x64/ukeyrenew.exe" windows-wine-x64-p11test
  check "the x64 client's window with the test module differs from the one without" \
    wine_x86_differs windows-wine windows-wine-x64-p11test

  local msi86=$dist/ukeyrenew-$version-windows-x86.msi exe86="$c/Program Files (x86)/UKeyRenew/ukeyrenew.exe"
  if ! wexport wine msiexec /i "$msi86" /qn >"$log/out" 2>&1; then
    bad "msiexec installs the x86 MSI for its smoke run"
    return
  fi
  if wine_x86_window windows-wine-x86 "$exe86"; then
    sleep 3 # let it draw its first frames
    wine_x86_shot windows-wine-x86
  fi
  wine_x86_stop
  wine_x86_module x86 "$exe86" windows-wine-x86-p11test
  check "the x86 client's window with the test module differs from the one without" \
    wine_x86_differs windows-wine-x86 windows-wine-x86-p11test
  check "the x86 client draws the x64 client's token card but for the width in its label and serial" \
    wine_x86_alike windows-wine-x64-p11test windows-wine-x86-p11test
  # The wrong width: the x86 client given the x64 module says why it cannot
  # load it (on screen), and never runs the module's code.
  local wrong="$c/Program Files/UKey Renew TEST"
  mkdir -p "$wrong" && cp "$m/p11test-x64.dll" "$wrong/p11test.dll" && rm -f "$wrong/p11test.dll.trace"
  if wine_x86_window windows-wine-x86-wrong-width "$exe86" --module 'C:\Program Files\UKey Renew TEST\p11test.dll'; then
    sleep 5 # let it try the module and draw why it failed
    wine_x86_shot windows-wine-x86-wrong-width
    check "the x86 client never ran the x64 module's code (no trace)" test ! -e "$wrong/p11test.dll.trace"
    check "the x86 client shows something else for the x64 module than its token" \
      wine_x86_differs windows-wine-x86-p11test windows-wine-x86-wrong-width
  fi
  wine_x86_stop
  check "msiexec uninstalls the x86 MSI after its smoke run" wexport wine msiexec /x "$msi86" /qn
  check "the uninstall removes the x86 program" test ! -e "$exe86"
  rm -rf "$c/Program Files (x86)/UKey Renew TEST" "$c/Program Files/UKey Renew TEST"
}
