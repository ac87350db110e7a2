# shellcheck shell=bash
# make_msi: one client MSI from packaging/windows/ukeyrenew.wxs, with its
# Chinese names. Sourced by scripts/package.sh (the release MSIs) and
# scripts/package-check.sh (a newer MSI for the upgrade test).
#
#   make_msi DIR ARCH VERSION NAME OUT
#
# DIR holds ukeyrenew.exe, ukeyrenew.ico and README.txt; ARCH is x64 or x86;
# VERSION is MAJOR.MINOR.PATCH; NAME the Chinese product name; OUT the
# unsigned .msi to write.
make_msi() {
  local dir=$1 arch=$2 version=$3 name=$4 out=$5
  local wxs=$PWD/packaging/windows/ukeyrenew.wxs
  local pf=ProgramFilesFolder win64=no g
  if [ "$arch" = x64 ]; then
    pf=ProgramFiles64Folder win64=yes g=4E0C2B1A-7D3F-4A8E-9B6C-1F2A3B4C5D6
  else
    g=4E0C2B1A-7D3F-4A8E-9B6C-1F2A3B4C5D7
  fi
  # Component GUIDs are fixed per architecture: the same file at the same
  # place keeps its GUID across versions, as Windows Installer requires.
  sed -e "s|@ARCH@|$arch|g; s|@VERSION@|$version|g; s|@ICO@|ukeyrenew.ico|; s|@PROGRAMFILES@|$pf|" \
    -e "s|@WIN64@|$win64|g; s|@EXE@|ukeyrenew.exe|; s|@README@|README.txt|" \
    -e "s|@GUID_EXE@|${g}1|; s|@GUID_README@|${g}2|; s|@GUID_MENU@|${g}3|; s|@GUID_SERVICE@|${g}4|" \
    "$wxs" >"$dir/ukeyrenew.wxs"
  rm -f "$out"
  (cd "$dir" && wixl -a "$arch" -o "$out" ukeyrenew.wxs) || { echo "make_msi: wixl failed" >&2; return 1; }

  # wixl drops non-ASCII strings: switch the database to codepage 936 (GBK,
  # what Chinese Windows reads) and write the Chinese names into the tables.
  # The upgrade row gets Attributes 513 = MigrateFeatures + VersionMaxInclusive
  # (a key column: delete and insert): a rebuild of the same version (a new
  # build number) replaces the installed one instead of installing beside it
  # (wixl has no AllowSameVersionUpgrades).
  # The summary information stays ASCII: wixl writes it in UTF-8 while
  # declaring codepage 1252, which Explorer would show garbled.
  printf '\n\n936\t_ForceCodepage\n' >"$dir/_ForceCodepage.idt"
  msibuild "$out" -i "$dir/_ForceCodepage.idt" || return 1
  # SERVICE_URL (IT's renewal service, see the .wxs): secure, so that it
  # reaches the elevated part of an install; its registry value is written
  # only when it is set (the component's condition); a refused address says
  # why in Chinese too.
  local short="UKEYRE~1|$name" q upgrade secure svc_cond
  upgrade=$(msiinfo export "$out" Property | sed -n 's/^UpgradeCode\t//p' | tr -d '\r')
  [ -n "$upgrade" ] || { echo "make_msi: no UpgradeCode in $out" >&2; return 1; }
  secure=$(msiinfo export "$out" Property | sed -n 's/^SecureCustomProperties\t//p' | tr -d '\r')
  svc_cond=$(msiinfo export "$out" LaunchCondition | tr -d '\r' | cut -f1 | grep -x 'NOT SERVICE_URL OR .*')
  [ -n "$svc_cond" ] || { echo "make_msi: no SERVICE_URL launch condition in $out" >&2; return 1; }
  for q in \
    "UPDATE Property SET Value='$name' WHERE Property='ProductName'" \
    "UPDATE Shortcut SET Name='$short', Description='$name (UKey Renew)' WHERE Shortcut='StartMenuShortcut'" \
    "UPDATE Shortcut SET Name='$short', Description='$name (UKey Renew)' WHERE Shortcut='DesktopShortcut'" \
    "UPDATE Directory SET DefaultDir='$short' WHERE Directory='ProgramMenuDir'" \
    "UPDATE Feature SET Title='$name' WHERE Feature='Client'" \
    "UPDATE LaunchCondition SET Description='已安装更新版本的$name。(A newer version of UKey Renew is already installed.)' WHERE Condition='NOT WIX_DOWNGRADE_DETECTED'" \
    "UPDATE LaunchCondition SET Description='$name需要 Windows 10 或更高版本。(UKey Renew needs Windows 10 or later.)' WHERE Condition='Installed OR VersionNT >= 603'" \
    "UPDATE LaunchCondition SET Description='SERVICE_URL=[SERVICE_URL] 不是续期服务地址：须以 https:// 开头，且不含空格、?、# 或 @。(Not a service address: it must start with https:// and hold no spaces, ?, # or @.)' WHERE Condition='$svc_cond'" \
    "UPDATE Property SET Value='${secure:+$secure;}SERVICE_URL' WHERE Property='SecureCustomProperties'" \
    "UPDATE Component SET Condition='SERVICE_URL' WHERE Component='ServiceURL'" \
    "DELETE FROM Upgrade WHERE ActionProperty='WIX_UPGRADE_DETECTED'" \
    "INSERT INTO Upgrade (UpgradeCode, VersionMax, Attributes, ActionProperty) VALUES ('$upgrade', '$version', 513, 'WIX_UPGRADE_DETECTED')"; do
    msibuild "$out" -q "$q" || { echo "make_msi: msibuild: $q" >&2; return 1; }
  done
}
