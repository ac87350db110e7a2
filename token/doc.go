// Package token finds, reads and writes certificates and keys on USB tokens
// ("UKeys") through PKCS#11.
//
// # Model
//
// A Module is a loaded PKCS#11 library. A library is loaded and initialised
// once per process and path, shared by every OpenModule for that path and by
// the Tokens opened through it, and finalised when the last of them is
// closed (SoftHSM2 and most vendor modules refuse a second C_Initialize, and
// SoftHSM2 reads its configuration only there). DiscoverModules lists the
// well-known module files of the running OS, including Chinese vendors'.
//
// A token is identified by its serial number, never by slot (which changes
// on re-insertion) or label (which is not unique). Module.Tokens enumerates
// initialised tokens; labels that are not UTF-8 are decoded as GBK, else
// shown as hex. Module.Open(serial) gives a Token: one session, guarded by
// a mutex, kept open for the Token's life because closing a token's last
// session logs it out.
//
// Certificates are read without a PIN (Token.Certificates). Token.Objects
// returns an Inventory: certificates parsed with crypto/x509 or, for SM2,
// gmsm/smx509; keys; certificates matched to their key pair by CKA_ID and
// public key; ghosts (objects without content, left by interrupted writes)
// and orphan keys; and damaged objects, whose attributes the module cannot
// read, reported one by one (Inventory.Damaged) so that one bad object does
// not hide the rest of the token. Install refuses a token with a damaged
// object (ErrDamagedObject); Recover removes those an interrupted write left
// (DamagedObject.Remains) and keeps the others. Dates are judged against a time the caller passes
// (renewal.DaysLeftIn counts the days left, calendar days in the clerk's
// zone, the same rule for the GUI, ukeyctl and the service), never the wall
// clock.
//
// Token.Login takes the PIN as bytes, tries it exactly once, and wipes it.
// Module errors are translated once into sentinels (ErrPINIncorrect,
// ErrPINLocked, ErrTokenRemoved...); PIN failures are a *PINError carrying
// the token's PIN state (count low, final try, locked, must change).
//
// Token.GenerateKeyPair makes RSA-2048/3072 or ECDSA P-256/P-384 pairs whose
// private half is sensitive and not extractable; a Signer is a
// crypto.Signer backed by such a key, choosing its mechanism from one table
// (signMechanisms) that SM2 vendor mechanisms can join. CreateCSR signs a
// PKCS #10 request on the token. WriteCertificate, Destroy, SetLabel and
// SetID are the primitives the safe installer builds on. Writes are not
// atomic on every module: on SoftHSM2 a process killed during
// C_SetAttributeValue loses the object (see SetLabel), so an object that
// must survive is created complete and not modified afterwards.
//
// Watch reports token insertion, removal and change by polling, because
// SoftHSM2 and OpenSC have no working C_WaitForSlotEvent.
package token
