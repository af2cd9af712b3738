package tasker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func loadOneStep(t *testing.T, c *Client, name string, step map[string]any) {
	t.Helper()
	s := map[string]any{"name": "s", "handler": name}
	for k, v := range step {
		s[k] = v
	}
	if err := c.LoadTemplate(map[string]any{"name": name, "step_templates": []any{s}}); err != nil {
		t.Fatal(err)
	}
}

// A cancellation made while the handler runs is seen by StopReason/IsCancelled, cancels Ctx
// with ErrStepCancelled as its cause, and makes Heartbeat fail with an error matching both
// ErrStepCancelled and ErrStaleClaim; the outcome is discarded.
func TestHandlerSeesItsTaskCancelled(t *testing.T) {
	c := openTemp(t)
	loadOneStep(t, c, "cancel_seen", nil)
	var seen []string
	if err := c.RegisterFunc("cancel_seen", func(sc *StepContext) (any, error) {
		ctx := sc.Ctx()
		before, err := sc.StopReason()
		if err != nil {
			return nil, Permanent(err)
		}
		seen = append(seen, fmt.Sprintf("%q %v", before, ctx.Err()))
		// Cancelled from another goroutine, as an operator would.
		done := make(chan error)
		go func() { _, err := c.CancelTask(sc.TaskID()); done <- err }()
		if err := <-done; err != nil {
			return nil, Permanent(err)
		}
		_, hbErr := sc.Heartbeat()
		seen = append(seen, fmt.Sprint(errors.Is(hbErr, ErrStepCancelled), errors.Is(hbErr, ErrStaleClaim)))
		<-ctx.Done() // already cancelled by the heartbeat: does not block
		seen = append(seen, fmt.Sprint(context.Cause(ctx) == ErrStepCancelled))
		cancelled, err := sc.IsCancelled()
		seen = append(seen, fmt.Sprint(cancelled, err))
		return map[string]any{"stopped": true}, nil
	}); err != nil {
		t.Fatal(err)
	}
	id := mustCreate(t, c, TaskRequest{Name: "cancel_seen"})
	if _, err := c.RunTask(id); err != nil {
		t.Fatal(err)
	}
	want := []string{`"" <nil>`, "true true", "true", "true <nil>"}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("seen %q\nwant %q", seen, want)
	}
	v := mustView(t, c, id)
	if v.State != "cancelled" || v.Step("s").Results != nil {
		t.Errorf("state %s, results %v", v.State, v.Step("s").Results)
	}
}

// An outcome delivered past the step's timeout is a retryable Timeout failure; the handler's
// check says StopTimedOut; StepTimeouts overrides the template.
func TestTimeoutSeenAndRecorded(t *testing.T) {
	c := openTemp(t)
	loadOneStep(t, c, "timeout_seen", map[string]any{"timeout_ms": 50, "default_retry_limit": 2})
	var seen []StopReason
	if err := c.RegisterFunc("timeout_seen", func(sc *StepContext) (any, error) {
		if sc.Attempt() == 1 {
			time.Sleep(200 * time.Millisecond) // past the 50 ms timeout: the check must say so
		}
		r, err := sc.StopReason()
		if err != nil {
			return nil, Permanent(err)
		}
		seen = append(seen, r)
		return map[string]any{"attempt": sc.Attempt()}, nil
	}); err != nil {
		t.Fatal(err)
	}
	id := mustCreate(t, c, TaskRequest{Name: "timeout_seen"})
	if _, err := c.RunTask(id); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seen) != fmt.Sprint([]StopReason{StopTimedOut, StopNone}) {
		t.Errorf("seen %q", seen)
	}
	var classes []any
	for _, tr := range mustView(t, c, id).Step("s").Transitions {
		if tr.ToState == "error" {
			classes = append(classes, tr.Metadata["error_class"])
		}
	}
	if fmt.Sprint(classes) != "[Timeout]" {
		t.Errorf("error classes %v", classes)
	}

	seen = nil
	id = mustCreate(t, c, TaskRequest{Name: "timeout_seen", Context: map[string]any{"n": 2},
		StepTimeouts: map[string]uint64{"s": 60_000}})
	if _, err := c.RunTask(id); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seen) != fmt.Sprint([]StopReason{StopNone}) {
		t.Errorf("with the override, seen %q", seen)
	}
	_, _, err := c.CreateTask(TaskRequest{Name: "timeout_seen", StepTimeouts: map[string]uint64{"nope": 10}})
	if !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("an unknown step's timeout: %v", err)
	}
}

// A task whose handler outlasts the task's deadline ends in error with class Deadline; the
// step after it is cancelled and never runs; a zero deadline is refused.
func TestTaskPastItsDeadlineFails(t *testing.T) {
	c := openTemp(t)
	if err := c.LoadTemplate(map[string]any{"name": "deadline", "deadline_ms": 60_000, "step_templates": []any{
		map[string]any{"name": "a", "handler": "deadline_a"},
		map[string]any{"name": "b", "handler": "deadline_b", "depends_on_step": "a"},
	}}); err != nil {
		t.Fatal(err)
	}
	var ran []string
	record := func(sleep time.Duration) func(*StepContext) (any, error) {
		return func(sc *StepContext) (any, error) {
			ran = append(ran, sc.StepName())
			time.Sleep(sleep)
			return map[string]any{"done": true}, nil
		}
	}
	if err := c.RegisterFunc("deadline_a", record(100*time.Millisecond)); err != nil { // past the 50 ms deadline
		t.Fatal(err)
	}
	if err := c.RegisterFunc("deadline_b", record(0)); err != nil {
		t.Fatal(err)
	}
	fifty := uint64(50)
	id := mustCreate(t, c, TaskRequest{Name: "deadline", DeadlineMs: &fifty})
	if _, err := c.RunTask(id); err != nil {
		t.Fatal(err)
	}
	v := mustView(t, c, id)
	last := v.Transitions[len(v.Transitions)-1]
	if v.State != "error" || last.Metadata["error_class"] != "Deadline" {
		t.Errorf("state %s, last transition %v", v.State, last.Metadata)
	}
	if s := v.Step("b"); s.State != "cancelled" {
		t.Errorf("step b: %s", s.State)
	}
	if fmt.Sprint(ran) != "[a]" {
		t.Errorf("ran %v", ran)
	}
	zero := uint64(0)
	_, _, err := c.CreateTask(TaskRequest{Name: "deadline", Context: map[string]any{"n": 1}, DeadlineMs: &zero})
	if !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), "deadline_ms") {
		t.Errorf("zero deadline: %v", err)
	}
}
