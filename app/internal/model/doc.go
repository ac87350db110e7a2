// Package model holds the desktop client's view-models: plain Go types
// that own Fyne data bindings (and the lang package's strings) and no
// widget. The screens of package app bind widgets to them; the view-models
// call the service client and the token sources from their own goroutines
// and publish through the bindings.
//
// Here are the sign-in Account, the view-models of each screen (TokensVM,
// PINVM, SignInVM, RenewVM, ApplicationsVM, PayVM, FinVerifyVM, WriteVM,
// InvoiceVM, ReminderVM), the sources they read the hardware through
// (TokenSource, PINSource, Installer), and the Formatter that writes
// dates, money and levels in the interface language.
//
// The package must never depend on what draws a window (Fyne's widget,
// container, canvas, dialog, layout, theme, driver or app packages):
// TestViewModelsDrawNothing fails if it does.
package model
