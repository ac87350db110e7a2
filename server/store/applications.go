package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// CertificateRecord is a certificate the CA issued, as the store keeps it.
type CertificateRecord struct {
	renewal.Certificate
	PublicKey []byte // SubjectPublicKeyInfo DER
	DER       []byte
}

// PutCertificate inserts or replaces a certificate the CA knows.
func (tx *Tx) PutCertificate(ctx context.Context, c *CertificateRecord, ch Change) error {
	if err := tx.mustWrite(); err != nil {
		return err
	}
	_, err := tx.q.ExecContext(ctx, `INSERT INTO certificates
		(serial, holder, issuer, organisation_id, not_before, not_after, key_type, public_key, der, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (serial) DO UPDATE SET holder = excluded.holder, issuer = excluded.issuer,
			organisation_id = excluded.organisation_id, not_before = excluded.not_before, not_after = excluded.not_after,
			key_type = excluded.key_type, public_key = excluded.public_key, der = excluded.der`,
		c.Serial, c.Holder, c.Issuer, c.OrganisationID, micros(c.NotBefore), micros(c.NotAfter), string(c.KeyType),
		c.PublicKey, c.DER, micros(tx.now))
	if err != nil {
		return fmt.Errorf("put certificate: %w", mapErr(err))
	}
	return tx.Audit(ch, "certificate/"+c.Serial, nil, c.Certificate)
}

// PutCertificate inserts or replaces a certificate in its own transaction.
func (s *Store) PutCertificate(ctx context.Context, c *CertificateRecord, ch Change) error {
	return s.Write(ctx, func(tx *Tx) error { return tx.PutCertificate(ctx, c, ch) })
}

const certColumns = `serial, holder, issuer, organisation_id, not_before, not_after, key_type, public_key, der`

func scanCert(r rowScanner) (*CertificateRecord, error) {
	var c CertificateRecord
	var nb, na int64
	var kt string
	if err := r.Scan(&c.Serial, &c.Holder, &c.Issuer, &c.OrganisationID, &nb, &na, &kt, &c.PublicKey, &c.DER); err != nil {
		return nil, err
	}
	c.NotBefore, c.NotAfter, c.KeyType = fromMicros(nb), fromMicros(na), renewal.KeyType(kt)
	return &c, nil
}

// Certificate returns the certificate with a normalised serial, if sc sees it.
func (tx *Tx) Certificate(ctx context.Context, sc Scope, serial string) (*CertificateRecord, error) {
	c, err := scanCert(tx.q.QueryRowContext(ctx, `SELECT `+certColumns+` FROM certificates WHERE serial = $1`, serial))
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", serial, mapErr(err))
	}
	if !sc.allows(c.OrganisationID) {
		return nil, fmt.Errorf("certificate %s: %w", serial, ErrNotFound)
	}
	return c, nil
}

// Certificate returns the certificate with a normalised serial, if sc sees it.
func (s *Store) Certificate(ctx context.Context, sc Scope, serial string) (*CertificateRecord, error) {
	return s.read().Certificate(ctx, sc, serial)
}

// Certificates lists an organisation's certificates, newest expiry first.
func (s *Store) Certificates(ctx context.Context, sc Scope, organisationID string) ([]*CertificateRecord, error) {
	if !sc.allows(organisationID) {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+certColumns+` FROM certificates WHERE organisation_id = $1
		ORDER BY not_after DESC, serial LIMIT $2`, organisationID, maxListPageSize)
	if err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	defer rows.Close()
	var out []*CertificateRecord
	for rows.Next() {
		c, err := scanCert(rows)
		if err != nil {
			return nil, fmt.Errorf("certificates: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

const appColumns = `id, organisation_id, created_by, cert_serial, form, comment, review_reason, status, payment,
	finverify, rekey, price_fen, version, created_at, updated_at, submitted_at, reviewed_at`

func scanApp(r rowScanner) (*renewal.Application, error) {
	var a renewal.Application
	var form string
	var status, payment, fv string
	var rekey int
	var created, updated int64
	var submitted, reviewed sql.NullInt64
	if err := r.Scan(&a.ID, &a.OrganisationID, &a.CreatedBy, &a.CertSerial, &form, &a.Comment, &a.ReviewReason,
		&status, &payment, &fv, &rekey, &a.PriceFen, &a.Version, &created, &updated, &submitted, &reviewed); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(form), &a.Form); err != nil {
		return nil, fmt.Errorf("application %s form: %w", a.ID, err)
	}
	a.Status, a.Payment, a.FinVerify = renewal.Status(status), renewal.Payment(payment), renewal.FinVerify(fv)
	a.Rekey, a.CreatedAt, a.UpdatedAt = rekey != 0, fromMicros(created), fromMicros(updated)
	a.SubmittedAt, a.ReviewedAt = fromNullMicros(submitted), fromNullMicros(reviewed)
	return &a, nil
}

// auditApp is what the audit log keeps of an application: everything but the
// caller-specific Actions.
func auditApp(a *renewal.Application) *renewal.Application {
	if a == nil {
		return nil
	}
	c := *a
	c.Actions = nil
	return &c
}

// checkApp refuses values the schema would store but no code should write:
// unknown states, a negative price, oversized free text. The form itself may
// be incomplete while editing; package renewal validates it on submit.
func checkApp(a *renewal.Application) error {
	switch {
	case !a.Status.Valid(), !a.Payment.Valid(), !a.FinVerify.Valid():
		return fmt.Errorf("application state %s: %w", a.State, ErrInvalid)
	case a.PriceFen < 0:
		return fmt.Errorf("application price %d: %w", a.PriceFen, ErrInvalid)
	case len(a.Comment) > 4*renewal.MaxCommentRunes, len(a.ReviewReason) > 4*renewal.MaxReasonRunes:
		return fmt.Errorf("application comment or reason too long: %w", ErrLimit)
	}
	return nil
}

// CreateApplication inserts a (ID, Version 1 and the times are filled in).
// A second open application for the same certificate is ErrConflict.
func (tx *Tx) CreateApplication(ctx context.Context, a *renewal.Application, ch Change) error {
	if err := tx.mustWrite(); err != nil {
		return err
	}
	if err := checkApp(a); err != nil {
		return err
	}
	if a.ID == "" {
		a.ID = newID()
	}
	a.Version, a.CreatedAt, a.UpdatedAt = 1, tx.now, tx.now
	form, err := json.Marshal(a.Form)
	if err != nil {
		return fmt.Errorf("create application: %w", err)
	}
	_, err = tx.q.ExecContext(ctx, `INSERT INTO applications (`+appColumns+`, years, org_name, credit_code)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`,
		a.ID, a.OrganisationID, a.CreatedBy, a.CertSerial, string(form), a.Comment, a.ReviewReason,
		string(a.Status), string(a.Payment), string(a.FinVerify), boolInt(a.Rekey), a.PriceFen, a.Version,
		micros(a.CreatedAt), micros(a.UpdatedAt), nullMicros(a.SubmittedAt), nullMicros(a.ReviewedAt),
		a.Form.Years, a.Form.Organisation.Name, a.Form.Organisation.CreditCode)
	if err != nil {
		return fmt.Errorf("create application: %w", mapErr(err))
	}
	return tx.Audit(ch, "application/"+a.ID, nil, auditApp(a))
}

// CreateApplication inserts a in its own transaction.
func (s *Store) CreateApplication(ctx context.Context, a *renewal.Application, ch Change) error {
	return s.Write(ctx, func(tx *Tx) error { return tx.CreateApplication(ctx, a, ch) })
}

// Application returns the application with id if sc sees it (ErrNotFound
// otherwise: another organisation's application does not exist for a clerk).
func (tx *Tx) Application(ctx context.Context, sc Scope, id string) (*renewal.Application, error) {
	q := `SELECT ` + appColumns + ` FROM applications WHERE id = $1`
	if tx.write && tx.s.dialect == Postgres {
		q += ` FOR UPDATE` // read-modify-write: hold the row until commit
	}
	a, err := scanApp(tx.q.QueryRowContext(ctx, q, id))
	if err != nil {
		return nil, fmt.Errorf("application %s: %w", id, mapErr(err))
	}
	if !sc.allows(a.OrganisationID) {
		return nil, fmt.Errorf("application %s: %w", id, ErrNotFound)
	}
	return a, nil
}

// Application returns the application with id if sc sees it.
func (s *Store) Application(ctx context.Context, sc Scope, id string) (*renewal.Application, error) {
	return s.read().Application(ctx, sc, id)
}

// UpdateApplication loads application id (as sc sees it), checks that it is
// still at version, lets fn change it, saves it at version+1 and audits the
// change with before and after. fn's error aborts everything. A version that
// moved on is ErrStaleVersion, before fn runs.
func (tx *Tx) UpdateApplication(ctx context.Context, sc Scope, id string, version int64, ch Change,
	fn func(a *renewal.Application) error) (*renewal.Application, error) {
	if err := tx.mustWrite(); err != nil {
		return nil, err
	}
	before, err := tx.Application(ctx, sc, id)
	if err != nil {
		return nil, err
	}
	if before.Version != version {
		return nil, fmt.Errorf("application %s at version %d, not %d: %w", id, before.Version, version, ErrStaleVersion)
	}
	after := *before
	if err := fn(&after); err != nil {
		return nil, err
	}
	// What fn may not change.
	after.ID, after.OrganisationID, after.CreatedBy, after.CertSerial, after.CreatedAt =
		before.ID, before.OrganisationID, before.CreatedBy, before.CertSerial, before.CreatedAt
	after.Version, after.UpdatedAt = version+1, tx.now
	if err := checkApp(&after); err != nil {
		return nil, err
	}
	form, err := json.Marshal(after.Form)
	if err != nil {
		return nil, fmt.Errorf("update application: %w", err)
	}
	res, err := tx.q.ExecContext(ctx, `UPDATE applications SET form = $1, comment = $2, review_reason = $3, status = $4,
		payment = $5, finverify = $6, rekey = $7, price_fen = $8, version = $9, updated_at = $10, submitted_at = $11,
		reviewed_at = $12, years = $13, org_name = $14, credit_code = $15
		WHERE id = $16 AND version = $17`,
		string(form), after.Comment, after.ReviewReason, string(after.Status), string(after.Payment), string(after.FinVerify),
		boolInt(after.Rekey), after.PriceFen, after.Version, micros(after.UpdatedAt), nullMicros(after.SubmittedAt),
		nullMicros(after.ReviewedAt), after.Form.Years, after.Form.Organisation.Name, after.Form.Organisation.CreditCode,
		id, version)
	if err := oneRow(res, err, "update application"); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("application %s: %w", id, ErrStaleVersion)
		}
		return nil, err
	}
	if err := tx.Audit(ch, "application/"+id, auditApp(before), auditApp(&after)); err != nil {
		return nil, err
	}
	return &after, nil
}

// UpdateApplication runs Tx.UpdateApplication in its own transaction.
func (s *Store) UpdateApplication(ctx context.Context, sc Scope, id string, version int64, ch Change,
	fn func(a *renewal.Application) error) (*renewal.Application, error) {
	var out *renewal.Application
	err := s.Write(ctx, func(tx *Tx) error {
		var err error
		out, err = tx.UpdateApplication(ctx, sc, id, version, ch, fn)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteApplication deletes application id at version with its documents,
// challenges and financial verification attempts. Whether the state allows it
// is for the caller (renewal.Apply) to decide; check(a) runs first and its
// error aborts.
func (s *Store) DeleteApplication(ctx context.Context, sc Scope, id string, version int64, ch Change,
	check func(a *renewal.Application) error) error {
	return s.Write(ctx, func(tx *Tx) error {
		a, err := tx.Application(ctx, sc, id)
		if err != nil {
			return err
		}
		if a.Version != version {
			return fmt.Errorf("application %s at version %d, not %d: %w", id, a.Version, version, ErrStaleVersion)
		}
		if check != nil {
			if err := check(a); err != nil {
				return err
			}
		}
		res, err := tx.q.ExecContext(ctx, `DELETE FROM applications WHERE id = $1 AND version = $2`, id, version)
		if err := oneRow(res, err, "delete application"); err != nil {
			return fmt.Errorf("application %s: %w", id, ErrStaleVersion)
		}
		return tx.Audit(ch, "application/"+id, auditApp(a), nil)
	})
}

// LastApplication returns an organisation's most recent application (for
// pre-filling a new one), ErrNotFound if it has none.
func (s *Store) LastApplication(ctx context.Context, sc Scope, organisationID string) (*renewal.Application, error) {
	if !sc.allows(organisationID) {
		return nil, fmt.Errorf("last application: %w", ErrNotFound)
	}
	a, err := scanApp(s.r.QueryRowContext(ctx, `SELECT `+appColumns+` FROM applications WHERE organisation_id = $1
		ORDER BY created_at DESC, id DESC LIMIT 1`, organisationID))
	if err != nil {
		return nil, fmt.Errorf("last application: %w", mapErr(err))
	}
	return a, nil
}

// OpenApplicationFor returns the application in progress (not installed or
// cancelled) for a certificate serial, ErrNotFound if none.
func (s *Store) OpenApplicationFor(ctx context.Context, sc Scope, serial string) (*renewal.Application, error) {
	a, err := scanApp(s.r.QueryRowContext(ctx, `SELECT `+appColumns+` FROM applications WHERE cert_serial = $1
		AND status NOT IN ('installed', 'cancelled')`, serial))
	if err != nil {
		return nil, fmt.Errorf("open application: %w", mapErr(err))
	}
	if !sc.allows(a.OrganisationID) {
		return nil, fmt.Errorf("open application: %w", ErrNotFound)
	}
	return a, nil
}

// Successor returns the serial of the certificate that certificate serial
// was renewed into: issued for one of its applications that was not
// cancelled (so ready to download, or installed). ErrNotFound if none.
func (tx *Tx) Successor(ctx context.Context, serial string) (string, error) {
	var next string
	err := tx.q.QueryRowContext(ctx, `SELECT i.serial FROM issuances i JOIN applications a ON a.id = i.application_id
		WHERE a.cert_serial = $1 AND a.status <> 'cancelled' ORDER BY i.issued_at DESC, i.serial LIMIT 1`, serial).Scan(&next)
	if err != nil {
		return "", fmt.Errorf("successor of %s: %w", serial, mapErr(err))
	}
	return next, nil
}

// Successor returns the serial of the certificate serial was renewed into.
func (s *Store) Successor(ctx context.Context, serial string) (string, error) {
	return s.read().Successor(ctx, serial)
}

// ListApplications returns one page of the applications sc sees that match
// req, newest first, and the token of the next page ("" at the end). Call
// req.Validate first.
func (s *Store) ListApplications(ctx context.Context, sc Scope, req renewal.ListApplicationsRequest) ([]*renewal.Application, string, error) {
	where := []string{"1 = 1"}
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	in := func(col string, vals []string) {
		if len(vals) == 0 {
			return
		}
		ph := make([]string, len(vals))
		for i, v := range vals {
			ph[i] = arg(v)
		}
		where = append(where, col+" IN ("+strings.Join(ph, ", ")+")")
	}
	switch {
	case sc.all:
		if req.OrganisationID != "" {
			where = append(where, "organisation_id = "+arg(req.OrganisationID))
		}
	case sc.organisationID != "":
		if req.OrganisationID != "" && req.OrganisationID != sc.organisationID {
			return nil, "", nil
		}
		where = append(where, "organisation_id = "+arg(sc.organisationID))
	default:
		return nil, "", nil
	}
	in("status", strs(req.Status))
	in("payment", strs(req.Payment))
	in("finverify", strs(req.FinVerify))
	if req.CertSerial != "" {
		where = append(where, "cert_serial = "+arg(req.CertSerial))
	}
	if q := strings.TrimSpace(req.Query); q != "" {
		p := arg("%" + escapeLike(strings.ToLower(q)) + "%")
		where = append(where, "(lower(org_name) LIKE "+p+` ESCAPE '\' OR lower(credit_code) LIKE `+p+` ESCAPE '\')`)
	}
	if req.PageToken != "" {
		at, id, err := decodePageToken(req.PageToken)
		if err != nil {
			return nil, "", err
		}
		a, b := arg(at), arg(id)
		where = append(where, "(created_at < "+a+" OR (created_at = "+a+" AND id < "+b+"))")
	}
	n := req.PageSize
	if n <= 0 || n > maxListPageSize {
		n = defaultListPageSize
	}
	q := `SELECT ` + appColumns + ` FROM applications WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY created_at DESC, id DESC LIMIT ` + arg(n+1)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list applications: %w", err)
	}
	defer rows.Close()
	var out []*renewal.Application
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list applications: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list applications: %w", err)
	}
	next := ""
	if len(out) > n {
		out = out[:n]
		last := out[n-1]
		next = encodePageToken(micros(last.CreatedAt), last.ID)
	}
	return out, next, nil
}

func strs[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

// ErrPageToken is returned for a page token this store did not make.
var ErrPageToken = errors.New("invalid page token")

func encodePageToken(at int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at, 10) + "." + id))
}

func decodePageToken(tok string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, "", ErrPageToken
	}
	at, id, ok := strings.Cut(string(b), ".")
	if !ok || id == "" || len(id) > 64 {
		return 0, "", ErrPageToken
	}
	v, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return 0, "", ErrPageToken
	}
	return v, id, nil
}
