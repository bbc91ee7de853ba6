package auth

import (
	_ "embed"
	"slices"
	"strings"
	"sync"
)

// commonPasswordsFile is the 30,000 most common passwords of zxcvbn's list
// (see data/README.md), lower-cased and sorted.
//
//go:embed data/common-passwords.txt
var commonPasswordsFile string

// commonPasswords is that list split into lines, on first use. NIST SP
// 800-63B asks for exactly this check instead of composition rules.
var commonPasswords = sync.OnceValue(func() []string {
	return strings.Split(strings.TrimSuffix(commonPasswordsFile, "\n"), "\n")
})

// isCommonPassword reports whether password, ignoring case, is on the list.
func isCommonPassword(password string) bool {
	_, found := slices.BinarySearch(commonPasswords(), strings.ToLower(password))
	return found
}
