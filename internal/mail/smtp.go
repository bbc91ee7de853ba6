package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLSMode is how a connection to the SMTP server is protected.
type TLSMode string

// The TLS modes SMTP_URL can ask for.
const (
	// TLSImplicit speaks TLS from the first byte (smtps://, usually port 465).
	TLSImplicit TLSMode = "implicit"
	// STARTTLSRequired upgrades a plain connection with STARTTLS and fails
	// when the server does not offer it, so that a man in the middle
	// cannot strip the upgrade and read the links in the mail.
	STARTTLSRequired TLSMode = "required"
	// STARTTLSOpportunistic upgrades when the server offers STARTTLS and
	// sends in the clear when it does not.
	STARTTLSOpportunistic TLSMode = "opportunistic"
	// TLSOff never upgrades: for a relay on the same host or network.
	TLSOff TLSMode = "off"
)

// Server is the SMTP server messages are handed to, as SMTP_URL names it.
// A zero Server (no Host) means none: messages go to the log.
type Server struct {
	Host string
	Port int
	// Username and Password, when Username is set, authenticate with the
	// strongest mechanism the server offers; PLAIN and LOGIN only over TLS.
	Username, Password string
	TLS                TLSMode
}

// Redacted is the server as an SMTP_URL with the password masked, for logs;
// "" for none.
func (s Server) Redacted() string {
	if s.Host == "" {
		return ""
	}
	u := url.URL{Scheme: "smtp", Host: net.JoinHostPort(s.Host, strconv.Itoa(s.Port))}
	if s.TLS == TLSImplicit {
		u.Scheme = "smtps"
	} else {
		u.RawQuery = "starttls=" + string(s.TLS)
	}
	if s.Username != "" {
		u.User = url.UserPassword(s.Username, "xxxxx")
		if s.Password == "" {
			u.User = url.User(s.Username)
		}
	}
	return u.String()
}

// SMTP delivers messages to an SMTP server through go-mail, one connection
// per message.
type SMTP struct {
	server  Server
	timeout time.Duration
	tls     *tls.Config
}

// SMTPOptions are what an SMTP deliverer needs besides its server.
type SMTPOptions struct {
	// Timeout bounds connecting and each SMTP command.
	Timeout time.Duration
	// RootCAs verify the server's certificate; nil: the system's.
	RootCAs *x509.CertPool
}

// NewSMTP returns a deliverer to server.
func NewSMTP(server Server, opts SMTPOptions) (*SMTP, error) {
	if server.Host == "" || server.Port <= 0 {
		return nil, fmt.Errorf("smtp: no server")
	}
	switch server.TLS {
	case TLSImplicit, STARTTLSRequired, STARTTLSOpportunistic, TLSOff:
	default:
		return nil, fmt.Errorf("smtp: unknown TLS mode %q", server.TLS)
	}
	if opts.Timeout <= 0 {
		return nil, fmt.Errorf("smtp: the timeout must be positive")
	}
	return &SMTP{
		server:  server,
		timeout: opts.Timeout,
		tls:     &tls.Config{ServerName: server.Host, RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
	}, nil
}

// Deliver sends m in one SMTP session. It returns nil once the server has
// accepted the message (its answer to the end of DATA).
func (d *SMTP) Deliver(ctx context.Context, m Message) error {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(m.From); err != nil {
		return fmt.Errorf("from: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("to: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.MessageID)
	msg.SetDateWithValue(m.Date)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	client, err := gomail.NewClient(d.server.Host, d.clientOptions()...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		if msg.IsDelivered() {
			// Accepted; only the QUIT after it failed.
			return nil
		}
		return fmt.Errorf("smtp %s: %w", net.JoinHostPort(d.server.Host, strconv.Itoa(d.server.Port)), err)
	}
	return nil
}

func (d *SMTP) clientOptions() []gomail.Option {
	opts := []gomail.Option{
		gomail.WithPort(d.server.Port),
		gomail.WithTimeout(d.timeout),
		gomail.WithTLSConfig(d.tls),
	}
	switch d.server.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case STARTTLSRequired:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case STARTTLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case TLSOff:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if d.server.Username != "" {
		// Auto-discovery picks the strongest mechanism the server offers,
		// and never one that sends the password in the clear (PLAIN,
		// LOGIN) over a connection without TLS.
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(d.server.Username), gomail.WithPassword(d.server.Password))
	}
	return opts
}
