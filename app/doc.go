// Package app is the desktop window of UKey Renew, built with Fyne.
//
// # Model
//
// State lives in plain Go view-models that own Fyne data bindings and no
// widget, in package app/internal/model (which may not depend on Fyne's
// widgets, containers, canvas, dialogs, layouts, themes or drivers: a test
// there checks its dependencies): TokensVM (the inserted tokens and their
// certificates, formatted for the interface language, with a days-left
// badge computed from an injected Clock) and PINVM (one token's PIN state
// and the outcome of each PIN try). They read the hardware through small
// interfaces defined there, TokenSource and PINSource, so they are tested
// without a window against a fake source and against real SoftHSM2 through
// the token package (p11source.go here, which needs cgo).
//
// TokensVM lists once at start and again on every event of the source's
// watcher; a watcher that stops is restarted every WatchRetryEvery, a module
// that fails keeps the last list on screen with the problem in words, and
// ErrNoModule (no vendor driver installed) says to install one.
//
// Screens (TokensScreen, PINDialog, the window shell UI) are in this
// package, and thin: they bind widgets to the view-models and rebuild on
// change. Their own widgets (the badge, the entries and button that take
// Esc, Enter and Ctrl+Enter) are in app/internal/widget. No PKCS#11 call
// runs on the UI goroutine: view-models call their sources from their own
// goroutines and publish through bindings, whose listeners Fyne runs on the
// UI goroutine.
//
// A token whose label cannot be decoded is shown by its serial; an object
// that cannot be read (DetailSource reports it per token) is one plain line
// on the token's card while its good certificates are listed as usual, with
// 修复 when token.Recover would remove it. Days left are calendar days in
// the clerk's zone (renewal.DaysLeftIn), the rule of ukeyctl and the service.
//
// # The journey
//
// Journey holds the clerk's screens from sign-in to a renewed certificate
// on the token, each with its view-model (SignInVM, RenewVM,
// ApplicationsVM, PayVM, FinVerifyVM, WriteVM, InvoiceVM) over one Account
// (the service client and the session, kept in the OS keyring, else a
// TPM-sealed file, else memory). A certificate card's 续期 opens the renew
// form with that certificate; an application's actions are exactly those
// renewal.AllowedActions grants the clerk in its state, and each leads to
// the screen that carries it out. Writing to the token runs
// client/renewflow behind the Installer interface after the PIN dialog
// logged in once; a write cut short (token pulled, program killed) is found
// at the next start from token's journal and finished with one PIN.
//
// # Reminders
//
// ReminderVM checks the inserted tokens at start and every minute against
// the CA's renewal policy (read once a day; 30 days before expiry when there
// is no service or the policy cannot be read). A certificate within 30
// calendar days of expiry, or expired, inside the policy's window and not
// already renewed by the signed-in clerk, gets one notification per day.
// The tray (installTray, before the app runs: Fyne starts its tray only
// then) lists the certificates, marks those to renew with a red dot on the
// icon, and closing the window hides it to the tray.
//
// # Counter mode
//
// With --counter each customer gets their own Journey: a new Account whose
// session lives in memory only, new view-models, a context all its
// goroutines run under and a folder for downloaded files. 下一位客户 (or
// Ctrl+N) and the idle sign-out (Deps.IdleAfter, 5 minutes by default)
// cancel that context, close every dialog, clear focus and clipboard,
// revoke the session at the service, delete the folder and build a fresh
// journey; neither runs while a certificate is being written, and the idle
// sign-out waits while a payment code is live. Input is seen by a
// transparent wrapper (pointer), by sampling the focused widget (typing)
// and, on Windows, by the session's last input time (Deps.SystemIdle);
// there are no reminders and no tray in counter mode.
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
