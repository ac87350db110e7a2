// Package issuer issues the renewed certificate.
//
// The model: a renewal never invents an identity. The subject, the subject
// alternative names and the key usages are copied from the certificate being
// renewed; only the serial (fresh, random 128 bits), the validity and, for a
// re-key, the public key change. Renewing before the old certificate ends
// extends from its not-after, so the holder loses no day they paid for.
//
// Two modes prove that the caller holds the token:
//
//   - Same key: the service hands out a nonce; the token signs
//     renewal.SameKeyMessage (application, serial, nonce) with the
//     certificate's key (VerifyProof); the new certificate is made for the
//     old public key.
//   - Re-key: the token makes a new key pair and a CSR signed by it (proof of
//     the new key). While the old certificate is still valid, the old key also
//     signs renewal.RekeyBindingMessage (application, serial, nonce, CSR
//     hash), which binds the new request to the holder of the old key, so a
//     stolen CSR cannot be swapped in (VerifyRekey).
//
// Signatures accepted: RSA PKCS#1 v1.5 and PSS with SHA-256, ECDSA with
// SHA-256/384, SM2 with SM3 (default user ID 1234567812345678).
//
// Issuer is the interface the service uses; LocalCA is an issuer whose CA key
// and chain are files on disk (RSA, ECDSA or SM2 via github.com/emmansun/gmsm),
// and GenerateDevCA writes such files for development.
package issuer
