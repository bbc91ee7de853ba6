package auth

import (
	"strings"
	"sync"

	"github.com/trustelem/zxcvbn/frequency"
)

// commonPasswords is the set of the 30,000 most common passwords of
// zxcvbn's list (github.com/trustelem/zxcvbn, a port of Dropbox's zxcvbn),
// built on first use. NIST SP 800-63B asks for exactly this check instead of
// composition rules.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	list := frequency.FrequencyLists["passwords"]
	set := make(map[string]struct{}, len(list))
	for _, p := range list {
		set[p] = struct{}{}
	}
	return set
})

// isCommonPassword reports whether password, ignoring case, is on the list.
func isCommonPassword(password string) bool {
	_, found := commonPasswords()[strings.ToLower(password)]
	return found
}
