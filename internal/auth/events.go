package auth

import (
	"context"
	"log/slog"
)

// Client is who sent a request, as the transport saw it: recorded with
// every authentication event.
type Client struct {
	IP        string
	RequestID string
}

type clientKey struct{}

// WithClient returns ctx carrying c, for the events logged while serving it.
func WithClient(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFrom returns the Client in ctx (zero if none).
func ClientFrom(ctx context.Context) Client {
	c, _ := ctx.Value(clientKey{}).(Client)
	return c
}

// The authentication events, as the "event" attribute of their log records.
const (
	EventSignUp          = "signup"
	EventSignIn          = "signin"
	EventSignInFailed    = "signin_failed"
	EventRefresh         = "refresh"
	EventRefreshFailed   = "refresh_failed"
	EventRefreshReplayed = "refresh_replayed"
	EventSignOut         = "signout"
	EventPasswordChanged = "password_changed"
	EventRateLimited     = "rate_limited"
	EventBusy            = "hashing_busy"
)

// LogEvent writes one authentication event: what happened, to whom, from
// where. Callers pass ids and reasons only, never a password, hash or token.
func LogEvent(ctx context.Context, log *slog.Logger, level slog.Level, event string, attrs ...slog.Attr) {
	c := ClientFrom(ctx)
	attrs = append(attrs, slog.String("event", event), slog.String("ip", c.IP), slog.String("request_id", c.RequestID))
	log.LogAttrs(ctx, level, "auth event", attrs...)
}

func (s *Service) event(ctx context.Context, level slog.Level, event string, attrs ...slog.Attr) {
	LogEvent(ctx, s.log, level, event, attrs...)
}
