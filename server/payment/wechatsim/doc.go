// Package wechatsim is a SIMULATOR of the WeChat Pay API v3 (direct merchant,
// Native QR payments and domestic refunds). WeChat Pay has no v3 sandbox, so
// the renewal service is developed and tested against this simulator through
// the real SDK path: wechatpay-go's HTTP client, pointed at the simulator by a
// transport that rewrites the host, signs requests with the merchant key and
// verifies the simulator's responses exactly as it would verify WeChat's.
//
// What the simulator does as WeChat does:
//   - refuses any request whose Authorization header (WECHATPAY2-SHA256-RSA2048
//     with mchid, nonce_str, timestamp, serial_no, signature over
//     "METHOD\nURI\nts\nnonce\nbody\n") does not verify with the merchant
//     certificate's public key, names another merchant or serial, or is more
//     than 5 minutes off;
//   - signs every answer with its platform key (Wechatpay-Serial, -Timestamp,
//     -Nonce, -Signature over "{ts}\n{nonce}\n{body}\n"); the serial is the
//     WeChat Pay public key ID (public key mode) or the platform certificate
//     serial (certificate mode), and /v3/certificates serves the platform
//     certificate AES-256-GCM-encrypted with the APIv3 key;
//   - creates Native orders (code_url), answers queries by out_trade_no,
//     closes unpaid orders (ORDERPAID for a paid one), takes refunds and
//     answers refund queries, with WeChat's error codes;
//   - enforces time_expire: paying after it fails;
//   - sends AES-256-GCM-encrypted, signed notifications (TRANSACTION.SUCCESS,
//     REFUND.SUCCESS) to notify_url, and retries a bounded number of times
//     while the receiver does not answer 2xx, with the same notification id.
//
// The clerk scanning the QR code with a phone is Pay (a Go method) or
// POST /sim/pay?out_trade_no=... (a dev endpoint, no signature: never expose
// it beyond loopback). A refund is settled by the bank with SettleRefund or
// POST /sim/refunds/settle?out_refund_no=....
//
// Two clocks: Clock is the simulated business time (order expiry, payment and
// notification times), so tests can move it; the transport timestamps
// (request signature check, response signature) follow WallClock, because the
// SDK checks them against the real time.
package wechatsim
