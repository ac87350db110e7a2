#!/usr/bin/env bash
# Creates (once) a demo UKey in SoftHSM2: a token "UKey-Demo" holding a P-256 key pair and
# a certificate for 深圳市示例科技有限公司 that expires in 20 days, issued by a demo CA.
# Prints the environment to use it. Safe to run again: an existing demo token is kept.
#   eval "$(bash scripts/demo-token.sh)"
set -euo pipefail
DEMO=${UKEY_DEMO_DIR:-$HOME/.local/share/ukeyrenew/demo}
MODULE=/usr/lib/softhsm/libsofthsm2.so
PIN=${UKEY_DEMO_PIN:-12345678}
SOPIN=87654321
mkdir -p "$DEMO/tokens"
chmod 700 "$DEMO"
cat > "$DEMO/softhsm2.conf" <<CONF
directories.tokendir = $DEMO/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = true
CONF
export SOFTHSM2_CONF="$DEMO/softhsm2.conf"

if ! softhsm2-util --show-slots 2>/dev/null | grep -q "Label:.*UKey-Demo"; then
  rm -rf "$DEMO/tokens"/* "$DEMO/pki"
  mkdir -p "$DEMO/pki"
  cd "$DEMO/pki"
  softhsm2-util --init-token --free --label UKey-Demo --so-pin "$SOPIN" --pin "$PIN" >/dev/null
  # The demo CA that issued the clerk's certificate (renewd --dev knows it).
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
    -days 3650 -utf8 -subj "/C=CN/O=UKey Renew 演示CA/CN=UKey Renew Demo CA" 2>/dev/null
  # The clerk's key pair and a certificate that expires in 20 days.
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out clerk.key 2>/dev/null
  openssl req -new -key clerk.key -utf8 \
    -subj "/C=CN/O=深圳市示例科技有限公司/OU=91440300MA5DEMO000/CN=深圳市示例科技有限公司" -out clerk.csr
  printf 'keyUsage=critical,digitalSignature,nonRepudiation\nextendedKeyUsage=clientAuth,emailProtection\n' > ext.cnf
  openssl x509 -req -in clerk.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 20 \
    -extfile ext.cnf -out clerk.pem 2>/dev/null
  openssl pkey -in clerk.key -outform DER -out clerk.key.der
  openssl x509 -in clerk.pem -outform DER -out clerk.der
  P11=(pkcs11-tool --module "$MODULE" --token-label UKey-Demo --login --pin "$PIN")
  "${P11[@]}" --write-object clerk.key.der --type privkey --id 01 --label "签名密钥" >/dev/null 2>&1
  "${P11[@]}" --write-object clerk.der --type cert --id 01 --label "签名证书" >/dev/null 2>&1
  chmod 600 ca.key
  rm -f clerk.key clerk.key.der clerk.csr ext.cnf
  echo "demo-token: created UKey-Demo in $DEMO (user PIN $PIN)" >&2
fi
chmod 600 "$DEMO/pki/ca.key" # renewd refuses a CA key others can read
echo "export SOFTHSM2_CONF='$DEMO/softhsm2.conf' UKEY_PKCS11_MODULE='$MODULE' UKEY_DEMO_CA='$DEMO/pki/ca.pem' UKEY_DEMO_CA_KEY='$DEMO/pki/ca.key' UKEY_DEMO_CERT='$DEMO/pki/clerk.pem'"
