#!/usr/bin/env bash
# Builds every installer of UKey Renew into dist/, in one command:
#
#   dist/ukeyrenew-VERSION-windows-x64.msi   signed MSI, 64-bit client (signed .exe inside)
#   dist/ukeyrenew-VERSION-windows-x86.msi   signed MSI, 32-bit client, for vendors'
#                                            32-bit-only PKCS#11 DLLs
#   dist/ukeyrenew-VERSION-linux-amd64.tar.xz  client, .desktop file and icon
#   dist/ukeyrenew_VERSION-BUILD_amd64.deb     the same client as a Debian package
#   dist/renewd-VERSION-linux-amd64.tar.xz     static renewd, systemd unit, example config
#   dist/renewd_VERSION-BUILD_amd64.deb        the same as a Debian package
#   dist/windows-x64/ukeyrenew.exe, dist/windows-x86/ukeyrenew.exe   the signed programs
#
# Signing (scripts/package-sign.sh): a PKCS#12 file (UKEY_SIGN_PKCS12,
# UKEY_SIGN_PASS) or a key on a hardware token through PKCS#11
# (UKEY_SIGN_PKCS11_MODULE, UKEY_SIGN_PKCS11_KEY, UKEY_SIGN_CERT, UKEY_SIGN_PIN
# or UKEY_SIGN_PIN_FILE); UKEY_SIGN_TIMESTAMP an RFC 3161 timestamp URL (a
# production signature should have one, so it outlives the certificate).
# Secrets reach osslsigncode through a pipe, never on a command line. A probe
# is signed first, so a bad setting fails before the build.
# scripts/package-check.sh makes a throw-away test certificate and TSA.
#
# The Windows programs are built with plain `go build` (cgo, mingw-w64,
# -H windowsgui, Fyne's release tags) plus a resource object (icon, version
# information, DPI-aware manifest) made by mingw's windres and handed to the
# external linker. Unlike `fyne package` this never writes to the source tree:
# FyneApp.toml is only read (Version, Build, Name, ID, Icon, Migrations), and
# the script checks it is unchanged.
#
# A CA's branded build: --service https://renew.example-ca.cn bakes the CA's
# renewal service into the client as its last default (client/config: the
# command line, the environment and the config files still come first), and
# --service-ca FILE the CA certificates that sign its TLS certificate (PEM,
# CA:TRUE, not expired, at most 32 KiB; the PEM itself, base64 in one -X word,
# since a path would mean nothing on a clerk's PC), pinned for that service.
#
# Each target is built once; the Go build cache makes a second run cheap (the
# first cgo build of go-gl takes minutes per target on 2 cores). Runs nice'd.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
root=$PWD
dist=$root/dist
build=$dist/build
pkg=$root/packaging

die() { echo "package: $*" >&2; exit 1; }

brand=""      # -X flags of a branded build
service_ca="" # --service-ca FILE
while [ $# -gt 0 ]; do
  case "$1" in
  --service)
    [ $# -ge 2 ] || die "--service needs the service's URL, e.g. --service https://renew.example-ca.cn"
    [[ $2 =~ ^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~/-]*)?$ ]] ||
      die "--service $2: give the service's https:// base URL (no spaces, query or user)"
    brand="-X github.com/ukeyrenew/ukeyrenew/client/config.BuildService=$2"
    shift 2
    ;;
  --service-ca)
    [ $# -ge 2 ] || die "--service-ca needs a PEM file of the CA certificates that sign the service's TLS certificate"
    service_ca=$2
    shift 2
    ;;
  *) die "unknown argument $1 (usage: scripts/package.sh [--service https://URL [--service-ca CA.pem]])" ;;
  esac
done
if [ -n "$service_ca" ]; then
  [ -n "$brand" ] || die "--service-ca $service_ca goes with --service https://URL: the CA is pinned for the built-in service only"
  # shellcheck source=scripts/package-ca.sh
  source "$root/scripts/package-ca.sh"
  ca64=$(baked_ca "$service_ca") || exit 1
  brand="$brand -X github.com/ukeyrenew/ukeyrenew/client/config.BuildServiceCAPEM=$ca64"
fi
step_start=0
step() { step_start=$(date +%s%N); echo "== $*"; }
took() { # took NAME: append the seconds since step to dist/build-times.txt
  local ds=$((($(date +%s%N) - step_start) / 100000000))
  printf '%s\t%d.%d\n' "$1" $((ds / 10)) $((ds % 10)) >>"$dist/build-times.txt"
  printf '   %s: %d.%d s\n' "$1" $((ds / 10)) $((ds % 10))
}

for tool in go x86_64-w64-mingw32-gcc i686-w64-mingw32-gcc x86_64-w64-mingw32-windres \
  i686-w64-mingw32-windres wixl msibuild msiinfo osslsigncode openssl dpkg-deb xz; do
  command -v "$tool" >/dev/null || die "$tool is missing (Debian packages: gcc-mingw-w64-x86-64 gcc-mingw-w64-i686 wixl msitools osslsigncode openssl)"
done
[ -x /usr/bin/convert ] || die "ImageMagick's /usr/bin/convert is missing (Debian imagemagick): it makes the .ico"
# shellcheck source=scripts/package-sign.sh
source "$root/scripts/package-sign.sh"
sign_setup

# Version, build number and names come from FyneApp.toml, read only.
toml_before=$(sha256sum FyneApp.toml)
toml() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\{0,1\}\([^\"]*\)\"\{0,1\}[[:space:]]*$/\1/p" FyneApp.toml | head -1; }
version=$(toml Version)
buildno=$(toml Build)
appname=$(toml Name)
appid=$(toml ID)
icon_png=$(toml Icon)
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "FyneApp.toml Version \"$version\" is not MAJOR.MINOR.PATCH"
[[ $buildno =~ ^[0-9]+$ ]] || die "FyneApp.toml Build \"$buildno\" is not a number"
[ -n "$appname" ] && [ -n "$appid" ] || die "FyneApp.toml needs Name and ID"
[ -f "$icon_png" ] || die "FyneApp.toml Icon \"$icon_png\" does not exist"
IFS=. read -r vmaj vmin vpat <<<"$version"
# Windows Installer compares only the first three fields of a ProductVersion;
# 255.255.65535 is the largest it takes.
((vmaj <= 255 && vmin <= 255 && vpat <= 65535 && buildno <= 65535)) || die "version $version.$buildno is beyond MSI's limits"
echo "package: $appname ($appid) $version build $buildno"
# The client knows its version (it asks its service for a newer one).
brand="$brand -X github.com/ukeyrenew/ukeyrenew/client/update.BuildVersion=$version.$buildno"

# The build tags `fyne package --release` would use: release (no FyneApp.toml
# lookup at run time, release mode), and migrated_fynedo when FyneApp.toml
# declares [Migrations] fyneDo = true, else the installed program (which has no
# FyneApp.toml beside it) would run Fyne's threading in compatibility mode,
# unlike `go run .` in development.
tags=release
grep -Eq '^[[:space:]]*fyneDo[[:space:]]*=[[:space:]]*true' FyneApp.toml && tags=$tags,migrated_fynedo

mkdir -p "$build"
: >"$dist/build-times.txt"

# One icon for the .exe resources and the MSI (Add/Remove Programs, shortcuts).
convert "$icon_png" -define icon:auto-resize=256,128,64,48,32,16 "$build/ukeyrenew.ico"

compile_windows() { # compile_windows GOARCH MSIARCH CC-PREFIX: resources and the unsigned .exe
  local goarch=$1 msiarch=$2 cross=$3 out=$build/windows-$2
  mkdir -p "$out" "$dist/windows-$msiarch"
  sed "s/@VERSION4@/$version.$buildno/" "$pkg/windows/ukeyrenew.manifest" >"$out/ukeyrenew.manifest"
  sed -e "s|@ICO@|$build/ukeyrenew.ico|; s|@MANIFEST@|$out/ukeyrenew.manifest|" \
    -e "s|@VERSIONC@|$vmaj,$vmin,$vpat,$buildno|g; s|@VERSION4@|$version.$buildno|g; s|@VERSION@|$version|g" \
    "$pkg/windows/ukeyrenew.rc" >"$out/ukeyrenew.rc"
  "$cross-windres" -c 65001 -O coff -i "$out/ukeyrenew.rc" -o "$out/rsrc.o"
  rm -f "$out/ukeyrenew-unsigned.exe"
  nice -n 10 env GOOS=windows GOARCH="$goarch" CGO_ENABLED=1 CC="$cross-gcc" \
    go build -tags "$tags" -ldflags "-s -w -H windowsgui -extldflags=$out/rsrc.o $brand" -o "$out/ukeyrenew-unsigned.exe" .
}

compile_linux() { # compile_linux OUT: the Linux client
  nice -n 10 env CGO_ENABLED=1 go build -tags "$tags" -ldflags "-s -w $brand" -o "$1" .
}

build_windows() { # build_windows GOARCH MSIARCH: sign the .exe, make and sign the MSI
  local goarch=$1 msiarch=$2 out=$build/windows-$2
  sign "$out/ukeyrenew-unsigned.exe" "$dist/windows-$msiarch/ukeyrenew.exe" "UKey Renew"

  step "windows/$goarch MSI"
  cp "$dist/windows-$msiarch/ukeyrenew.exe" "$build/ukeyrenew.ico" "$pkg/windows/README.txt" "$out/"
  local msi=$out/ukeyrenew.msi
  make_msi "$out" "$msiarch" "$version" "$appname" "$msi" || die "MSI for windows/$goarch"
  sign "$msi" "$dist/ukeyrenew-$version-windows-$msiarch.msi" "UKey Renew installer"
  took "msi windows/$goarch"
}

# The three cgo builds of the client run side by side: much of a cold build
# is one gcc at a time on go-gl's large C files (one core busy), so together
# they finish well before one after the other would. Each logs to its own file.
lc=$build/linux-client
rm -rf "$lc"
mkdir -p "$lc/usr/local/bin" "$lc/usr/local/share/applications" "$lc/usr/local/share/icons/hicolor/512x512/apps"
step "client builds (cgo): windows/amd64 (x86_64-w64-mingw32-gcc), windows/386 (i686-w64-mingw32-gcc), linux/amd64"
compile_windows amd64 x64 x86_64-w64-mingw32 >"$build/build-windows-x64.log" 2>&1 &
pid_x64=$!
compile_windows 386 x86 i686-w64-mingw32 >"$build/build-windows-x86.log" 2>&1 &
pid_x86=$!
compile_linux "$lc/usr/local/bin/ukeyrenew" >"$build/build-linux.log" 2>&1 &
pid_linux=$!
failed=()
wait "$pid_x64" || failed+=(windows-x64)
wait "$pid_x86" || failed+=(windows-x86)
wait "$pid_linux" || failed+=(linux)
for f in "${failed[@]}"; do
  echo "---- build-$f.log" >&2
  cat "$build/build-$f.log" >&2
done
((${#failed[@]} == 0)) || die "the client did not build for: ${failed[*]}"
took "go build windows/amd64 + windows/386 + linux/amd64 client"

# shellcheck source=scripts/package-msi.sh
source "$root/scripts/package-msi.sh"
build_windows amd64 x64
build_windows 386 x86

# Linux client: a tarball laid out from / (sudo tar -xJf FILE -C /) and a .deb.
install -m644 "$pkg/linux/$appid.desktop" "$lc/usr/local/share/applications/$appid.desktop"
convert "$icon_png" -resize 512x512 "$lc/usr/local/share/icons/hicolor/512x512/apps/$appid.png"
tar -C "$lc" --owner=0 --group=0 --sort=name -cf - usr | xz -9 -T1 >"$dist/ukeyrenew-$version-linux-amd64.tar.xz"

deb() { # deb ROOT OUT: control fields come from ROOT/DEBIAN/control
  find "$1" -type d -exec chmod 755 {} +
  dpkg-deb --root-owner-group -Zxz --build "$1" "$2" >/dev/null
}
cdeb=$build/deb-client
rm -rf "$cdeb"
mkdir -p "$cdeb/DEBIAN" "$cdeb/usr/bin" "$cdeb/usr/share/applications" "$cdeb/usr/share/icons/hicolor/512x512/apps"
install -m755 "$lc/usr/local/bin/ukeyrenew" "$cdeb/usr/bin/ukeyrenew"
install -m644 "$lc/usr/local/share/applications/$appid.desktop" "$cdeb/usr/share/applications/"
install -m644 "$lc/usr/local/share/icons/hicolor/512x512/apps/$appid.png" "$cdeb/usr/share/icons/hicolor/512x512/apps/"
sed -e "s/@VERSION@/$version-$buildno/; s/@SIZE@/$(du -sk "$cdeb/usr" | cut -f1)/" "$pkg/linux/client.control" >"$cdeb/DEBIAN/control"
deb "$cdeb" "$dist/ukeyrenew_${version}-${buildno}_amd64.deb"

# renewd: pure Go (SQLite through modernc), so a static binary runs on any
# x86-64 Linux.
step "renewd (CGO_ENABLED=0, static)"
rd=$build/renewd-$version-linux-amd64
rm -rf "$rd"
mkdir -p "$rd"
nice -n 10 env CGO_ENABLED=0 go build -ldflags "-s -w -X github.com/ukeyrenew/ukeyrenew/server.Version=$version" -o "$rd/renewd" ./cmd/renewd
took "go build renewd"
install -m644 "$pkg/linux/renewd.service" "$pkg/linux/renewd.example.json" "$rd/"
install -m644 docs/INSTALL.md "$rd/INSTALL.md"
tar -C "$build" --owner=0 --group=0 --sort=name -cf - "$(basename "$rd")" | xz -9 -T1 >"$dist/renewd-$version-linux-amd64.tar.xz"

sd=$build/deb-renewd
rm -rf "$sd"
mkdir -p "$sd/DEBIAN" "$sd/usr/bin" "$sd/lib/systemd/system" "$sd/usr/share/doc/renewd"
install -m755 "$rd/renewd" "$sd/usr/bin/renewd"
install -m644 "$pkg/linux/renewd.service" "$sd/lib/systemd/system/renewd.service"
install -m644 "$pkg/linux/renewd.example.json" docs/INSTALL.md "$sd/usr/share/doc/renewd/"
sed -e "s/@VERSION@/$version-$buildno/; s/@SIZE@/$(du -sk "$sd" | cut -f1)/" "$pkg/linux/renewd.control" >"$sd/DEBIAN/control"
install -m755 "$pkg/linux/renewd.postinst" "$sd/DEBIAN/postinst"
install -m755 "$pkg/linux/renewd.prerm" "$sd/DEBIAN/prerm"
install -m755 "$pkg/linux/renewd.postrm" "$sd/DEBIAN/postrm"
deb "$sd" "$dist/renewd_${version}-${buildno}_amd64.deb"

[ "$(sha256sum FyneApp.toml)" = "$toml_before" ] || die "FyneApp.toml changed during packaging"
echo "== artefacts"
(cd "$dist" && ls -l ./*.msi ./*.tar.xz ./*.deb windows-*/ukeyrenew.exe)
