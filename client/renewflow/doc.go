// Package renewflow writes a renewed certificate to a token: the part of the
// renewal that the desktop client's "write to the UKey" screen and
// `ukeyctl fetch-install` share.
//
// # Model
//
// Fetch runs four steps against one application that is ready to download
// and one token the caller has logged in to:
//
//  1. fetch: read the issued certificate; if there is none yet, have it
//     issued: same key (a proof of possession signed on the token with the
//     old key) or re-key (token.PrepareRekey makes a new key pair, or takes
//     the one a previous run left pending in the journal, and its CSR is
//     bound to the old key while the old certificate is still valid);
//  2. write: token.Install, which never leaves the token without a usable
//     certificate, unless the certificate is already on the token with its
//     key (a run that stopped before confirming);
//  3. verify: the token reads back the certificate the service issued;
//  4. confirm: the service is told it is installed.
//
// Each step can be run again after a crash or an unplugged token: an issued
// certificate is fetched again, one already on the token is not written
// twice, and a confirmed application is reported as such. The caller sees
// each step start through Options.Progress. No PIN passes through this
// package: the caller logs in to the token first.
package renewflow
