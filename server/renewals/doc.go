// Package renewals is the renewal service's domain layer: what may be done
// to an application, by whom and with what effect, apart from HTTP. The
// handlers of package server decode a request, call one method of Service
// and render its answer; this package never sees a request or a response.
//
// The model: a Service method is one use of the application lifecycle
// (create, update, submit, review, pay, verify the bank account, issue,
// confirm the installation, cancel, refund, ask for the e-invoice, …) on
// behalf of a Caller (the signed-in user and the address they call from). It
// owns the whole of it: the store transaction, renewal.Apply (the states
// table, for the caller's role and the CA's policy), the optimistic version
// check and the audit entry, which commits in the same transaction as the
// change. An application is read as the caller's scope sees it (a clerk's
// own organisation, all for staff: another organisation's application is not
// found, exactly like one that does not exist). Errors come back as the
// contract's (*renewal.Error, with its code and field) or, when something
// broke, as plain errors the HTTP layer answers as internal; the store's
// sentinel errors are mapped here (StoreError). Applications come back with
// the actions the caller may take next filled in.
//
// The payment module (package payment) calls back into this package through
// PaymentHooks, inside its own *sql.Tx (store.Join), so payment rows, the
// application's payment state and the audit entries commit together.
package renewals
