#!/usr/bin/env bash
# Rebuilds assets/fonts/wqy-microhei-gb2312.ttf: face 0 of WenQuanYi Micro Hei, cut down to
# ASCII, the GB2312 character set and the symbols the GUI uses (about 1.3 MB instead of 4.6 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-wqy-microhei fonttools >/dev/null
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$tmp" <<'PY'
import sys
from fontTools.ttLib import TTCollection
out = sys.argv[1]
TTCollection("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc").fonts[0].save(out + "/face0.ttf")
chars = set(chr(i) for i in range(0x20, 0x7f))
for hi in range(0xA1, 0xF8):
    for lo in range(0xA1, 0xFF):
        try:
            chars.add(bytes([hi, lo]).decode("gb2312"))
        except UnicodeDecodeError:
            pass
chars |= set("·—‘’“”…、。〈〉《》「」『』【】〔〕！（），．：；？～￥×÷←↑→↓✓✔✕✖⚠●○■□▲△▼▽◆◇★☆")
open(out + "/chars.txt", "w").write("".join(sorted(chars)))
PY
/usr/bin/pyftsubset "$tmp/face0.ttf" --text-file="$tmp/chars.txt" --layout-features='*' \
  --no-hinting --desubroutinize --output-file=assets/fonts/wqy-microhei-gb2312.ttf 2>/dev/null
cp /usr/share/doc/fonts-wqy-microhei/copyright assets/fonts/wqy-microhei.copyright
ls -l assets/fonts/wqy-microhei-gb2312.ttf
