// Package workstation gives a CA service counter's workstation an identity
// that cannot leave its TPM, and gives the service the means to check it.
//
// The workstation holds an ECDSA P-256 signing key created inside its TPM
// under the owner hierarchy's storage primary key, with fixedTPM and
// fixedParent set and sensitiveDataOrigin (the TPM generated it): the TPM
// never exports the private key, not even wrapped for another parent. What
// is kept on disk is the key's Blob, the public area plus the private area
// encrypted by the storage primary key, which only this TPM (and only until
// it is cleared) can load again. Key.PublicKeyPEM is what an administrator
// enrols in the service.
//
// To prove itself, the workstation signs a server challenge
// (counter.Challenge, in the contract package renewal/counter, where the
// service's check counter.Verify lives too, so both sides share one
// definition of the signed bytes) with ECDSA P-256 over SHA-256.
package workstation
