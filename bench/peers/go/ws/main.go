// WebSocket echo server on gorilla/websocket (Debian's golang-github-gorilla-websocket-dev),
// the Go peer of bench/run's WebSocket benchmark: a goroutine per connection echoes every
// message on /echo, text as text and binary as binary, like examples/ws_echo.c. bench/run
// starts it with GOMAXPROCS=1, pinned to one CPU.
//
// Usage: ws PORT (0: any free port). Listens on 127.0.0.1, prints "listening on PORT" once it
// accepts connections; SIGTERM ends it (default action).
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"

	"github.com/gorilla/websocket"
)

var upgrader = websocket.Upgrader{}

func echo(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	for {
		kind, message, err := conn.ReadMessage()
		if err != nil {
			return
		}
		if conn.WriteMessage(kind, message) != nil {
			return
		}
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: ws PORT")
		os.Exit(2)
	}
	port, err := strconv.Atoi(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "usage: ws PORT")
		os.Exit(2)
	}
	listener, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "ws: listen:", err)
		os.Exit(1)
	}
	http.HandleFunc("/echo", echo)
	fmt.Printf("listening on %d\n", listener.Addr().(*net.TCPAddr).Port)
	err = http.Serve(listener, nil)
	fmt.Fprintln(os.Stderr, "ws: serve:", err)
	os.Exit(1)
}
