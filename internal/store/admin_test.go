package store

import "testing"

// prefixEnd bounds the index range a search reads: every string starting
// with the prefix sorts below it, and it is valid UTF-8.
func TestPrefixEnd(t *testing.T) {
	for _, c := range []struct {
		prefix, end string
		bounded     bool
	}{
		{"a", "b", true},
		{"bob ", "bob!", true},
		{"jö", "j÷", true},
		{"x\uD7FF", "x\uE000", true},
		{"y\U0010FFFF", "z", true},
		{"\U0010FFFF\U0010FFFF", "", false},
	} {
		end, bounded := prefixEnd(c.prefix)
		if end != c.end || bounded != c.bounded {
			t.Errorf("prefixEnd(%q) = %q, %v; want %q, %v", c.prefix, end, bounded, c.end, c.bounded)
		}
		if bounded && !(c.prefix < end && c.prefix+"\U0010FFFF" < end) {
			t.Errorf("prefixEnd(%q) = %q does not bound the strings that start with it", c.prefix, end)
		}
	}
}
