// Package server is renewd's HTTP service: the JSON API under /v1 that the
// UKey Renew client and CA staff use.
//
// The model: every request is a handler that returns an error; one adapter
// (adapt) turns errors into a status and the JSON body {code, message, field}
// with the contract's codes (renewal.Code), in the language the request asks
// for (zh-CN unless Accept-Language prefers en). Request bodies are bounded,
// unknown fields refused, and every request type validates itself.
//
// Every change to an application goes through the states table in renewal
// (renewal.Apply with the caller's role and the CA's policy), checks the
// version the caller last read (optimistic concurrency: a stale version
// answers 409 stale_version and changes nothing) and writes its audit entry
// in the same database transaction as the change.
//
// Sign-in is by mobile + SMS code or account + password; the service hands
// out opaque access and refresh tokens and keeps only their hashes. A clerk
// sees only their own organisation: another organisation's application
// answers 404, exactly like one that does not exist. Reviewers and admins
// are CA staff; only admins read the audit log.
//
// Around the handlers: per-IP and per-account token-bucket rate limits,
// request metrics (/metrics, Prometheus text), /healthz and /readyz.
// A POST with an Idempotency-Key that succeeded is answered again, not
// redone, when a client retries it.
//
// Payments are the payment module's: it moves an application's payment state
// through SetPaymentState (inside a store transaction, role system, the same
// states table and audit), and asks Issued before refunding.
package server
