package renewal

import "strings"

// The limits on wire values and the checks that requests of several kinds
// share. Each concept's wire types are in a file of their own: signin.go,
// certificate.go, application.go, document.go, review.go, finverify.go,
// payment.go, issuance.go, invoice.go, audit.go.

// Limits on wire values.
const (
	MaxPageSize        = 100
	DefaultPageSize    = 20
	MaxPageTokenBytes  = 256
	MaxDocumentBytes   = 10 << 20 // 10 MiB a document
	MaxTokenBytes      = 256      // an access or refresh token
	MaxSerialBytes     = 64       // hex serial of up to 20 octets is 40; leave room for separators
	NonceBytes         = 32
	MaxSignatureBytes  = 1024 // RSA-4096 signatures are 512 bytes
	MaxCSRBytes        = 16 << 10
	MaxFilterValues    = 8
	MaxSearchRunes     = 100
	MaxAuditPageSize   = 1000
	MaxDocumentsPerApp = 20
)

func validateVersion(v int64) error {
	if v < 1 {
		return invalid(CodeRequired, "send the version you last read")
	}
	return nil
}

func validatePageSize(n *int, max int) error {
	if *n == 0 {
		*n = DefaultPageSize
	}
	if *n < 1 || *n > max {
		return invalid(CodeInvalidField, "page_size is 1 to %d", max)
	}
	return nil
}

func trim(s string) string { return strings.TrimSpace(s) }
