package imapfront

import "testing"

func TestUTF7(t *testing.T) {
	tests := []struct{ enc, dec string }{
		{"INBOX", "INBOX"},
		{"&-", "&"},
		{"Entw&APw-rfe", "Entwürfe"},
		{"&ZeVnLIqe-", "日本語"},
		{"&2D3eAA-", "😀"},
		{"a&-b&APw-", "a&bü"},
	}
	for _, tt := range tests {
		if got, err := decodeUTF7(tt.enc); err != nil || got != tt.dec {
			t.Errorf("decode(%q) = %q, %v; want %q", tt.enc, got, err, tt.dec)
		}
		if got := encodeUTF7(tt.dec); got != tt.enc {
			t.Errorf("encode(%q) = %q; want %q", tt.dec, got, tt.enc)
		}
	}
	for _, bad := range []string{"&", "&AGE-", "&APw-&APw-", "&2D0-", "é", "a\x01", "&A-", "&APx-", "&3gA-"} {
		if got, err := decodeUTF7(bad); err == nil {
			t.Errorf("decode(%q) = %q, want an error", bad, got)
		}
	}
}
