package httpapi_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// In a real browser, /docs renders every documented route from assets the
// server itself serves, and "Try it out" calls this server.
func TestDocsPageInBrowser(t *testing.T) {
	bctx := browser(t)
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()
	doc, err := loadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			want = append(want, method+" "+path)
		}
	}
	slices.Sort(want)

	s := newServer(t, "sqlite")
	err = chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/docs"),
		chromedp.WaitVisible(chromedp.CSS(".opblock")),
	)
	if err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll(".opblock")].map(b =>
		b.querySelector(".opblock-summary-method").textContent + " " +
		b.querySelector(".opblock-summary-path").getAttribute("data-path"))`))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("the page shows\n%s\nthe document has\n%s", strings.Join(got, ", "), strings.Join(want, ", "))
	}

	// Try it out on the public board: the browser calls this server.
	board := `[id$="-allAccess"]`
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(board+" .opblock-summary-control")),
		chromedp.WaitVisible(chromedp.CSS(board+" .execute")),
		chromedp.Click(chromedp.CSS(board+" .execute")),
		chromedp.WaitVisible(chromedp.CSS(board+" .live-responses-table .response-col_description pre")),
	)
	if err != nil {
		t.Fatal(err)
	}
	body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(board+" .live-responses-table .response-col_description pre")))
	if err != nil || body != "Public Content." {
		t.Errorf("Try it out on /api/test/all answered %q, %v", body, err)
	}
}
