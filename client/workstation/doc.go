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
// To prove itself, the workstation signs a server challenge (Challenge: a
// fixed context string, the service origin and a 32-byte server nonce,
// serialised by Challenge.Message) with ECDSA P-256 over SHA-256; the
// signature is ASN.1 DER, as crypto/ecdsa.VerifyASN1 expects. Verify, in
// pure Go without a TPM, is the service's check, so both sides share one
// definition of the signed bytes. Binding the origin stops a challenge from
// one service being relayed to another; the service must issue each nonce
// once, remember it until it expires, and accept it once.
package workstation
