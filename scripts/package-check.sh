#!/usr/bin/env bash
# Builds the installers with scripts/package.sh (signed with a throw-away test
# certificate) and checks them the way their users' systems read them:
#  - package.sh refuses bad signing input (no file, wrong password, not
#    PKCS#12, not a code-signing certificate) before it builds anything;
#  - the .exe files: PE machine, GUI subsystem, icon, DPI-aware manifest,
#    Chinese version resource (python3-pefile), Fyne release build tags;
#  - the MSIs: the File, Shortcut, Upgrade, Directory, Property and
#    LaunchCondition tables (Chinese names, stored in codepage 936),
#    SERVICE_URL's Registry, Component, AppSearch and CustomAction rows,
#    per-machine install, the signed .exe inside, size <= 25 MB;
#  - every signature verifies against the test CA, and must FAIL against
#    another CA and after the file is changed (a byte of code, an MSI table);
#    each carries an RFC 3161 timestamp from a test TSA (internal/tsatest) on
#    loopback; on a small signed .exe a timestamp keeps the signature valid
#    after the certificate expired, and one from an unknown TSA or tampered
#    with does not; package.sh refuses a bad or unreachable TSA URL;
#  - signing with a key on a token (SoftHSM2 through PKCS#11): an .exe and
#    the MSI verify; a wrong PIN, key URI or certificate is refused, leaving
#    no file; the PIN is on no command line and in no environment;
#  - under Wine, IT's SERVICE_URL: refused unless https://…; recorded in
#    HKLM\Software\UKeyRenew, where the client finds it (--show-service);
#    kept by an upgrade without it, replaced by one with it, gone on uninstall;
#  - under Wine: the MSI is refused on Windows 7; msiexec installs, upgrades
#    to a newer MSI (one product left) and uninstalls without a trace; the
#    x86 MSI replaces the x64 one and uninstalls; the packaged x64 .exe starts
#    in a Chinese locale under Xvfb and shows its window (screenshot);
#  - under 32-bit Wine (scripts/wine-x86.sh): the x86 .exe, installed from its
#    MSI, starts from Program Files (x86) in a Chinese locale and shows its
#    window (screenshot); each client loads a PKCS#11 test module of its own
#    width (--module) and lists its token and certificate (the module's trace
#    names the calling process; the window differs from the one without);
#  - the Linux tarballs and .debs: contents, .desktop file, the client's
#    window under Xvfb, the client's library dependencies, static renewd,
#    the systemd unit (systemd-analyze verify), and renewd from the .deb
#    started with the example configuration answering /readyz over TLS;
#  - FyneApp.toml is unchanged (git diff).
#
#   scripts/package-check.sh [--reuse] [--no-wine] [--screenshot] [--signing]
#
# --reuse checks dist/ as it is (no build); --signing stops after the signing
# checks (with --reuse: seconds, for work on signing); --screenshot copies the Wine
# screenshots to docs/screenshots/ (windows-wine*.png). Under UKEY_TEST_STRICT=1
# a missing tool fails instead of skipping. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
root=$PWD
dist=$root/dist
reuse=0 wine=1 shot=0 signing=0
for a in "$@"; do
  case $a in
  --reuse) reuse=1 ;;
  --signing) signing=1 ;;
  --no-wine) wine=0 ;;
  --screenshot) shot=1 ;;
  *) echo "usage: $0 [--reuse] [--no-wine] [--screenshot] [--signing]" >&2; exit 2 ;;
  esac
done

passed=0 failed=0 skipped=0
log=$(mktemp -d /tmp/ukey-pkgcheck.XXXXXX)
cleanup() {
  [ -n "${renewd_pid:-}" ] && kill "$renewd_pid" 2>/dev/null
  [ -n "${tsa_pid:-}" ] && kill "$tsa_pid" 2>/dev/null
  [ -n "${WINEPREFIX:-}" ] && wineserver -k 2>/dev/null
  [ -n "${xvfb_pid:-}" ] && kill "$xvfb_pid" 2>/dev/null
  rm -rf "$log"
}
trap cleanup EXIT
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }
skip() { # skip WHAT: a missing tool skips locally and fails in strict mode
  if [ "${UKEY_TEST_STRICT:-}" = 1 ]; then bad "$* (missing; UKEY_TEST_STRICT=1)"; else
    echo "skip $*"
    skipped=$((skipped + 1))
  fi
}
# check WHAT CMD...: passes when CMD exits 0; its output goes to the log.
check() {
  local what=$1
  shift
  if "$@" >"$log/out" 2>&1; then ok "$what"; else
    bad "$what"
    sed 's/^/     | /' "$log/out" | tail -15
  fi
}
# refute WHAT CMD...: passes when CMD fails (a check that must be able to fail).
refute() {
  local what=$1
  shift
  if "$@" >"$log/out" 2>&1; then bad "$what"; else ok "$what"; fi
}
has() { command -v "$1" >/dev/null; }
finish() {
  echo "package-check: $(($(date +%s) - t0)) s"
  echo "${passed} passed, ${failed} failed, ${skipped} skipped"
  [ "$failed" -eq 0 ]
  exit
}
t0=$(date +%s)
# start_x: one private X server for the smoke runs. Xvfb picks a free display
# itself (-displayfd): never another run's screen.
start_x() {
  [ -n "${xvfb_pid:-}" ] && return 0
  Xvfb -displayfd 3 -screen 0 1024x768x24 -nolisten tcp 3>"$log/display" >"$log/xvfb" 2>&1 &
  xvfb_pid=$!
  for _ in $(seq 1 100); do [ -s "$log/display" ] && break; sleep 0.1; done
  [ -s "$log/display" ] || { bad "Xvfb starts"; return 1; }
  export DISPLAY=:$(head -1 "$log/display")
}

# The packaging tools: without them this check skips (and fails when strict).
for tool in wixl msiinfo msibuild msiextract osslsigncode openssl x86_64-w64-mingw32-gcc i686-w64-mingw32-gcc dpkg-deb; do
  if ! has "$tool"; then
    skip "installers: $tool is missing (Debian wixl msitools osslsigncode gcc-mingw-w64-x86-64 gcc-mingw-w64-i686)"
    finish
  fi
done

# A throw-away code-signing CA and certificate, made once per dist/.
ts=$dist/test-signing
if [ ! -s "$ts/sign.p12" ]; then
  mkdir -p "$ts" && chmod 700 "$ts"
  (
    set -e
    cd "$ts"
    openssl rand -hex 16 >p12.pass
    openssl req -x509 -newkey rsa:3072 -nodes -keyout ca.key -out ca.pem -days 3650 \
      -subj "/O=UKey Renew TEST/CN=UKey Renew TEST code-signing CA (not trusted)" \
      -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign
    openssl req -newkey rsa:3072 -nodes -keyout sign.key -out sign.csr \
      -subj "/O=UKey Renew TEST/CN=UKey Renew TEST signer"
    printf 'basicConstraints=CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n' >ext
    openssl x509 -req -in sign.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 -out sign.pem -extfile ext
    openssl pkcs12 -export -inkey sign.key -in sign.pem -certfile ca.pem -out sign.p12 -passout file:p12.pass
    # Another CA, which must not verify our signatures.
    openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 3650 \
      -subj "/CN=Some other CA" -addext basicConstraints=critical,CA:true
  ) >"$log/ca" 2>&1 || { cat "$log/ca"; bad "make the test code-signing certificate"; finish; }
fi

# A certificate for TLS servers, which must not be accepted for code signing.
if [ ! -s "$ts/tls.p12" ]; then
  (
    set -e
    cd "$ts"
    openssl req -newkey rsa:2048 -nodes -keyout tls.key -out tls.csr -subj "/CN=not a code signer"
    printf 'basicConstraints=CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' >tls.ext
    openssl x509 -req -in tls.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 -out tls.pem -extfile tls.ext
    openssl pkcs12 -export -inkey tls.key -in tls.pem -out tls.p12 -passout file:p12.pass
  ) >"$log/tls" 2>&1 || { cat "$log/tls"; bad "make the TLS test certificate"; }
fi

# A time-stamping authority of its own CA (TSAs have their own hierarchy),
# its certificate's only extended key usage a critical timeStamping
# (RFC 3161 2.3), run on a free loopback port for this check.
if [ ! -s "$ts/tsa.pem" ]; then
  (
    set -e
    cd "$ts"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tsa-ca.key -out tsa-ca.pem -days 3650 \
      -subj "/O=UKey Renew TEST/CN=UKey Renew TEST time-stamping CA (not trusted)" \
      -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tsa.key -out tsa.csr -subj "/O=UKey Renew TEST/CN=UKey Renew TEST TSA"
    printf 'basicConstraints=CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n' >tsa.ext
    openssl x509 -req -in tsa.csr -CA tsa-ca.pem -CAkey tsa-ca.key -CAcreateserial -days 3650 -out tsa-leaf.pem -extfile tsa.ext
    cat tsa-leaf.pem tsa-ca.pem >tsa.pem
  ) >"$log/tsa-ca" 2>&1 || { cat "$log/tsa-ca"; bad "make the test TSA certificate"; }
fi
tsa_url=
if nice -n 10 go build -o "$log/tsa" ./internal/tsatest/cmd/tsa 2>"$log/tsa.log"; then
  "$log/tsa" -cert "$ts/tsa.pem" -key "$ts/tsa.key" -url-file "$log/tsa.url" 2>"$log/tsa.log" &
  tsa_pid=$!
  for _ in $(seq 1 100); do [ -s "$log/tsa.url" ] && break; sleep 0.1; done # at most 10 s
  tsa_url=$(cat "$log/tsa.url" 2>/dev/null)
fi
if [ -n "$tsa_url" ]; then ok "the test TSA serves $tsa_url"; else
  bad "the test TSA starts"
  sed 's/^/     | /' "$log/tsa.log" | tail -5
fi
# A loopback port nothing listens on: bound by the kernel, then closed.
closed_port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

echo "== scripts/package.sh refuses bad signing input before building"
# refused WHAT MESSAGE [VAR=VALUE...]: package.sh exits non-zero within 10 s
# (no build started) and says MESSAGE.
refused() {
  local what=$1 msg=$2 rc=0
  shift 2
  env -u UKEY_SIGN_PKCS12 -u UKEY_SIGN_PASS -u UKEY_SIGN_PKCS11_MODULE -u UKEY_SIGN_PKCS11_KEY -u UKEY_SIGN_CERT \
    -u UKEY_SIGN_PIN -u UKEY_SIGN_PIN_FILE -u UKEY_SIGN_TIMESTAMP "$@" timeout 10 bash scripts/package.sh >"$log/refused" 2>&1 || rc=$?
  if [ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -qF "$msg" "$log/refused"; then ok "$what"; else
    bad "$what (exit $rc)"
    sed 's/^/     | /' "$log/refused" | tail -3
  fi
}
refused "without UKEY_SIGN_PKCS12" "set UKEY_SIGN_PKCS12"
refused "with a PKCS#12 file that does not exist" "is not a readable file" UKEY_SIGN_PKCS12="$ts/none.p12" UKEY_SIGN_PASS=x
refused "without UKEY_SIGN_PASS" "set UKEY_SIGN_PASS" UKEY_SIGN_PKCS12="$ts/sign.p12"
refused "with a wrong password" "wrong password" UKEY_SIGN_PKCS12="$ts/sign.p12" UKEY_SIGN_PASS=wrong
refused "with a file that is not PKCS#12" "not a PKCS#12 file" UKEY_SIGN_PKCS12="$ts/ca.pem" UKEY_SIGN_PASS=x
refused "with a TLS server certificate" "not for code signing" UKEY_SIGN_PKCS12="$ts/tls.p12" UKEY_SIGN_PASS="$(cat "$ts/p12.pass")"
for url in ftp://tsa.example "http://tsa.example/a b" "https://user@tsa.example/" "tsa.example"; do
  refused "with UKEY_SIGN_TIMESTAMP=$url" "give the http:// or https:// URL" \
    UKEY_SIGN_PKCS12="$ts/sign.p12" UKEY_SIGN_PASS="$(cat "$ts/p12.pass")" UKEY_SIGN_TIMESTAMP="$url"
done
# A TSA that does not answer stops package.sh at its probe signature, before
# anything is built or written to dist/.
touch "$log/before-refusal"
refused "with a TSA that does not answer (closed port): names the URL" "time-stamping authority http://127.0.0.1:$closed_port/ gave no timestamp" \
  UKEY_SIGN_PKCS12="$ts/sign.p12" UKEY_SIGN_PASS="$(cat "$ts/p12.pass")" UKEY_SIGN_TIMESTAMP="http://127.0.0.1:$closed_port/"
check "... and leaves nothing new in dist/" test -z "$(find "$dist" -newer "$log/before-refusal" -type f -not -path "$ts/*" -print -quit)"
# A branded build's service address is checked before anything else.
for arg in "--service" "--service ftp://renew.example" "--service https://renew.example?x=1" "--brand x"; do
  rc=0
  # shellcheck disable=SC2086 # the words of $arg are the arguments
  timeout 10 bash scripts/package.sh $arg >"$log/refused" 2>&1 || rc=$?
  if [ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -qE "service|unknown argument" "$log/refused"; then
    ok "package.sh refuses $arg"
  else
    bad "package.sh refuses $arg (exit $rc)"
  fi
done
# So is its pinned CA (--service-ca): a file that is not one or more PEM CA
# certificates valid now is refused; a good one passes on to the next check.
ca_case() { # ca_case MESSAGE ARGS...: package.sh ARGS stops with MESSAGE
  local msg=$1 rc=0 file=${*: -1}
  shift
  env -u UKEY_SIGN_PKCS12 timeout 10 bash scripts/package.sh "$@" >"$log/refused" 2>&1 || rc=$?
  if [ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -qF "$msg" "$log/refused"; then ok "package.sh --service-ca ${file##*/} stops with: $msg"; else
    bad "package.sh --service-ca ${file##*/} stops with: $msg (exit $rc)"
    sed 's/^/     | /' "$log/refused" | tail -3
  fi
}
if [ ! -s "$ts/expired-ca.pem" ]; then # notAfter in 2021, made with openssl ca
  (cd "$ts" && mkdir -p expired && : >expired/index.txt &&
    printf '[ca]\ndefault_ca=d\n[d]\ndatabase=expired/index.txt\nnew_certs_dir=expired\nrand_serial=yes\ndefault_md=sha256\npolicy=p\nx509_extensions=x\n[p]\ncommonName=supplied\n[x]\nbasicConstraints=critical,CA:true\n' >expired/ca.cnf &&
    openssl req -new -newkey rsa:2048 -nodes -keyout expired/ca.key -out expired/ca.csr -subj "/CN=Expired test CA" &&
    openssl ca -batch -config expired/ca.cnf -selfsign -keyfile expired/ca.key -in expired/ca.csr -out expired-ca.pem \
      -startdate 20200101000000Z -enddate 20210101000000Z) >"$log/expired-ca" 2>&1
fi
printf 'not a certificate\n' >"$ts/not-pem.txt"
openssl x509 -in "$ts/ca.pem" -outform DER -out "$ts/ca.der"
branded=(--service https://renew.example)
ca_case "goes with --service" --service-ca "$ts/ca.pem"
ca_case "no such readable file" "${branded[@]}" --service-ca "$ts/none.pem"
ca_case "is not a PEM certificate file" "${branded[@]}" --service-ca "$ts/not-pem.txt"
ca_case "is a DER certificate: convert it first" "${branded[@]}" --service-ca "$ts/ca.der"
ca_case "holds a private key" "${branded[@]}" --service-ca "$ts/ca.key"
ca_case "is not a CA certificate" "${branded[@]}" --service-ca "$ts/tls.pem"
ca_case "has expired" "${branded[@]}" --service-ca "$ts/expired-ca.pem"
ca_case "set UKEY_SIGN_PKCS12" "${branded[@]}" --service-ca "$ts/ca.pem" # a good CA passes on

if [ "$reuse" = 0 ]; then
  echo "== scripts/package.sh (test signature)"
  tb=$(date +%s)
  if UKEY_SIGN_PKCS12=$ts/sign.p12 UKEY_SIGN_PASS=$(cat "$ts/p12.pass") UKEY_SIGN_TIMESTAMP=$tsa_url bash scripts/package.sh >"$log/package" 2>&1; then
    ok "scripts/package.sh builds every artefact ($(($(date +%s) - tb)) s)"
  else
    bad "scripts/package.sh"
    tail -30 "$log/package"
    finish
  fi
fi

check "FyneApp.toml is unchanged (git diff --exit-code)" git diff --exit-code -- FyneApp.toml

toml() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\{0,1\}\([^\"]*\)\"\{0,1\}[[:space:]]*$/\1/p" FyneApp.toml | head -1; }
version=$(toml Version) buildno=$(toml Build) appname=$(toml Name) appid=$(toml ID)

# Built as `fyne package --release` would: Fyne's release mode, and fyne.Do
# threading when FyneApp.toml migrated to it (the installed program has no
# FyneApp.toml beside it to read at run time).
want_tags=release
grep -Eq '^[[:space:]]*fyneDo[[:space:]]*=[[:space:]]*true' FyneApp.toml && want_tags=$want_tags,migrated_fynedo
tags_ok() { go version -m "$1" | grep -qxP "\tbuild\t-tags=$want_tags"; }

echo "== Windows programs"
for arch in x64 x86; do
  exe=$dist/windows-$arch/ukeyrenew.exe
  if [ ! -f "$exe" ]; then bad "$exe exists"; continue; fi
  check "$arch exe is built with -tags=$want_tags" tags_ok "$exe"
  if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import pefile' 2>/dev/null; then
    while IFS= read -r line; do
      case $line in ok*) ok "$arch exe: ${line#ok   }" ;; *) bad "$arch exe: ${line#FAIL }" ;; esac
    done < <(/usr/bin/python3 packaging/check/pe_check.py "$exe" "$arch" "$appname" "$version" 2>&1)
  else
    skip "$arch exe resources (Debian python3-pefile)"
  fi
done

echo "== signatures"
# stamped TSA-CAFILE FILE [VERIFY-ARGS...]: the signature verifies against
# the test CA, and its RFC 3161 timestamp against TSA-CAFILE.
stamped() {
  local tsaca=$1 f=$2 out rc=0
  shift 2
  out=$(osslsigncode verify -CAfile "$ts/ca.pem" -TSA-CAfile "$tsaca" "$@" -in "$f" 2>&1) || rc=$?
  echo "$out"
  [ "$rc" = 0 ] && grep -qx 'Timestamp Server Signature verification: ok' <<<"$out"
}
sigfiles=("$dist/windows-x64/ukeyrenew.exe" "$dist/windows-x86/ukeyrenew.exe"
  "$dist/ukeyrenew-$version-windows-x64.msi" "$dist/ukeyrenew-$version-windows-x86.msi")
for f in "${sigfiles[@]}"; do
  n=${f#"$dist/"}
  [ -f "$f" ] || { bad "$n exists"; continue; }
  check "$n: osslsigncode verify against the test CA, timestamped by the test TSA" stamped "$ts/tsa-ca.pem" "$f"
  refute "$n: the signature does not verify against another CA" osslsigncode verify -CAfile "$ts/other.pem" -in "$f"
  cp "$f" "$log/tampered"
  if [[ $f == *.msi ]]; then
    # What an attacker would change: a table (free sectors of the compound
    # file are not covered by an MSI signature, so a random byte is no test).
    msibuild "$log/tampered" -q "UPDATE Property SET Value='https://evil.example' WHERE Property='ARPURLINFOABOUT'"
    refute "$n: a copy with a changed table does not verify" osslsigncode verify -CAfile "$ts/ca.pem" -in "$log/tampered"
  else
    # One byte in the middle of the code: the digest must no longer match.
    size=$(stat -c %s "$f")
    printf '\x5a' | dd of="$log/tampered" bs=1 seek=$((size / 2)) conv=notrunc status=none
    refute "$n: a copy with one byte changed does not verify" osslsigncode verify -CAfile "$ts/ca.pem" -in "$log/tampered"
  fi
done

# sign_with IN OUT VAR=VALUE...: package.sh's sign() on one file with these
# settings only, as package.sh would run it.
sign_with() {
  local in=$1 out=$2
  shift 2
  env -u UKEY_SIGN_PKCS12 -u UKEY_SIGN_PASS -u UKEY_SIGN_PKCS11_MODULE -u UKEY_SIGN_PKCS11_KEY -u UKEY_SIGN_CERT \
    -u UKEY_SIGN_PIN -u UKEY_SIGN_PIN_FILE -u UKEY_SIGN_TIMESTAMP "$@" \
    bash -c 'set -euo pipefail; source scripts/package-sign.sh; sign "$1" "$2" "UKey Renew test"' _ "$in" "$out"
}

echo "== timestamps outlive the signing certificate (a small .exe)"
st=$log/stamp
mkdir -p "$st"
if [ -z "$tsa_url" ]; then bad "timestamp checks: the test TSA is not running"
elif ! (source scripts/package-sign.sh && sign_probe "$st") >"$log/out" 2>&1; then bad "build the small test .exe (sign_probe)"
elif ! (
  set -e
  cd "$st" # a code-signing certificate valid for one day
  openssl req -newkey rsa:2048 -nodes -keyout short.key -out short.csr -subj "/O=UKey Renew TEST/CN=UKey Renew TEST one-day signer"
  openssl x509 -req -in short.csr -CA "$ts/ca.pem" -CAkey "$ts/ca.key" -CAcreateserial -days 1 -out short.pem -extfile "$ts/ext"
  openssl pkcs12 -export -inkey short.key -in short.pem -certfile "$ts/ca.pem" -out short.p12 -passout file:"$ts/p12.pass"
) >"$log/out" 2>&1; then bad "make the one-day code-signing certificate"
else
  later=$(($(date +%s) + 2 * 86400)) # a day after the certificate expired
  p12=(UKEY_SIGN_PKCS12="$st/short.p12" UKEY_SIGN_PASS="$(cat "$ts/p12.pass")")
  check "sign() signs a small .exe with a one-day certificate and a timestamp" \
    sign_with "$st/probe.exe" "$st/stamped.exe" "${p12[@]}" UKEY_SIGN_TIMESTAMP="$tsa_url"
  check "sign() signs it without a timestamp" sign_with "$st/probe.exe" "$st/unstamped.exe" "${p12[@]}"
  check "the unstamped signature verifies today" osslsigncode verify -CAfile "$ts/ca.pem" -in "$st/unstamped.exe"
  refute "the unstamped signature fails 2 days on (-time), its certificate expired" \
    osslsigncode verify -CAfile "$ts/ca.pem" -time "$later" -in "$st/unstamped.exe"
  check "the timestamped signature verifies 2 days on, at its timestamp" stamped "$ts/tsa-ca.pem" "$st/stamped.exe" -time "$later"
  refute "... not with its timestamp ignored" osslsigncode verify -CAfile "$ts/ca.pem" -ignore-timestamp -time "$later" -in "$st/stamped.exe"
  refute "... not with the TSA's CA untrusted (another CA in -TSA-CAfile)" stamped "$ts/other.pem" "$st/stamped.exe" -time "$later"
  # Tampering: one digit of genTime, the token's only GeneralizedTime.
  check "a copy with its timestamp's genTime changed" /usr/bin/python3 -c '
import re, sys
d = bytearray(open(sys.argv[1], "rb").read())
m = list(re.finditer(rb"\x18\x0f[0-9]{14}Z", bytes(d)))
if len(m) != 1: sys.exit("%d GeneralizedTimes" % len(m))
i = m[0].end() - 2
d[i] = ord("0") + (d[i] - ord("0") + 1) % 10
open(sys.argv[2], "wb").write(d)' "$st/stamped.exe" "$st/tampered.exe"
  refute "... does not verify 2 days on" stamped "$ts/tsa-ca.pem" "$st/tampered.exe" -time "$later"
  # The TSA goes away after package.sh's probe: the file is not left half-made.
  rc=0
  sign_with "$st/probe.exe" "$st/no-tsa.exe" "${p12[@]}" UKEY_SIGN_TIMESTAMP="http://127.0.0.1:$closed_port/" >"$st/no-tsa.log" 2>&1 || rc=$?
  check "sign() with a TSA that does not answer fails, naming it" \
    bash -c 'cat "$3"; [ "$1" != 0 ] && grep -qF "authority http://127.0.0.1:$2/ gave no timestamp" "$3"' _ "$rc" "$closed_port" "$st/no-tsa.log"
  check "... and leaves no output file" test ! -e "$st/no-tsa.exe" -a ! -e "$st/no-tsa.exe.part"
fi

echo "== signing with a key on a token (SoftHSM2, PKCS#11)"
p11mod=/usr/lib/softhsm/libsofthsm2.so
p=$log/p11
if ! has softhsm2-util || [ ! -r "$p11mod" ] || ! openssl engine pkcs11 -t >/dev/null 2>&1; then
  skip "PKCS#11 signing (Debian softhsm2, libengine-pkcs11-openssl)"
elif [ ! -s "$st/short.pem" ] || [ -z "$tsa_url" ]; then bad "PKCS#11 signing needs the small .exe, the one-day certificate and the TSA"
else
  # A fresh token holding the code-signing key of the PKCS#12.
  mkdir -p "$p/tokens" "$p/spy"
  printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\n' "$p" >"$p/softhsm2.conf"
  export SOFTHSM2_CONF=$p/softhsm2.conf
  pin=$(openssl rand -hex 6)
  (umask 077 && echo "$pin" >"$p/pin")
  check "a SoftHSM2 token holds the code-signing key" bash -c 'softhsm2-util --init-token --free --label codesign-test --so-pin "$(openssl rand -hex 8)" --pin "$1" &&
    softhsm2-util --import "$2" --token codesign-test --label ukeyrenew-signing --id 01 --pin "$1"' _ "$pin" "$ts/sign.key"
  cat "$ts/sign.pem" "$ts/ca.pem" >"$p/chain.pem"
  key="pkcs11:token=codesign-test;object=ukeyrenew-signing;type=private"
  p11=(UKEY_SIGN_PKCS11_MODULE="$p11mod" UKEY_SIGN_PKCS11_KEY="$key" UKEY_SIGN_CERT="$p/chain.pem")
  # A spy first on PATH records each osslsigncode command line and environment.
  cat >"$p/spy/osslsigncode" <<EOF
#!/bin/sh
printf '%s\n' "\$*" >>"$p/spy/args"
env >>"$p/spy/env"
exec $(command -v osslsigncode) "\$@"
EOF
  chmod +x "$p/spy/osslsigncode"
  check "PKCS#11: sign() signs the small .exe (PIN from UKEY_SIGN_PIN, timestamped)" \
    sign_with "$st/probe.exe" "$p/signed.exe" "${p11[@]}" UKEY_SIGN_PIN="$pin" UKEY_SIGN_TIMESTAMP="$tsa_url" PATH="$p/spy:$PATH"
  check "PKCS#11: the .exe verifies against the test CA, timestamped" stamped "$ts/tsa-ca.pem" "$p/signed.exe"
  msi=$dist/build/windows-x64/ukeyrenew.msi # package.sh's unsigned MSI
  [ -f "$msi" ] || bad "$msi (package.sh's unsigned MSI) exists"
  check "PKCS#11: sign() signs the x64 MSI (PIN from UKEY_SIGN_PIN_FILE)" \
    sign_with "$msi" "$p/signed.msi" "${p11[@]}" UKEY_SIGN_PIN_FILE="$p/pin" UKEY_SIGN_TIMESTAMP="$tsa_url" PATH="$p/spy:$PATH"
  check "PKCS#11: the MSI verifies against the test CA, timestamped" stamped "$ts/tsa-ca.pem" "$p/signed.msi"
  check "the spy saw both signatures" test "$(grep -c '^sign .*-pkcs11module' "$p/spy/args")" -eq 2
  refute "the PIN is on no osslsigncode command line (ps)" grep -qF -- "$pin" "$p/spy/args"
  refute "the PIN is in no osslsigncode environment" grep -qF -- "$pin" "$p/spy/env"
  refute "PKCS#11: sign() with a wrong PIN fails" sign_with "$st/probe.exe" "$p/wrong.exe" "${p11[@]}" UKEY_SIGN_PIN=000000
  check "... and leaves no output file" test ! -e "$p/wrong.exe" -a ! -e "$p/wrong.exe.part"
  # package.sh stops at its probe signature, before building anything.
  refused "PKCS#11: a wrong PIN" "the token refused the PIN (PIN incorrect)" "${p11[@]}" UKEY_SIGN_PIN=000000
  refused "PKCS#11: a key URI with no key behind it" "no private key at UKEY_SIGN_PKCS11_KEY=pkcs11:token=codesign-test;object=no-such-key" \
    "${p11[@]}" UKEY_SIGN_PKCS11_KEY="pkcs11:token=codesign-test;object=no-such-key;type=private" UKEY_SIGN_PIN="$pin"
  refused "PKCS#11: a certificate that is not the key's" "is not the certificate of the key" \
    "${p11[@]}" UKEY_SIGN_CERT="$st/short.pem" UKEY_SIGN_PIN="$pin"
  refused "PKCS#11: a PIN inside the key URI" "carries a PIN" "${p11[@]}" UKEY_SIGN_PKCS11_KEY="$key?pin-value=$pin" UKEY_SIGN_PIN="$pin"
  refused "PKCS#11: no PIN" "set UKEY_SIGN_PIN" "${p11[@]}"
  refused "PKCS#11: a key that is not a pkcs11: URI" "is not a pkcs11: URI" "${p11[@]}" UKEY_SIGN_PKCS11_KEY="$ts/sign.key" UKEY_SIGN_PIN="$pin"
  refused "PKCS#11: a module that is not there" "is not a readable PKCS#11 module" "${p11[@]}" UKEY_SIGN_PKCS11_MODULE=/nonexistent/pkcs11.so UKEY_SIGN_PIN="$pin"
  refused "PKCS#11 and PKCS#12 at once" "not both" "${p11[@]}" UKEY_SIGN_PIN="$pin" UKEY_SIGN_PKCS12="$ts/sign.p12" UKEY_SIGN_PASS=x
  unset SOFTHSM2_CONF
fi
[ "$signing" = 1 ] && finish

echo "== MSI tables"
for arch in x64 x86; do
  msi=$dist/ukeyrenew-$version-windows-$arch.msi
  [ -f "$msi" ] || { bad "$msi exists"; continue; }
  m=$log/msi-$arch
  mkdir -p "$m"
  for t in File Shortcut Upgrade Property Directory Component RemoveFile InstallExecuteSequence _ForceCodepage Feature LaunchCondition \
    Registry AppSearch RegLocator CustomAction InstallUISequence; do
    msiinfo export "$msi" "$t" 2>/dev/null | tr -d '\r' >"$m/$t"
  done
  size=$(stat -c %s "$msi")
  check "$arch MSI is $((size / 1024)) KiB, at most 25 MB" test "$size" -le $((25 * 1024 * 1024))
  check "$arch MSI File table holds ukeyrenew.exe" grep -qP '\tukeyrenew\.exe\t' "$m/File"
  check "$arch MSI Property ProductName is $appname" grep -qxF "ProductName	$appname" "$m/Property"
  check "$arch MSI is per-machine (ALLUSERS=1)" grep -qxP 'ALLUSERS\t1' "$m/Property"
  check "$arch MSI codepage is 936" grep -q '^936' "$m/_ForceCodepage"
  check "$arch MSI Start-menu shortcut is named $appname" grep -qP "^StartMenuShortcut\tProgramMenuDir\tUKEYRE~1\|$appname\tMainExecutable" "$m/Shortcut"
  check "$arch MSI desktop shortcut is named $appname" grep -qP "^DesktopShortcut\tDesktopFolder\tUKEYRE~1\|$appname\tMainExecutable" "$m/Shortcut"
  check "$arch MSI Start-menu folder is named $appname" grep -qP "^ProgramMenuDir\tProgramMenuFolder\tUKEYRE~1\|$appname" "$m/Directory"
  pf=ProgramFilesFolder
  [ "$arch" = x64 ] && pf=ProgramFiles64Folder
  check "$arch MSI installs under $pf\\UKeyRenew" grep -qP "^INSTALLDIR\t$pf\tUKeyRenew" "$m/Directory"
  upcode=$(sed -n 's/^UpgradeCode\t//p' "$m/Property")
  check "$arch MSI Upgrade table replaces older and equal versions of $upcode" \
    grep -qP "^\\Q$upcode\\E\t\t$version\t\t513\t\tWIX_UPGRADE_DETECTED" "$m/Upgrade"
  check "$arch MSI Upgrade table refuses a downgrade" grep -qP "^\\Q$upcode\\E\t$version\t\t\t2\t\tWIX_DOWNGRADE_DETECTED" "$m/Upgrade"
  check "$arch MSI needs Windows 10 and says so in Chinese" grep -qP "^Installed OR VersionNT >= 603\t${appname}需要 Windows 10" "$m/LaunchCondition"
  # SERVICE_URL: recorded in HKLM\Software\UKeyRenew by a component installed only with it,
  # secure, remembered from the registry after the launch condition that refuses a bad one.
  w64=0 && [ "$arch" = x64 ] && w64=1
  check "$arch MSI writes HKLM Software\UKeyRenew ServiceURL = [SERVICE_URL]" \
    grep -qP '^\w+\t2\tSoftware\\UKeyRenew\tServiceURL\t\[SERVICE_URL\]\tServiceURL$' "$m/Registry"
  check "$arch MSI ServiceURL component is installed only with SERVICE_URL (64-bit: $w64)" \
    grep -qP "^ServiceURL\t\{[-0-9A-F]{36}\}\tINSTALLDIR\t$((4 + 256 * w64))\tSERVICE_URL\t" "$m/Component"
  check "$arch MSI ServiceURL component is in the feature" grep -qP '^Client\tServiceURL$' <(msiinfo export "$msi" FeatureComponents | tr -d '\r')
  check "$arch MSI SERVICE_URL is a secure property" grep -qP '^SecureCustomProperties\t(.*;)?SERVICE_URL(;|$)' "$m/Property"
  check "$arch MSI searches the recorded ServiceURL for SAVED_SERVICE_URL (AppSearch)" grep -qxP 'SAVED_SERVICE_URL\tSavedServiceURL' "$m/AppSearch"
  check "$arch MSI's search reads HKLM Software\UKeyRenew ServiceURL (64-bit: $w64)" \
    grep -qxP "SavedServiceURL\t2\tSoftware\\\\UKeyRenew\tServiceURL\t$((2 + 16 * w64))" "$m/RegLocator"
  check "$arch MSI RememberServiceURL sets SERVICE_URL from it (type 51)" grep -qxP 'RememberServiceURL\t51\tSERVICE_URL\t\[SAVED_SERVICE_URL\]\t' "$m/CustomAction"
  check "$arch MSI remembers SERVICE_URL after AppSearch and LaunchConditions, only when none is given" awk -F'\t' '
    { seq[$1] = $3; cond[$1] = $2 }
    END { exit !(cond["RememberServiceURL"] == "NOT SERVICE_URL AND SAVED_SERVICE_URL" && seq["RememberServiceURL"] > seq["LaunchConditions"] &&
      seq["LaunchConditions"] > seq["AppSearch"] && seq["RememberServiceURL"] < seq["CostFinalize"]) }' "$m/InstallExecuteSequence"
  refute "$arch MSI does not remember it in the UI sequence (its launch condition would check it)" grep -q RememberServiceURL "$m/InstallUISequence"
  check "$arch MSI refuses a SERVICE_URL not starting with https:// and says so in Chinese" \
    grep -qP '^NOT SERVICE_URL OR \(SERVICE_URL ~<< "https://" .*\tSERVICE_URL=\[SERVICE_URL\] 不是续期服务地址' "$m/LaunchCondition"
  check "$arch MSI removes the old product (RemoveExistingProducts)" grep -q '^RemoveExistingProducts' "$m/InstallExecuteSequence"
  check "$arch MSI removes its Start-menu folder on uninstall" grep -qP '^ProgramMenuDir\tProgramMenuDir\t\tProgramMenuDir\t2' "$m/RemoveFile"
  # The names are really stored in GBK (codepage 936), not dropped or in UTF-8.
  check "$arch MSI string pool holds $appname in GBK" /usr/bin/python3 -c '
import sys
d = open(sys.argv[1], "rb").read()
sys.exit(0 if sys.argv[2].encode("gbk") in d else 1)' "$msi" "$appname"
  summary=$(msiinfo suminfo "$msi")
  tmpl=Intel
  [ "$arch" = x64 ] && tmpl=x64
  check "$arch MSI summary Template is $tmpl" grep -q "^Template: $tmpl;" <<<"$summary"
  check "$arch MSI summary information is ASCII (wixl writes it in UTF-8 under codepage 1252)" \
    bash -c '! LC_ALL=C grep -qP "[^\x00-\x7f]" <<<"$1"' _ "$summary"
  rm -rf "$m/x" && mkdir "$m/x"
  if msiextract -C "$m/x" "$msi" >/dev/null 2>&1; then
    got=$(find "$m/x" -name ukeyrenew.exe | head -1)
    check "$arch MSI carries the signed ukeyrenew.exe" cmp "$got" "$dist/windows-$arch/ukeyrenew.exe"
    check "$arch MSI carries README.txt" test -n "$(find "$m/x" -name README.txt)"
  check "$arch MSI signature covers stream metadata (MsiDigitalSignatureEx)" bash -c "msiinfo streams '$msi' | grep -q 'MsiDigitalSignatureEx$'"
  else
    bad "$arch MSI extracts with msiextract"
  fi
done

echo "== Linux client"
tarball=$dist/ukeyrenew-$version-linux-amd64.tar.xz
if tar -tJf "$tarball" >"$log/client.lst" 2>&1; then
  for p in usr/local/bin/ukeyrenew "usr/local/share/applications/$appid.desktop" \
    "usr/local/share/icons/hicolor/512x512/apps/$appid.png"; do
    check "client tarball holds $p" grep -qxF "$p" "$log/client.lst"
  done
  rm -rf "$log/client" && mkdir "$log/client" && tar -xJf "$tarball" -C "$log/client"
  check "client is an x86-64 ELF program" bash -c "file -b '$log/client/usr/local/bin/ukeyrenew' | grep -q 'ELF 64-bit.*x86-64'"
  check "client is built with -tags=$want_tags" tags_ok "$log/client/usr/local/bin/ukeyrenew"
  if has desktop-file-validate; then
    check "client .desktop file is valid" desktop-file-validate "$log/client/usr/local/share/applications/$appid.desktop"
  else skip "desktop-file-validate (Debian desktop-file-utils)"; fi
  check "client .desktop file has the Chinese name" grep -qxF "Name[zh_CN]=$appname" "$log/client/usr/local/share/applications/$appid.desktop"
  check "client icon is 512x512" bash -c "file -b '$log/client/usr/local/share/icons/hicolor/512x512/apps/$appid.png' | grep -q '512 x 512'"
  # Smoke run of the unpacked client: its window, with the Chinese title, in
  # a private X server and home; SIGTERM quits it through Fyne.
  if has Xvfb && has xdotool && start_x; then
    mkdir -p "$log/client-home"
    run=(env HOME="$log/client-home" XDG_CONFIG_HOME="$log/client-home/.config" LANG=zh_CN.UTF-8)
    # No session bus (a run outside scripts/test.sh): give it a private one.
    [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ] && has dbus-run-session && run=(dbus-run-session -- "${run[@]}")
    "${run[@]}" "$log/client/usr/local/bin/ukeyrenew" >"$log/client.out" 2>&1 &
    runner=$!
    w=
    for _ in $(seq 1 200); do # at most 20 s
      w=$(xdotool search --onlyvisible --name "$appname" 2>/dev/null | head -1)
      [ -n "$w" ] && break
      kill -0 "$runner" 2>/dev/null || break
      sleep 0.1
    done
    if [ -n "$w" ]; then
      ok "the Linux client from the tarball shows its window ($appname)"
      cpid=$(xdotool getwindowpid "$w" 2>/dev/null)
      [ -n "$cpid" ] && kill -TERM "$cpid" 2>/dev/null
      gone=0
      for _ in $(seq 1 100); do kill -0 "${cpid:-$runner}" 2>/dev/null || { gone=1; break; }; sleep 0.1; done
      check "the Linux client quits on SIGTERM" test "$gone" = 1
    else
      bad "the Linux client from the tarball shows its window"
      tail -5 "$log/client.out" | sed 's/^/     | /'
    fi
    kill "$runner" 2>/dev/null
    wait "$runner" 2>/dev/null
  else
    skip "Linux client smoke run (Debian xvfb, xdotool)"
  fi
else
  bad "client tarball $tarball lists"
fi
cdeb=$dist/ukeyrenew_${version}-${buildno}_amd64.deb
check "client .deb is package ukeyrenew $version-$buildno" bash -c "dpkg-deb -f '$cdeb' Package Version | tr '\n' ' ' | grep -qx 'Package: ukeyrenew Version: $version-$buildno '"
check "client .deb holds the program, .desktop file and icon" bash -c "dpkg-deb -c '$cdeb' | grep -c -E '\\./usr/bin/ukeyrenew\$|$appid\\.desktop\$|apps/$appid\\.png\$' | grep -qx 3"
# Every library the client links (NEEDED) comes from a package its .deb depends on.
deb_needs() {
  local deps needed lib path pkgname missing=0
  deps=$(dpkg-deb -f "$cdeb" Depends)
  needed=$(objdump -p "$log/client/usr/local/bin/ukeyrenew" | awk '$1 == "NEEDED" {print $2}')
  for lib in $needed; do
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ {print $NF; exit}')
    # Merged /usr: dpkg may know the file under /usr/lib or /lib.
    pkgname=$({ dpkg -S "$path" || dpkg -S "/usr$path"; } 2>/dev/null | head -1 | cut -d: -f1)
    if [ -z "$pkgname" ] || ! grep -qE "(^|, )$pkgname( |,|$)" <<<"$deps"; then
      echo "$lib ($path) from '${pkgname:-?}' is not in Depends: $deps"
      missing=1
    fi
  done
  [ "$missing" = 0 ] && [ -n "$needed" ]
}
check "client .deb depends on the packages of every library it links" deb_needs
for sc in postinst prerm postrm; do
  check "renewd $sc is valid sh" sh -n "packaging/linux/renewd.$sc"
done

echo "== renewd"
rtar=$dist/renewd-$version-linux-amd64.tar.xz
if tar -tJf "$rtar" >"$log/renewd.lst" 2>&1; then
  for p in renewd renewd.service renewd.example.json INSTALL.md; do
    check "renewd tarball holds $p" grep -qxF "renewd-$version-linux-amd64/$p" "$log/renewd.lst"
  done
else
  bad "renewd tarball $rtar lists"
fi
rdeb=$dist/renewd_${version}-${buildno}_amd64.deb
rx=$log/renewd-deb
mkdir -p "$rx"
if dpkg-deb -x "$rdeb" "$rx" 2>"$log/out"; then
  check "renewd .deb is package renewd $version-$buildno" bash -c "dpkg-deb -f '$rdeb' Package Version | tr '\n' ' ' | grep -qx 'Package: renewd Version: $version-$buildno '"
  for p in usr/bin/renewd lib/systemd/system/renewd.service usr/share/doc/renewd/renewd.example.json usr/share/doc/renewd/INSTALL.md; do
    check "renewd .deb holds /$p" test -f "$rx/$p"
  done
  check "renewd .deb has maintainer scripts" bash -c "dpkg-deb --ctrl-tarfile '$rdeb' | tar -t | grep -c -E '^\\./(postinst|prerm|postrm)\$' | grep -qx 3"
  check "renewd is statically linked" bash -c "file -b '$rx/usr/bin/renewd' | grep -q 'statically linked'"
  unit=$rx/lib/systemd/system/renewd.service
  for d in DynamicUser=yes ProtectSystem=strict StateDirectory=renewd NoNewPrivileges=yes PrivateDevices=yes; do
    check "renewd unit sets $d" grep -qx "$d" "$unit"
  done
  if has systemd-analyze; then
    # verify warns about a bad value and still exits 0: it must print nothing.
    # It checks ExecStart exists, so the copy points at the extracted binary.
    mkdir -p "$log/unit"
    sed "s|/usr/bin/renewd|$rx/usr/bin/renewd|" "$unit" >"$log/unit/renewd.service"
    check "renewd unit passes systemd-analyze verify without a warning" \
      bash -c 'out=$(systemd-analyze verify --man=no "$1" 2>&1); echo "$out"; [ -z "$out" ]' _ "$log/unit/renewd.service"
  else skip "systemd-analyze"; fi

  # Start the packaged renewd with the packaged example configuration, its
  # file paths moved into a test directory (test CA, TLS, WeChat Pay merchant
  # and public keys) and the secrets in the environment, as the unit would.
  r=$log/run
  mkdir -p "$r"
  (
    set -e
    cd "$r"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca-key.pem -out ca-chain.pem \
      -days 3650 -subj "/O=UKey Renew TEST/CN=renewd test CA" \
      -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls-key.pem -out tls-chain.pem \
      -days 3650 -subj "/CN=127.0.0.1" -addext subjectAltName=IP:127.0.0.1
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out wechat-merchant-key.pem
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out wechat-pay-key.pem
    openssl pkey -in wechat-pay-key.pem -pubout -out wechat-pay-public-key.pem
  ) >"$log/out" 2>&1 || bad "make renewd's test keys and certificates"
  sed -e "s|/run/credentials/renewd.service/|$r/|g; s|/etc/renewd/|$r/|g; s|/var/lib/renewd/|$r/|g" \
    "$rx/usr/share/doc/renewd/renewd.example.json" >"$r/renewd.json"
  check "the example config names only /etc/renewd, /var/lib/renewd and the unit's credentials" \
    bash -c '! grep -o "\"/[^\"]*\"" "$1" | grep -v -e "^\"/etc/renewd/" -e "^\"/var/lib/renewd/" -e "^\"/run/credentials/renewd.service/"' \
    _ "$rx/usr/share/doc/renewd/renewd.example.json"
  for cred in $(grep -o '/run/credentials/renewd.service/[^"]*' "$rx/usr/share/doc/renewd/renewd.example.json"); do
    check "the unit loads the credential ${cred##*/}" grep -qx "LoadCredential=${cred##*/}:/etc/renewd/${cred##*/}" "$unit"
  done
  # Port 0: the kernel picks a free one, which renewd logs.
  env -i PATH=/usr/bin:/bin RENEWD_LISTEN=127.0.0.1:0 \
    RENEWD_PEPPER="$(openssl rand -hex 32)" RENEWD_TENCENT_SECRET_ID=test-id RENEWD_TENCENT_SECRET_KEY=test-key \
    RENEWD_WECHAT_APIV3_KEY="$(openssl rand -hex 16)" RENEWD_METRICS_TOKEN="$(openssl rand -hex 16)" \
    "$rx/usr/bin/renewd" --config "$r/renewd.json" >"$r/stdout" 2>"$r/stderr" &
  renewd_pid=$!
  up=0
  for _ in $(seq 1 100); do # at most 10 s
    port=$(grep -so '"addr":"127.0.0.1:[0-9]*"' "$r/stderr" | head -1 | grep -o '[0-9]*"$' | tr -d '"')
    if [ -n "$port" ] && curl -fsS --max-time 2 --cacert "$r/tls-chain.pem" "https://127.0.0.1:$port/readyz" >"$r/readyz" 2>/dev/null; then
      up=1
      break
    fi
    kill -0 "$renewd_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ "$up" = 1 ]; then ok "packaged renewd with the example config answers /readyz over TLS"; else
    bad "packaged renewd with the example config answers /readyz over TLS"
    tail -5 "$r/stderr" | sed 's/^/     | /'
  fi
  kill -TERM "$renewd_pid" 2>/dev/null
  stopped=0
  for _ in $(seq 1 100); do kill -0 "$renewd_pid" 2>/dev/null || { stopped=1; break; }; sleep 0.1; done
  wait "$renewd_pid" 2>/dev/null
  rc=$?
  renewd_pid=
  check "renewd stops cleanly on SIGTERM (exit $rc)" test "$stopped" = 1 -a "$rc" = 0
  check "renewd created its SQLite database where the config says" test -s "$r/renewd.db"
  # A bad configuration is refused with a clear message and nothing starts.
  sed 's/"finverify_max_tries": 3/"finverify_max_tries": 3, "no_such_key": 1/' \
    "$r/renewd.json" >"$r/bad.json"
  if env -i PATH=/usr/bin:/bin "$rx/usr/bin/renewd" --config "$r/bad.json" >"$r/bad.out" 2>&1; then
    bad "renewd refuses an unknown configuration key"
  else
    check "renewd refuses an unknown configuration key and names it" grep -q no_such_key "$r/bad.out"
  fi
else
  bad "renewd .deb extracts"
fi

if [ "$wine" = 0 ]; then finish; fi

echo "== Wine (Windows code paths)"
if ! has wine || ! has Xvfb || ! has xdotool || ! has xdpyinfo || ! has x86_64-w64-mingw32-gcc; then
  skip "Wine smoke run (Debian wine, xvfb, xdotool, x11-utils, gcc-mingw-w64-x86-64)"
  finish
fi
if ! locale -a 2>/dev/null | grep -qix 'zh_CN.utf-\{0,1\}8'; then
  skip "the zh_CN.UTF-8 locale (uncomment it in /etc/locale.gen, run locale-gen)"
fi
export WINEPREFIX=$dist/wine/prefix WINEDEBUG=-all WINEARCH=win64
# No Mono/Gecko prompts; no menu entries or .desktop files on the host.
export WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"
start_x || finish
if [ ! -f "$WINEPREFIX/system.reg" ]; then
  # A home of its own, so Wine's Desktop and Documents links never point
  # into the real home directory.
  mkdir -p "$dist/wine/home"
  HOME=$dist/wine/home wineboot -i >"$log/wineboot" 2>&1 || { bad "wineboot"; finish; }
  wineserver -w
fi
# The test-only ProcessPrng stand-in: Wine 8 lacks bcryptprimitives.dll.
x86_64-w64-mingw32-gcc -shared -O2 -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
  packaging/wine/bcryptprimitives.c packaging/wine/bcryptprimitives.def -ladvapi32
wexport() { HOME=$dist/wine/home LANG=zh_CN.UTF-8 LC_ALL=zh_CN.UTF-8 "$@"; }
c=$WINEPREFIX/drive_c
exe_installed="$c/Program Files/UKeyRenew/ukeyrenew.exe"
lnks() { find "$c" "$dist/wine/home" -name "$appname.lnk" 2>/dev/null | sort; }
products() { # MSI products registered, in the 64-bit and the 32-bit registry views
  # (with 32-bit Wine installed, `wine reg` is the 32-bit reg.exe: name the view)
  local v
  for v in 64 32; do
    wexport wine reg query 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall' /reg:$v 2>/dev/null
  done | grep -c '\\{'
}

winver() { wexport wine reg add 'HKCU\Software\Wine' /v Version /d "$1" /f >/dev/null 2>&1; }

# Install, upgrade to a newer MSI built the same way, uninstall.
msi=$dist/ukeyrenew-$version-windows-x64.msi
winver win10 # Wine 8 makes new prefixes Windows 7
wexport wine msiexec /x "$msi" /qn >/dev/null 2>&1 # a run that died half-way
# IT's renewal service (SERVICE_URL): recorded in the registry, remembered by upgrades.
wexport wine reg delete 'HKLM\Software\UKeyRenew' /reg:64 /f >/dev/null 2>&1 # left by a run that died half-way
svc=https://renew.example-ca.cn svc2=https://renew2.example-ca.cn
regsvc() { wexport wine reg query 'HKLM\Software\UKeyRenew' /reg:64 /v ServiceURL 2>/dev/null | tr -d '\r' | sed -n 's/^ *ServiceURL *REG_SZ *//p'; }
showsvc() { # what the installed client says with --show-service=FILE, or on standard output
  rm -f "$c/show.txt"
  if [ "${1:-}" = stdout ]; then wexport timeout 60 wine "$exe_installed" --show-service 2>/dev/null | tr -d '\r'; return; fi
  wexport timeout 60 wine "$exe_installed" '--show-service=C:\show.txt' >/dev/null 2>&1
  tr -d '\r' <"$c/show.txt"
}
before=$(products)
winver win7
refute "msiexec refuses the MSI on Windows 7 (launch condition)" wexport wine msiexec /i "$msi" /qn
check "nothing was installed on Windows 7" test ! -e "$c/Program Files/UKeyRenew" -a "$(products)" -eq "$before"
winver win10
refute "msiexec refuses SERVICE_URL=http://… (launch condition)" wexport wine msiexec /i "$msi" /qn SERVICE_URL=http://renew.example-ca.cn
check "nothing was installed with it" test ! -e "$c/Program Files/UKeyRenew" -a "$(products)" -eq "$before" -a -z "$(regsvc)"
check "msiexec installs the x64 MSI with SERVICE_URL=$svc" wexport wine msiexec /i "$msi" /qn SERVICE_URL=$svc
got=$(regsvc); check "it is in HKLM\Software\UKeyRenew ServiceURL ($got)" test "$got" = $svc
got=$(showsvc); check "the client finds it there: ukeyrenew.exe --show-service ($got)" test "$got" = "$svc (machine config: HKLM\Software\UKeyRenew)"
check "the program is in Program Files\\UKeyRenew" cmp "$exe_installed" "$dist/windows-x64/ukeyrenew.exe"
check "Start-menu and desktop shortcuts named $appname.lnk exist" test "$(lnks | wc -l)" -eq 2
check "one product more is registered" test "$(products)" -eq $((before + 1))
IFS=. read -r vmaj vmin vpat <<<"$version"
newer=$vmaj.$vmin.$((vpat + 1))
u=$dist/wine/upgrade
rm -rf "$u" && mkdir -p "$u"
cp "$dist/build/windows-x64/ukeyrenew.exe" "$dist/build/ukeyrenew.ico" packaging/windows/README.txt "$u/"
# shellcheck source=scripts/package-msi.sh
source scripts/package-msi.sh
newer2=$vmaj.$vmin.$((vpat + 2))
if make_msi "$u" x64 "$newer" "$appname" "$u/newer.msi" >"$log/out" 2>&1 &&
  make_msi "$u" x64 "$newer2" "$appname" "$u/newer2.msi" >"$log/out" 2>&1; then
  check "msiexec installs a newer MSI ($newer) over it" wexport wine msiexec /i "$u/newer.msi" /qn
  got=$(regsvc); check "the upgrade without SERVICE_URL keeps ServiceURL ($got)" test "$got" = $svc
  check "the upgrade leaves one product registered" test "$(products)" -eq $((before + 1))
  check "the upgrade leaves one pair of shortcuts" test "$(lnks | wc -l)" -eq 2
  check "msiexec installs a newer MSI ($newer2) with SERVICE_URL=$svc2" wexport wine msiexec /i "$u/newer2.msi" /qn SERVICE_URL=$svc2
  got=$(regsvc); check "the upgrade with SERVICE_URL replaces ServiceURL ($got)" test "$got" = $svc2
  got=$(showsvc stdout); check "the client finds the new one (--show-service to stdout: $got)" test "$got" = "$svc2 (machine config: HKLM\Software\UKeyRenew)"
  wexport wine reg add 'HKLM\Software\UKeyRenew' /reg:64 /v ServiceURL /t REG_DWORD /d 1 /f >/dev/null 2>&1
  got=$(showsvc); check "a ServiceURL of the wrong type is an error naming the key ($got)" grep -qF 'HKLM\Software\UKeyRenew (machine config): value ServiceURL must be a string (REG_SZ), not REG_DWORD' <<<"$got"
  refute "msiexec refuses the older MSI over the newer one" wexport wine msiexec /i "$msi" /qn
  check "msiexec uninstalls the newer MSI ($newer2)" wexport wine msiexec /x "$u/newer2.msi" /qn
else
  bad "make the newer MSI for the upgrade test"
  wexport wine msiexec /x "$msi" /qn >/dev/null 2>&1
fi
check "uninstall removes the program and its folder" test ! -e "$c/Program Files/UKeyRenew"
check "uninstall removes both shortcuts and the Start-menu folder" test -z "$(lnks; find "$c" -type d -name "$appname")"
check "uninstall leaves no product registered" test "$(products)" -eq "$before"
refute "uninstall removes ServiceURL and the key HKLM\Software\UKeyRenew" wexport wine reg query 'HKLM\Software\UKeyRenew' /reg:64

# The x86 MSI (same upgrade code) replaces an installed x64 one, and goes.
msi86=$dist/ukeyrenew-$version-windows-x86.msi
exe86_installed="$c/Program Files (x86)/UKeyRenew/ukeyrenew.exe"
if wexport wine msiexec /i "$msi" /qn >/dev/null 2>&1; then
  check "msiexec installs the x86 MSI over the x64 one" wexport wine msiexec /i "$msi86" /qn
  check "the x86 program is in Program Files (x86)\UKeyRenew" cmp "$exe86_installed" "$dist/windows-x86/ukeyrenew.exe"
  check "the x64 program is gone: one client per PC" test ! -e "$exe_installed"
  check "x64 to x86 leaves one product and one pair of shortcuts" test "$(products)" -eq $((before + 1)) -a "$(lnks | wc -l)" -eq 2
  check "msiexec uninstalls the x86 MSI without a trace" wexport bash -c \
    'wine msiexec /x "$1" /qn && test ! -e "$2" && test -z "$(find "$3" "$4" -name "$5.lnk")"' \
    _ "$msi86" "$c/Program Files (x86)/UKeyRenew" "$c" "$dist/wine/home" "$appname"
else
  bad "msiexec installs the x64 MSI again"
fi

# Smoke run: the packaged, signed .exe in a Chinese locale until its window shows.
exe=$dist/windows-x64/ukeyrenew.exe
# A service address, so the first-run dialog does not cover the window.
UKEY_SERVICE_URL=http://127.0.0.1:9 wexport wine "$exe" >"$log/wine-app" 2>&1 &
app_pid=$!
win=
for _ in $(seq 1 300); do # at most 30 s: the first start of a prefix is slow
  win=$(xdotool search --onlyvisible --class ukeyrenew 2>/dev/null | head -1)
  [ -n "$win" ] && break
  kill -0 "$app_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -n "$win" ]; then
  ok "the packaged .exe shows its window under Wine (LANG=zh_CN.UTF-8)"
  title=$(xdotool getwindowname "$win")
  check "its window title is $appname ($title)" grep -qF "$appname" <<<"$title"
  sleep 3 # let it draw its first frames
  import -window root "$dist/windows-wine.png"
  # A blank or single-colour screen means nothing was drawn.
  colours=$(convert "$dist/windows-wine.png" -format %k info:)
  check "the screenshot shows a drawn window ($colours colours)" test "$colours" -gt 50
  [ "$shot" = 1 ] && mkdir -p docs/screenshots && cp "$dist/windows-wine.png" docs/screenshots/windows-wine.png
else
  bad "the packaged .exe shows its window under Wine"
  tail -10 "$log/wine-app" | sed 's/^/     | /'
fi
wineserver -k 2>/dev/null
wait "$app_pid" 2>/dev/null
# shellcheck source=scripts/wine-x86.sh
source scripts/wine-x86.sh && wine_x86_checks
finish
