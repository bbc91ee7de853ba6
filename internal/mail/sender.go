package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"os"
	"strings"
	"time"

	"gorm.io/gorm"

	"jwtauth/internal/store"
)

// What a server's Sender runs with; tests use shorter times.
const (
	// PollInterval is how often a Sender looks for due messages when
	// nothing wakes it: the longest a message enqueued by another
	// instance, or one whose retry came due, waits.
	PollInterval = 2 * time.Second
	// Lease is how long a Sender holds the messages it claimed. It starts
	// a message only while at least half of it is left, far more than an
	// SMTP session bounded by SMTPTimeout takes, so that no other sender
	// claims a message while it is being sent.
	Lease = 10 * time.Minute
	// Batch is how many messages a Sender claims at once.
	Batch = 20
	// SMTPTimeout bounds connecting to the SMTP server and each command.
	SMTPTimeout = 30 * time.Second
	// KeepSent is how long sent messages stay in the outbox, for an
	// operator asking whether a message went out.
	KeepSent = 7 * 24 * time.Hour
)

// Retry is the back-off between failed attempts at one message: 30s,
// 1m, 2m, ... up to an hour, for as long as it takes. Nothing is given up.
var Retry = store.MailRetry{Base: 30 * time.Second, Max: time.Hour}

// pruneEvery is how often a Sender deletes messages sent KeepSent ago.
const pruneEvery = time.Hour

// markTimeout bounds recording a delivery's outcome, which is done even
// while the Sender is stopping.
const markTimeout = 10 * time.Second

// SenderOptions are a Sender's settings; each must be set.
type SenderOptions struct {
	// From is the From of every message (MAIL_FROM); its domain is the
	// right-hand side of every Message-ID.
	From         string
	PollInterval time.Duration
	Lease        time.Duration
	Batch        int
	Retry        store.MailRetry
	KeepSent     time.Duration
	// Now is the clock leases and retries are measured by.
	Now    func() time.Time
	Logger *slog.Logger
}

// Sender delivers the outbox: it claims due messages, hands each to its
// Deliverer and records the outcome, until its context ends. Any number
// of Senders, in one process or many, may share one outbox.
//
// Guarantee: a message enqueued by a committed transaction is delivered,
// however long the SMTP server refuses it or is away, and across restarts.
// It is delivered once, except when the process dies (or the database
// becomes unreachable for longer than the lease) between the SMTP server
// accepting a message and the outbox recording it as sent: then it is
// sent again, with the same Message-ID, so that it can be recognised as
// the same message.
type Sender struct {
	db        *gorm.DB
	deliverer Deliverer
	opts      SenderOptions
	domain    string
	name      string
	log       *slog.Logger
	wake      chan struct{}
	// unmarked are messages delivered whose outcome could not be stored
	// (the database failed): recorded again before anything else is sent.
	unmarked  map[int64]time.Time
	lastPrune time.Time
	// outboxDown is set while claiming fails, so that an outage is logged
	// once, not at every poll.
	outboxDown bool
}

// NewSender returns a Sender delivering db's outbox through d.
func NewSender(db *gorm.DB, d Deliverer, opts SenderOptions) (*Sender, error) {
	from, err := mail.ParseAddress(opts.From)
	if err != nil {
		return nil, fmt.Errorf("mail from %q: %w", opts.From, err)
	}
	if opts.PollInterval <= 0 || opts.Lease <= 0 || opts.Batch <= 0 || opts.Retry.Base <= 0 ||
		opts.Retry.Max < opts.Retry.Base || opts.KeepSent <= 0 || opts.Now == nil || opts.Logger == nil {
		return nil, errors.New("mail sender: every option must be set")
	}
	_, domain, _ := strings.Cut(from.Address, "@")
	return &Sender{
		db: db, deliverer: d, opts: opts, domain: domain, name: senderName(),
		log: opts.Logger, wake: make(chan struct{}, 1), unmarked: map[int64]time.Time{},
	}, nil
}

// senderName tells senders apart in the outbox's claimedBy: the host and
// a random suffix, for processes of one host and Senders of one process.
func senderName() string {
	host, _ := os.Hostname()
	if len(host) > 40 {
		host = host[:40]
	}
	b := make([]byte, 8)
	rand.Read(b)
	return host + "-" + hex.EncodeToString(b)
}

// Wake makes a running Sender look for due messages now rather than at
// its next poll: call it after committing a transaction that enqueued one.
// It never blocks.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run delivers due messages until ctx ends; call it once per Sender. A message being sent when ctx
// ends is finished (within the SMTP timeout) and recorded; the others the
// Sender holds are released for any sender to take at once.
func (s *Sender) Run(ctx context.Context) {
	timer := time.NewTimer(s.opts.PollInterval)
	defer timer.Stop()
	for {
		s.drain(ctx)
		s.prune(ctx)
		timer.Reset(s.opts.PollInterval)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// drain sends batches until fewer than a full batch were due.
func (s *Sender) drain(ctx context.Context) {
	for ctx.Err() == nil {
		if !s.markUnmarked(ctx) {
			return
		}
		if n := s.sendBatch(ctx); n < s.opts.Batch {
			return
		}
	}
}

// sendBatch claims due messages and sends them, and reports how many it
// claimed.
func (s *Sender) sendBatch(ctx context.Context) int {
	var batch []store.OutboxMail
	err := store.Transaction(ctx, s.db, func(tx *gorm.DB) error {
		var err error
		batch, err = store.ClaimMail(ctx, tx, s.name, s.opts.Now(), s.opts.Lease, s.opts.Batch)
		return err
	})
	if err != nil {
		if ctx.Err() == nil && !s.outboxDown {
			s.log.Warn("mail: cannot read the outbox; retrying every poll", "error", err.Error())
			s.outboxDown = true
		}
		return 0
	}
	if s.outboxDown {
		s.log.Info("mail: the outbox can be read again")
		s.outboxDown = false
	}
	for i, m := range batch {
		if ctx.Err() != nil || s.opts.Now().After(m.ClaimedUntil.Add(-s.opts.Lease/2)) {
			s.release(ctx, batch[i:])
			break
		}
		s.send(ctx, m)
	}
	return len(batch)
}

// send delivers one claimed message and records the outcome. Neither is
// cut short by ctx ending: a message half sent when the server stops is
// finished, so that its outcome is known and recorded.
func (s *Sender) send(ctx context.Context, m store.OutboxMail) {
	msg := Message{
		From: s.opts.From, To: m.Recipient, Subject: m.Subject, Text: m.TextBody,
		MessageID: m.MessageID + "@" + s.domain, Date: m.CreatedAt,
	}
	if m.HTMLBody != nil {
		msg.HTML = *m.HTMLBody
	}
	err := s.deliverer.Deliver(context.WithoutCancel(ctx), msg)
	markCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	now := s.opts.Now()
	if err == nil {
		if _, markErr := store.MarkMailSent(markCtx, s.db, m.ID, now); markErr != nil {
			s.log.Warn("mail: sent, but the outbox could not record it; recording it again before sending more",
				"message_id", msg.MessageID, "error", markErr.Error())
			s.unmarked[m.ID] = now
		}
		return
	}
	attempts := m.Attempts + 1
	s.log.Warn("mail: delivery failed; it will be retried",
		"to", m.Recipient, "message_id", msg.MessageID, "attempts", attempts,
		"retry_in", s.opts.Retry.After(attempts).String(), "error", err.Error())
	if _, markErr := store.MarkMailFailed(markCtx, s.db, m, s.name, err.Error(), now, s.opts.Retry); markErr != nil {
		// The claim lapses at the end of the lease, and the message is
		// retried then.
		s.log.Warn("mail: the outbox could not record a failed delivery", "message_id", msg.MessageID, "error", markErr.Error())
	}
}

// markUnmarked records the deliveries whose outcome could not be stored,
// and reports whether none is left: while one is, sending more would
// only add to them.
func (s *Sender) markUnmarked(ctx context.Context) bool {
	for id, at := range s.unmarked {
		if _, err := store.MarkMailSent(ctx, s.db, id, at); err != nil {
			return false
		}
		delete(s.unmarked, id)
	}
	return true
}

// release gives back claimed messages the Sender will not send.
func (s *Sender) release(ctx context.Context, rest []store.OutboxMail) {
	ids := make([]int64, len(rest))
	for i, m := range rest {
		ids[i] = m.ID
	}
	releaseCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	if err := store.ReleaseMail(releaseCtx, s.db, s.name, ids); err != nil {
		s.log.Warn("mail: could not release claimed messages; they wait for the lease to end", "count", len(ids), "error", err.Error())
	}
}

// prune deletes long-sent messages, at most every pruneEvery.
func (s *Sender) prune(ctx context.Context) {
	now := s.opts.Now()
	if !s.lastPrune.IsZero() && now.Sub(s.lastPrune) < pruneEvery {
		return
	}
	s.lastPrune = now
	n, err := store.PruneSentMail(ctx, s.db, now.Add(-s.opts.KeepSent))
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Warn("mail: pruning sent messages failed", "error", err.Error())
	case n > 0:
		s.log.Info("mail: pruned sent messages", "count", n)
	}
}
