// Package app is the desktop window of UKey Renew, built with Fyne.
//
// # Model
//
// State lives in plain Go view-models that own Fyne data bindings and no
// widget: TokensVM (the inserted tokens and their certificates, formatted for
// the interface language, with a days-left badge computed from an injected
// Clock) and PINVM (one token's PIN state and the outcome of each PIN try).
// They read the hardware through small interfaces defined here, TokenSource
// and PINSource, so they are tested without a window against a fake source
// and against real SoftHSM2 through the token package (p11source.go, which
// needs cgo).
//
// TokensVM lists once at start and again on every event of the source's
// watcher; a watcher that stops is restarted every WatchRetryEvery, a module
// that fails keeps the last list on screen with the problem in words, and
// ErrNoModule (no vendor driver installed) says to install one.
//
// Screens (TokensScreen, PINDialog, the window shell UI) are thin: they bind
// widgets to the view-models and rebuild on change. No PKCS#11 call runs on
// the UI goroutine: view-models call their sources from their own goroutines
// and publish through bindings, whose listeners Fyne runs on the UI goroutine.
//
// # PINs
//
// A PIN is sent once per press of OK or Enter, never retried, and never
// stored or logged. The PIN dialog shows what the token says about its PIN
// (tries running low, last try, locked) and refuses to send one to a locked
// token. The bytes handed to the token are wiped after use.
//
// # Language
//
// Strings go through Fyne's lang package with Chinese fallbacks; translations
// are in assets/translations (zh_Hans.json, en.json). SetupLanguage makes
// Chinese the default unless the system asks for English; Formatter writes
// dates and money for the chosen language.
package app
