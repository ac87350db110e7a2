package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/invoice"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/sms"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// E-invoices, the journey's last step. The clerk asks for the invoice of a paid
// application; the request is stored (and, for a key sent by post,
// confirms its receipt) in one transaction; the Issuer is called outside
// it; the result (the PDF, or why it failed) is stored; the link goes to
// the clerk's phone and e-mail. The link carries a signed, expiring token
// instead of a session, so it opens in any browser and mail client.

// invoiceLinkKey derives the key that signs invoice links from the pepper,
// so no other secret has to be configured.
func invoiceLinkKey(p []byte) []byte {
	m := hmac.New(sha256.New, p)
	m.Write([]byte("ukey renew invoice link key"))
	return m.Sum(nil)
}

// devSeller is the seller on development invoices.
var devSeller = invoice.Seller{Name: "UKey Renew 开发环境数字认证中心", TaxID: "91440300MA5000000T"}

// invoiceURL is the link to the PDF, valid until exp. Its base is the
// configured public URL, else (development) the address the request came to.
func (s *Server) invoiceURL(r *http.Request, appID, number string, exp time.Time) string {
	base := s.cfg.PublicURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base + "/v1/applications/" + url.PathEscape(appID) + "/invoice.pdf?token=" + url.QueryEscape(s.links.Token(appID, number, exp))
}

func (s *Server) invoiceView(r *http.Request, inv *store.Invoice, receipt *time.Time) renewal.InvoiceStatus {
	v := renewal.InvoiceStatus{State: inv.State, Kind: renewal.InvoiceKindVATOrdinary, Details: inv.Details,
		AmountFen: inv.AmountFen, Attempts: inv.Attempts, Number: inv.Number, Reason: inv.Reason,
		RequestedAt: inv.RequestedAt.UTC(), IssuedAt: inv.IssuedAt, ReceiptConfirmedAt: receipt}
	if inv.State == renewal.InvoiceIssued {
		exp := s.now().Add(s.cfg.Limits.InvoiceLinkTTL).UTC().Truncate(time.Second)
		v.URL, v.URLExpiresAt = s.invoiceURL(r, inv.ApplicationID, inv.Number, exp), &exp
	}
	return v
}

// requestInvoice is POST /v1/applications/{id}/invoice.
func (s *Server) requestInvoice(w http.ResponseWriter, r *http.Request) error {
	var req renewal.InvoiceRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	send := func(ctx context.Context, inv *store.Invoice) { s.sendInvoiceLink(ctx, r, inv) }
	inv, receipt, err := s.apps.RequestInvoice(r.Context(), s.caller(r), r.PathValue("id"), req, send)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.invoiceView(r, inv, receipt))
	return nil
}

// sendInvoiceLink sends the link by SMS and e-mail and audits each send's
// outcome (never the link: it is a bearer token). A failed send does not
// undo the invoice: the client shows the link too.
func (s *Server) sendInvoiceLink(ctx context.Context, r *http.Request, inv *store.Invoice) {
	exp := s.now().Add(s.cfg.Limits.InvoiceLinkTTL).UTC().Truncate(time.Second)
	link := s.invoiceURL(r, inv.ApplicationID, inv.Number, exp)
	result := func(err error) string {
		if err != nil {
			s.log.WarnContext(ctx, "invoice link not sent", "application", inv.ApplicationID, "err", err.Error())
			return "failed"
		}
		return "sent"
	}
	smsRes := result(s.sms.Send(ctx, sms.Message{Mobile: inv.Details.Phone, Purpose: sms.PurposeInvoice, Link: link}))
	body := fmt.Sprintf("您好：\n\n您的数字证书续期电子发票（增值税普通发票）已开具。\n发票号码：%s\n价税合计：%d.%02d 元\n\n下载链接（%s 前有效）：\n%s\n\n"+
		"Your e-invoice %s has been issued. Download it from the link above before %s (UTC+8).\n",
		inv.Number, inv.AmountFen/100, inv.AmountFen%100, exp.In(chinaTime).Format("2006-01-02 15:04"), link,
		inv.Number, exp.In(chinaTime).Format("2006-01-02 15:04"))
	mailRes := result(s.mailer.Send(ctx, invoice.Mail{To: inv.Details.Email, Subject: "电子发票 " + inv.Number + " · UKey 证书续期", Body: body}))
	err := s.store.Write(ctx, func(tx *store.Tx) error {
		return tx.Audit(s.change(r, "invoice.send"), "application/"+inv.ApplicationID, nil,
			map[string]any{"number": inv.Number, "sms": smsRes, "sms_to": inv.Details.Phone, "email": mailRes, "email_to": inv.Details.Email,
				"link_expires_at": exp})
	})
	if err != nil {
		s.log.ErrorContext(ctx, "invoice send not audited", "application", inv.ApplicationID, "err", err.Error())
	}
}

// getInvoice is GET /v1/applications/{id}/invoice.
func (s *Server) getInvoice(w http.ResponseWriter, r *http.Request) error {
	inv, receipt, err := s.apps.Invoice(r.Context(), s.caller(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.invoiceView(r, inv, receipt))
	return nil
}

// invoicePDF is GET /v1/applications/{id}/invoice.pdf?token=…: no session,
// the signed token is the authority. A forged token is "not found"; a
// genuine one past its time says so, so the clerk asks the app for a new one.
func (s *Server) invoicePDF(w http.ResponseWriter, r *http.Request) error {
	if err := s.apps.CheckInvoices(); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := renewals.CheckID(id); err != nil {
		return err
	}
	token := r.URL.Query().Get("token")
	if token == "" || len(token) > invoice.MaxTokenLen {
		return renewal.NewError(renewal.CodeNotFound, "")
	}
	// The link is checked (signature, then time) before the PDF is read:
	// forged links cost a small query, not a PDF each.
	number, err := s.store.InvoiceNumber(r.Context(), id)
	if err != nil {
		return renewals.StoreError(err, "")
	}
	switch err := s.links.Check(id, number, token, s.now()); {
	case errors.Is(err, invoice.ErrLinkExpired):
		return renewal.NewError(renewal.CodeLinkExpired, "")
	case err != nil:
		return renewal.NewError(renewal.CodeNotFound, "")
	}
	stored, pdf, err := s.store.InvoicePDF(r.Context(), id)
	if err != nil {
		return renewals.StoreError(err, "")
	}
	if stored != number { // an issued invoice keeps its number: never
		return renewal.NewError(renewal.CodeNotFound, "")
	}
	// Anyone holding the link can download it as often as the request
	// limiter lets them: one row an hour per invoice and source, the rest
	// counted into the next.
	k := collapseKey{Action: "invoice.download", Target: "application/" + id, Source: sourceOf(s.clientIP(r))}
	if err := s.auditCollapsed(r.Context(), k, invoiceDownloadWindow,
		store.Change{Actor: "invoice_link", IP: s.clientIP(r), Action: k.Action}, map[string]any{"number": number}); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Length", strconv.Itoa(len(pdf)))
	w.Header().Set("Content-Disposition", `attachment; filename="invoice-`+number+`.pdf"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(pdf)
	return nil
}

func (s *Server) devMailOutbox(w http.ResponseWriter, r *http.Request) error {
	if s.devMail == nil {
		return renewal.NewError(renewal.CodeNotFound, "")
	}
	msgs := s.devMail.Mails(r.URL.Query().Get("to"))
	if msgs == nil {
		msgs = []invoice.SentMail{}
	}
	writeJSON(w, http.StatusOK, msgs)
	return nil
}
