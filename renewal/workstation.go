package renewal

import "time"

// Counter workstations: a CA service counter's machine, enrolled by its TPM
// key, signs a challenge (package renewal/counter) for a counter session,
// under which it signs clerks in.

// MaxWorkstationName is the longest workstation name the service takes, in
// characters.
const MaxWorkstationName = 100

// Workstation is an enrolled counter workstation as the service lists it.
type Workstation struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Fingerprint string     `json:"fingerprint"` // hex SHA-256 of the key's PKIX DER
	EnrolledBy  string     `json:"enrolled_by"`
	EnrolledAt  time.Time  `json:"enrolled_at"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

// CounterChallenge is the single-use challenge a workstation signs
// (counter.Challenge, with its nonce in hex).
type CounterChallenge struct {
	Origin    string    `json:"origin"`
	Nonce     string    `json:"nonce"` // 64 hex
	ExpiresAt time.Time `json:"expires_at"`
}

// CounterTokens is a counter session: a workstation proved it holds an
// enrolled TPM key. The tokens are the workstation's to keep; a desktop
// client does not install them as its own session.
type CounterTokens struct {
	AccessToken      string    `json:"access_token"`
	RefreshToken     string    `json:"refresh_token"`
	TokenType        string    `json:"token_type"`
	ExpiresAt        time.Time `json:"expires_at"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
	Role             string    `json:"role"`
	WorkstationID    string    `json:"workstation_id"`
	WorkstationName  string    `json:"workstation_name"`
}
