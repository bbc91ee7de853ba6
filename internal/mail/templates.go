package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	texttemplate "text/template"
)

// embedded holds the messages jwtauth ships: NAME.txt for each message (a
// "Subject: ..." line, then the body), and optionally NAME.html, an HTML
// alternative to the body.
//
//go:embed templates
var embedded embed.FS

// Templates are the messages jwtauth sends, as text/template (bodies) and
// html/template (HTML alternatives, whose data is escaped) templates.
type Templates struct {
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

// The names of the shipped messages, for the account flows.
const (
	TemplateResetPassword          = "reset-password"
	TemplateVerifyEmail            = "verify-email"
	TemplatePasswordChanged        = "password-changed"
	TemplateEmailChangedOldAddress = "email-changed-old-address"
)

// LoadTemplates parses the shipped templates and, when dir is not empty
// (MAIL_TEMPLATES_DIR), the files of dir that replace them: a file of the
// same name (reset-password.txt, reset-password.html) replaces the shipped
// one, each file on its own. A .txt or .html file in dir that names no
// shipped message is refused, as is a template that does not parse, so
// that a typo stops the server at start rather than a message later.
func LoadTemplates(dir string) (*Templates, error) {
	sources := map[string]string{} // file name -> source
	shipped, err := fs.Sub(embedded, "templates")
	if err != nil {
		return nil, err
	}
	if err := readTemplates(shipped, sources, nil); err != nil {
		return nil, err
	}
	if dir != "" {
		var known []string
		for name := range sources {
			known = append(known, strings.TrimSuffix(name, ".txt"))
		}
		slices.Sort(known)
		if err := readTemplates(os.DirFS(dir), sources, known); err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
	}
	t := &Templates{text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	for file, src := range sources {
		name, ext := strings.TrimSuffix(file, path.Ext(file)), path.Ext(file)
		var err error
		if ext == ".txt" {
			if !strings.HasPrefix(src, "Subject:") {
				return nil, fmt.Errorf("template %s: the first line must be \"Subject: ...\"", file)
			}
			t.text[name], err = texttemplate.New(file).Option("missingkey=error").Parse(src)
		} else {
			t.html[name], err = htmltemplate.New(file).Option("missingkey=error").Parse(src)
		}
		if err != nil {
			return nil, fmt.Errorf("template %w", err)
		}
	}
	for name := range t.html {
		if t.text[name] == nil {
			return nil, fmt.Errorf("template %s.html has no %s.txt (its subject and text body)", name, name)
		}
	}
	return t, nil
}

// readTemplates adds fsys's .txt and .html files to sources. With known
// set, only those messages may be named.
func readTemplates(fsys fs.FS, sources map[string]string, known []string) error {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return err
	}
	for _, e := range entries {
		ext := path.Ext(e.Name())
		if e.IsDir() || (ext != ".txt" && ext != ".html") {
			continue
		}
		if name := strings.TrimSuffix(e.Name(), ext); known != nil && !slices.Contains(known, name) {
			return fmt.Errorf("%s names no message jwtauth sends (known: %s)", e.Name(), strings.Join(known, ", "))
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return err
		}
		sources[e.Name()] = strings.ReplaceAll(string(b), "\r\n", "\n")
	}
	return nil
}

// Render writes message name with data: its subject, its text body and
// its HTML alternative ("" when the message has none).
func (t *Templates) Render(name string, data any) (subject, text, html string, err error) {
	tt := t.text[name]
	if tt == nil {
		return "", "", "", fmt.Errorf("render %s: no such message", name)
	}
	var b bytes.Buffer
	if err := tt.Execute(&b, data); err != nil {
		return "", "", "", fmt.Errorf("render %s: %w", name, err)
	}
	first, body, _ := strings.Cut(b.String(), "\n")
	subject = strings.Join(strings.Fields(strings.TrimPrefix(first, "Subject:")), " ")
	if subject == "" {
		return "", "", "", fmt.Errorf("render %s: %w", name, errors.New("empty subject"))
	}
	text = strings.TrimLeft(body, "\n")
	if ht := t.html[name]; ht != nil {
		b.Reset()
		if err := ht.Execute(&b, data); err != nil {
			return "", "", "", fmt.Errorf("render %s.html: %w", name, err)
		}
		html = b.String()
	}
	return subject, text, html, nil
}
