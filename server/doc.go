// Package server is renewd's HTTP service: the JSON API under /v1 that the
// UKey Renew client and CA staff use.
//
// The model: every request is a handler that returns an error; one adapter
// (adapt) turns errors into a status and the JSON body {code, message, field}
// with the contract's codes (renewal.Code), in the language the request asks
// for (zh-CN unless Accept-Language prefers en). Request bodies are bounded,
// unknown fields refused, and every request type validates itself.
//
// The application handlers are thin: they decode the request, call one
// method of renewals.Service (package renewals, the domain layer) with the
// caller (renewals.Caller: the signed-in user and their address) and render
// its answer. Every change to an application goes through the service,
// which runs the states table in renewal (renewal.Apply with the caller's
// role and the CA's policy), checks the version the caller last read
// (optimistic concurrency: a stale version answers 409 stale_version and
// changes nothing) and writes its audit entry in the same database
// transaction as the change.
//
// Sign-in is by mobile + SMS code or account + password; the service hands
// out opaque access and refresh tokens and keeps only their hashes. A clerk
// sees only their own organisation: another organisation's application
// answers 404, exactly like one that does not exist. Reviewers and admins
// are CA staff; only admins read the audit log.
//
// Sign-in limits never count per account or per number alone, so that they
// cannot be used to lock the owner out (authn.go): failed passwords are
// limited per (account, source) and per source; SMS codes per (number,
// source), per source, and per number only for sources the number has not
// signed in from (nor office networks behind NAT, Limits.SMSOffices, which
// have a larger per-source allowance); wrong codes from others than the
// source that asked for a code are counted apart. A source is an IPv4
// address or an IPv6 /64. Refusals carry Retry-After and say when.
//
// Around the handlers: per-IP and per-account token-bucket rate limits,
// request metrics (/metrics, Prometheus text), /healthz and /readyz.
// A POST with an Idempotency-Key that succeeded is answered again, not
// redone, when a client retries it.
//
// Payments are the payment module's (package payment); the service wires it
// in through renewals.PaymentHooks, built before payment.New
// over the same database:
// the module moves an application's payment state (mark_paid, refund,
// mark_refunded, refund_failed, role system, the same states table) and writes its audit
// events into the store's hash chain, both with store.Join on the *sql.Tx of
// the payment change, so the payment rows, the application and the audit
// entries commit together. The clerk asks for a QR code (POST
// /v1/applications/{id}/payment/qr: the amount is the price list's for the
// application's years, expires_at exactly 300 s after created_at, with the
// server's time so the client counts down without trusting its clock) and
// polls GET .../payment, which asks WeChat Pay about an open order so a lost
// notification still counts. WeChat Pay and Alipay notify POST
// /v1/payments/notify/{provider}, signed (no session; a per-IP bucket of
// their own, larger than a client's).
// Cancelling a paid application refunds it in the same transaction as the
// cancel (the caller's role and version travel in the context to the hook):
// clerks within 7 days of payment, admins until the refund limit, nobody
// after issuance. Money that arrives after a cancel stays paid on the
// cancelled application until an admin refunds it (POST .../payment/refund).
// In dev, POST /dev/applications/{id}/pay pays the live QR code at the
// simulator, as the clerk's phone would.
//
// E-invoices (VAT ordinary invoices only) go through an invoice.Issuer
// (renewals.Service.RequestInvoice; the links in invoices.go): the clerk
// asks for one after payment (POST /v1/applications/{id}/invoice; the fields
// default to the application's invoice fields), the request is stored first
// (and, for a key sent by post, confirms its receipt) so one application
// gets one invoice, the issuer is called outside the transaction, and its
// PDF is stored. The link to it carries an HMAC-signed, expiring token (no
// session: it opens in any browser), is sent by SMS and e-mail, and is made
// afresh on every GET .../invoice. A payment an invoice was issued for is
// not refunded until the CA reverses the invoice with a red-letter invoice
// on its platform.
//
// Counter workstations (workstations.go): at a CA counter the workstation
// holds a non-exportable P-256 key in its TPM (client/workstation). An
// admin enrols its public key (POST /v1/workstations, PEM checked with
// workstation.ParsePublicKey; the SHA-256 fingerprint of the PKIX DER is
// unique), lists and revokes it. The workstation asks POST
// /v1/counter/challenge (no session; 12 a minute per address, burst 5) for
// a nonce of 32 random bytes bound to the service's origin (PublicURL's, in
// dev the request's host), stored hashed, single use, 2 minutes; it signs
// the challenge text and trades fingerprint, nonce and signature at POST
// /v1/counter/session for a counter session (role "counter", tokens in
// their own table; POST /v1/counter/refresh spends the refresh token once). The nonce is spent by the first attempt whatever its
// outcome; every grant and every refusal (unknown or used or expired nonce,
// unknown or revoked key, bad signature or other origin) is audited. The
// counter session signs clerks of any organisation in, in turn, by the SMS
// code sent to the clerk (POST /v1/counter/sms-login): the clerk session is
// an ordinary one, its sign-in audited with via_counter and the workstation
// id, and revoking the workstation ends it with the counter sessions.
package server
