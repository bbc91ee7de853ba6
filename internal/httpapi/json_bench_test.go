package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
)

// BenchmarkSignInResponseJSON is the encoding of the signin answer.
func BenchmarkSignInResponseJSON(b *testing.B) {
	r := signInResponse{ID: 4812, Username: "alice", Email: "alice@example.com",
		Roles: []string{"ROLE_USER", "ROLE_MODERATOR"}, AccessToken: strings.Repeat("a", 260), RefreshToken: strings.Repeat("r", 43)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(r); err != nil {
			b.Fatal(err)
		}
	}
}
