# shellcheck shell=bash
# baked_ca FILE (sourced by scripts/package.sh): checks the CA file of a
# branded build, --service-ca FILE, and prints the PEM of its certificates,
# base64 on one line, for the -X flag client/config.BuildServiceCAPEM. It
# refuses, before anything is built: a file that is not there, larger than
# client/config.MaxBuildCAPEMBytes (32 KiB), not PEM (DER gets the command that
# converts it), holding a private key, or a certificate that does not parse,
# is not a CA's (basicConstraints CA:TRUE) or has expired. Only the
# certificates are kept (text around them is dropped).
baked_ca() {
  local f=$1 line block="" out="" n=0 subject
  command -v openssl >/dev/null || die "openssl is missing (Debian openssl): it checks --service-ca"
  if [ ! -f "$f" ] || [ ! -r "$f" ]; then die "--service-ca $f: no such readable file"; fi
  (($(stat -c %s "$f") <= 32768)) ||
    die "--service-ca $f: larger than 32768 bytes: give the CA certificates only"
  ! grep -q 'PRIVATE KEY-----' "$f" ||
    die "--service-ca $f holds a private key: give the CA's certificate only (and keep the key off the build machine)"
  if ! grep -q -- '-----BEGIN CERTIFICATE-----' "$f"; then
    openssl x509 -inform DER -in "$f" -noout 2>/dev/null &&
      die "--service-ca $f is a DER certificate: convert it first: openssl x509 -inform DER -in $f -out ca.pem"
    die "--service-ca $f is not a PEM certificate file (no -----BEGIN CERTIFICATE----- in it)"
  fi
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%$'\r'}
    if [ "$line" = "-----BEGIN CERTIFICATE-----" ]; then
      block=$line$'\n'
    elif [ "$line" = "-----END CERTIFICATE-----" ] && [ -n "$block" ]; then
      block+=$line$'\n'
      n=$((n + 1))
      subject=$(openssl x509 -noout -subject -nameopt oneline <<<"$block" 2>/dev/null) ||
        die "--service-ca $f: certificate $n does not parse"
      openssl x509 -noout -ext basicConstraints <<<"$block" 2>/dev/null | grep -q 'CA:TRUE' ||
        die "--service-ca $f: certificate $n ($subject) is not a CA certificate (basicConstraints CA:TRUE): give the CA that signs the service's TLS certificate, not that certificate itself"
      openssl x509 -noout -checkend 0 <<<"$block" >/dev/null ||
        die "--service-ca $f: certificate $n ($subject) has expired ($(openssl x509 -noout -enddate <<<"$block"))"
      out+=$(openssl x509 -outform PEM <<<"$block")$'\n'
      block=""
    elif [ -n "$block" ]; then
      block+=$line$'\n'
    fi
  done <"$f"
  ((n > 0)) || die "--service-ca $f: no complete certificate in it"
  printf '%s' "$out" | base64 -w0
}
