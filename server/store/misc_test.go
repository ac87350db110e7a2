package store

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func TestSMSCodes(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *fakeclock.Clock) {
		day := clk.Now().Truncate(24 * time.Hour)
		lim := SMSLimits{ResendAfter: time.Minute, PerNumberPerIP: 3, PerNumberPerDay: 3, PerIPPerDay: 4, DayStart: day}
		code := func(mobile, ip, hash string) SMSCode {
			return SMSCode{Mobile: mobile, Purpose: "login", CodeHash: hash, IP: ip, TTL: 5 * time.Minute}
		}
		must(t, s.CreateSMSCode(ctx, code("13800138000", "1.1.1.1", "h1"), lim))
		err := s.CreateSMSCode(ctx, code("13800138000", "1.1.1.1", "h2"), lim)
		wantErr(t, err, ErrTooSoon)
		var le *LimitError
		if !errors.As(err, &le) || !le.Until.Equal(clk.Now().Add(time.Minute)) {
			t.Fatalf("too soon: %#v, want a LimitError until a minute on", err)
		}
		clk.Advance(61 * time.Second)
		must(t, s.CreateSMSCode(ctx, code("13800138000", "1.1.1.1", "h2"), lim))
		// The first code was replaced by the second.
		wantErr(t, s.ConsumeSMSCode(ctx, "13800138000", "login", "h1", "1.1.1.1", 5), ErrMismatch)
		must(t, s.ConsumeSMSCode(ctx, "13800138000", "login", "h2", "1.1.1.1", 5))
		wantErr(t, s.ConsumeSMSCode(ctx, "13800138000", "login", "h2", "1.1.1.1", 5), ErrNotFound) // used up
		clk.Advance(61 * time.Second)
		must(t, s.CreateSMSCode(ctx, code("13800138000", "1.1.1.1", "h3"), lim))
		clk.Advance(61 * time.Second)
		err = s.CreateSMSCode(ctx, code("13800138000", "1.1.1.1", "h4"), lim) // 3 per number and source
		wantErr(t, err, ErrDailyLimit)
		if !errors.As(err, &le) || !le.Until.Equal(day.AddDate(0, 0, 1)) {
			t.Fatalf("daily limit: %#v, want a LimitError until the next day", err)
		}
		must(t, s.CreateSMSCode(ctx, code("13900139000", "1.1.1.1", "h5"), lim))
		must(t, s.CreateSMSCode(ctx, code("13700137000", "1.1.1.1", "h6"), lim))
		must(t, s.CreateSMSCode(ctx, code("13600136000", "1.1.1.1", "h6"), lim))
		must(t, s.CreateSMSCode(ctx, code("13400134000", "1.1.1.1", "h6"), lim))
		// 4 per source, counting only the numbers it is not trusted with
		// (13800138000 signed in from 1.1.1.1).
		wantErr(t, s.CreateSMSCode(ctx, code("13500135000", "1.1.1.1", "h6"), lim), ErrDailyLimit)
		must(t, s.CreateSMSCode(ctx, code("13500135000", "2.2.2.2", "h6"), lim))
		// Tries: 5 wrong ones from the asker kill the code, even the right one after.
		for i := 1; i <= 4; i++ {
			wantErr(t, s.ConsumeSMSCode(ctx, "13500135000", "login", "wrong", "2.2.2.2", 5), ErrMismatch)
		}
		wantErr(t, s.ConsumeSMSCode(ctx, "13500135000", "login", "wrong", "2.2.2.2", 5), ErrTooManyTries)
		wantErr(t, s.ConsumeSMSCode(ctx, "13500135000", "login", "h6", "2.2.2.2", 5), ErrTooManyTries)
		// Wrong tries from elsewhere are counted apart: they kill the code
		// for elsewhere only.
		for i := 1; i <= 4; i++ {
			wantErr(t, s.ConsumeSMSCode(ctx, "13600136000", "login", "wrong", "3.3.3.3", 5), ErrMismatch)
		}
		wantErr(t, s.ConsumeSMSCode(ctx, "13600136000", "login", "wrong", "4.4.4.4", 5), ErrTooManyTries)
		wantErr(t, s.ConsumeSMSCode(ctx, "13600136000", "login", "h6", "3.3.3.3", 5), ErrTooManyTries)
		must(t, s.ConsumeSMSCode(ctx, "13600136000", "login", "h6", "1.1.1.1", 5))
		// Expiry.
		clk.Advance(5 * time.Minute)
		wantErr(t, s.ConsumeSMSCode(ctx, "13900139000", "login", "h5", "1.1.1.1", 5), ErrExpired)
		// A new day resets the counts.
		clk.Advance(24 * time.Hour)
		lim.DayStart = clk.Now().Truncate(24 * time.Hour)
		must(t, s.CreateSMSCode(ctx, code("13800138000", "1.1.1.1", "h7"), lim))
		must(t, s.PurgeExpired(ctx, clk.Now().Add(-time.Hour)))
		must(t, s.ConsumeSMSCode(ctx, "13800138000", "login", "h7", "1.1.1.1", 5))
	})
}

// A number's cap on strangers does not hold where it signed in, nor for an
// office network; the trust lapses after SMSTrustFor.
func TestSMSTrustedSources(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *fakeclock.Clock) {
		lim := SMSLimits{ResendAfter: time.Minute, PerNumberPerIP: 2, PerNumberPerDay: 3, PerIPPerDay: 10, DayStart: clk.Now().Truncate(24 * time.Hour)}
		ask := func(ip string, l SMSLimits) error {
			clk.Advance(61 * time.Second)
			return s.CreateSMSCode(ctx, SMSCode{Mobile: "13800138000", Purpose: "login", CodeHash: "h", IP: ip, TTL: 5 * time.Minute}, l)
		}
		must(t, ask("9.9.9.9", lim))
		must(t, s.ConsumeSMSCode(ctx, "13800138000", "login", "h", "9.9.9.9", 5)) // 9.9.9.9 is now trusted
		must(t, ask("1.1.1.1", lim))
		must(t, ask("2.2.2.2", lim))
		wantErr(t, ask("3.3.3.3", lim), ErrDailyLimit) // 3 to the number today
		must(t, ask("9.9.9.9", lim))
		wantErr(t, ask("9.9.9.9", lim), ErrDailyLimit) // its own cap of 2
		office := lim
		office.Office = true
		must(t, ask("10.0.0.1", office))
		// The next day, past the trust: a stranger again.
		clk.Advance(SMSTrustFor)
		lim.DayStart = clk.Now().Truncate(24 * time.Hour)
		must(t, ask("1.1.1.1", lim))
		must(t, ask("2.2.2.2", lim))
		must(t, ask("3.3.3.3", lim))
		wantErr(t, ask("9.9.9.9", lim), ErrDailyLimit)
	})
}

func TestTokens(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *fakeclock.Clock) {
		f := seed(t, s, clk)
		mk := func(hash string, kind TokenKind, ttl time.Duration) *Token {
			return &Token{Hash: hash, Kind: kind, UserID: f.clerkA.ID, Family: "fam1", ExpiresAt: clk.Now().Add(ttl)}
		}
		must(t, s.CreateTokens(ctx, mk("a1", AccessToken, 15*time.Minute), mk("r1", RefreshToken, 30*24*time.Hour)))
		tok, err := s.ValidToken(ctx, AccessToken, "a1")
		must(t, err)
		if tok.UserID != f.clerkA.ID {
			t.Errorf("token user %s", tok.UserID)
		}
		_, err = s.ValidToken(ctx, RefreshToken, "a1") // wrong kind
		wantErr(t, err, ErrNotFound)
		_, err = s.ValidToken(ctx, AccessToken, "nope")
		wantErr(t, err, ErrNotFound)
		clk.Advance(16 * time.Minute)
		_, err = s.ValidToken(ctx, AccessToken, "a1")
		wantErr(t, err, ErrExpired)
		// Rotation.
		_, err = s.RotateRefresh(ctx, "r1", mk("a2", AccessToken, 15*time.Minute), mk("r2", RefreshToken, 30*24*time.Hour))
		must(t, err)
		_, err = s.ValidToken(ctx, RefreshToken, "r1")
		wantErr(t, err, ErrRevoked)
		// Successors must belong to the same user and family.
		bad := mk("r3", RefreshToken, time.Hour)
		bad.Family = "other"
		_, err = s.RotateRefresh(ctx, "r2", bad)
		wantErr(t, err, ErrInvalid)
		_, err = s.RotateRefresh(ctx, "r2", mk("a3", AccessToken, time.Hour))
		wantErr(t, err, ErrInvalid)
		// Replaying r1 revokes the whole family, r2 and a2 included.
		_, err = s.RotateRefresh(ctx, "r1", mk("a9", AccessToken, time.Hour), mk("r9", RefreshToken, time.Hour))
		wantErr(t, err, ErrTokenReused)
		for _, h := range []string{"a2", "r2"} {
			k := AccessToken
			if h[0] == 'r' {
				k = RefreshToken
			}
			_, err = s.ValidToken(ctx, k, h)
			wantErr(t, err, ErrRevoked)
		}
		_, err = s.ValidToken(ctx, AccessToken, "a9")
		wantErr(t, err, ErrNotFound)
		// Sign-out revokes a family; disabling a user revokes theirs.
		must(t, s.CreateTokens(ctx, &Token{Hash: "a5", Kind: AccessToken, UserID: f.clerkA.ID, Family: "fam2", ExpiresAt: clk.Now().Add(time.Hour)}))
		must(t, s.RevokeFamily(ctx, "fam2", Change{Actor: f.clerkA.ID, Action: "auth.logout"}))
		_, err = s.ValidToken(ctx, AccessToken, "a5")
		wantErr(t, err, ErrRevoked)
		must(t, s.CreateTokens(ctx, &Token{Hash: "a6", Kind: AccessToken, UserID: f.clerkA.ID, Family: "fam3", ExpiresAt: clk.Now().Add(time.Hour)}))
		must(t, s.SetUserDisabled(ctx, f.clerkA.ID, true, sys("user.disable")))
		_, err = s.ValidToken(ctx, AccessToken, "a6")
		wantErr(t, err, ErrRevoked)
		u, err := s.User(ctx, f.clerkA.ID)
		must(t, err)
		if !u.Disabled {
			t.Error("user not disabled")
		}
		wantErr(t, s.CreateTokens(ctx, &Token{Hash: "a5", Kind: AccessToken, UserID: f.clerkA.ID, Family: "x", ExpiresAt: clk.Now()}), ErrConflict)
		verifyOK(t, s)
	})
}

func TestDocuments(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *fakeclock.Clock) {
		f := seed(t, s, clk)
		a := newApp(t, s, f.orgA, f.clerkA, f.certA.Serial)
		sc := OrgScope(f.orgA.ID)
		ch := Change{Actor: f.clerkA.ID, Action: "document.upload"}
		pdf := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte{0xAB}, 1000)...)
		d := &renewal.Document{ApplicationID: a.ID, Kind: renewal.DocApplicationForm, Name: "申请表.pdf", ContentType: renewal.ContentPDF}
		must(t, s.AddDocument(ctx, sc, d, pdf, ch))
		if d.Size != int64(len(pdf)) || len(d.SHA256) != 64 || d.ID == "" {
			t.Errorf("document: %+v", d)
		}
		got, data, err := s.Document(ctx, sc, a.ID, d.ID)
		must(t, err)
		if !bytes.Equal(data, pdf) || got.Name != d.Name || got.SHA256 != d.SHA256 {
			t.Errorf("document round trip: %+v", got)
		}
		_, _, err = s.Document(ctx, sc, "other-app", d.ID)
		wantErr(t, err, ErrNotFound)
		wantErr(t, s.AddDocument(ctx, sc, &renewal.Document{ApplicationID: a.ID, Kind: renewal.DocOther, Name: "big", ContentType: renewal.ContentPNG},
			make([]byte, renewal.MaxDocumentBytes+1), ch), ErrLimit)
		for i := 1; i < MaxDocumentsPerApp; i++ {
			clk.Advance(time.Second)
			must(t, s.AddDocument(ctx, sc, &renewal.Document{ApplicationID: a.ID, Kind: renewal.DocOther, Name: "p.png", ContentType: renewal.ContentPNG}, []byte("\x89PNG"), ch))
		}
		wantErr(t, s.AddDocument(ctx, sc, &renewal.Document{ApplicationID: a.ID, Kind: renewal.DocOther, Name: "one too many", ContentType: renewal.ContentPNG}, []byte("\x89PNG"), ch), ErrLimit)
		list, err := s.Documents(ctx, sc, a.ID)
		must(t, err)
		if len(list) != MaxDocumentsPerApp || list[0].ID != d.ID {
			t.Errorf("list: %d documents", len(list))
		}
		must(t, s.DeleteDocument(ctx, sc, a.ID, list[1].ID, ch))
		wantErr(t, s.DeleteDocument(ctx, sc, a.ID, list[1].ID, ch), ErrNotFound)
		// Bytes changed behind the store's back are refused on reading.
		if _, err := s.DB().Exec(`UPDATE documents SET data = $1 WHERE id = $2`, []byte("%PDF-evil"), d.ID); err != nil {
			t.Fatal(err)
		}
		_, _, err = s.Document(ctx, sc, a.ID, d.ID)
		wantErr(t, err, ErrMismatch)
		verifyOK(t, s)
	})
}

// A document is stored in chunks and read back a chunk at a time; one
// stored whole (before chunks) still reads; a changed chunk or a document
// deleted while being read ends the reader with an error, never io.EOF.
func TestDocumentsInChunks(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *fakeclock.Clock) {
		f := seed(t, s, clk)
		a := newApp(t, s, f.orgA, f.clerkA, f.certA.Serial)
		sc := OrgScope(f.orgA.ID)
		ch := Change{Actor: f.clerkA.ID, Action: "document.upload"}
		data := make([]byte, 2*DocumentChunk+DocumentChunk/2)
		for i := range data {
			data[i] = byte(i * 7)
		}
		add := func() *renewal.Document {
			d := &renewal.Document{ApplicationID: a.ID, Kind: renewal.DocOther, Name: "scan.png", ContentType: renewal.ContentPNG}
			must(t, s.AddDocument(ctx, sc, d, data, ch))
			clk.Advance(time.Second)
			return d
		}
		count := func(q string, args ...any) (n int) {
			t.Helper()
			must(t, s.DB().QueryRow(q, args...).Scan(&n))
			return n
		}
		d := add()
		if n := count(`SELECT COUNT(*) FROM document_chunks WHERE document_id = $1`, d.ID); n != 3 {
			t.Fatalf("%d chunks, want 3", n)
		}
		if n := count(`SELECT length(data) FROM documents WHERE id = $1`, d.ID); n != 0 {
			t.Fatalf("%d bytes stored inline besides the chunks", n)
		}
		got, r, err := s.OpenDocument(ctx, sc, a.ID, d.ID)
		must(t, err)
		if got.Size != int64(len(data)) {
			t.Fatalf("size %d", got.Size)
		}
		back, err := io.ReadAll(iotest.OneByteReader(io.LimitReader(r, 1000)))
		must(t, err)
		rest, err := io.ReadAll(r)
		must(t, err)
		if !bytes.Equal(append(back, rest...), data) {
			t.Fatal("chunks read back differ")
		}
		if _, _, err := s.OpenDocument(ctx, OrgScope(f.orgB.ID), a.ID, d.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("another organisation opened the document: %v", err)
		}

		// A document stored whole, as before chunks.
		legacy := add()
		_, err = s.DB().Exec(`DELETE FROM document_chunks WHERE document_id = $1`, legacy.ID)
		must(t, err)
		_, err = s.DB().Exec(`UPDATE documents SET data = $1 WHERE id = $2`, data, legacy.ID)
		must(t, err)
		_, whole, err := s.Document(ctx, sc, a.ID, legacy.ID)
		must(t, err)
		if !bytes.Equal(whole, data) {
			t.Fatal("a document stored whole reads back different")
		}

		// A changed chunk: the reader fails at the end.
		bad := add()
		_, err = s.DB().Exec(`UPDATE document_chunks SET data = $1 WHERE document_id = $2 AND seq = 1`, make([]byte, DocumentChunk), bad.ID)
		must(t, err)
		_, r, err = s.OpenDocument(ctx, sc, a.ID, bad.ID)
		must(t, err)
		_, err = io.ReadAll(r)
		wantErr(t, err, ErrMismatch)

		// Deleted while being read: an error, not a short file.
		gone := add()
		_, r, err = s.OpenDocument(ctx, sc, a.ID, gone.ID)
		must(t, err)
		must(t, iotestRead(r, 10))
		must(t, s.DeleteDocument(ctx, sc, a.ID, gone.ID, ch))
		if _, err := io.ReadAll(r); err == nil {
			t.Fatal("a document deleted while read ended as if whole")
		}
		if n := count(`SELECT COUNT(*) FROM document_chunks WHERE document_id = $1`, gone.ID); n != 0 {
			t.Fatalf("%d chunks left of a deleted document", n)
		}
		verifyOK(t, s)
	})
}

func iotestRead(r io.Reader, n int) error {
	_, err := io.ReadFull(r, make([]byte, n))
	return err
}

func TestFinVerify(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *fakeclock.Clock) {
		f := seed(t, s, clk)
		a := newApp(t, s, f.orgA, f.clerkA, f.certA.Serial)
		sc := OrgScope(f.orgA.ID)
		p := renewal.DefaultPolicy()
		_, err := s.LatestFinVerifyAttempt(ctx, sc, a.ID)
		wantErr(t, err, ErrNotFound)
		send := func(hash string) {
			must(t, s.Write(ctx, func(tx *Tx) error {
				return tx.AddFinVerifyAttempt(ctx, &FinVerifyAttempt{ApplicationID: a.ID, CodeHash: hash, MaxTries: p.FinVerifyMaxTries,
					Bank: a.Form.Bank, AmountFen: 1}, sys("finverify.send"))
			}))
		}
		send("right")
		apply := func(a *renewal.Application, result error) error {
			act := renewal.ActionSubmitFinVerify
			role := renewal.RoleClerk
			if result != nil {
				act, role = renewal.ActionFailFinVerify, renewal.RoleSystem
			}
			a.Status = renewal.StatusApproved // as if reviewed
			n, err := renewal.Apply(a.State, p, role, act)
			a.State = n
			return err
		}
		ch := Change{Actor: f.clerkA.ID, Action: "finverify.code"}
		got, err := s.SubmitFinVerifyCode(ctx, sc, a.ID, 1, "wrong", ch, apply)
		wantErr(t, err, ErrMismatch)
		if got.Version != 1 {
			t.Errorf("a wrong code moved the version to %d", got.Version)
		}
		att, err := s.LatestFinVerifyAttempt(ctx, sc, a.ID)
		must(t, err)
		if att.Tries != 1 || att.Bank != a.Form.Bank {
			t.Errorf("attempt: %+v", att)
		}
		_, err = s.SubmitFinVerifyCode(ctx, sc, a.ID, 7, "right", ch, apply)
		wantErr(t, err, ErrStaleVersion)
		got, err = s.SubmitFinVerifyCode(ctx, sc, a.ID, 1, "right", ch, apply)
		must(t, err)
		if got.Version != 2 || got.FinVerify != renewal.FinVerifyVerified {
			t.Errorf("after right code: %+v", got.State)
		}
		_, err = s.SubmitFinVerifyCode(ctx, sc, a.ID, 2, "right", ch, apply)
		wantErr(t, err, ErrUsed)

		// Three wrong codes fail the check and move the application once.
		b := newApp(t, s, f.orgB, f.clerkB, f.certB.Serial)
		a = b
		scB := OrgScope(f.orgB.ID)
		send("right")
		for i := 1; i <= 2; i++ {
			_, err := s.SubmitFinVerifyCode(ctx, scB, b.ID, 1, "wrong", ch, apply)
			wantErr(t, err, ErrMismatch)
		}
		clk.Advance(time.Second)
		got, err = s.SubmitFinVerifyCode(ctx, scB, b.ID, 1, "wrong", ch, apply)
		wantErr(t, err, ErrTooManyTries)
		if got == nil || got.FinVerify != renewal.FinVerifyFailed || got.Version != 2 {
			t.Fatalf("after the last try: %+v", got)
		}
		clk.Advance(time.Second)
		_, err = s.SubmitFinVerifyCode(ctx, scB, b.ID, 2, "right", ch, apply)
		wantErr(t, err, ErrTooManyTries)
		if cur, _ := s.Application(ctx, scB, b.ID); cur.Version != 2 {
			t.Errorf("a try after failure moved the application to version %d", cur.Version)
		}
		// Another organisation cannot try codes.
		_, err = s.SubmitFinVerifyCode(ctx, scB, got.ID, 2, "right", ch, apply)
		wantErr(t, err, ErrTooManyTries)
		_, err = s.SubmitFinVerifyCode(ctx, OrgScope(f.orgA.ID), b.ID, 2, "right", ch, apply)
		wantErr(t, err, ErrNotFound)
		verifyOK(t, s)
	})
}

func TestChallengesAndIssuance(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *fakeclock.Clock) {
		f := seed(t, s, clk)
		a := newApp(t, s, f.orgA, f.clerkA, f.certA.Serial)
		b := newApp(t, s, f.orgB, f.clerkB, f.certB.Serial)
		sc := OrgScope(f.orgA.ID)
		nonce := bytes.Repeat([]byte{9}, renewal.NonceBytes)
		exp, err := s.AddChallenge(ctx, sc, a.ID, nonce, 5*time.Minute)
		must(t, err)
		if !exp.Equal(clk.Now().Add(5 * time.Minute)) {
			t.Errorf("expires %s", exp)
		}
		consume := func(app string, n []byte) error {
			return s.Write(ctx, func(tx *Tx) error { return tx.ConsumeChallenge(ctx, app, n) })
		}
		wantErr(t, consume(b.ID, nonce), ErrNotFound)                 // another application's nonce
		wantErr(t, consume(a.ID, []byte("never given")), ErrNotFound) // unknown
		is := &renewal.Issuance{ApplicationID: a.ID, Mode: renewal.IssueSameKey, Serial: "77", Certificate: []byte{0x30, 0x82},
			Chain: [][]byte{{0x30, 1}, {0x30, 2}}, NotBefore: clk.Now(), NotAfter: clk.Now().AddDate(1, 0, 0)}
		// A failed issuance leaves the nonce unused.
		boom := errors.New("issuer down")
		wantErr(t, s.Write(ctx, func(tx *Tx) error {
			if err := tx.ConsumeChallenge(ctx, a.ID, nonce); err != nil {
				return err
			}
			return boom
		}), boom)
		must(t, s.Write(ctx, func(tx *Tx) error {
			if err := tx.ConsumeChallenge(ctx, a.ID, nonce); err != nil {
				return err
			}
			return tx.PutIssuance(ctx, is, Change{Actor: f.clerkA.ID, Action: "application.issue"})
		}))
		wantErr(t, consume(a.ID, nonce), ErrUsed)
		got, err := s.Issuance(ctx, sc, a.ID)
		must(t, err)
		if got.Serial != "77" || len(got.Chain) != 2 || !bytes.Equal(got.Chain[1], []byte{0x30, 2}) || got.Mode != renewal.IssueSameKey ||
			!got.NotAfter.Equal(is.NotAfter) {
			t.Errorf("issuance: %+v", got)
		}
		wantErr(t, s.Write(ctx, func(tx *Tx) error { return tx.PutIssuance(ctx, is, sys("again")) }), ErrConflict)
		_, err = s.Issuance(ctx, OrgScope(f.orgB.ID), b.ID)
		wantErr(t, err, ErrNotFound)
		// Expiry.
		n2 := bytes.Repeat([]byte{8}, renewal.NonceBytes)
		_, err = s.AddChallenge(ctx, sc, a.ID, n2, time.Minute)
		must(t, err)
		clk.Advance(time.Minute)
		wantErr(t, consume(a.ID, n2), ErrExpired)
		verifyOK(t, s)
	})
}

// A sign-in's tokens and its audit entry commit together or not at all.
func TestCreateTokensInOneTransaction(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *fakeclock.Clock) {
		f := seed(t, s, clk)
		tok := func(hash string) *Token {
			return &Token{Hash: hash, Kind: AccessToken, UserID: f.clerkA.ID, Family: "fam-" + hash, ExpiresAt: clk.Now().Add(time.Hour)}
		}
		seq0, _, err := s.AuditHead(ctx)
		must(t, err)
		boom := errors.New("boom")
		err = s.Write(ctx, func(tx *Tx) error {
			must(t, tx.CreateTokens(ctx, tok("lost")))
			must(t, tx.Audit(Change{Actor: f.clerkA.ID, Action: "auth.sms_login"}, "user/"+f.clerkA.ID, nil, nil))
			return boom
		})
		wantErr(t, err, boom)
		_, err = s.ValidToken(ctx, AccessToken, "lost")
		wantErr(t, err, ErrNotFound)
		if seq, _, _ := s.AuditHead(ctx); seq != seq0 {
			t.Fatalf("audit moved from %d to %d on a rolled-back sign-in", seq0, seq)
		}
		must(t, s.Write(ctx, func(tx *Tx) error {
			if err := tx.CreateTokens(ctx, tok("kept")); err != nil {
				return err
			}
			return tx.Audit(Change{Actor: f.clerkA.ID, Action: "auth.sms_login"}, "user/"+f.clerkA.ID, nil, nil)
		}))
		if _, err := s.ValidToken(ctx, AccessToken, "kept"); err != nil {
			t.Fatal(err)
		}
		if seq, _, _ := s.AuditHead(ctx); seq != seq0+1 {
			t.Fatalf("audit at %d, want %d", seq, seq0+1)
		}
		// Not in a read transaction; a duplicate hash is a conflict.
		if err := s.Read(ctx, func(tx *Tx) error { return tx.CreateTokens(ctx, tok("read")) }); err == nil {
			t.Fatal("CreateTokens in a read transaction accepted")
		}
		wantErr(t, s.Write(ctx, func(tx *Tx) error { return tx.CreateTokens(ctx, tok("kept")) }), ErrConflict)
	})
}

// Transfers sent within one microsecond (the clock stands still here) are
// still ordered: the latest is the one sent last, and they are counted.
func TestFinVerifyAttemptsAreNumbered(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *fakeclock.Clock) {
		f := seed(t, s, clk)
		a := newApp(t, s, f.orgA, f.clerkA, f.certA.Serial)
		sc := OrgScope(f.orgA.ID)
		for i := 1; i <= 6; i++ {
			hash := string(rune('a' + i))
			must(t, s.Write(ctx, func(tx *Tx) error {
				return tx.AddFinVerifyAttempt(ctx, &FinVerifyAttempt{ApplicationID: a.ID, CodeHash: hash, MaxTries: 3,
					Bank: a.Form.Bank, AmountFen: 1}, sys("finverify.transfer"))
			}))
			got, err := s.LatestFinVerifyAttempt(ctx, sc, a.ID)
			must(t, err)
			if got.CodeHash != hash || got.No != i {
				t.Fatalf("after transfer %d the latest is no. %d (%q)", i, got.No, got.CodeHash)
			}
			n, err := s.CountFinVerifyAttempts(ctx, sc, a.ID)
			must(t, err)
			if n != i {
				t.Fatalf("counted %d transfers, sent %d", n, i)
			}
		}
		// Another organisation's clerk sees no application, so no count.
		_, err := s.CountFinVerifyAttempts(ctx, OrgScope(f.orgB.ID), a.ID)
		wantErr(t, err, ErrNotFound)
	})
}
