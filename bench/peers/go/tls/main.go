// HTTPS server on Go's crypto/tls (through net/http's ServeTLS), the Go peer of bench/run's
// TLS benchmarks: TLS 1.3 only, "/big" answers 16 MiB from memory, anything else
// "hello, world\n" (13 bytes, text/plain), like bench/tls_server.c. bench/run starts it with
// GOMAXPROCS=1, pinned to one CPU.
//
// Usage: tls CERT KEY PORT (0: any free port). Listens on 127.0.0.1, prints "listening on
// PORT" once it accepts connections; SIGTERM ends it (default action).
package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
)

var hello = []byte("hello, world\n")
var big = bytes.Repeat([]byte("x"), 16<<20)

func answer(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	if r.URL.Path == "/big" {
		w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		w.Write(big)
		return
	}
	w.Write(hello)
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: tls CERT KEY PORT")
		os.Exit(2)
	}
	port, err := strconv.Atoi(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, "usage: tls CERT KEY PORT")
		os.Exit(2)
	}
	listener, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "tls: listen:", err)
		os.Exit(1)
	}
	server := &http.Server{
		Handler:   http.HandlerFunc(answer),
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS13},
		// HTTP/1.1 like the other servers: an empty map turns off net/http's HTTP/2.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	fmt.Printf("listening on %d\n", listener.Addr().(*net.TCPAddr).Port)
	err = server.ServeTLS(listener, os.Args[1], os.Args[2])
	fmt.Fprintln(os.Stderr, "tls: serve:", err)
	os.Exit(1)
}
