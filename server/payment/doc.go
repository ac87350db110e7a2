// Package payment takes the renewal fee by WeChat Pay Native (QR) and gives
// it back on cancellation, with its own tables in the service's database.
//
// The model. An application pays through orders, one per QR attempt, each
// with its own out_trade_no (table payment_orders). NewQR prices the attempt
// from the server's price list (never from the client), writes the order,
// then asks the Provider for a code_url with time_expire = created + 300 s
// (QRWindow; whole seconds, as WeChat reads time_expire). The service itself
// enforces the window with its injected clock: once it is over, ExpireDue (a
// sweeper) or Status (the client's poll) queries the order and closes it if
// unpaid; an order found paid is credited, not closed, so a payment made at
// the last second still counts, and a notification that arrives after the
// window for an order paid inside it is applied. A new QR is a new attempt.
//
// Exactly once. A payment is credited in ONE database transaction: the
// notification id goes into payment_notifications (primary key: a replay
// finds it and changes nothing), the order moves to paid only from open or
// closed (so the notification path and the query path cannot both credit),
// the application's payment state moves through ApplicationPayments, and
// the audit event is written through AuditSink, all with the same *sql.Tx.
// Notifications are verified (signature with the SDK's verifier, timestamp
// within 5 minutes of the injected clock), decrypted (AES-256-GCM with the
// APIv3 key), and checked: merchant, app id, known out_trade_no, equal
// amount, trade_state SUCCESS. Refused ones answer 4xx/5xx with
// {"code":"FAIL","message":...} so WeChat retries, are counted
// (RefusalCounts), and are logged to the audit sink with the sender's
// address, at most once a minute per source and reason (RefusalWindow:
// anyone can post to the notify URL); applied ones and replays answer 204.
//
// A repeated transaction id. transaction_id is unique. Should a provider
// give a payment the id another order already holds (WeChat and Alipay do
// not; the dev simulators did when they numbered from 1 after a restart),
// the payment is still credited (what a credit rests on is the provider's
// word on out_trade_no, amount and state), with transaction_id left empty
// and the provider's id kept in transaction_id_conflict; a
// payment.transaction_id_conflict audit event names the other order,
// Config.Log gets an error and TransactionIDConflicts counts it (the
// service exports renewd_payment_transaction_id_conflicts_total). The
// order is an ordinary paid order (refunds go by out_trade_no): the status
// answers, the sweeper has nothing to retry, the notification is
// acknowledged; the CA reconciles the two payments against the provider's
// statement. The simulators make ids that cannot repeat: WeChat's 28
// digits (4200, 6 random digits, the date in Beijing, 10 random digits)
// and Alipay's (the date, 22, 18 random digits), from crypto/rand.
//
// Cancel and refund. Cancel writes a refund (payment_refunds, its own
// out_refund_no) and moves order and application to refunding in one
// transaction, then calls the refund API; the refund notification (or a
// refund query from Status) moves them to refunded. A clerk may cancel a
// paid application that is not issued within 7 days of payment
// (DefaultClerkCancelWindow); staff may cancel one that is not issued up to
// WeChat's one-year refund limit, which covers applications not completed
// within the policy window. After issuance no refund is made.
//
// Providers. WeChat is the WeChat Pay API v3 Native provider on the official
// SDK (github.com/wechatpay-apiv3/wechatpay-go), in both merchant modes
// (WeChat Pay public key; platform certificates downloaded by the SDK's
// downloader). The SDK has no base-URL option, so its HTTP client gets a
// transport that rewrites scheme and host to WeChatConfig.Endpoint: the
// simulator (package wechatsim) in dev and tests, api.mch.weixin.qq.com in
// production; everything else is the code production runs.
//
// Alipay is a second provider behind the same interface (face-to-face
// precreate on github.com/smartwalle/alipay/v3, Alipay public key mode),
// with its own simulator (package alipaysim). Config.Others adds it;
// NewQRWith(ctx, id, years, "alipay") makes an Alipay QR (closing a live
// WeChat one first). Alipay differs where the service must know it: a QR
// nobody scanned is no trade (query says not found: the order is closed
// locally), refunds are synchronous (its TRADE_CLOSED notice is a no-op),
// notifications are signed forms answered with "success", and carry no
// signed timestamp (replays stop at notify_id and the order state).
//
// Wiring in the service (cmd/renewd does exactly this):
//
//	st, _ := store.OpenSQLite(ctx, "renewd.db") // or OpenPostgres
//	payment.Migrate(ctx, st.DB(), payment.DialectSQLite) // own goose table payment_goose_version
//	wc, _ := payment.NewWeChat(ctx, payment.WeChatConfig{...})
//	hooks := renewals.NewPaymentHooks(st, policy) // ApplicationPayments and AuditSink via store.Join
//	pay, _ := payment.New(st.DB(), payment.Config{
//		Provider: wc, Applications: hooks, Audit: hooks, Prices: policy,
//		NotifyURL: "https://ca.example/v1/payments/notify", // WeChat gets .../notify/wechat
//	})
//	jobs.Migrate(ctx, st.DB(), jobs.SQLite)              // River's tables, same database
//	w := river.NewWorkers()
//	pay.AddWorkers(w)                                    // payment.sweep, payment.expire, payment.refund
//	q, _ := jobs.New(ctx, st.DB(), jobs.SQLite, jobs.Config{Workers: w, Periodic: pay.PeriodicJobs(0)})
//	pay.UseJobs(q)                                       // refunds enqueue their job in their transaction
//	q.Start(ctx)
//	srv, _ := server.New(cfg, server.Deps{..., Payments: pay, Jobs: q}) // mounts the routes and NotifyHandler
//	go every(5*time.Second, pay.FlushRefusals)           // this process's refusal counts
//
// Without a job queue (a single process, tests), Sweep runs ExpireDue and
// FlushRefusals on a ticker instead.
//
// For renewd --dev, StartDevSimulator serves the simulator on a loopback TLS
// port and returns a WeChat provider wired to it (fresh keys in memory):
//
//	dev, _ := payment.StartDevSimulator(ctx, "127.0.0.1:0", nil)
//	defer dev.Close()
//	// Provider: dev.Provider, Others: dev.AlipayProvider; pay an order with
//	// dev.Sim.Pay / dev.Alipay.Pay, or curl -k -X POST
//	// "$URL/sim/pay?out_trade_no=..." ("$URL/alipay/sim/pay?..." for Alipay)
//
// renewals.PaymentHooks implements ApplicationPayments (SetPaymentState and
// Issued on the given *sql.Tx, so the application row moves with the
// payment row) and AuditSink (the store's hash-chained audit log). Both must
// use the same *sql.DB as Payments: the store's writer, Store.DB().
// With SQLite, open the database with _txlock=immediate and a busy timeout
// (concurrent notifications then queue instead of failing with SQLITE_BUSY),
// and preferably db.SetMaxOpenConns(1): writers then wait in database/sql
// rather than polling the file lock (p99 16-82 ms instead of 104-268 ms, see
// docs/benchmarks/payments.md). ApplicationPayments and AuditSink must then
// use only the *sql.Tx they are given, never the *sql.DB, inside a call.
//
// Status answers from the database with Stale set when WeChat cannot be
// reached; ExpireDue never closes an order locally without WeChat's answer.
package payment
