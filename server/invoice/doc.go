// Package invoice issues the e-invoice of a paid renewal and tells the clerk
// where to find it: the last step of the journey, after payment.
//
// The model: an Issuer turns an invoice request (buyer's title and taxpayer
// ID, the amount including VAT) into an issued VAT ordinary e-invoice
// (增值税普通发票): its number and its PDF. DevIssuer makes a real PDF
// locally with formpdf and numbers it itself; adapters for the Chinese
// e-invoice platforms (the tax bureau's 全电发票 platform through a service
// provider such as Baiwang or Nuonuo) are later work and plug in behind the
// same interface. The service stores what the Issuer returns and hands out
// links to the PDF that need no account: Links signs the application id,
// the invoice number and an expiry with HMAC-SHA256, so a link cannot be
// forged or stretched, and a new one is made for every status read.
//
// The link goes to the clerk's e-mail through a Mailer: Outbox in
// development (nothing leaves the machine), SMTP in production (net/smtp,
// STARTTLS required before any credential or message is sent).
package invoice
