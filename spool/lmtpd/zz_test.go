package lmtpd

import (
	"fmt"
	"testing"

	"github.com/rookery-mail/rookery/spool"
)

func TestMain(m *testing.M) {
	m.Run()
	fmt.Println(spool.ZZReport())
}
