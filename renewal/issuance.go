package renewal

import (
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// Issuance wire types: proof of possession, the renewed certificate and
// the confirmation that it is on the token.

// IssueMode is same-key renewal or re-key.
type IssueMode string

// Issue modes.
const (
	IssueSameKey IssueMode = "same_key"
	IssueRekey   IssueMode = "rekey"
)

// Challenge is a server nonce for proof of possession.
// POST /v1/applications/{id}/challenge
type Challenge struct {
	Nonce     []byte    `json:"nonce"` // base64 in JSON
	ExpiresAt time.Time `json:"expires_at"`
}

// IssueRequest asks for the renewed certificate. POST /v1/applications/{id}/issue
//
// Same key: Signature is the old key's signature over SameKeyMessage.
// Re-key: CSR is signed by the new key; while the old certificate is still
// valid, BindingSignature is the old key's signature over RekeyBindingMessage.
// Signatures: RSA PKCS#1 v1.5 with SHA-256, ECDSA with SHA-256 (ASN.1),
// SM2 with SM3 and the default user ID.
type IssueRequest struct {
	Version          int64     `json:"version"`
	Mode             IssueMode `json:"mode"`
	Nonce            []byte    `json:"nonce"`
	Signature        []byte    `json:"signature,omitempty"`
	CSR              []byte    `json:"csr,omitempty"` // DER
	BindingSignature []byte    `json:"binding_signature,omitempty"`
}

// Validate checks the request's shape (the signatures are checked by the server).
func (r *IssueRequest) Validate() error {
	var fe fieldErrors
	fe.add("version", validateVersion(r.Version))
	if len(r.Nonce) != NonceBytes {
		fe.add("nonce", invalid(CodeInvalidField, "the nonce has %d bytes", NonceBytes))
	}
	switch r.Mode {
	case IssueSameKey:
		fe.add("signature", validateBlob(r.Signature, MaxSignatureBytes, true))
		if len(r.CSR) > 0 || len(r.BindingSignature) > 0 {
			fe.add("csr", invalid(CodeInvalidField, "same-key renewal takes no CSR"))
		}
	case IssueRekey:
		fe.add("csr", validateBlob(r.CSR, MaxCSRBytes, true))
		fe.add("binding_signature", validateBlob(r.BindingSignature, MaxSignatureBytes, false))
		if len(r.Signature) > 0 {
			fe.add("signature", invalid(CodeInvalidField, "re-key sends binding_signature, not signature"))
		}
	default:
		fe.add("mode", invalid(CodeInvalidField, "mode is %q or %q", IssueSameKey, IssueRekey))
	}
	return fe.err()
}

func validateBlob(b []byte, max int, required bool) error {
	if len(b) == 0 {
		if required {
			return invalid(CodeRequired, "")
		}
		return nil
	}
	if len(b) > max {
		return invalid(CodeTooLong, "at most %d bytes", max)
	}
	return nil
}

// SameKeyMessage is what the old key signs for same-key renewal: it binds
// the nonce to this application and certificate, so a signature cannot be
// replayed for another.
func SameKeyMessage(applicationID, serial string, nonce []byte) []byte {
	return []byte("ukeyrenew same-key v1\n" + applicationID + "\n" + serial + "\n" +
		base64.StdEncoding.EncodeToString(nonce) + "\n")
}

// RekeyBindingMessage is what the old key signs to bind a re-key CSR to the
// old certificate.
func RekeyBindingMessage(applicationID, serial string, nonce, csrDER []byte) []byte {
	h := sha256.Sum256(csrDER)
	return []byte("ukeyrenew rekey v1\n" + applicationID + "\n" + serial + "\n" +
		base64.StdEncoding.EncodeToString(nonce) + "\n" + base64.StdEncoding.EncodeToString(h[:]) + "\n")
}

// Issuance is the renewed certificate. GET /v1/applications/{id}/certificate
type Issuance struct {
	ApplicationID string    `json:"application_id"`
	Mode          IssueMode `json:"mode"`
	Serial        string    `json:"serial"`
	Certificate   []byte    `json:"certificate"` // DER
	Chain         [][]byte  `json:"chain"`       // DER, issuer first
	NotBefore     time.Time `json:"not_before"`
	NotAfter      time.Time `json:"not_after"`
	IssuedAt      time.Time `json:"issued_at"`
}

// ConfirmInstalledRequest tells the service the certificate is on the token
// and was read back. POST /v1/applications/{id}/installed
type ConfirmInstalledRequest struct {
	Version int64  `json:"version"`
	Serial  string `json:"serial"` // of the new certificate
}

// Validate checks the request.
func (r *ConfirmInstalledRequest) Validate() error {
	var fe fieldErrors
	fe.add("version", validateVersion(r.Version))
	if len(r.Serial) > MaxSerialBytes {
		fe.add("serial", invalid(CodeTooLong, ""))
	} else {
		r.Serial = NormalizeSerial(r.Serial)
		fe.add("serial", ValidateSerial(r.Serial))
	}
	return fe.err()
}
