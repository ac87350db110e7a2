#!/usr/bin/env bash
# Installs everything UKey Renew needs to build, run and test on Debian 12, as root.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the PKCS#11 stack and its independent readers, the GUI toolchain,
# and the real servers the tests use (PostgreSQL, Secret Service, software TPM, X).
PKGS=(
  ca-certificates git gcc pkg-config
  softhsm2 opensc gnutls-bin openssl
  libgl1-mesa-dev xorg-dev xvfb xauth imagemagick
  postgresql haproxy
  gnome-keyring dbus-x11 libsecret-tools
  swtpm swtpm-tools
  poppler-utils poppler-data hyperfine
  gcc-mingw-w64-x86-64 gcc-mingw-w64-i686
  osslsigncode libengine-pkcs11-openssl wixl msitools wine wine64 xdotool x11-utils python3-pefile
  desktop-file-utils curl file locales
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The x86 client's Wine smoke run (scripts/package-check.sh): 32-bit Wine, and
# 32-bit Mesa for the OpenGL (WGL) the Fyne window needs. The i386 architecture
# is added once; the package lists are fetched again only when it was new.
I386_PKGS=(wine32:i386 libgl1:i386 libglx-mesa0:i386 libgl1-mesa-dri:i386)
missing=()
for p in "${I386_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! dpkg --print-foreign-architectures | grep -qx i386; then
    dpkg --add-architecture i386
    apt-get update -qq
  elif ! ls /var/lib/apt/lists/*_binary-i386_Packages* >/dev/null 2>&1; then
    apt-get update -qq
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Wine smoke run of the Windows installer starts the client in a Chinese locale.
if ! locale -a 2>/dev/null | grep -qix 'zh_CN.utf-\{0,1\}8'; then
  sed -i 's/^# *zh_CN.UTF-8 UTF-8/zh_CN.UTF-8 UTF-8/' /etc/locale.gen
  grep -q '^zh_CN.UTF-8 UTF-8' /etc/locale.gen || echo 'zh_CN.UTF-8 UTF-8' >> /etc/locale.gen
  locale-gen >/dev/null
fi

# Go 1.26: Debian 12 ships 1.19, so when no recent Go is on the machine the
# toolchain is fetched from the Go module proxy as the module golang.org/toolchain.
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
GO_WANT=go1.26.8
go_ok() { command -v go >/dev/null && go version | grep -Eq 'go1\.(2[6-9]|[3-9][0-9])'; }
if ! go_ok; then
  echo "setup: fetching Go toolchain $GO_WANT"
  dpkg-query -W -f='${Status}' golang-go 2>/dev/null | grep -q "install ok installed" ||
    { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-go >/dev/null; }
  tmp=$(mktemp -d)
  (cd "$tmp" && GOFLAGS=-modcacherw GOPATH="$tmp/gopath" /usr/bin/go mod download -json \
    "golang.org/toolchain@v0.0.1-$GO_WANT.linux-amd64" >/dev/null)
  rm -rf /usr/local/go
  cp -a "$tmp/gopath/pkg/mod/golang.org/toolchain@v0.0.1-$GO_WANT.linux-amd64" /usr/local/go
  chmod -R u+w /usr/local/go; chmod +x /usr/local/go/bin/* /usr/local/go/pkg/tool/*/* 2>/dev/null || true
  rm -rf "$tmp"
  go_ok || { echo "setup: could not install Go $GO_WANT" >&2; exit 1; }
fi

go mod download
STATICCHECK_VERSION=v0.7.0 # staticcheck 2026.1
if ! staticcheck -version 2>/dev/null | grep -q "($STATICCHECK_VERSION)"; then
  echo "setup: installing staticcheck $STATICCHECK_VERSION"
  go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
