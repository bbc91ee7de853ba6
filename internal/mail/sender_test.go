package mail_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"jwtauth/internal/logtest"
	"jwtauth/internal/mail"
	"jwtauth/internal/mail/mailtest"
	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

const from = "jwtauth <no-reply@auth.example.com>"

// waitFor is the "does not hang" bound of every wait below.
const waitFor = 30 * time.Second

func options(log *slog.Logger, now func() time.Time) mail.SenderOptions {
	return mail.SenderOptions{
		From: from, PollInterval: 20 * time.Millisecond, Lease: time.Minute, Batch: 5,
		Retry: store.MailRetry{Base: 100 * time.Millisecond, Max: 400 * time.Millisecond}, KeepSent: time.Hour,
		Now: now, Logger: log,
	}
}

func smtpTo(t *testing.T, srv *mailtest.Server) mail.Deliverer {
	t.Helper()
	d, err := mail.NewSMTP(mail.Server{Host: srv.Host(), Port: srv.Port(), TLS: mail.TLSOff},
		mail.SMTPOptions{Timeout: 5 * time.Second, RootCAs: srv.RootCAs})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// start runs a sender until the test ends or the returned stop is called,
// which waits for it to return.
func start(t *testing.T, db *gorm.DB, d mail.Deliverer, opts mail.SenderOptions) (*mail.Sender, func()) {
	t.Helper()
	s, err := mail.NewSender(db, d, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(waitFor):
				t.Errorf("the sender did not stop within %s", waitFor)
			}
		})
	}
	t.Cleanup(stop)
	return s, stop
}

func enqueue(t *testing.T, db *gorm.DB, n int) []store.OutboxMail {
	t.Helper()
	out := make([]store.OutboxMail, n)
	for i := range out {
		out[i] = store.OutboxMail{
			Recipient: fmt.Sprintf("user%d@example.com", i), Subject: fmt.Sprintf("Message %d", i),
			TextBody: fmt.Sprintf("Hello user %d,\n\nhttp://localhost:8080/reset-password?token=t%d\n", i, i),
		}
		if err := store.EnqueueMail(context.Background(), db, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// waitAllSent waits until no message of the outbox is pending.
func waitAllSent(t *testing.T, db *gorm.DB) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		var pending int64
		if err := db.Model(&store.OutboxMail{}).Where(quote(db, "sentAt") + " IS NULL").Count(&pending).Error; err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still pending after %s", pending, waitFor)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func row(t *testing.T, db *gorm.DB, id int64) store.OutboxMail {
	t.Helper()
	var m store.OutboxMail
	if err := db.Take(&m, id).Error; err != nil {
		t.Fatal(err)
	}
	return m
}

// exactlyOnce checks that the server received each enqueued message once,
// and nothing else.
func exactlyOnce(t *testing.T, srv *mailtest.Server, sent []store.OutboxMail) {
	t.Helper()
	counts := srv.CountByMessageID()
	for _, m := range sent {
		id := m.MessageID + "@auth.example.com"
		if counts[id] != 1 {
			t.Errorf("message %s (%s) arrived %d times, want once", id, m.Recipient, counts[id])
		}
		delete(counts, id)
	}
	for id, n := range counts {
		t.Errorf("unexpected message %s arrived %d times", id, n)
	}
}

// A message enqueued in a transaction that rolls back is never sent; one
// whose transaction commits arrives once, as written, with the outbox
// row's Message-ID.
func TestSenderDeliversCommittedMailOnce(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		db := storetest.Open(t, driver)
		srv := mailtest.NewServer(t, mailtest.Options{})
		s, _ := start(t, db, smtpTo(t, srv), options(slog.New(slog.DiscardHandler), time.Now))

		err := store.Transaction(ctx, db, func(tx *gorm.DB) error {
			m := store.OutboxMail{Recipient: "ghost@example.com", Subject: "never", TextBody: "never"}
			if err := store.EnqueueMail(ctx, tx, &m); err != nil {
				return err
			}
			return errors.New("the change failed")
		})
		if err == nil {
			t.Fatal("the transaction committed")
		}
		html := "<p>Hello Ann</p>"
		m := store.OutboxMail{
			Recipient: "ann@example.com", Subject: "Reset your password — Ann",
			TextBody: "Hello Ann,\n\nhttp://localhost:8080/reset-password?token=abc\n", HTMLBody: &html,
		}
		if err := store.Transaction(ctx, db, func(tx *gorm.DB) error { return store.EnqueueMail(ctx, tx, &m) }); err != nil {
			t.Fatal(err)
		}
		s.Wake()
		got := srv.Wait(1, waitFor)[0]
		waitAllSent(t, db)
		if got.From != `"jwtauth" <no-reply@auth.example.com>` && got.From != "jwtauth <no-reply@auth.example.com>" {
			t.Errorf("From = %q", got.From)
		}
		if got.MailFrom != "no-reply@auth.example.com" || len(got.RcptTo) != 1 || got.RcptTo[0] != "ann@example.com" ||
			got.To != "<ann@example.com>" && got.To != "ann@example.com" {
			t.Errorf("envelope %s -> %v, To %q", got.MailFrom, got.RcptTo, got.To)
		}
		if got.Subject != m.Subject || got.Text != m.TextBody || got.HTML != html {
			t.Errorf("subject %q, text %q, html %q", got.Subject, got.Text, got.HTML)
		}
		if got.MessageID != m.MessageID+"@auth.example.com" || got.Date == "" {
			t.Errorf("Message-ID %q (row %q), Date %q", got.MessageID, m.MessageID, got.Date)
		}
		exactlyOnce(t, srv, []store.OutboxMail{m})
		if r := row(t, db, m.ID); r.SentAt == nil || r.ClaimedBy != nil || r.Attempts != 0 {
			t.Errorf("row after sending: %+v", r)
		}
	})
}

// While the SMTP server refuses mail, or is not there at all, messages
// wait in the outbox with their failures counted and backed off; once it
// takes mail again, each arrives exactly once.
func TestSenderRidesOutAnSMTPOutage(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		for _, outage := range []string{"refusing", "down"} {
			t.Run(outage, func(t *testing.T) {
				db := storetest.Open(t, driver)
				srv := mailtest.NewServer(t, mailtest.Options{})
				if outage == "down" {
					srv.Down()
				} else {
					srv.Refuse("mailbox store is full, try later")
				}
				logs := &logtest.Buffer{}
				start(t, db, smtpTo(t, srv), options(slog.New(slog.NewTextHandler(logs, nil)), time.Now))
				sent := enqueue(t, db, 3)
				// Wait until every message failed at least twice: retried
				// after the back-off, not given up.
				deadline := time.Now().Add(waitFor)
				for _, m := range sent {
					for row(t, db, m.ID).Attempts < 2 {
						if time.Now().After(deadline) {
							t.Fatalf("message %d: %d attempts after %s, want 2", m.ID, row(t, db, m.ID).Attempts, waitFor)
						}
						time.Sleep(10 * time.Millisecond)
					}
				}
				if n := len(srv.Messages()); n != 0 {
					t.Fatalf("%d messages arrived during the outage", n)
				}
				r := row(t, db, sent[0].ID)
				if r.SentAt != nil || r.LastError == nil || r.NextAttemptAt == nil {
					t.Fatalf("a failed message: %+v", r)
				}
				if outage == "refusing" && !strings.Contains(*r.LastError, "mailbox store is full") {
					t.Errorf("lastError = %q, want the server's answer", *r.LastError)
				}
				if !strings.Contains(logs.String(), "delivery failed; it will be retried") {
					t.Errorf("the failures were not logged:\n%s", logs)
				}

				if outage == "down" {
					srv.Up()
				} else {
					srv.Refuse("")
				}
				srv.Wait(len(sent), waitFor)
				waitAllSent(t, db)
				exactlyOnce(t, srv, sent)
			})
		}
	})
}

// cutOff delivers through next and, after the n-th message, ends the
// sender's context, as a SIGTERM arriving mid-batch does.
type cutOff struct {
	next   mail.Deliverer
	n      int32
	count  atomic.Int32
	cancel func()
}

func (c *cutOff) Deliver(ctx context.Context, m mail.Message) error {
	err := c.next.Deliver(ctx, m)
	if c.count.Add(1) == c.n {
		c.cancel()
	}
	return err
}

// A sender stopped in the middle of the outbox finishes the message it is
// sending and gives back the rest; a new sender on the same database then
// sends the rest. Every message arrives once.
func TestSenderRestartLosesAndRepeatsNothing(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		db := storetest.Open(t, driver)
		srv := mailtest.NewServer(t, mailtest.Options{})
		sent := enqueue(t, db, 17)
		opts := options(slog.New(slog.DiscardHandler), time.Now)

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cut := &cutOff{next: smtpTo(t, srv), n: 7, cancel: cancel}
		first, err := mail.NewSender(db, cut, opts)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { first.Run(ctx); close(done) }()
		select {
		case <-done:
		case <-time.After(waitFor):
			t.Fatalf("the first sender did not stop within %s", waitFor)
		}
		if n := len(srv.Messages()); n != 7 {
			t.Fatalf("the first sender delivered %d messages before stopping, want 7", n)
		}
		// What it held but did not send is free at once, not after the lease.
		var held int64
		if err := db.Model(&store.OutboxMail{}).Where(quote(db, "claimedBy") + " IS NOT NULL").Count(&held).Error; err != nil {
			t.Fatal(err)
		}
		if held != 0 {
			t.Errorf("%d messages still claimed by the stopped sender", held)
		}

		start(t, db, smtpTo(t, srv), opts)
		srv.Wait(len(sent), waitFor)
		waitAllSent(t, db)
		exactlyOnce(t, srv, sent)
	})
}

// quote names a column as the engine wants it.
func quote(db *gorm.DB, column string) string {
	if db.Dialector.Name() == store.DriverMySQL {
		return "`" + column + "`"
	}
	return `"` + column + `"`
}

// Messages claimed by a sender that died are sent by another once the
// dead one's lease has ended.
func TestSenderReclaimsAnExpiredLease(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		db := storetest.Open(t, driver)
		srv := mailtest.NewServer(t, mailtest.Options{})
		sent := enqueue(t, db, 3)
		opts := options(slog.New(slog.DiscardHandler), time.Now)
		var claimed []store.OutboxMail
		err := store.Transaction(ctx, db, func(tx *gorm.DB) error {
			var err error
			claimed, err = store.ClaimMail(ctx, tx, "dead-sender", time.Now().Add(time.Second), opts.Lease, 10)
			return err
		})
		if err != nil || len(claimed) != len(sent) {
			t.Fatalf("claim: %d, %v", len(claimed), err)
		}
		// The survivor's clock is past the lease (instead of the test
		// waiting a minute).
		opts.Now = func() time.Time { return time.Now().Add(opts.Lease + 2*time.Second) }
		start(t, db, smtpTo(t, srv), opts)
		srv.Wait(len(sent), waitFor)
		waitAllSent(t, db)
		exactlyOnce(t, srv, sent)
	})
}

// Two senders on separate database handles (two instances) share one
// outbox: every message arrives exactly once.
func TestTwoSendersShareOneOutbox(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		dsn := storetest.NewDSN(t, driver)
		a := storetest.OpenDSN(t, driver, dsn)
		b := storetest.OpenRaw(t, driver, dsn)
		srv := mailtest.NewServer(t, mailtest.Options{})
		opts := options(slog.New(slog.DiscardHandler), time.Now)
		opts.Batch = 3
		sent := enqueue(t, a, 50)
		start(t, a, smtpTo(t, srv), opts)
		start(t, b, smtpTo(t, srv), opts)
		srv.Wait(len(sent), waitFor)
		waitAllSent(t, a)
		exactlyOnce(t, srv, sent)
	})
}

// Without an SMTP server, messages go to the log, links included, and
// count as sent.
func TestLogDeliverer(t *testing.T) {
	db := storetest.Open(t, store.DriverSQLite)
	logs := &logtest.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	start(t, db, mail.NewLogDeliverer(log), options(log, time.Now))
	sent := enqueue(t, db, 1)
	waitAllSent(t, db)
	out := logs.String()
	for _, want := range []string{"level=INFO", "SMTP_URL is unset", "to=user0@example.com", `subject="Message 0"`,
		"http://localhost:8080/reset-password?token=t0", "message_id=" + sent[0].MessageID + "@auth.example.com"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestNewSenderRefusesIncompleteOptions(t *testing.T) {
	db := storetest.Open(t, store.DriverSQLite)
	good := options(slog.New(slog.DiscardHandler), time.Now)
	for name, change := range map[string]func(*mail.SenderOptions){
		"bad from":      func(o *mail.SenderOptions) { o.From = "not an address" },
		"no poll":       func(o *mail.SenderOptions) { o.PollInterval = 0 },
		"no lease":      func(o *mail.SenderOptions) { o.Lease = 0 },
		"no batch":      func(o *mail.SenderOptions) { o.Batch = 0 },
		"no back-off":   func(o *mail.SenderOptions) { o.Retry = store.MailRetry{} },
		"no clock":      func(o *mail.SenderOptions) { o.Now = nil },
		"no logger":     func(o *mail.SenderOptions) { o.Logger = nil },
		"no keep sent":  func(o *mail.SenderOptions) { o.KeepSent = 0 },
		"max below min": func(o *mail.SenderOptions) { o.Retry.Max = o.Retry.Base / 2 },
	} {
		opts := good
		change(&opts)
		if _, err := mail.NewSender(db, mail.NewLogDeliverer(opts.Logger), opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
