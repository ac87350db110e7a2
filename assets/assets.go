// Package assets holds what the desktop client ships inside its binary: the
// application icon, a GB2312 subset of the WenQuanYi Micro Hei font (so Chinese
// renders on a PC without CJK fonts) and the translations of the user interface.
//
// The font's outlines are CFF, not TrueType: Fyne's text engine opens a CFF font
// by indexing it (about 4 ms) where it decodes every TrueType glyph up front
// (about 20 ms), and it opens the theme font once per text style at start-up.
// scripts/make-font-subset.sh makes it.
//
// The translations are JSON files in Fyne's lang format, one per language:
// zh_Hans.json (Simplified Chinese, the default) and en.json. The file name
// zh_Hans matters: Fyne's own strings ("Cancel", "OK") live under that name, so
// a file called zh-CN.json would leave them in English.
package assets

import (
	"embed"
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/lang"
)

//go:embed fonts/wqy-microhei-gb2312.otf
var fontCJK []byte

//go:embed icon-256.png
var icon []byte

//go:embed translations/*.json
var translations embed.FS

// FontCJK is the bundled CJK font. It has one weight: Fyne draws bold text
// with it too, looking regular (Fyne does not synthesise bold).
func FontCJK() fyne.Resource {
	return fyne.NewStaticResource("wqy-microhei-gb2312.otf", fontCJK)
}

// Icon is the application icon, 256×256 PNG: the window's, the tray's and
// the one on the Tokens screen. It is decoded at start-up (the window icon)
// and on each layout of the screen that shows it; 256 pixels are plenty for
// a 96-point image at 200 % scale and decode four times faster than the
// 512-pixel icon.png that the installers use (gen_icon.go draws both).
func Icon() fyne.Resource {
	return fyne.NewStaticResource("icon.png", icon)
}

// LoadTranslations registers the bundled translations with Fyne's lang
// package, which then picks the language closest to the system locale.
// Calling it again re-reads the locale from the environment.
func LoadTranslations() error {
	if err := lang.AddTranslationsFS(translations, "translations"); err != nil {
		return fmt.Errorf("load translations: %w", err)
	}
	return nil
}

// TranslationFiles lists the bundled translation files and their contents,
// for tests that check every language has every key.
func TranslationFiles() (map[string][]byte, error) {
	entries, err := translations.ReadDir("translations")
	if err != nil {
		return nil, fmt.Errorf("read translations: %w", err)
	}
	files := make(map[string][]byte, len(entries))
	for _, e := range entries {
		b, err := translations.ReadFile("translations/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("read translation %s: %w", e.Name(), err)
		}
		files[e.Name()] = b
	}
	return files, nil
}
