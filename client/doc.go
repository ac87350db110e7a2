// Package client is the typed HTTP client of the renewal service (renewd).
//
// The desktop app and ukeyctl talk to the service only through a *Client:
// one method per /v1 route of server/openapi.yaml, each taking a context
// first and the request types of package renewal, each answering the
// response type of renewal or an error.
//
// The model. Every method goes through the same three steps: newRequest
// builds the method, path, query and body (JSON bodies are encoded once, so
// a retry sends the same bytes); do sends it, retrying and refreshing the
// session as below; checkResponse turns a status that is not 2xx into an
// *APIError, reading the error body through a 64 KiB limit (MaxErrorBody).
// An *APIError carries the contract's renewal.Code, the field and the
// message in the language asked for (zh-CN by default); it unwraps to a
// *renewal.Error (the message in Message for English, in MessageZH for
// Chinese, so that Localized gives the service's own words), so
// errors.Is(err, renewal.NewError(renewal.CodeStaleVersion, "")) and
// renewal.CodeOf(err) work on what a method returns. Requests are
// validated with renewal's own Validate before anything is sent: bad input
// gets a *renewal.Error naming the field and costs no round trip.
//
// Retries. A request is retried (at most MaxRetries times, with capped
// exponential backoff and full jitter) only when sending it twice cannot do
// twice what was asked: GET, PUT and DELETE; POSTs that carry an
// Idempotency-Key header (those that create something: application,
// document, challenge; and the state changes that carry the application's
// version: submit, cancel, review, transfer start and bank correction,
// issue, installed); and any request whose connection could not even be
// opened. Sign-in, refresh, SMS codes and transfer codes are never retried
// once sent.
// What is retried: connection failures and 502, 503 and 504 (a Retry-After
// of at most MaxRetryAfter is honoured). Everything else, and in particular
// a 409 stale_version, is returned at once. The service remembers a
// successful POST by its Idempotency-Key (server/idempotency.go: 24 h, in
// its database, whichever replica answers) and answers the retry with the
// first answer; a retry while the first is still running on another
// replica gets 503 busy with Retry-After, and is retried. Should it have forgotten (the keys' bounds), the one POST where a replay would be refused (a
// second application for a certificate answers conflict) is recognised by
// the client: its own earlier create is found through the certificate's
// eligibility and returned.
//
// Sessions. The access token lives in the Client's memory only. A refresh
// token given with WithRefreshToken (from client/session) or obtained by
// signing in is traded for a new pair when the access token is missing or
// a call answers 401 token_expired or unauthenticated; the call is then
// sent once more. Refreshes are single-flight: concurrent calls that all
// see a 401 share one refresh, because the service spends a refresh token
// on first use and ends the whole session if a spent one comes back. The
// rotated refresh token is handed to the WithTokenCallback callback, which
// is where the app saves it (client/session); the Client never writes it
// anywhere itself and never sees a PIN.
//
// Optimistic concurrency. Applications carry a version (and an ETag "vN").
// Every change sends the version it was read at; a change made meanwhile by
// someone else answers 409 stale_version, which is never retried: the
// caller reloads and asks the user.
//
// Payment. PaymentWatcher polls a payment status through a small fetch
// function until it is paid, expired or cancelled, with backoff, and derives
// the QR countdown from the server's expiry corrected by the server's Date
// header, so a wrong local clock does not shorten or stretch the 300 s
// window. The clock is injected everywhere (Clock), so tests run a 300 s
// countdown in microseconds.
package client
