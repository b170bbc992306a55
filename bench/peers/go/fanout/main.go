// The CPU-heavy fan-out of bench/bench_runtime.c in Go: COUNT goroutines of ~20,000 xorshift
// rounds each, started by the main goroutine and waited for with a WaitGroup, with GOMAXPROCS
// 1, then 2 (set here, whatever the environment says). Wall time from the first goroutine
// started to the last result.
//
// Usage: fanout [COUNT] (default 10000). Prints bench/run's rows, tab-separated:
// "cores_fanout_ms_1 go MS ms", "cores_fanout_ms_2 ...", "cores_fanout_speedup go X x".
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

const workRounds = 20000

// xorshift32: Go's compiler neither folds nor vectorises the dependent chain.
func crunch(x uint32) uint32 {
	for i := 0; i < workRounds; i++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
	}
	return x & 0x7fff
}

func fanOut(procs, count int) float64 {
	runtime.GOMAXPROCS(procs)
	results := make([]uint32, count)
	var done sync.WaitGroup
	start := time.Now()
	done.Add(count)
	for i := 0; i < count; i++ {
		go func(i int) {
			results[i] = crunch(uint32(i) + 1)
			done.Done()
		}(i)
	}
	done.Wait()
	seconds := time.Since(start).Seconds()
	var sum uint64
	for _, r := range results {
		sum += uint64(r)
	}
	if sum == 0 {
		panic("no work done")
	}
	return seconds
}

func main() {
	count := 10000
	if len(os.Args) > 1 {
		n, err := strconv.Atoi(os.Args[1])
		if err != nil || n <= 0 {
			fmt.Fprintln(os.Stderr, "usage: fanout [COUNT]")
			os.Exit(2)
		}
		count = n
	}
	one := fanOut(1, count)
	two := fanOut(2, count)
	fmt.Printf("cores_fanout_ms_1\tgo\t%.3f\tms\n", one*1e3)
	fmt.Printf("cores_fanout_ms_2\tgo\t%.3f\tms\n", two*1e3)
	fmt.Printf("cores_fanout_speedup\tgo\t%.4f\tx\n", one/two)
}
