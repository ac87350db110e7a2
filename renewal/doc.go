// Package renewal is the contract shared by the desktop client, its HTTP
// client and the renewal service: what an application is, what may be done to
// it, what goes over the wire, and how errors are named.
//
// An application has three independent dimensions of state: its Status (the
// review and processing line editing → pending_review → approved | rejected →
// ready_to_download → installed, with on_hold for a fraud check and cancelled),
// its Payment state (unpaid → paid → refunding → refunded) and its FinVerify
// state (the 0.01 CNY bank-transfer check: not_required, pending, verified,
// failed). Every move between states is one row of the Rules table: the action,
// the roles that may take it, the states it starts from, the CA policy it
// depends on, and where it leads. AllowedActions reads that table to tell the
// GUI which buttons to show; Apply reads the same table to let the server
// enforce exactly those moves. STATES.md is generated from it too (a test
// fails when it is stale), so the three cannot drift apart.
//
// Where CAs differ (pay before or after review, financial verification or not,
// the renewal window, prices, re-keying) the difference is data in Policy, not
// a fork in the code.
//
// Errors carry a Code from an append-only table (never reorder it: codes are
// numbered by position) with an HTTP status, the field concerned and a message
// in zh-CN and en (ERRORS.md is generated from it). *Error is the one error
// type both sides use; request types validate themselves and return one
// *Error whose Fields list every field-level problem, named by JSON path
// ("legal_representative.id_number").
//
// The field validators (unified social credit code per GB 32100, resident ID
// number per GB 11643, mainland mobile, e-mail, bank account, tax ID, years,
// addresses) are pure functions the server calls on every request. The GUI
// calls CheckTyping while a field is being typed (it objects only when more
// typing cannot help) and ValidateFormField when the field is left; both give
// the same answers as the whole-form validation. Free text of every kind goes
// through one check (text.go): requests normalise it to NFC first, and
// characters that would show other than stored (bidi controls, zero-width and
// other invisible characters, private use, U+FFFD, a variation selector that
// selects nothing, a combining mark first or a third in a row, and in names
// the radical symbols that look like ideographs) are refused with
// CodeTextCharacter. Unicode spaces become ASCII spaces. Ideographic
// variation sequences stay possible for rare name characters: U+E0100–U+E01EF
// directly after a CJK ideograph; U+FE00–U+FE0F never in a name. A check that depends on today (a birth date may not lie
// in the future) takes the date: ValidateAt, ValidateFormFieldAt; the forms
// without a date use this computer's clock, the service passes its own.
package renewal
