package node

import "net"

// serve listens on addr and runs serveFn in a goroutine that stop ends;
// Addr(name) is then the bound address. An empty addr serves nothing.
func (n *Node) serve(name, addr, network string, serveFn func(net.Listener) error, stop func() error) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return err
	}
	n.bound[name] = ln.Addr()
	done := make(chan struct{})
	go func() {
		defer close(done)
		serveFn(ln)
	}()
	n.closers = append(n.closers, func() error {
		err := stop()
		ln.Close()
		<-done
		return err
	})
	return nil
}
