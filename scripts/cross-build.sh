#!/usr/bin/env bash
# Cross-builds and vets the client packages (client/..., which holds the
# session store and the counter workstation key) for Windows and macOS, so
# no platform file (keyring_native.go, tpm_windows.go, tpm_other.go) rots
# unseen on a Linux CI. These packages have no cgo: CGO_ENABLED=0 builds
# them for every target without a cross C compiler. windows/386 is there
# because many UKey vendors ship only 32-bit PKCS#11 DLLs, which only a
# 32-bit client can load.
# Usage: scripts/cross-build.sh [packages...]   (default: ./client/...)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
pkgs=("${@:-./client/...}")
for target in windows/amd64 windows/386 darwin/amd64 darwin/arm64; do
  goos=${target%/*} goarch=${target#*/}
  echo "== $target: go build, go vet ${pkgs[*]}"
  GOOS=$goos GOARCH=$goarch CGO_ENABLED=0 go build "${pkgs[@]}"
  GOOS=$goos GOARCH=$goarch CGO_ENABLED=0 go vet "${pkgs[@]}"
done
