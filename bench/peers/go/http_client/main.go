// HTTP client load on Go's net/http, the peer of bench/http_client_load.c: C goroutines share
// one http.Client and GET one URL until N requests are done, each reading its body to the end,
// over at most C kept-alive connections (MaxIdleConnsPerHost C). bench/run starts it with
// GOMAXPROCS=1, pinned to one CPU.
//
// Usage: http_client URL CONNECTIONS REQUESTS. Prints "requests N seconds S"; exits 1 on the
// first failed request or a status other than 200.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: http_client URL CONNECTIONS REQUESTS")
		os.Exit(2)
	}
	url := os.Args[1]
	connections, err1 := strconv.Atoi(os.Args[2])
	requests, err2 := strconv.ParseInt(os.Args[3], 10, 64)
	if err1 != nil || err2 != nil || connections < 1 || requests < 1 {
		fmt.Fprintln(os.Stderr, "usage: http_client URL CONNECTIONS REQUESTS")
		os.Exit(2)
	}
	transport := &http.Transport{MaxIdleConns: connections, MaxIdleConnsPerHost: connections,
		MaxConnsPerHost: connections}
	client := &http.Client{Transport: transport}
	var started int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < connections; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.AddInt64(&started, 1) <= requests && failed.Load() == nil {
				res, err := client.Get(url)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				_, err = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if err != nil || res.StatusCode != 200 {
					failed.Store(fmt.Sprintf("status %d, %v", res.StatusCode, err))
					return
				}
			}
		}()
	}
	wg.Wait()
	seconds := time.Since(start).Seconds()
	if reason := failed.Load(); reason != nil {
		fmt.Fprintln(os.Stderr, "http_client:", reason)
		os.Exit(1)
	}
	fmt.Printf("requests %d seconds %.6f\n", requests, seconds)
}
