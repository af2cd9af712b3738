package tasker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGINT and SIGTERM to a process running a worker with RunContext under
// signal.NotifyContext, or RunTaskContext, on SQLite and, with TASKER_CONFORMANCE_PG_URL, on
// PostgreSQL: the process exits, and its step is not left in_progress nor its attempt counted.
// The child is this test binary run again with TASKER_SHUTDOWN_CHILD set (TestShutdownChild).

const childHangLimit = 120 * time.Second // a child that ignored the signal is killed: the test fails

// TestShutdownChild is the child process: with TASKER_SHUTDOWN_CHILD=mode (worker|run_task),
// it creates one single-step task whose handler prints "started" and sleeps
// TASKER_SHUTDOWN_SLEEP, prints "task ID", and drives it until a signal. Skipped otherwise.
func TestShutdownChild(t *testing.T) {
	mode := os.Getenv("TASKER_SHUTDOWN_CHILD")
	if mode == "" {
		t.Skip("the child process of TestShutdownSignals")
	}
	url, name := os.Getenv("TASKER_SHUTDOWN_URL"), os.Getenv("TASKER_SHUTDOWN_NAME")
	sleep, err := time.ParseDuration(os.Getenv("TASKER_SHUTDOWN_SLEEP"))
	if err != nil {
		t.Fatal(err)
	}
	grace, err := time.ParseDuration(os.Getenv("TASKER_SHUTDOWN_GRACE"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := Open(url, WithPollInterval(20*time.Millisecond), WithStopGrace(grace))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tpl := map[string]any{"name": name, "namespace_name": "shutdown",
		"step_templates": []any{map[string]any{"name": "s", "handler": name, "default_retry_limit": 3}}}
	if err := c.LoadTemplateMap(tpl); err != nil {
		t.Fatal(err)
	}
	err = c.RegisterFunc(name, func(*StepContext) (any, error) {
		fmt.Println("started")
		time.Sleep(sleep)
		return map[string]any{"slept": sleep.String()}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	id := mustCreate(t, c, TaskRequest{Name: name, Namespace: "shutdown", Context: map[string]any{}})
	fmt.Printf("task %d\n", id)
	switch mode {
	case "worker":
		w, err := c.NewWorker()
		if err != nil {
			t.Fatal(err)
		}
		err = w.RunContext(ctx, 2)
		fmt.Printf("returned %v\n", err)
	case "run_task":
		_, err := c.RunTaskContext(ctx, id)
		fmt.Printf("returned %v interrupted=%v canceled=%v\n", err, errors.Is(err, ErrInterrupted),
			errors.Is(err, context.Canceled))
	}
}

type shutdownCase struct {
	mode         string
	sig          syscall.Signal
	sleep, grace time.Duration
	state        string // the step's state afterwards
	attempts     int
	returned     string // the child's last line starts with it
}

func TestShutdownSignals(t *testing.T) {
	if os.Getenv("TASKER_SHUTDOWN_CHILD") != "" {
		t.Skip("in the child")
	}
	backends := map[string]string{"sqlite": ""}
	if pg := os.Getenv("TASKER_CONFORMANCE_PG_URL"); pg != "" {
		backends["postgres"] = pg
	}
	cases := []shutdownCase{
		// The handler outlives the grace period: its claim goes back, nothing is counted.
		{"worker", syscall.SIGINT, 3 * time.Second, 200 * time.Millisecond, "pending", 0, "returned <nil>"},
		{"worker", syscall.SIGTERM, 3 * time.Second, 200 * time.Millisecond, "pending", 0, "returned <nil>"},
		// Within the grace period the handler finishes and its outcome is written.
		{"worker", syscall.SIGTERM, 500 * time.Millisecond, time.Minute, "complete", 1, "returned <nil>"},
		// RunTaskContext aborts: the step goes back without an attempt counted.
		{"run_task", syscall.SIGINT, 2 * time.Second, time.Minute, "pending", 0, "returned tasker: interrupted"},
		{"run_task", syscall.SIGTERM, 2 * time.Second, time.Minute, "pending", 0, "returned tasker: interrupted"},
	}
	for backend, pgURL := range backends {
		for _, sc := range cases {
			name := fmt.Sprintf("%s/%s/%v/grace=%v", backend, sc.mode, sc.sig, sc.grace)
			t.Run(name, func(t *testing.T) {
				url := pgURL
				if url == "" {
					url = "sqlite://" + filepath.Join(t.TempDir(), "shutdown.db")
				}
				runShutdownCase(t, url, sc)
			})
		}
	}
}

func runShutdownCase(t *testing.T, url string, sc shutdownCase) {
	nonce := make([]byte, 4)
	if _, err := rand.Read(nonce); err != nil {
		t.Fatal(err)
	}
	name := "shutdown_" + hex.EncodeToString(nonce) // this case's template and handler only
	var stderr bytes.Buffer
	cmd, lines := startChild(t, "TestShutdownChild", []string{"TASKER_SHUTDOWN_CHILD=" + sc.mode,
		"TASKER_SHUTDOWN_URL=" + url, "TASKER_SHUTDOWN_NAME=" + name, "TASKER_SHUTDOWN_SLEEP=" + sc.sleep.String(),
		"TASKER_SHUTDOWN_GRACE=" + sc.grace.String()}, &stderr)
	var taskID int64
	var err error
	var seen []string
	timeout := time.After(childHangLimit)
	for started := false; !started; {
		select {
		case line, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("the child ended before its handler started: %q", seen)
			}
			seen = append(seen, line)
			if rest, found := strings.CutPrefix(line, "task "); found {
				if taskID, err = strconv.ParseInt(rest, 10, 64); err != nil {
					t.Fatal(err)
				}
			}
			started = line == "started"
		case <-timeout:
			cmd.Process.Kill()
			t.Fatalf("the child's handler did not start: %q", seen)
		}
	}
	if err := cmd.Process.Signal(sc.sig); err != nil {
		t.Fatal(err)
	}
	for done := false; !done; {
		select {
		case line, ok := <-lines:
			if ok {
				seen = append(seen, line)
			}
			done = !ok
		case <-timeout:
			cmd.Process.Kill()
			t.Fatalf("the child did not exit after %v: %q", sc.sig, seen)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v: %q\n%s", err, seen, stderr.String())
	}
	returned := ""
	for _, l := range seen {
		if strings.HasPrefix(l, "returned") {
			returned = l
		}
	}
	if !strings.HasPrefix(returned, sc.returned) {
		t.Errorf("the child's call returned %q, want %q...: %q", returned, sc.returned, seen)
	}
	if sc.mode == "run_task" && !strings.HasSuffix(returned, "interrupted=true canceled=true") {
		t.Errorf("RunTaskContext's error should match ErrInterrupted and context.Canceled: %q", returned)
	}
	c, err := Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	step := mustView(t, c, taskID).Step("s")
	if step == nil {
		t.Fatal("no step s")
	}
	if step.State != sc.state || step.Attempts != sc.attempts {
		t.Errorf("step %s with %d attempts, want %s with %d: %q", step.State, step.Attempts, sc.state, sc.attempts, seen)
	}
}
