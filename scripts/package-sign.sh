# shellcheck shell=bash
# Authenticode signing of the Windows programs and installers (osslsigncode),
# sourced by scripts/package.sh, and by scripts/package-check.sh to sign small
# test files the same way:
#
#   sign_setup         checks the settings below, then signs a probe (a tiny
#                      .exe) with them: a wrong password or PIN, key, certificate
#                      or time-stamping authority fails here, once, before any
#                      build (a token locks itself after a few wrong PINs)
#   sign IN OUT DESC   signs IN into OUT (DESC: the description Windows shows);
#                      OUT exists only if signing succeeded
#   sign_probe DIR     builds the probe, DIR/probe.exe
#
# The key, one of:
#   UKEY_SIGN_PKCS12, UKEY_SIGN_PASS   a PKCS#12 file with the code-signing
#                      certificate, its chain and key, and its password
#   UKEY_SIGN_PKCS11_MODULE            a hardware token's PKCS#11 module (.so),
#   UKEY_SIGN_PKCS11_KEY               the key on it as a pkcs11: URI (RFC 7512),
#                      e.g. pkcs11:token=CodeSign;object=signing-key;type=private
#   UKEY_SIGN_CERT     PEM: the key's code-signing certificate, then its chain
#   UKEY_SIGN_PIN or UKEY_SIGN_PIN_FILE   the token's user PIN, or a file with it
# UKEY_SIGN_TIMESTAMP: the http:// or https:// URL of an RFC 3161
# time-stamping authority; with it a signature stays valid after the
# certificate expires (osslsigncode checks the certificate at the stamped time).
#
# A password or PIN reaches osslsigncode through a pipe (-readpass /dev/fd/N),
# never on a command line, and is taken out of its environment. Tokens are
# reached through OpenSSL's pkcs11 engine (Debian libengine-pkcs11-openssl).
sign_timeout=120 # seconds osslsigncode may take for one file (a TSA or token that never answers)
declare -F die >/dev/null || die() { echo "package: $*" >&2; exit 1; }

sign_setup() {
  local p11=${UKEY_SIGN_PKCS11_MODULE:-}${UKEY_SIGN_PKCS11_KEY:-}${UKEY_SIGN_CERT:-} signer
  if [ -n "${UKEY_SIGN_PKCS12:-}" ] && [ -n "$p11" ]; then
    die "set UKEY_SIGN_PKCS12 (a PKCS#12 file) or UKEY_SIGN_PKCS11_MODULE, UKEY_SIGN_PKCS11_KEY and UKEY_SIGN_CERT (a token), not both"
  elif [ -n "$p11" ]; then
    [ -r "${UKEY_SIGN_PKCS11_MODULE:-}" ] || die "UKEY_SIGN_PKCS11_MODULE=${UKEY_SIGN_PKCS11_MODULE:-} is not a readable PKCS#11 module (the token vendor's .so)"
    [[ ${UKEY_SIGN_PKCS11_KEY:-} == pkcs11:* ]] ||
      die "UKEY_SIGN_PKCS11_KEY=${UKEY_SIGN_PKCS11_KEY:-} is not a pkcs11: URI (RFC 7512), e.g. pkcs11:token=CodeSign;object=signing-key;type=private"
    [[ $UKEY_SIGN_PKCS11_KEY != *pin-value=* && $UKEY_SIGN_PKCS11_KEY != *pin-source=* ]] ||
      die "UKEY_SIGN_PKCS11_KEY carries a PIN: take it out of the URI (a command line is public) and set UKEY_SIGN_PIN or UKEY_SIGN_PIN_FILE"
    [ -r "${UKEY_SIGN_CERT:-}" ] || die "UKEY_SIGN_CERT=${UKEY_SIGN_CERT:-} is not a readable PEM file (the key's code-signing certificate, then its chain)"
    if [ -n "${UKEY_SIGN_PIN_FILE:-}" ]; then
      [ -z "${UKEY_SIGN_PIN+set}" ] || die "set UKEY_SIGN_PIN or UKEY_SIGN_PIN_FILE, not both"
      [ -r "$UKEY_SIGN_PIN_FILE" ] || die "UKEY_SIGN_PIN_FILE=$UKEY_SIGN_PIN_FILE is not a readable file"
    else
      [ -n "${UKEY_SIGN_PIN:-}" ] || die "set UKEY_SIGN_PIN (the token's user PIN) or UKEY_SIGN_PIN_FILE (a file holding it)"
    fi
    openssl engine pkcs11 -t >/dev/null 2>&1 ||
      die "OpenSSL's pkcs11 engine is missing: osslsigncode reaches a token through it (Debian libengine-pkcs11-openssl)"
    signer=$(openssl x509 -in "$UKEY_SIGN_CERT" 2>/dev/null) || die "UKEY_SIGN_CERT=$UKEY_SIGN_CERT holds no PEM certificate"
    sign_what="UKEY_SIGN_CERT=$UKEY_SIGN_CERT"
  else
    [ -n "${UKEY_SIGN_PKCS12:-}" ] || die "set UKEY_SIGN_PKCS12 (code-signing PKCS#12 file) and UKEY_SIGN_PASS, or UKEY_SIGN_PKCS11_MODULE, UKEY_SIGN_PKCS11_KEY, UKEY_SIGN_CERT and UKEY_SIGN_PIN for a token; scripts/package-check.sh signs with a throw-away test certificate"
    [ -r "$UKEY_SIGN_PKCS12" ] || die "UKEY_SIGN_PKCS12=$UKEY_SIGN_PKCS12 is not a readable file"
    [ -n "${UKEY_SIGN_PASS+set}" ] || die "set UKEY_SIGN_PASS (may be empty) for $UKEY_SIGN_PKCS12"
    p12certs() { openssl pkcs12 "$@" -in "$UKEY_SIGN_PKCS12" -passin file:<(printf '%s\n' "$UKEY_SIGN_PASS") -nokeys -clcerts 2>/dev/null; }
    # -legacy: files exported by Windows often use RC2/3DES, which OpenSSL 3 hides.
    signer=$(p12certs || p12certs -legacy) ||
      die "cannot open $UKEY_SIGN_PKCS12 with UKEY_SIGN_PASS (wrong password, or not a PKCS#12 file)"
    sign_what="the certificate in $UKEY_SIGN_PKCS12"
  fi
  openssl x509 -noout -ext extendedKeyUsage <<<"$signer" 2>/dev/null | grep -q 'Code Signing' ||
    die "$sign_what is not for code signing (extendedKeyUsage codeSigning)"
  openssl x509 -noout -checkend 0 <<<"$signer" >/dev/null ||
    die "$sign_what has expired: $(openssl x509 -noout -enddate <<<"$signer")"
  if [ -n "${UKEY_SIGN_TIMESTAMP:-}" ]; then
    [[ $UKEY_SIGN_TIMESTAMP =~ ^https?://[^[:space:]/?#@]+(/[^[:space:]]*)?$ ]] ||
      die "UKEY_SIGN_TIMESTAMP=$UKEY_SIGN_TIMESTAMP: give the http:// or https:// URL of an RFC 3161 time-stamping authority"
  fi
  # The probe: one real signature (and timestamp) before minutes of building.
  local probe
  probe=$(mktemp -d /tmp/ukey-sign-probe.XXXXXX)
  sign_probe "$probe" || { rm -rf "$probe"; die "cannot build the signing probe with x86_64-w64-mingw32-gcc"; }
  (sign "$probe/probe.exe" "$probe/probe-signed.exe" "UKey Renew signing probe") || {
    rm -rf "$probe"
    die "signing a probe failed: nothing was built"
  }
  rm -rf "$probe"
}

sign_probe() { # sign_probe DIR: a tiny Windows program, DIR/probe.exe
  printf 'int main(void) { return 0; }\n' | x86_64-w64-mingw32-gcc -x c -Os -s -o "$1/probe.exe" -
}

sign() { # sign IN OUT DESCRIPTION
  local opts=(-h sha256 -n "$3" -i "https://ukeyrenew.cn") rc=0 part="$2.part" err secret
  [ -n "${UKEY_SIGN_TIMESTAMP:-}" ] && opts+=(-ts "$UKEY_SIGN_TIMESTAMP")
  # MsiDigitalSignatureEx: the signature then also covers the metadata
  # (dates, sizes) of the MSI's streams, not their contents alone.
  [[ $1 == *.msi ]] && opts+=(-add-msi-dse)
  if [ -n "${UKEY_SIGN_PKCS11_MODULE:-}" ]; then
    opts+=(-pkcs11module "$UKEY_SIGN_PKCS11_MODULE" -certs "$UKEY_SIGN_CERT" -key "$UKEY_SIGN_PKCS11_KEY")
    secret=${UKEY_SIGN_PIN-}
  else
    opts+=(-pkcs12 "$UKEY_SIGN_PKCS12")
    secret=$UKEY_SIGN_PASS
  fi
  opts+=(-in "$1" -out "$part")
  rm -f "$2" "$part"
  err=$(mktemp)
  if [ -n "${UKEY_SIGN_PIN_FILE:-}" ] && [ -n "${UKEY_SIGN_PKCS11_MODULE:-}" ]; then
    osslsigncode_sign "${opts[@]}" -readpass "$UKEY_SIGN_PIN_FILE" 2>"$err" || rc=$?
  elif [ -n "$secret" ]; then # printf is a shell builtin: no process shows the secret
    osslsigncode_sign "${opts[@]}" -readpass <(printf '%s' "$secret") 2>"$err" || rc=$?
  else # an empty PKCS#12 password: osslsigncode refuses to read an empty one
    osslsigncode_sign "${opts[@]}" 2>"$err" || rc=$?
  fi
  if [ "$rc" = 0 ] && [ -s "$part" ]; then
    rm -f "$err"
    mv -f "$part" "$2"
    return 0
  fi
  rm -f "$part"
  local why
  why=$(sign_why "$rc" "$err")
  rm -f "$err"
  die "could not sign $1: $why"
}

osslsigncode_sign() { # the secrets are left out of osslsigncode's environment
  # Both streams to stderr: osslsigncode 2.5 (Debian 12) prints some errors on stdout.
  env -u UKEY_SIGN_PASS -u UKEY_SIGN_PIN timeout "$sign_timeout" osslsigncode sign "$@" >&2
}

sign_why() { # sign_why RC STDERR-FILE: what went wrong, in words
  local e=$2
  if [ "$1" = 124 ]; then
    echo "osslsigncode took more than ${sign_timeout} s (a time-stamping authority or token that does not answer?)"
  elif grep -q 'RFC 3161 timestamping failed' "$e"; then
    local how="no usable answer"
    grep -q 'Connection refused' "$e" && how="connection refused"
    grep -q 'Timestamping failed: status' "$e" && how="it refused: $(grep -A1 'Timestamping failed: status' "$e" | tr '\n' ' ')"
    echo "the time-stamping authority $UKEY_SIGN_TIMESTAMP gave no timestamp ($how); check UKEY_SIGN_TIMESTAMP and that the TSA is up"
  elif grep -q 'PIN incorrect' "$e"; then
    echo "the token refused the PIN (PIN incorrect). Check UKEY_SIGN_PIN before trying again: a token locks itself after a few wrong PINs"
  elif grep -q 'PIN locked' "$e"; then
    echo "the token's PIN is locked: unlock it with the vendor's tool (the SO PIN), then try again"
  elif grep -q 'key values mismatch' "$e"; then
    echo "the certificate in UKEY_SIGN_CERT is not the certificate of the key $UKEY_SIGN_PKCS11_KEY"
  elif grep -q "Failed to load private key" "$e"; then
    echo "no private key at UKEY_SIGN_PKCS11_KEY=$UKEY_SIGN_PKCS11_KEY on the token (list its keys: p11tool --provider $UKEY_SIGN_PKCS11_MODULE --list-privkeys --login)"
  elif grep -q "pkcs11 engine\|MODULE_PATH" "$e"; then
    echo "cannot use the PKCS#11 module $UKEY_SIGN_PKCS11_MODULE through OpenSSL's pkcs11 engine: $(grep -m1 -v '^Engine' "$e")"
  else
    echo "osslsigncode says: $(grep -v '^$' "$e" | tail -3 | tr '\n' ' ')"
  fi
}
