package mail_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"jwtauth/internal/mail"
)

var sample = map[string]any{
	"Username": "ann", "Link": "http://localhost:8080/reset-password?token=abc123",
	"ExpiresIn": "30 minutes", "NewEmail": "ann@new.example.com",
}

// Every shipped message renders with its data: a subject, a text body
// without the subject line, the link when it has one.
func TestShippedTemplatesRender(t *testing.T) {
	tpl, err := mail.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]string{
		mail.TemplateResetPassword:          {"Reset your password", "Hello ann,", sample["Link"].(string), "30 minutes"},
		mail.TemplateVerifyEmail:            {"Confirm your email address", "Hello ann,", sample["Link"].(string)},
		mail.TemplatePasswordChanged:        {"Your password was changed", "Hello ann,"},
		mail.TemplateEmailChangedOldAddress: {"Your email address was changed", "ann@new.example.com"},
	} {
		subject, text, html, err := tpl.Render(name, sample)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if subject != want[0] || html != "" || strings.HasPrefix(text, "\n") || strings.Contains(text, "Subject:") {
			t.Errorf("%s: subject %q, html %q, text %q", name, subject, html, text)
		}
		for _, w := range want[1:] {
			if !strings.Contains(text, w) {
				t.Errorf("%s: text lacks %q:\n%s", name, w, text)
			}
		}
	}
	if _, _, _, err := tpl.Render("welcome", sample); err == nil {
		t.Error("an unknown message rendered")
	}
	if _, _, _, err := tpl.Render(mail.TemplateResetPassword, map[string]any{"Username": "ann"}); err == nil {
		t.Error("a message rendered without its link")
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A file in MAIL_TEMPLATES_DIR replaces the shipped one of its name, and
// may add an HTML alternative, escaped as HTML; the others stay.
func TestTemplatesOverride(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"reset-password.txt":  "Subject: {{.Username}}, your new password awaits\r\n\r\nGo to {{.Link}} now.\r\n",
		"reset-password.html": `<p>Go to <a href="{{.Link}}">{{.Username}}</a></p>`,
		"notes.md":            "not a template",
	})
	tpl, err := mail.LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]any{"Username": "<ann>", "Link": sample["Link"]}
	subject, text, html, err := tpl.Render(mail.TemplateResetPassword, data)
	if err != nil {
		t.Fatal(err)
	}
	if subject != "<ann>, your new password awaits" || text != "Go to "+sample["Link"].(string)+" now.\n" {
		t.Errorf("subject %q, text %q", subject, text)
	}
	if html != `<p>Go to <a href="http://localhost:8080/reset-password?token=abc123">&lt;ann&gt;</a></p>` {
		t.Errorf("html %q", html)
	}
	if subject, _, _, err := tpl.Render(mail.TemplateVerifyEmail, sample); err != nil || subject != "Confirm your email address" {
		t.Errorf("the shipped verify-email: %q, %v", subject, err)
	}
}

// Mistakes in MAIL_TEMPLATES_DIR stop the server at start, named.
func TestTemplatesOverrideMistakes(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"unknown message":  {"reset-pasword.txt": "Subject: x\n\nbody"},
		"no subject":       {"verify-email.txt": "Confirm your address: {{.Link}}"},
		"does not parse":   {"verify-email.txt": "Subject: x\n\n{{.Link"},
		"bad html":         {"verify-email.html": "<p>{{.Link</p>"},
		"html for nothing": {"welcome.html": "<p>hi</p>"},
	} {
		if _, err := mail.LoadTemplates(writeFiles(t, files)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := mail.LoadTemplates(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing directory was accepted")
	}
}
