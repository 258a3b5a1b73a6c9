package spool

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestZZProbe(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustCreate(t, s, 1, 2, 0)
	for i := 0; i < 1000; i++ {
		mustAppend(t, s, 1, fmt.Sprintf("W: %d\r\n\r\nx", i))
	}
	var wbT, fsT, dirT, cT atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < 10; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				t0 := time.Now()
				wb, err := s.writeBody(context.Background(), strings.NewReader(fmt.Sprintf("S: %d %d\r\n\r\n%s", w, i, strings.Repeat("x", 4000))))
				if err != nil {
					t.Error(err)
					return
				}
				t1 := time.Now()
				s.unpin(wb.guid)
				s.submit(func(w *txn) error { return w.Bucket(bucketMailboxes).Put([]byte("x"), []byte("y")) })
				t2 := time.Now()
				wbT.Add(int64(t1.Sub(t0)))
				cT.Add(int64(t2.Sub(t1)))
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	t.Logf("1000 in %v (%.0f/s): writeBody %v commit %v fsync %v dirsync %v", el, 1000/el.Seconds(), time.Duration(wbT.Load()/1000), time.Duration(cT.Load()/1000), time.Duration(fsT.Load()/1000), time.Duration(dirT.Load()/1000))
}
