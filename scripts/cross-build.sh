#!/usr/bin/env bash
# Cross-builds and vets for Windows and macOS, so no platform file rots unseen on a
# Linux CI.
# - client, client/session, client/workstation (service client, session store, counter
#   workstation key) have no cgo: CGO_ENABLED=0 builds them for windows/amd64,
#   windows/386, darwin/amd64 and darwin/arm64.
# - token/..., client/renewflow and cmd/ukeyctl load PKCS#11 DLLs through cgo: built with
#   mingw-w64 for
#   windows/amd64 and windows/386 (many UKey vendors ship only 32-bit DLLs, which only a
#   32-bit client can load).
# - 32-bit targets are built, not vetted: vet compiles the test files too, and those start
#   a real renewd, whose job queue's SQLite driver (River's) does not compile where int is
#   32 bits; the 64-bit vet reads the same files (renewd itself is 64-bit only).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
pure=(./client ./client/session/... ./client/workstation/...)
for target in windows/amd64 windows/386 darwin/amd64 darwin/arm64; do
  goos=${target%/*} goarch=${target#*/}
  echo "== $target: go build, go vet (not 386) ${pure[*]}"
  GOOS=$goos GOARCH=$goarch CGO_ENABLED=0 go build "${pure[@]}"
  [ "$goarch" = 386 ] || GOOS=$goos GOARCH=$goarch CGO_ENABLED=0 go vet "${pure[@]}"
done
cgo=(./token/... ./client/renewflow/... ./cmd/ukeyctl)
for target in windows/amd64:x86_64-w64-mingw32-gcc windows/386:i686-w64-mingw32-gcc; do
  arch=${target%%:*} cc=${target#*:}
  goos=${arch%/*} goarch=${arch#*/}
  echo "== $arch (cgo, $cc): go build, go vet (not 386) ${cgo[*]}"
  GOOS=$goos GOARCH=$goarch CGO_ENABLED=1 CC=$cc go build "${cgo[@]}"
  [ "$goarch" = 386 ] || GOOS=$goos GOARCH=$goarch CGO_ENABLED=1 CC=$cc go vet "${cgo[@]}"
done
