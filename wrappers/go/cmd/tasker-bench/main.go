// Command tasker-bench measures the per-step cost of the Go binding: N one-step tasks with a
// no-op handler and a ~1 KB context, run by a worker on one goroutine (RunOnce) on an SQLite
// file. It prints `ffi_us_per_step=<float>` (run time / N); details go to stderr.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	tasker "github.com/libtasker/tasker-go"
)

func main() {
	n := flag.Int("n", 2000, "number of one-step tasks")
	flag.Parse()
	if err := run(*n); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
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
