#!/usr/bin/env bash
# Rebuilds assets/fonts/wqy-microhei-gb2312.otf: face 0 of WenQuanYi Micro Hei, cut down to
# ASCII, the GB2312 character set and the symbols the GUI uses, with its outlines stored as
# CFF (PostScript) instead of TrueType glyf.
#
# Why CFF: Fyne's text engine (go-text) decodes every glyph of a glyf table when it opens a
# font, and Fyne opens the theme font once per text style (regular, bold, ...) at start-up;
# a CFF table is only indexed and each glyph is read when it is drawn. Same glyphs, same
# metrics: the quadratic TrueType curves are redrawn exactly as cubic ones (coordinates
# rounded to the 1/2048 em grid). WenQuanYi builds most hanzi from shared components;
# CFF has no components, so each glyph carries its whole outline (1.9 MB instead of 1.3 MB).
# See docs/benchmarks/gui.md for the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-wqy-microhei fonttools >/dev/null
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$tmp" <<'PY'
import sys
from fontTools.ttLib import TTCollection, TTFont
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
# Leave out what the face maps to an empty glyph (a few pinyin letters with tones, ℃, Ⅴ):
# Fyne would draw nothing for them; left out, it draws them from its fallback fonts.
from fontTools.pens.recordingPen import RecordingPen
face = TTFont(out + "/face0.ttf")
cmap, glyphs = face.getBestCmap(), face.getGlyphSet()
def empty(c):
    pen = RecordingPen()
    glyphs[cmap[ord(c)]].draw(pen)
    return not pen.value
chars = {c for c in chars if c in " \u3000" or (ord(c) in cmap and not empty(c))}
open(out + "/chars.txt", "w").write("".join(sorted(chars)))
PY
subset() { # subset IN OUT: keep the characters of chars.txt
  /usr/bin/pyftsubset "$1" --text-file="$tmp/chars.txt" --layout-features='*' \
    --no-hinting --desubroutinize --output-file="$2" 2>/dev/null
}
subset "$tmp/face0.ttf" "$tmp/subset.ttf"
# glyf -> CFF: draw each glyph (components resolved) through a Type 2 charstring pen.
/usr/bin/python3 - "$tmp/subset.ttf" "$tmp/cff.otf" <<'PY'
import sys
from fontTools.ttLib import TTFont
from fontTools.pens.t2CharStringPen import T2CharStringPen
from fontTools.fontBuilder import FontBuilder
src, dst = sys.argv[1], sys.argv[2]
f = TTFont(src)
glyphs = f.getGlyphSet()
charstrings = {}
for name in f.getGlyphOrder():
    pen = T2CharStringPen(f["hmtx"][name][0], glyphs)
    glyphs[name].draw(pen)
    charstrings[name] = pen.getCharString()
ps = f["name"].getDebugName(6) or "WenQuanYiMicroHei"
for tag in ("glyf", "loca", "gasp", "fpgm", "prep", "cvt "):
    if tag in f:
        del f[tag]
fb = FontBuilder(font=f, isTTF=False)
fb.font.sfntVersion = "OTTO"
fb.setupCFF(ps, {"FullName": f["name"].getDebugName(4) or ps}, charstrings, {})
f["maxp"].tableVersion = 0x00005000
f["post"].formatType = 3.0
f.save(dst)
PY
# Again, to drop the component glyphs no character uses any more.
subset "$tmp/cff.otf" assets/fonts/wqy-microhei-gb2312.otf
rm -f assets/fonts/wqy-microhei-gb2312.ttf
cp /usr/share/doc/fonts-wqy-microhei/copyright assets/fonts/wqy-microhei.copyright
ls -l assets/fonts/wqy-microhei-gb2312.otf
