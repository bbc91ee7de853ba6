package mail_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"jwtauth/internal/mail"
	"jwtauth/internal/mail/mailtest"
)

// Each TLS mode against servers with and without TLS: required STARTTLS
// never sends in the clear, opportunistic does only when the server
// offers nothing better, smtps speaks TLS throughout, and a password is
// sent only over TLS.
func TestSMTPTLSModes(t *testing.T) {
	tests := []struct {
		name     string
		server   mailtest.Options
		mode     mail.TLSMode
		user     string
		wantTLS  bool
		wantFail string
	}{
		{name: "required, offered", server: mailtest.Options{TLS: true}, mode: mail.STARTTLSRequired, wantTLS: true},
		{name: "required, not offered", server: mailtest.Options{}, mode: mail.STARTTLSRequired, wantFail: "STARTTLS"},
		{name: "opportunistic, offered", server: mailtest.Options{TLS: true}, mode: mail.STARTTLSOpportunistic, wantTLS: true},
		{name: "opportunistic, not offered", server: mailtest.Options{}, mode: mail.STARTTLSOpportunistic},
		{name: "off, offered", server: mailtest.Options{TLS: true}, mode: mail.TLSOff},
		{name: "smtps", server: mailtest.Options{Implicit: true}, mode: mail.TLSImplicit, wantTLS: true},
		{name: "password over STARTTLS", server: mailtest.Options{TLS: true, Username: "jwtauth", Password: "s3cret"},
			mode: mail.STARTTLSRequired, user: "jwtauth", wantTLS: true},
		{name: "password over smtps", server: mailtest.Options{Implicit: true, Username: "jwtauth", Password: "s3cret"},
			mode: mail.TLSImplicit, user: "jwtauth", wantTLS: true},
		{name: "password never in the clear", server: mailtest.Options{Username: "jwtauth", Password: "s3cret"},
			mode: mail.TLSOff, user: "jwtauth", wantFail: "not able to detect a supported authentication mechanism"},
		{name: "wrong password", server: mailtest.Options{TLS: true, Username: "jwtauth", Password: "s3cret"},
			mode: mail.STARTTLSRequired, user: "jwtauth-wrong", wantFail: "AUTH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mailtest.NewServer(t, tt.server)
			server := mail.Server{Host: srv.Host(), Port: srv.Port(), TLS: tt.mode}
			if tt.user != "" {
				server.Username, server.Password = strings.TrimSuffix(tt.user, "-wrong"), "s3cret"
				if strings.HasSuffix(tt.user, "-wrong") {
					server.Password = "guess"
				}
			}
			d, err := mail.NewSMTP(server, mail.SMTPOptions{Timeout: 5 * time.Second, RootCAs: srv.RootCAs})
			if err != nil {
				t.Fatal(err)
			}
			err = d.Deliver(context.Background(), mail.Message{
				From: from, To: "ann@example.com", Subject: "s", Text: "t", MessageID: "m1@auth.example.com", Date: time.Now(),
			})
			if tt.wantFail != "" {
				if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tt.wantFail)) {
					t.Fatalf("Deliver = %v, want an error about %s", err, tt.wantFail)
				}
				if n := len(srv.Messages()); n != 0 {
					t.Fatalf("%d messages arrived", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := srv.Wait(1, waitFor)[0]
			if got.TLS != tt.wantTLS || got.Authenticated != server.Username {
				t.Errorf("TLS %v (want %v), authenticated as %q (want %q)", got.TLS, tt.wantTLS, got.Authenticated, server.Username)
			}
		})
	}
}

// A certificate the deliverer does not trust stops delivery, in either
// TLS mode that uses it.
func TestSMTPRefusesAnUntrustedCertificate(t *testing.T) {
	for _, mode := range []mail.TLSMode{mail.STARTTLSRequired, mail.TLSImplicit} {
		srv := mailtest.NewServer(t, mailtest.Options{TLS: true, Implicit: mode == mail.TLSImplicit})
		d, err := mail.NewSMTP(mail.Server{Host: srv.Host(), Port: srv.Port(), TLS: mode}, mail.SMTPOptions{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		err = d.Deliver(context.Background(), mail.Message{From: from, To: "a@example.com", Subject: "s", Text: "t", MessageID: "m@x", Date: time.Now()})
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s: Deliver = %v, want a certificate error", mode, err)
		}
	}
}

// A closed loopback port fails fast with an error, not a hang.
func TestSMTPServerAway(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	d, err := mail.NewSMTP(mail.Server{Host: "127.0.0.1", Port: port, TLS: mail.STARTTLSRequired}, mail.SMTPOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Deliver(context.Background(), mail.Message{From: from, To: "a@example.com", Subject: "s", Text: "t", MessageID: "m@x", Date: time.Now()})
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("Deliver = %v, want connection refused", err)
	}
}

func TestServerRedacted(t *testing.T) {
	for _, tt := range []struct {
		server mail.Server
		want   string
	}{
		{mail.Server{}, ""},
		{mail.Server{Host: "smtp.example.com", Port: 587, TLS: mail.STARTTLSRequired}, "smtp://smtp.example.com:587?starttls=required"},
		{mail.Server{Host: "smtp.example.com", Port: 465, TLS: mail.TLSImplicit, Username: "me", Password: "pw"}, "smtps://me:xxxxx@smtp.example.com:465"},
		{mail.Server{Host: "::1", Port: 25, TLS: mail.TLSOff, Username: "me"}, "smtp://me@[::1]:25?starttls=off"},
	} {
		if got := tt.server.Redacted(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.server, got, tt.want)
		}
	}
}
