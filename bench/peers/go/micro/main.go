// Go peers of asyncc's micro-benchmarks (bench/peers/micro.sh). One program, one benchmark per
// run: `micro BENCHMARK COUNT`. Each prints `benchmark<TAB>go<TAB>value<TAB>unit` after
// checking that the work was done (a sum or a count), or exits non-zero.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// statusBytes returns a field of /proc/self/status ("VmRSS", "VmHWM") in bytes.
func statusBytes(field string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := scanner.Text()
		if strings.HasPrefix(line, field+":") {
			kib, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(line[len(field)+1:], "kB")), 10, 64)
			if err != nil {
				panic(err)
			}
			return kib * 1024
		}
	}
	panic("no " + field)
}

func rssBytes() uint64 { return statusBytes("VmRSS") }

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "go micro: "+format+"\n", args...)
	os.Exit(1)
}

// spawn: a goroutine that only sends a value, received before the next one starts (the join).
func spawn(count uint64) float64 {
	results := make(chan int64)
	var sum, want int64
	start := time.Now()
	for i := uint64(0); i < count; i++ {
		go func(value int64) { results <- value }(int64(i & 0xff))
		sum += <-results
	}
	ns := float64(time.Since(start).Nanoseconds()) / float64(count)
	for i := uint64(0); i < count; i++ {
		want += int64(i & 0xff)
	}
	if sum != want {
		fail("spawn: sum %d, want %d", sum, want)
	}
	return ns
}

// bytes_per_task: goroutines blocked receiving from one channel that is closed at the end.
func idle(count uint64) float64 {
	var parked, finished sync.WaitGroup
	gate := make(chan struct{})
	runtime.GC()
	before := rssBytes()
	parked.Add(int(count))
	finished.Add(int(count))
	for i := uint64(0); i < count; i++ {
		go func() {
			parked.Done()
			<-gate
			finished.Done()
		}()
	}
	parked.Wait()
	// Each goroutine blocks right after its Done; with GOMAXPROCS=1 (micro.sh pins Go to one
	// CPU) the last one runs on to its receive before Wait's caller gets the P back.
	rss := rssBytes()
	close(gate)
	finished.Wait()
	return float64(rss-before) / float64(count)
}

// timers: goroutine i sleeps until start + 1 s + i/count s; wall from first spawn to last
// finish, and peak RSS growth (VmHWM at the end minus VmRSS before) per goroutine: where spawning
// is slow, the first goroutines finish (and their stacks are reused) before the last are armed,
// so the RSS at any one moment would undercount.
func timers(count uint64) (float64, float64) {
	var finished sync.WaitGroup
	var done uint64
	runtime.GC()
	before := rssBytes()
	start := time.Now()
	finished.Add(int(count))
	for i := uint64(0); i < count; i++ {
		deadline := start.Add(time.Second + time.Duration(uint64(time.Second)*i/count))
		go func() {
			time.Sleep(time.Until(deadline))
			atomic.AddUint64(&done, 1)
			finished.Done()
		}()
	}
	finished.Wait()
	wall := time.Since(start).Seconds()
	if done != count {
		fail("timers: %d of %d finished", done, count)
	}
	return wall, float64(statusBytes("VmHWM")-before) / float64(count)
}

// channel_pingpong: two goroutines, two channels of capacity 1, ns per round trip.
func pingpong(count uint64) float64 {
	there, back := make(chan uint64, 1), make(chan uint64, 1)
	go func() {
		for value := range there {
			back <- value + 1
		}
		close(back)
	}()
	start := time.Now()
	for i := uint64(0); i < count; i++ {
		there <- i
		if reply := <-back; reply != i+1 {
			fail("pingpong: got %d, want %d", reply, i+1)
		}
	}
	ns := float64(time.Since(start).Nanoseconds()) / float64(count)
	close(there)
	<-back
	return ns
}

// context_switch: two goroutines each calling runtime.Gosched count times (run with
// GOMAXPROCS=1, so each Gosched hands the only P to the other goroutine); ns per switch.
func contextSwitch(count uint64) float64 {
	var wg sync.WaitGroup
	var last, alternations uint64
	yielder := func(id uint64) {
		defer wg.Done()
		for i := uint64(0); i < count; i++ {
			if atomic.SwapUint64(&last, id) != id {
				atomic.AddUint64(&alternations, 1)
			}
			runtime.Gosched()
		}
	}
	wg.Add(2)
	start := time.Now()
	go yielder(1)
	go yielder(2)
	wg.Wait()
	ns := float64(time.Since(start).Nanoseconds()) / float64(2*count)
	// Gosched queues the goroutine globally, and every 61st schedule the scheduler takes from
	// the global queue first, so a goroutine sometimes gets its own P back (~2 % here): check
	// that nearly every yield switched, not all.
	if runtime.GOMAXPROCS(0) == 1 && alternations < 2*count*9/10 {
		fail("context_switch: %d alternations, want about %d", alternations, 2*count)
	}
	return ns
}

func main() {
	if len(os.Args) != 3 {
		fail("usage: micro spawn|idle|timers|pingpong|pingpong_xthread|switch COUNT")
	}
	count, err := strconv.ParseUint(os.Args[2], 10, 64)
	if err != nil || count == 0 {
		fail("bad COUNT %q", os.Args[2])
	}
	switch os.Args[1] {
	case "spawn":
		fmt.Printf("spawn\tgo\t%.6f\tns\n", spawn(count))
	case "idle":
		fmt.Printf("bytes_per_task\tgo\t%.6f\tB\n", idle(count))
	case "timers":
		wall, bytes := timers(count)
		fmt.Printf("timers_1m_wall\tgo\t%.6f\ts\n", wall)
		fmt.Printf("timers_1m_bytes\tgo\t%.6f\tB\n", bytes)
	case "pingpong":
		fmt.Printf("channel_pingpong\tgo\t%.6f\tns\n", pingpong(count))
	case "pingpong_xthread": // the same goroutines, run with GOMAXPROCS=2: Go places them
		fmt.Printf("channel_pingpong_xthread\tgo\t%.6f\tns\n", pingpong(count))
	case "switch":
		fmt.Printf("context_switch\tgo\t%.6f\tns\n", contextSwitch(count))
	default:
		fail("unknown benchmark %q", os.Args[1])
	}
}
