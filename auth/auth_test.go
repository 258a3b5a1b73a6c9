package auth

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestHashAndCheck(t *testing.T) {
	h, err := HashPasswordCost("s3cret", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if !CheckPassword(h, "s3cret") {
		t.Fatal("right password refused")
	}
	for _, wrong := range []string{"", "s3cre", "s3cret ", "S3CRET"} {
		if CheckPassword(h, wrong) {
			t.Fatalf("wrong password %q accepted", wrong)
		}
	}
	if CheckPassword("plain-text", "plain-text") {
		t.Fatal("a non-bcrypt hash matched")
	}
}

func TestHashRefusesBadPasswords(t *testing.T) {
	if _, err := HashPasswordCost("", bcrypt.MinCost); err != ErrEmptyPassword {
		t.Fatalf("empty: %v", err)
	}
	if _, err := HashPasswordCost(strings.Repeat("x", 73), bcrypt.MinCost); err != ErrPasswordTooLong {
		t.Fatalf("long: %v", err)
	}
}

func TestCheckSecret(t *testing.T) {
	if !CheckSecret("abc", "abc") || CheckSecret("abc", "abd") || CheckSecret("", "") {
		t.Fatal("CheckSecret is wrong")
	}
}
