package renewal

import "time"

// Sign-in wire types: the routes under /v1/auth and who is signed in.

// SMSCodeRequest asks for a sign-in code by SMS. POST /v1/auth/sms-code
type SMSCodeRequest struct {
	Mobile string `json:"mobile"`
}

// Validate checks the request.
func (r *SMSCodeRequest) Validate() error {
	var fe fieldErrors
	fe.add("mobile", ValidateMobile(NormalizeMobile(r.Mobile)))
	return fe.err()
}

// SMSCodeSent answers an SMSCodeRequest (the same whether or not the number
// has an account, so numbers cannot be probed).
type SMSCodeSent struct {
	ExpiresIn   int `json:"expires_in"`   // seconds the code is valid
	ResendAfter int `json:"resend_after"` // seconds before another code may be asked for
}

// SMSLoginRequest signs in with a mobile and SMS code. POST /v1/auth/sms-login
type SMSLoginRequest struct {
	Mobile string `json:"mobile"`
	Code   string `json:"code"`
}

// Validate checks the request.
func (r *SMSLoginRequest) Validate() error {
	var fe fieldErrors
	fe.add("mobile", ValidateMobile(NormalizeMobile(r.Mobile)))
	fe.add("code", ValidateDigits(r.Code, SMSCodeDigits, CodeSMSCodeWrong))
	return fe.err()
}

// PasswordLoginRequest signs in with an account and password. POST /v1/auth/login
type PasswordLoginRequest struct {
	Account  string `json:"account"`
	Password string `json:"password"`
}

// Validate checks the request. The password is only checked for presence
// and length: its value is never echoed in an error.
func (r *PasswordLoginRequest) Validate() error {
	var fe fieldErrors
	r.Account = NormalizeLine(r.Account)
	fe.add("account", ValidateName(r.Account, MaxAccountRunes))
	switch {
	case r.Password == "":
		fe.add("password", invalid(CodeRequired, ""))
	case len(r.Password) > MaxPasswordBytes:
		fe.add("password", invalid(CodeTooLong, "at most %d bytes", MaxPasswordBytes))
	}
	return fe.err()
}

// RefreshRequest trades a refresh token for new tokens (the old refresh
// token is then spent). POST /v1/auth/refresh; also the body of /v1/auth/logout.
type RefreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// Validate checks the request.
func (r *RefreshRequest) Validate() error {
	var fe fieldErrors
	fe.add("refresh_token", validateToken(r.RefreshToken))
	return fe.err()
}

func validateToken(t string) error {
	if t == "" {
		return invalid(CodeRequired, "")
	}
	if len(t) > MaxTokenBytes {
		return invalid(CodeTooLong, "at most %d bytes", MaxTokenBytes)
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] > '~' {
			return invalid(CodeInvalidField, "a token is printable ASCII")
		}
	}
	return nil
}

// User is who is signed in.
type User struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	Role             Role   `json:"role"`
	Mobile           string `json:"mobile,omitempty"` // masked: 138****5678
	Account          string `json:"account,omitempty"`
	OrganisationID   string `json:"organisation_id,omitempty"`
	OrganisationName string `json:"organisation_name,omitempty"`
}

// Tokens answers a successful sign-in or refresh.
type Tokens struct {
	AccessToken      string    `json:"access_token"`
	RefreshToken     string    `json:"refresh_token"`
	TokenType        string    `json:"token_type"` // "Bearer"
	ExpiresAt        time.Time `json:"expires_at"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
	User             User      `json:"user"`
}

// MaskMobile shows the first 3 and last 4 digits of a mobile number.
func MaskMobile(m string) string {
	if len(m) != 11 {
		return "***"
	}
	return m[:3] + "****" + m[7:]
}
