// Command tasker-bench measures the per-step cost of the Go binding: N one-step tasks with a
// no-op handler and a ~1 KB context, run by a worker on one goroutine (RunOnce) on an SQLite
// file. It prints `ffi_us_per_step=<float>` (run time / N), then `ffi_us_per_call=<float>`:
// the callback round trip alone, CallHandler of the no-op handler with a ~1 KB context
// (no database), timed over -calls calls (default env TASKER_BENCH_CALLS, else 20000) after
// 200 warm-up calls. Details go to stderr.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	tasker "github.com/libtasker/tasker-go"
)

func main() {
	n := flag.Int("n", 2000, "number of one-step tasks")
	calls := flag.Int("calls", 0, "number of timed CallHandler calls (0: env TASKER_BENCH_CALLS, else 20000)")
	flag.Parse()
	if err := run(*n); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	// Read only now, so that the ffi_us_per_step line does not depend on it.
	if *calls == 0 {
		v, err := envInt("TASKER_BENCH_CALLS", 20000)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		*calls = v
	}
	if err := runCalls(*calls); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// envInt reads a positive integer from the environment variable name, else def.
func envInt(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s=%q is not a positive integer", name, v)
	}
	return n, nil
}

func run(n int) error {
	dir, err := os.MkdirTemp("", "tasker-go-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	c, err := tasker.Open("sqlite://" + filepath.Join(dir, "bench.db"))
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.LoadTemplateYAML("name: bench_noop\nnamespace_name: bench\nstep_templates:\n  - {name: noop, handler: noop}\n"); err != nil {
		return err
	}
	if err := c.RegisterFunc("noop", func(*tasker.StepContext) (any, error) { return nil, nil }); err != nil {
		return err
	}
	pad := strings.Repeat("x", 1000)
	for i := 0; i < n; i++ {
		if _, _, err := c.CreateTask(tasker.TaskRequest{Name: "bench_noop", Namespace: "bench",
			Context: map[string]any{"i": i, "pad": pad}}); err != nil {
			return err
		}
	}
	w, err := c.NewWorker()
	if err != nil {
		return err
	}
	defer w.Close()
	start := time.Now()
	done := 0
	for done < n {
		ran, err := w.RunOnce()
		if err != nil {
			return err
		}
		if ran == 0 {
			return fmt.Errorf("only %d of %d steps ran", done, n)
		}
		done += ran
	}
	elapsed := time.Since(start)
	h, err := c.Health()
	if err != nil {
		return err
	}
	if h.CompleteTasks != int64(n) {
		return fmt.Errorf("%d of %d tasks complete", h.CompleteTasks, n)
	}
	fmt.Fprintf(os.Stderr, "go binding: %d one-step tasks (1 KB context, no-op handler) in %v on SQLite\n", n, elapsed)
	fmt.Printf("ffi_us_per_step=%.2f\n", float64(elapsed.Microseconds())/float64(n))
	return nil
}

// runCalls times n CallHandler calls of a no-op handler (after 200 warm-up calls) and prints
// ffi_us_per_call.
func runCalls(n int) error {
	if n < 1 {
		return fmt.Errorf("-calls must be positive, got %d", n)
	}
	dir, err := os.MkdirTemp("", "tasker-go-bench-calls-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	c, err := tasker.Open("sqlite://" + filepath.Join(dir, "calls.db"))
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.RegisterFunc("noop", func(*tasker.StepContext) (any, error) { return map[string]any{}, nil }); err != nil {
		return err
	}
	ctx := map[string]any{
		"task": map[string]any{"context": map[string]any{"i": 0, "payload": strings.Repeat("x", 1000)}},
		"step": map[string]any{"handler": "noop", "name": "noop"},
	}
	call := func() error {
		o, err := c.CallHandler(ctx)
		if err != nil {
			return err
		}
		if o.Status != "completed" {
			return fmt.Errorf("noop call %s: %+v", o.Status, o.Error)
		}
		return nil
	}
	for i := 0; i < 200; i++ {
		if err := call(); err != nil {
			return err
		}
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := call(); err != nil {
			return err
		}
	}
	elapsed := time.Since(start)
	fmt.Fprintf(os.Stderr, "go binding: %d CallHandler calls (1 KB context, no-op handler, no database) in %v\n", n, elapsed)
	fmt.Printf("ffi_us_per_call=%.3f\n", float64(elapsed.Nanoseconds())/1e3/float64(n))
	return nil
}
