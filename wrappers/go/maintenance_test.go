package tasker

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// EnforceDeadlines fails a task past its deadline that nothing ran.
func TestEnforceDeadlines(t *testing.T) {
	c := openTemp(t)
	loadOneStep(t, c, "deadline_due", nil)
	one := uint64(1)
	id := mustCreate(t, c, TaskRequest{Name: "deadline_due", DeadlineMs: &one})
	time.Sleep(20 * time.Millisecond) // past the 1 ms deadline
	if n, err := c.EnforceDeadlines(); err != nil || n != 1 {
		t.Fatalf("EnforceDeadlines = %d, %v; want 1", n, err)
	}
	v := mustView(t, c, id)
	last := v.Transitions[len(v.Transitions)-1]
	if v.State != "error" || last.Metadata["error_class"] != "Deadline" {
		t.Errorf("state %s, last transition %v", v.State, last.Metadata)
	}
	if n, err := c.EnforceDeadlines(); err != nil || n != 0 {
		t.Errorf("a second EnforceDeadlines = %d, %v; want 0", n, err)
	}
}

// ApplyRetention purges a complete task older than the retention's complete_ms.
func TestApplyRetention(t *testing.T) {
	c := openTemp(t, WithOptions(map[string]any{"retention": map[string]any{"complete_ms": 1}}))
	loadOneStep(t, c, "kept_briefly", nil)
	if err := c.RegisterFunc("kept_briefly", func(*StepContext) (any, error) { return map[string]any{}, nil }); err != nil {
		t.Fatal(err)
	}
	id := mustCreate(t, c, TaskRequest{Name: "kept_briefly"})
	if _, err := c.RunTask(id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // older than complete_ms
	if n, err := c.ApplyRetention(); err != nil || n != 1 {
		t.Fatalf("ApplyRetention = %d, %v; want 1", n, err)
	}
	if _, err := c.TaskView(id); !errors.Is(err, ErrTaskNotFound) {
		t.Errorf("TaskView after retention: %v", err)
	}
}

// PurgeTasks with a template deletes that template's tasks only.
func TestPurgeTasksOfOneTemplate(t *testing.T) {
	c := openTemp(t)
	ids := map[string]int64{}
	for _, name := range []string{"purged", "spared"} {
		loadOneStep(t, c, name, nil)
		if err := c.RegisterFunc(name, func(*StepContext) (any, error) { return map[string]any{}, nil }); err != nil {
			t.Fatal(err)
		}
		ids[name] = mustCreate(t, c, TaskRequest{Name: name})
		if _, err := c.RunTask(ids[name]); err != nil {
			t.Fatal(err)
		}
	}
	later := time.Now().Add(time.Minute).UnixMilli()
	dry, err := c.PurgeTasks(PurgeRequest{FinishedBefore: later, DryRun: true, Template: &PurgeTemplate{Name: "purged", Namespace: "default"}})
	if err != nil || *dry != (PurgeReport{DryRun: true, Tasks: 1, Steps: 1, Batches: 1}) {
		t.Fatalf("dry run = %+v, %v", dry, err)
	}
	none, err := c.PurgeTasks(PurgeRequest{FinishedBefore: later, Template: &PurgeTemplate{Name: "purged", Version: "9.9.9"}})
	if err != nil || none.Tasks != 0 {
		t.Fatalf("another version = %+v, %v", none, err)
	}
	r, err := c.PurgeTasks(PurgeRequest{FinishedBefore: later, Template: &PurgeTemplate{Name: "purged"}})
	if err != nil || r.Tasks != 1 {
		t.Fatalf("purge = %+v, %v", r, err)
	}
	if v := mustView(t, c, ids["spared"]); v.State != "complete" {
		t.Errorf("spared task: %s", v.State)
	}
	zero := uint32(0)
	_, err = c.PurgeTasks(PurgeRequest{FinishedBefore: later, BatchSize: &zero})
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "batch_size") {
		t.Errorf("batch size 0: %v", err)
	}
}
