// Package auth holds the secrets of signing in, and never keeps one in clear.
//
//   - Passwords are hashed with argon2id (RFC 9106) into a PHC string
//     ($argon2id$v=19$m=...,t=...,p=...$salt$hash); at most MaxConcurrentHashes
//     hashes run at once, so a burst of sign-ins cannot exhaust memory.
//   - Access and refresh tokens are opaque random strings (256 bits); the
//     service stores only their SHA-256, so a leaked database gives no
//     session away.
//   - SMS and transfer codes are 6 random digits; since a million codes are
//     quickly tried against a plain hash, they are stored as an HMAC-SHA256
//     under a server key (a pepper) bound to what the code is for.
package auth
