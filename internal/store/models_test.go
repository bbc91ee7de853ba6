package store_test

import (
	"testing"

	"jwtauth/internal/store"
)

func TestKeyFoldsCaseAndCompatibilityForms(t *testing.T) {
	same := [][2]string{
		{"Alice", "aLICE"},
		{"Mixed.Case@Example.com", "mixed.case@example.com"},
		{"Straße", "STRASSE"},
		{"ÉMILE", "émile"},
		{"ﬁlip", "filip"},        // U+FB01 ligature
		{"Ｂｏｂ", "bob"},           // fullwidth letters
		{"e\u0301mile", "émile"}, // decomposed accent
	}
	for _, p := range same {
		if store.Key(p[0]) != store.Key(p[1]) {
			t.Errorf("Key(%q) = %q, Key(%q) = %q; want equal", p[0], store.Key(p[0]), p[1], store.Key(p[1]))
		}
	}
	if store.Key("alice") == store.Key("alice2") || store.Key("émile") == store.Key("emile") {
		t.Error("Key merges different names")
	}
}
