#!/usr/bin/python3
"""Checks a built ukeyrenew.exe the way Windows reads it (Debian python3-pefile).

  pe_check.py EXE x64|x86 PRODUCT_NAME VERSION

Prints one "ok ..." or "FAIL ..." line per check; exits 1 if any failed.
"""
import sys

import pefile

RT_ICON, RT_GROUP_ICON, RT_VERSION, RT_MANIFEST = 3, 14, 16, 24
MACHINES = {"x64": 0x8664, "x86": 0x14C}


def main():
    path, arch, product, version = sys.argv[1:5]
    pe = pefile.PE(path)
    failed = 0

    def check(ok, what):
        nonlocal failed
        print(("ok   " if ok else "FAIL ") + what)
        failed += not ok

    check(pe.FILE_HEADER.Machine == MACHINES[arch], f"machine is {arch}")
    check(pe.OPTIONAL_HEADER.Subsystem == 2, "subsystem is Windows GUI (no console window)")
    sec = pe.OPTIONAL_HEADER.DATA_DIRECTORY[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_SECURITY"]]
    check(sec.Size > 0, "has an Authenticode signature block")

    types = {}
    root = getattr(pe, "DIRECTORY_ENTRY_RESOURCE", None)
    for entry in root.entries if root else []:
        data = []
        for name in entry.directory.entries:
            for lang in name.directory.entries:
                d = lang.data.struct
                data.append(pe.get_data(d.OffsetToData, d.Size))
        types[entry.id] = data
    check(RT_ICON in types and RT_GROUP_ICON in types, "has an icon")
    manifest = b"".join(types.get(RT_MANIFEST, []))
    check(b"PerMonitorV2" in manifest and b"true/pm" in manifest, "manifest declares per-monitor DPI awareness")
    check(b'level="asInvoker"' in manifest, "manifest asks for no elevation")
    strings = {}
    for fi in getattr(pe, "FileInfo", []) or []:
        for info in fi:
            for st in getattr(info, "StringTable", []):
                for k, v in st.entries.items():
                    strings[k.decode()] = v.decode("utf-8", "replace")
    check(strings.get("ProductName") == product, f"version resource ProductName is {product} (got {strings.get('ProductName')!r})")
    check(strings.get("ProductVersion") == version, f"version resource ProductVersion is {version}")
    check(strings.get("OriginalFilename") == "ukeyrenew.exe", "version resource OriginalFilename is ukeyrenew.exe")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
