// Package mail delivers the messages jwtauth sends people (reset links,
// verification links, notices of a changed password or address) without
// losing any: a message is a row of the database's outbox (see
// store.EnqueueMail), written with the change that caused it, and a Sender
// delivers the outbox over SMTP, retrying with back-off until the server
// takes each message. Without an SMTP server (development) messages are
// written to the log instead. The text of every message comes from
// templates embedded in the binary, which an operator may override.
package mail

import (
	"context"
	"time"
)

// Message is one email as a Deliverer sends it.
type Message struct {
	From, To, Subject string
	// Text is the plain-text body; HTML, when not empty, an alternative
	// to it.
	Text, HTML string
	// MessageID is the Message-ID header without its angle brackets; every
	// attempt at one outbox row carries the same.
	MessageID string
	// Date is when the message was written (the row's enqueue time), the
	// same on every attempt.
	Date time.Time
}

// Deliverer hands a message on: to an SMTP server, or to the log. An
// error means it may not have been delivered and should be tried again.
type Deliverer interface {
	Deliver(ctx context.Context, m Message) error
}
