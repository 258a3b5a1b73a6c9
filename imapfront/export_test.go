package imapfront

import "testing"

// SetMaxFetchSet makes SORT's and THREAD's internal FETCHes take at most
// n bytes of message set each until the test ends, so that a test can
// see a long set split without a mailbox of tens of thousands.
func SetMaxFetchSet(t testing.TB, n int) {
	old := maxFetchSet
	maxFetchSet = n
	t.Cleanup(func() { maxFetchSet = old })
}
