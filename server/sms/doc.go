// Package sms sends the service's text messages: sign-in codes and phone
// checks. The service depends on the small Sender interface; two senders
// implement it:
//
//   - Outbox, for development and tests: it keeps the last messages in
//     memory (and appends them to a file) where a developer or a test reads
//     the code instead of a phone. It must never run in production, since it
//     holds codes in clear.
//   - Tencent, the production adapter on Tencent Cloud's official SDK
//     (SendSms, API 2021-01-11, TC3-HMAC-SHA256 signed), one template per
//     purpose.
//
// A Sender does not generate, store or log codes: the caller makes the code,
// keeps only its hash, and hands the clear code to Send once.
package sms
