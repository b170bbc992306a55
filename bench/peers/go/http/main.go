// HTTP/1.1 hello server on Go's net/http: a goroutine per connection, every request answered
// "hello, world\n" (13 bytes, text/plain) like examples/http_hello.c and the other HTTP peers
// of bench/run. bench/run starts it with GOMAXPROCS=1 (one thread runs goroutines), pinned to
// one CPU.
//
// Usage: http PORT (0: any free port). Listens on 127.0.0.1, prints "listening on PORT" once
// it accepts connections; SIGTERM ends it (default action).
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
)

var body = []byte("hello, world\n")

func hello(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Write(body)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: http PORT")
		os.Exit(2)
	}
	port, err := strconv.Atoi(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "usage: http PORT")
		os.Exit(2)
	}
	listener, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "http: listen:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %d\n", listener.Addr().(*net.TCPAddr).Port)
	err = http.Serve(listener, http.HandlerFunc(hello))
	fmt.Fprintln(os.Stderr, "http: serve:", err)
	os.Exit(1)
}
