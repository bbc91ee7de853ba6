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
	EventRolesChanged    = "admin_roles_changed"
	EventUserDeleted     = "admin_user_deleted"
	EventUserSignedOut   = "admin_user_signed_out"
	EventAdminCreated    = "admin_created"
	EventAccountDeleted  = "account_deleted"
	EventResetRequested  = "password_reset_requested"
	EventResetSent       = "admin_password_reset_sent"
	EventPasswordReset   = "password_reset"
	// The email-verification events.
	EventVerificationRequested = "email_verification_requested"
	EventEmailVerified         = "email_verified"
	EventEmailChangeRequested  = "email_change_requested"
	EventEmailChanged          = "email_changed"
)

// LogEvent writes one authentication or audit event: what happened, to
// whom, by whom, from where; and counts it for metrics, by event and by its
// "reason" or "rule" attribute. Callers pass ids and reasons only, never a
// password, hash or token.
func (s *Service) LogEvent(ctx context.Context, level slog.Level, event string, attrs ...slog.Attr) {
	c := ClientFrom(ctx)
	detail := ""
	for _, a := range attrs {
		if a.Key == "reason" || a.Key == "rule" {
			detail = a.Value.String()
		}
	}
	if s.opts.CountEvent != nil {
		s.opts.CountEvent(event, detail)
	}
	attrs = append(attrs, slog.String("event", event), slog.String("ip", c.IP), slog.String("request_id", c.RequestID))
	s.log.LogAttrs(ctx, level, "auth event", attrs...)
}

func (s *Service) event(ctx context.Context, level slog.Level, event string, attrs ...slog.Attr) {
	s.LogEvent(ctx, level, event, attrs...)
}
