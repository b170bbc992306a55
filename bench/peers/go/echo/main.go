// TCP echo server in Go: a goroutine per connection doing blocking-style reads and writes on
// the runtime's netpoller. The runtime runs goroutines on GOMAXPROCS threads, by default one
// per CPU the process may run on (bench/run pins servers to one CPU: GOMAXPROCS=1), plus its
// own background threads.
//
// Usage: echo PORT (0: any free port). Listens on 127.0.0.1, prints "listening on PORT" once
// it accepts connections; SIGTERM ends it (default action).
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
)

func connection(conn net.Conn) {
	defer conn.Close()
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			if _, werr := conn.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // end of file, or an error such as ECONNRESET
			return
		}
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: echo PORT")
		os.Exit(2)
	}
	port, err := strconv.Atoi(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "usage: echo PORT")
		os.Exit(2)
	}
	listener, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo: listen:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %d\n", listener.Addr().(*net.TCPAddr).Port)
	for {
		// Go sets TCP_NODELAY on accepted connections by default.
		conn, err := listener.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "echo: accept:", err)
			os.Exit(1)
		}
		go connection(conn)
	}
}
