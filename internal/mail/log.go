package mail

import (
	"context"
	"log/slog"
)

// LogDeliverer writes each message to the log instead of sending it, for
// development without an SMTP server: the recipient, the subject and the
// text body, whose links one can paste into a browser. It is not for
// production: the links it logs let whoever reads the log act on the
// accounts they were meant for.
type LogDeliverer struct {
	log *slog.Logger
}

// NewLogDeliverer returns a deliverer that writes messages to log at
// info level.
func NewLogDeliverer(log *slog.Logger) *LogDeliverer { return &LogDeliverer{log: log} }

// Deliver logs m; it never fails.
func (d *LogDeliverer) Deliver(ctx context.Context, m Message) error {
	d.log.InfoContext(ctx, "mail written to the log, not sent (SMTP_URL is unset)",
		"to", m.To, "subject", m.Subject, "message_id", m.MessageID, "text", m.Text)
	return nil
}
