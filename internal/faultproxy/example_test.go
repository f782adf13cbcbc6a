package faultproxy_test

import (
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/arpcbridge/arpcbridge/internal/faultproxy"
)

// Example puts a proxy between a client and an echo server, then cuts the
// connection the way a failing network would.
func Example() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() { // echo server: one connection
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	})

	p, err := faultproxy.New(ln.Addr().String(), faultproxy.Options{})
	if err != nil {
		panic(err)
	}
	defer p.Close()

	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("ping"))
	buf := make([]byte, 4)
	_, err = io.ReadFull(c, buf)
	fmt.Printf("echo: %s, err: %v\n", buf, err)

	p.CutAll()
	_, err = c.Read(buf)
	fmt.Println("read after cut failed:", err != nil)
	fmt.Println("cuts:", p.Stats().Cut)
	// Output:
	// echo: ping, err: <nil>
	// read after cut failed: true
	// cuts: 1
}
