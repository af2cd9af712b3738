package tasker

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// Client.Close (tasker_client_close), Client.Interrupt (tasker_client_interrupt) and the
// context variants while other goroutines run calls on the client.

// slowTask registers a single-step template whose handler signals started, then sleeps d.
func slowTask(t *testing.T, c *Client, d time.Duration) (int64, chan struct{}) {
	t.Helper()
	tpl := map[string]any{"name": "slow", "namespace_name": "gotest",
		"step_templates": []any{map[string]any{"name": "s", "handler": "slow", "default_retry_limit": 3}}}
	if err := c.LoadTemplateMap(tpl); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{}, 1)
	if err := c.RegisterFunc("slow", func(*StepContext) (any, error) {
		started <- struct{}{}
		time.Sleep(d)
		return map[string]any{"done": true}, nil
	}); err != nil {
		t.Fatal(err)
	}
	return mustCreate(t, c, TaskRequest{Name: "slow", Namespace: "gotest"}), started
}

func assertStep(t *testing.T, c *Client, id int64, state string, attempts int) {
	t.Helper()
	s := mustView(t, c, id).Step("s")
	if s.State != state || s.Attempts != attempts {
		t.Errorf("step %s with %d attempts, want %s with %d", s.State, s.Attempts, state, attempts)
	}
}

// Close stops a running worker; its handler finishes within the grace period and is recorded.
func TestCloseStopsRunningWorkerAndKeepsItsOutcome(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "close.db")
	c, err := Open(url, WithPollInterval(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	id, started := slowTask(t, c, 200*time.Millisecond)
	w, err := c.NewWorker()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(2); err != nil {
		t.Fatal(err)
	}
	<-started
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := w.Ran(); got != 1 {
		t.Errorf("the worker ran %d steps, want 1", got)
	}
	c2, err := Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	assertStep(t, c2, id, "complete", 1)
}

func TestInterruptEndsRunTaskWithoutCountingTheAttempt(t *testing.T) {
	c := openTemp(t)
	id, started := slowTask(t, c, 200*time.Millisecond)
	done := make(chan error, 1)
	go func() {
		_, err := c.RunTask(id)
		done <- err
	}()
	<-started
	c.Interrupt()
	if err := <-done; !errors.Is(err, ErrInterrupted) {
		t.Fatalf("RunTask after Interrupt: %v", err)
	}
	assertStep(t, c, id, "pending", 0)
	if s := mustView(t, c, id).Step("s"); s.Results != nil {
		t.Errorf("the late outcome was written: %v", s.Results)
	}
}

func TestRunTaskContextCancelled(t *testing.T) {
	c := openTemp(t)
	id, started := slowTask(t, c, 200*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.RunTaskContext(ctx, id)
		done <- err
	}()
	<-started
	cancel()
	err := <-done
	if !errors.Is(err, ErrInterrupted) || !errors.Is(err, context.Canceled) {
		t.Fatalf("RunTaskContext after cancel: %v", err)
	}
	assertStep(t, c, id, "pending", 0)
	if _, err := c.RunTaskContext(ctx, id); !errors.Is(err, context.Canceled) {
		t.Errorf("RunTaskContext with a done context: %v", err)
	}
	// Nothing else was affected: the task runs to the end now.
	if _, err := c.RunTask(id); err != nil {
		t.Fatal(err)
	}
	assertStep(t, c, id, "complete", 1)
}

func TestWorkerRunContextStopsWhenDone(t *testing.T) {
	c := openTemp(t)
	id, started := slowTask(t, c, 100*time.Millisecond)
	w, err := c.NewWorker()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.RunContext(ctx, 2) }()
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunContext: %v", err)
	}
	assertStep(t, c, id, "complete", 1)
	if err := w.RunContext(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("RunContext with a done context: %v", err)
	}
	// The pool can run again (its goroutines were all waited for).
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	_ = w.RunContext(ctx2, 1)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
