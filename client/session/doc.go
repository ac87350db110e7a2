// Package session keeps the desktop client's sign-in between runs.
//
// A session is one Record: the refresh token, the service URL, the user and
// the token's expiry. The access token is never part of it (it lives in the
// caller's memory and is re-obtained with the refresh token) and no PIN ever
// reaches this package.
//
// A Store keeps the record in the best place the machine offers, tried in
// this order when the store is opened:
//
//  1. the OS keyring (Windows Credential Manager, macOS Keychain, a Secret
//     Service on the D-Bus session bus), through go-keyring. On Linux and
//     the BSDs the session bus is looked for without auto-launching one, and
//     the Secret Service name must be owned or activatable before go-keyring
//     is ever called, because go-keyring would otherwise spawn dbus-launch
//     daemons that outlive the process. Every keyring call runs under a
//     timeout; a call that hangs is abandoned and the next one fails fast
//     until it returns.
//  2. a file in the user's config directory (mode 0600) holding the record
//     encrypted with AES-256-GCM under a random key that the machine's TPM
//     seals. The key is sealed under the owner hierarchy's ECC storage
//     primary key, which the TPM derives from its owner seed: a file copied
//     to another machine, or kept across a TPM clear, no longer matches that
//     primary and is discarded with ErrSealedElsewhere.
//  3. memory only. Where reports InMemory, and the GUI tells the user that
//     the session will not survive a restart.
//
// Save, Load and Delete never trust what they read: a record that fails
// validation, a file that does not parse, a ciphertext that does not
// authenticate, all yield typed errors (ErrCorrupt, ErrSealedElsewhere,
// ErrExpired, ErrNoSession, *FieldError) and the bad copy is deleted, so the
// user simply signs in again. Delete (sign-out) removes the record from every
// backend, whichever one holds it.
package session
