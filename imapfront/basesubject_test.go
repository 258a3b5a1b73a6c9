package imapfront

import "testing"

// RFC 5256 section 2.1, step by step; the cases marked Dovecot were run
// against Dovecot 2.3 too and give the same base subject there (its SORT
// (SUBJECT) order and THREAD answers show it).
func TestBaseSubject(t *testing.T) {
	for _, tc := range []struct {
		in, base string
		reply    bool
	}{
		{"hello", "hello", false},
		{"Re: hello", "hello", true},                        // Dovecot
		{"[fwd: hello]", "hello", true},                     // Dovecot
		{"hello (fwd)", "hello", true},                      // Dovecot
		{"hello\t(fwd) (fwd)", "hello", true},               // Dovecot: tabs are spaces, trailers repeat
		{"Fwd: Re: [list] hello", "hello", true},            // Dovecot
		{"re: [fwd: RE: hello (fwd)]", "hello", true},       // Dovecot: (6) then (2) again
		{"[list] [other]", "[other]", false},                // Dovecot: the last blob is the base
		{"[blob]", "[blob]", false},                         // Dovecot
		{"re : spaced", "spaced", true},                     // Dovecot: *WSP before the colon
		{"Re[2]: counted", "counted", true},                 // Dovecot: a blob before the colon
		{"Re [x]: counted", "counted", true},                // Dovecot
		{"fw: counted", "counted", true},                    // Dovecot
		{"FWD: shouting", "shouting", true},                 // case does not matter
		{"   ", "", false},                                  // Dovecot: empty
		{"", "", false},                                     // no subject
		{"Re:", "", true},                                   // nothing left
		{"[list] Re: x", "x", true},                         // blobs before a subj-refwd are a leader
		{"Re: [list] [fwd: x]", "x", true},                  // blob, then the [fwd:] wrapper
		{"[a][b] c", "c", false},                            // blobs without space between
		{"Re:Re:Re: x", "x", true},                          // leaders repeat
		{"really interesting", "really interesting", false}, // "re" must be followed by ":"
		{"fwd", "fwd", false},
		{"Re: x (fwd) y", "x (fwd) y", true}, // only a trailing (fwd) goes
		{"x (FWD)", "x", true},
		{"[fwd: ]", "", true},
		{"[fwd:x] extra", "extra", false},        // not wrapping the whole: a blob
		{"a  b\r\n c", "a b c", false},           // runs of white space, folding
		{"=?utf-8?q?=C3=89lan?=", "Élan", false}, // Dovecot: RFC 2047 decoded
		{"Re: =?utf-8?q?=C3=A9lan?=", "élan", true},
		{"=?utf-8?q?Re=3A_x?=", "x", true},                    // decoded before extraction
		{"=?x-unknown?q?abc?=", "=?x-unknown?q?abc?=", false}, // left as it is
		{"[unclosed x", "[unclosed x", false},
		{"Re: [unclosed: x", "[unclosed: x", true},
	} {
		base, reply := baseSubject(tc.in)
		if base != tc.base || reply != tc.reply {
			t.Errorf("baseSubject(%q) = %q, %v; want %q, %v", tc.in, base, reply, tc.base, tc.reply)
		}
	}
}

// i;unicode-casemap: ASCII case folds to upper case, other letters to
// titlecase and are decomposed, so É and é match and sort among the Es,
// as Dovecot sorts them.
func TestCasemapKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"hello", "HELLO"},
		{"HeLLo [x]", "HELLO [X]"},
		{"élan", "E\u0301LAN"},
		{"Élan", "E\u0301LAN"},
		{"ǆ", "Dz\u030c"},    // titlecase ǅ (not upper case Ǆ), decomposed
		{"ﬁ", "fi"},          // decomposed; the parts are not mapped again
		{"한글", "한글"},         // Hangul syllables stay whole
		{"a\xffb", "A\xffB"}, // not UTF-8: octets as they are
	} {
		if got := casemapKey(tc.in); got != tc.want {
			t.Errorf("casemapKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if !(casemapKey("élan") < casemapKey("hello") && casemapKey("counted") < casemapKey("Élan")) {
		t.Error("É does not sort among the Es")
	}
}
