package tasker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func openTemp(t *testing.T, opts ...Option) *Client {
	t.Helper()
	url := "sqlite://" + filepath.Join(t.TempDir(), "tasker.db")
	base := []Option{WithBackoff(5*time.Millisecond, 2, 40*time.Millisecond), WithPollInterval(10 * time.Millisecond)}
	c, err := Open(url, append(base, opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustView(t *testing.T, c *Client, id int64) *TaskView {
	t.Helper()
	v, err := c.TaskView(id)
	if err != nil {
		t.Fatalf("TaskView(%d): %v", id, err)
	}
	return v
}

func mustCreate(t *testing.T, c *Client, req TaskRequest) int64 {
	t.Helper()
	id, _, err := c.CreateTask(req)
	if err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	return id
}

const diamondYAML = `
name: diamond
namespace_name: gotest
version: 1.0.0
step_templates:
  - {name: a, handler: square}
  - {name: b, handler: square, depends_on_step: a}
  - {name: c, handler: square, depends_on_step: a}
  - {name: d, handler: square, depends_on_steps: [b, c]}
`

// square: sum of dependency "value"s (or context n at a root), squared.
func square(ctx *StepContext) (any, error) {
	var v int64
	if len(ctx.DependencyResults) == 0 {
		v, _ = ctx.Task.Context["n"].(int64)
	}
	for name := range ctx.DependencyResults {
		x, _ := ctx.DependencyResult(name)["value"].(int64)
		v += x
	}
	return map[string]any{"value": v * v}, nil
}

// The mandatory test: 4 goroutines run workers over 200 diamond tasks; every step runs once.
func TestConcurrentDiamondsExactlyOnce(t *testing.T) {
	c := openTemp(t)
	if err := c.LoadTemplate(diamondYAML); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	runs := map[int64]int{}
	var threads sync.Map
	if err := c.RegisterFunc("square", func(ctx *StepContext) (any, error) {
		mu.Lock()
		runs[ctx.Step.StepID]++
		mu.Unlock()
		threads.Store(gettid(), true)
		return square(ctx)
	}); err != nil {
		t.Fatal(err)
	}
	const n = 200
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = mustCreate(t, c, TaskRequest{Name: "diamond", Namespace: "gotest", Context: map[string]any{"n": i % 7, "i": i}})
	}
	w, err := c.NewWorker()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(4); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(120 * time.Second)
	for {
		h, err := c.Health()
		if err != nil {
			t.Fatal(err)
		}
		if h.CompleteTasks+h.ErrorTasks+h.CancelledTasks == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks not finished in time: %+v", h)
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.Stop()
	if err := w.Wait(); err != nil {
		t.Fatal(err)
	}
	if w.Ran() != 4*n {
		t.Errorf("workers report %d steps run, want %d", w.Ran(), 4*n)
	}
	for i, id := range ids {
		v := mustView(t, c, id)
		if v.State != "complete" {
			t.Fatalf("task %d: state %s", id, v.State)
		}
		if len(v.Steps) != 4 {
			t.Fatalf("task %d: %d steps", id, len(v.Steps))
		}
		for _, s := range v.Steps {
			if runs[s.StepID] != 1 {
				t.Errorf("task %d step %s (%d) ran %d times", id, s.Name, s.StepID, runs[s.StepID])
			}
		}
		x := int64(i % 7)
		want := (2 * x * x * x * x) * (2 * x * x * x * x)
		if got := v.Step("d").ResultMap()["value"]; got != want {
			t.Errorf("task %d: d = %v, want %d", id, got, want)
		}
	}
	if len(runs) != 4*n {
		t.Errorf("%d distinct steps ran, want %d", len(runs), 4*n)
	}
	nThreads := 0
	threads.Range(func(any, any) bool { nThreads++; return true })
	t.Logf("handlers ran on %d OS threads", nThreads)
}

type ConformanceError struct{ Message string }

func (e *ConformanceError) Error() string { return e.Message }

type valueError struct{ Code int }

func (e valueError) Error() string { return fmt.Sprintf("value error %d", e.Code) }

type notAnError struct{ A, B int }

// A panicking handler leaves the process alive and the step failed with the panic's type
// name and message.
func TestHandlerPanic(t *testing.T) {
	cases := []struct {
		name      string
		fn        func()
		class     string
		message   string
		attempts  int
		retryable bool
	}{
		{"pointer", func() { panic(&ConformanceError{Message: "boom"}) }, "ConformanceError", "boom", 2, true},
		{"value-with-pointer-method", func() { panic(ConformanceError{Message: "bang"}) }, "ConformanceError", "bang", 2, true},
		{"value-error", func() { panic(valueError{Code: 7}) }, "valueError", "value error 7", 2, true},
		{"plain-struct", func() { panic(notAnError{1, 2}) }, "notAnError", "{1 2}", 2, true},
		{"string", func() { panic("just a string") }, "Panic", "just a string", 2, true},
		{"runtime", func() {
			var m map[string]int
			m["x"] = 1
		}, "RuntimeError", "assignment to entry in nil map", 2, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := openTemp(t)
			if err := c.LoadTemplate(map[string]any{"name": "panics", "step_templates": []any{
				map[string]any{"name": "s", "handler": "raiser", "default_retry_limit": 2}}}); err != nil {
				t.Fatal(err)
			}
			var calls atomic.Int32
			if err := c.RegisterFunc("raiser", func(*StepContext) (any, error) {
				calls.Add(1)
				tc.fn()
				return map[string]any{"unreachable": true}, nil
			}); err != nil {
				t.Fatal(err)
			}
			id := mustCreate(t, c, TaskRequest{Name: "panics"})
			ec, err := c.RunTask(id)
			if err != nil {
				t.Fatal(err)
			}
			if ec.TaskState != "error" || ec.ExecutionStatus != "blocked_by_failures" {
				t.Errorf("execution %+v", ec)
			}
			s := mustView(t, c, id).Step("s")
			f := s.Failure()
			if s.State != "error" || s.Attempts != tc.attempts || f == nil {
				t.Fatalf("step %+v", s)
			}
			if f.Class != tc.class || f.Message != tc.message {
				t.Errorf("failure class %q message %q, want %q %q", f.Class, f.Message, tc.class, tc.message)
			}
			if f.Permanent == tc.retryable {
				t.Errorf("permanent = %v", f.Permanent)
			}
			details, _ := f.Details.(map[string]any)
			if stack, _ := details["stack"].(string); !strings.Contains(stack, "tasker_test.go") {
				t.Errorf("details lack the stack: %v", f.Details)
			}
			if int(calls.Load()) != tc.attempts {
				t.Errorf("handler called %d times", calls.Load())
			}
		})
	}
}

type gatewayError struct{ status int }

func (e *gatewayError) Error() string { return fmt.Sprintf("gateway busy (%d)", e.status) }

type classyError struct{}

func (classyError) Error() string      { return "classy" }
func (classyError) ErrorClass() string { return "Classy" }

func TestHandlerErrors(t *testing.T) {
	c := openTemp(t, WithBackoff(5*time.Millisecond, 2, 1000*time.Millisecond))
	limits := map[string]int{"retry_after": 3, "permanent": 5, "plain": 2, "classy": 1, "explicit": 1, "badoutput": 1}
	ids := map[string]int64{}
	for name, limit := range limits {
		if err := c.LoadTemplate(map[string]any{"name": "errs_" + name, "step_templates": []any{
			map[string]any{"name": name, "handler": name, "default_retry_limit": limit}}}); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.RegisterFunc("retry_after", func(ctx *StepContext) (any, error) {
		if ctx.Step.Attempt < 3 {
			return nil, Retryable(fmt.Errorf("charging: %w", &gatewayError{429}), 30*time.Millisecond)
		}
		return map[string]any{"attempt": ctx.Step.Attempt}, nil
	}))
	must(c.RegisterFunc("permanent", func(*StepContext) (any, error) {
		return nil, Permanent(&gatewayError{402})
	}))
	must(c.RegisterFunc("plain", func(*StepContext) (any, error) { return nil, errors.New("plain failure") }))
	must(c.RegisterFunc("classy", func(*StepContext) (any, error) { return nil, classyError{} }))
	must(c.RegisterFunc("explicit", func(*StepContext) (any, error) {
		return nil, &StepError{Err: errors.New("declined"), Class: "CardDeclined", Permanent: true, Details: map[string]any{"code": 51}}
	}))
	must(c.RegisterFunc("badoutput", func(*StepContext) (any, error) { return map[int]string{1: "x"}, nil }))
	for name := range limits {
		ids[name] = mustCreate(t, c, TaskRequest{Name: "errs_" + name})
		if _, err := c.RunTask(ids[name]); err != nil {
			t.Fatal(err)
		}
	}
	step := func(name string) *StepView { return mustView(t, c, ids[name]).Step(name) }
	ra := step("retry_after")
	if ra.State != "complete" || ra.Attempts != 3 || ra.ResultMap()["attempt"] != int64(3) {
		t.Errorf("retry_after step: %+v", ra)
	}
	var backoffs []any
	for _, tr := range ra.Transitions {
		if tr.ToState == "error" {
			backoffs = append(backoffs, tr.Metadata["backoff_ms"])
		}
	}
	if fmt.Sprint(backoffs) != "[30 30]" {
		t.Errorf("retry_after backoffs %v, want [30 30]", backoffs)
	}
	check := func(name, state string, attempts int, class, msg string, permanent bool) *StepFailure {
		t.Helper()
		s := step(name)
		f := s.Failure()
		if s.State != state || s.Attempts != attempts || f == nil {
			t.Fatalf("%s: %+v", name, s)
		}
		if f.Class != class || f.Message != msg || f.Permanent != permanent {
			t.Errorf("%s: failure %+v, want %s %q permanent=%v", name, f, class, msg, permanent)
		}
		return f
	}
	check("permanent", "error", 1, "gatewayError", "gateway busy (402)", true)
	check("plain", "error", 2, "StepError", "plain failure", false)
	check("classy", "error", 1, "Classy", "classy", false)
	f := check("explicit", "error", 1, "CardDeclined", "declined", true)
	if d, _ := f.Details.(map[string]any); d["code"] != int64(51) {
		t.Errorf("details %v", f.Details)
	}
	f = step("badoutput").Failure()
	check("badoutput", "error", 1, "InvalidOutput", f.Message, false)
	if !strings.Contains(f.Message, "invalid step output") {
		t.Errorf("badoutput message %q", f.Message)
	}
	if mustView(t, c, ids["permanent"]).Execution.ExecutionStatus != "blocked_by_failures" {
		t.Error("a permanent failure should block its task")
	}
	if ErrorClass(Retryable(&gatewayError{1}, 0)) != "gatewayError" {
		t.Errorf("ErrorClass of wrapped error = %q", ErrorClass(Retryable(&gatewayError{1}, 0)))
	}
}

func TestTypedErrors(t *testing.T) {
	if _, err := Open("mysql://nope"); err == nil {
		t.Fatal("bad URL accepted")
	} else {
		var e *Error
		if !errors.As(err, &e) || e.Message == "" {
			t.Fatalf("err %#v", err)
		}
		t.Logf("bad URL: %v", err)
	}
	if _, err := Open("sqlite::memory:", WithOptions(map[string]any{"no_such_option": 1})); !errors.Is(err, ErrInvalidArgument) && !errors.Is(err, ErrConfig) {
		t.Errorf("unknown option: %v", err)
	}
	c := openTemp(t)
	err := c.LoadTemplateYAML("name: cyc\nstep_templates:\n  - {name: a, handler: h, depends_on_step: b}\n  - {name: b, handler: h, depends_on_step: a}\n")
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeTemplateCycle || e.Name != "template_cycle" || !strings.Contains(e.Message, "->") {
		t.Errorf("cycle: %#v", err)
	}
	if !errors.Is(err, ErrTemplateCycle) || errors.Is(err, ErrInvalidTemplate) {
		t.Errorf("errors.Is on cycle error broken")
	}
	err = c.LoadTemplateYAML("name: bad\nstep_templates:\n  - {name: a, handler: h, depends_on_step: missing}\n")
	if !errors.Is(err, ErrInvalidTemplate) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("unknown dependency: %v", err)
	}
	_, _, err = c.CreateTask(TaskRequest{Name: "nope", Namespace: "nowhere"})
	if !errors.As(err, &e) || e.Code != CodeUnknownTemplate || e.Name != "unknown_template" || e.Message == "" {
		t.Errorf("unknown template: %#v", err)
	}
	if err.Error() != "tasker: unknown_template: "+e.Message {
		t.Errorf("Error() = %q", err.Error())
	}
	if _, err := c.TaskView(987654); !errors.Is(err, ErrTaskNotFound) {
		t.Errorf("view of missing task: %v", err)
	}
	if _, err := c.RetryStep(987654); !errors.Is(err, ErrStepNotFound) {
		t.Errorf("retry missing step: %v", err)
	}
	if err := c.LoadTemplate(map[string]any{"name": "schema", "schema": map[string]any{"type": "object", "required": []string{"order_id"}},
		"step_templates": []any{map[string]any{"name": "a", "handler": "h"}}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CreateTask(TaskRequest{Name: "schema", Context: map[string]any{"x": 1}}); !errors.Is(err, ErrSchemaValidation) {
		t.Errorf("schema: %v", err)
	}
	if Code(7).String() != "schema_validation" || CodeOK.String() != "ok" {
		t.Error("code names")
	}
}

func TestProcessResults(t *testing.T) {
	c := openTemp(t)
	if err := c.LoadTemplate("name: pr\nstep_templates:\n  - {name: a, handler: pr}\n  - {name: b, handler: plain, depends_on_step: a}\n"); err != nil {
		t.Fatal(err)
	}
	if err := c.RegisterHandler("pr", resultsHandler{}); err != nil {
		t.Fatal(err)
	}
	var seen map[string]any
	if err := c.RegisterFunc("plain", func(ctx *StepContext) (any, error) {
		seen = ctx.DependencyResult("a")
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	id := mustCreate(t, c, TaskRequest{Name: "pr", Context: map[string]any{"x": 21}})
	if _, err := c.RunTask(id); err != nil {
		t.Fatal(err)
	}
	v := mustView(t, c, id)
	got := v.Step("a").ResultMap()
	if got["doubled"] != int64(42) || got["raw"] != int64(21) {
		t.Errorf("persisted results %v", got)
	}
	if seen["doubled"] != int64(42) {
		t.Errorf("dependent saw %v", seen)
	}
	if b := v.Step("b"); b.State != "complete" || len(b.ResultMap()) != 0 {
		t.Errorf("nil output should persist as an empty map: %+v", b)
	}
}

type resultsHandler struct{}

func (resultsHandler) Process(ctx *StepContext) (any, error) {
	return struct {
		Raw int64 `json:"raw"`
	}{ctx.Task.Context["x"].(int64)}, nil
}

func (resultsHandler) ProcessResults(ctx *StepContext, output any) (any, error) {
	m := output.(map[string]any)
	return map[string]any{"raw": m["raw"], "doubled": m["raw"].(int64) * 2}, nil
}

func TestHostQueue(t *testing.T) {
	c := openTemp(t)
	if err := c.LoadTemplate(diamondYAML); err != nil {
		t.Fatal(err)
	}
	var handled []int64
	if err := c.RegisterFunc("square", func(ctx *StepContext) (any, error) {
		handled = append(handled, ctx.Step.StepID)
		return square(ctx)
	}); err != nil {
		t.Fatal(err)
	}
	type entry struct {
		kind  string
		id    int64
		delay time.Duration
	}
	var fifo []entry
	if err := c.SetQueueInjector(QueueFuncs{
		Task: func(id int64, d time.Duration) error { fifo = append(fifo, entry{"task", id, d}); return nil },
		Step: func(id int64, d time.Duration) error { fifo = append(fifo, entry{"step", id, d}); return nil },
	}); err != nil {
		t.Fatal(err)
	}
	id := mustCreate(t, c, TaskRequest{Name: "diamond", Namespace: "gotest", Context: map[string]any{"n": 2}})
	if len(fifo) == 0 {
		t.Fatal("create enqueued nothing")
	}
	outcomes := map[string]int{}
	var enqueuedSteps []int64
	for i := 0; len(fifo) > 0; i++ {
		if i > 1000 {
			t.Fatal("queue does not drain")
		}
		e := fifo[0]
		fifo = fifo[1:]
		time.Sleep(min(e.delay, 20*time.Millisecond))
		if e.kind == "step" {
			enqueuedSteps = append(enqueuedSteps, e.id)
			o, err := c.HandleStep(e.id)
			if err != nil {
				t.Fatal(err)
			}
			if o.StepID != e.id {
				t.Errorf("outcome for step %d: %+v", e.id, o)
			}
			outcomes[o.Outcome]++
		} else if _, err := c.HandleTask(e.id); err != nil {
			t.Fatal(err)
		}
	}
	if outcomes["completed"] != 4 {
		t.Errorf("outcomes %v", outcomes)
	}
	sort.Slice(handled, func(i, j int) bool { return handled[i] < handled[j] })
	v := mustView(t, c, id)
	if v.State != "complete" || v.Step("d").ResultMap()["value"] != int64(1024) {
		t.Errorf("task %s, d=%v", v.State, v.Step("d").Results)
	}
	if len(handled) != 4 {
		t.Errorf("handled %v", handled)
	}
	// A duplicate delivery is harmless.
	o, err := c.HandleStep(v.Step("a").StepID)
	if err != nil || o.Outcome != "skipped" || o.Reason == "" {
		t.Errorf("duplicate delivery: %+v %v", o, err)
	}
	// An injector that fails leaves the work in the database, where a worker finds it.
	if err := c.SetQueueInjector(QueueFuncs{
		Task: func(int64, time.Duration) error { return errors.New("queue down") },
		Step: func(int64, time.Duration) error { panic("queue exploded") },
	}); err != nil {
		t.Fatal(err)
	}
	id2 := mustCreate(t, c, TaskRequest{Name: "diamond", Namespace: "gotest", Context: map[string]any{"n": 3}})
	if err := c.SetQueueInjector(nil); err != nil {
		t.Fatal(err)
	}
	fifo = nil
	w, _ := c.NewWorker()
	defer w.Close()
	for i := 0; i < 10; i++ {
		if _, err := w.RunOnce(); err != nil {
			t.Fatal(err)
		}
	}
	if v := mustView(t, c, id2); v.State != "complete" {
		t.Errorf("task after failing injector: %s", v.State)
	}
	if len(fifo) != 0 {
		t.Errorf("removed injector still called: %v", fifo)
	}
}

func TestEvents(t *testing.T) {
	c := openTemp(t)
	if err := c.LoadTemplate("name: ev\nstep_templates:\n  - {name: a, handler: ok}\n  - {name: b, handler: flaky, depends_on_step: a, default_retry_limit: 3}\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.RegisterFunc("ok", func(*StepContext) (any, error) { return map[string]any{"ok": true}, nil })
	_ = c.RegisterFunc("flaky", func(ctx *StepContext) (any, error) {
		if ctx.Step.Attempt == 1 {
			return nil, Retryable(&gatewayError{503}, 10*time.Millisecond)
		}
		return map[string]any{}, nil
	})
	var mu sync.Mutex
	var names, all []string
	var failed Event
	sub, err := c.Subscribe([]string{"step.completed", "step.failed", "task.*"}, func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		n := e.Name
		if e.StepName != "" {
			n += ":" + e.StepName
		}
		names = append(names, n)
		if e.Name == "step.failed" {
			failed = e
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	allSub, err := c.Subscribe(nil, func(e Event) { all = append(all, e.Name) })
	if err != nil {
		t.Fatal(err)
	}
	panicky, err := c.Subscribe([]string{"step.*"}, func(Event) { panic("subscriber bug") })
	if err != nil {
		t.Fatal(err)
	}
	defer panicky.Close()
	id := mustCreate(t, c, TaskRequest{Name: "ev"})
	if _, err := c.RunTask(id); err != nil {
		t.Fatal(err)
	}
	want := "task.start_requested step.completed:a step.failed:b step.completed:b task.completed"
	var filtered []string
	for _, n := range names {
		if n != "task.initialize_requested" {
			filtered = append(filtered, n)
		}
	}
	if strings.Join(filtered, " ") != want {
		t.Errorf("events %v\nwant %s", names, want)
	}
	if failed.TaskID != id || failed.FromState != "in_progress" || failed.ToState != "error" ||
		failed.Payload["error_class"] != "gatewayError" || failed.Payload["backoff_ms"] != int64(10) || failed.Timestamp == 0 {
		t.Errorf("step.failed event %+v", failed)
	}
	if len(all) <= len(names) {
		t.Errorf("unfiltered subscriber got %d events, filtered %d", len(all), len(names))
	}
	if mustView(t, c, id).State != "complete" {
		t.Error("a panicking subscriber changed the outcome")
	}
	sub.Close()
	sub.Close() // idempotent
	allSub.Close()
	before, beforeAll := len(names), len(all)
	id2 := mustCreate(t, c, TaskRequest{Name: "ev", Context: map[string]any{"second": true}})
	if _, err := c.RunTask(id2); err != nil {
		t.Fatal(err)
	}
	if len(names) != before || len(all) != beforeAll {
		t.Error("events delivered after Close")
	}
	if _, err := c.Subscribe([]string{"step.*"}, nil); !errors.Is(err, ErrNullParameter) {
		t.Errorf("nil fn: %v", err)
	}
}

func TestViewExecutionHealth(t *testing.T) {
	c := openTemp(t)
	if err := c.LoadTemplate(diamondYAML); err != nil {
		t.Fatal(err)
	}
	_ = c.RegisterFunc("square", square)
	id, created, err := c.CreateTask(TaskRequest{Name: "diamond", Namespace: "gotest", Version: "1.0.0",
		Context:   map[string]any{"n": 3, "nested": map[string]any{"list": []any{1, "two", 3.5, nil, true}}},
		Initiator: "tests", SourceSystem: "go", Reason: "coverage", Tags: []string{"x", "y"}})
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	id2, created2, err := c.CreateTask(TaskRequest{Name: "diamond", Namespace: "gotest", Version: "1.0.0",
		Context:   map[string]any{"nested": map[string]any{"list": []any{1, "two", 3.5, nil, true}}, "n": 3},
		Initiator: "tests", SourceSystem: "go", Reason: "coverage", Tags: []string{"x", "y"}})
	if err != nil || created2 || id2 != id {
		t.Errorf("dedup: id %d created %v err %v", id2, created2, err)
	}
	ec, err := c.ExecutionContext(id)
	if err != nil || ec.TotalSteps != 4 || ec.ReadySteps != 1 || ec.ExecutionStatus != "has_ready_steps" || ec.TaskID != id {
		t.Errorf("execution before run: %+v %v", ec, err)
	}
	h0, _ := c.Health()
	if h0.TotalTasks != 1 || h0.PendingSteps != 4 {
		t.Errorf("health before: %+v", h0)
	}
	ec, err = c.RunTask(id)
	if err != nil || ec.ExecutionStatus != "all_complete" || ec.CompletionPercentage != 100 || ec.CompletedSteps != 4 || ec.Health != "healthy" {
		t.Errorf("execution after run: %+v %v", ec, err)
	}
	v := mustView(t, c, id)
	if v.State != "complete" || !v.Complete || v.CompletedAt == nil || v.Namespace != "gotest" || v.Version != "1.0.0" ||
		*v.Initiator != "tests" || *v.SourceSystem != "go" || strings.Join(v.Tags, ",") != "x,y" || v.IdentityHash == "" {
		t.Errorf("view %+v", v)
	}
	if got := fmt.Sprint(v.Context["nested"]); got != "map[list:[1 two 3.5 <nil> true]]" {
		t.Errorf("context round trip: %s", got)
	}
	if _, ok := v.Context["n"].(int64); !ok {
		t.Errorf("integers should decode as int64: %T", v.Context["n"])
	}
	d := v.Step("d")
	if d == nil || fmt.Sprint(d.Parents) != "[b c]" && fmt.Sprint(d.Parents) != "[c b]" || d.Attempts != 1 || d.Duration() < 0 {
		t.Errorf("step d %+v", d)
	}
	if d.ResultMap()["value"] != int64(26244) {
		t.Errorf("d value %v", d.Results)
	}
	if len(d.Transitions) < 3 || d.Transitions[len(d.Transitions)-1].ToState != "complete" || !d.Transitions[len(d.Transitions)-1].MostRecent {
		t.Errorf("d transitions %+v", d.Transitions)
	}
	if len(v.Transitions) == 0 || v.Execution.TaskID != id {
		t.Errorf("task transitions/execution missing")
	}
	h, err := c.Health()
	if err != nil || h.CompleteTasks != 1 || h.CompleteSteps != 4 || h.TotalSteps != 4 {
		t.Errorf("health %+v %v", h, err)
	}
}

func TestCancelResolveRetry(t *testing.T) {
	c := openTemp(t)
	if err := c.LoadTemplate("name: ops\nstep_templates:\n  - {name: bad, handler: fixable}\n  - {name: after, handler: square, depends_on_step: bad}\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.RegisterFunc("square", square)
	_ = c.RegisterFunc("fixable", func(*StepContext) (any, error) { return nil, Permanent(errors.New("broken")) })

	// cancel
	id := mustCreate(t, c, TaskRequest{Name: "ops", Context: map[string]any{"n": 1}})
	if ch, err := c.CancelTask(id); err != nil || !ch {
		t.Fatalf("cancel: %v %v", ch, err)
	}
	if ch, err := c.CancelTask(id); err != nil || ch {
		t.Errorf("second cancel: %v %v", ch, err)
	}
	if _, err := c.RunTask(id); err != nil {
		t.Fatal(err)
	}
	v := mustView(t, c, id)
	if v.State != "cancelled" || v.Step("bad").State != "cancelled" || v.Step("bad").Attempts != 0 {
		t.Errorf("cancelled view: %s %s", v.State, v.Step("bad").State)
	}

	// resolve
	id = mustCreate(t, c, TaskRequest{Name: "ops", Context: map[string]any{"n": 2}})
	if _, err := c.RunTask(id); err != nil {
		t.Fatal(err)
	}
	v = mustView(t, c, id)
	if v.State != "error" || v.Execution.ExecutionStatus != "blocked_by_failures" {
		t.Fatalf("blocked: %s %s", v.State, v.Execution.ExecutionStatus)
	}
	if ch, err := c.ResolveStep(v.Step("bad").StepID, map[string]any{"value": 3}); err != nil || !ch {
		t.Fatalf("resolve: %v %v", ch, err)
	}
	if _, err := c.RunTask(id); err != nil {
		t.Fatal(err)
	}
	v = mustView(t, c, id)
	if v.State != "complete" || v.Step("bad").State != "resolved_manually" || v.Step("after").ResultMap()["value"] != int64(9) {
		t.Errorf("after resolve: %s %s %v", v.State, v.Step("bad").State, v.Step("after").Results)
	}
	if _, err := c.CancelTask(id); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("cancel a complete task: %v", err)
	}
	if _, err := c.RetryStep(v.Step("after").StepID); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("retry a complete step: %v", err)
	}

	// retry after fixing the handler
	id = mustCreate(t, c, TaskRequest{Name: "ops", Context: map[string]any{"n": 3}})
	if _, err := c.RunTask(id); err != nil {
		t.Fatal(err)
	}
	bad := mustView(t, c, id).Step("bad")
	if bad.State != "error" {
		t.Fatalf("bad: %s", bad.State)
	}
	_ = c.RegisterFunc("fixable", square)
	if changed, err := c.RetryStep(bad.StepID); err != nil || !changed {
		t.Fatal(changed, err)
	}
	if _, err := c.RunTask(id); err != nil {
		t.Fatal(err)
	}
	v = mustView(t, c, id)
	if v.State != "complete" || v.Step("bad").Attempts != 1 || v.Step("after").ResultMap()["value"] != int64(81) {
		t.Errorf("after retry: %s %d %v", v.State, v.Step("bad").Attempts, v.Step("after").Results)
	}
}

func TestLoadTemplateForms(t *testing.T) {
	c := openTemp(t)
	path := filepath.Join(t.TempDir(), "t.yaml")
	if err := os.WriteFile(path, []byte("name: from_file\nstep_templates:\n  - {name: a, handler: h}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	type stepTpl struct {
		Name    string `json:"name"`
		Handler string `json:"handler"`
	}
	type tpl struct {
		Name          string    `json:"name"`
		StepTemplates []stepTpl `json:"step_templates"`
	}
	for _, src := range []any{
		path,
		"name: from_yaml\nstep_templates:\n  - {name: a, handler: h}\n",
		[]byte("name: from_bytes\nstep_templates:\n  - {name: a, handler: h}\n"),
		map[string]any{"name": "from_map", "step_templates": []any{map[string]any{"name": "a", "handler": "h"}}},
		tpl{Name: "from_struct", StepTemplates: []stepTpl{{"a", "h"}}},
	} {
		if err := c.LoadTemplate(src); err != nil {
			t.Errorf("LoadTemplate(%T): %v", src, err)
		}
	}
	_ = c.RegisterFunc("h", func(ctx *StepContext) (any, error) { return map[string]any{"t": ctx.Task.Name}, nil })
	for _, name := range []string{"from_file", "from_yaml", "from_bytes", "from_map", "from_struct"} {
		id := mustCreate(t, c, TaskRequest{Name: name})
		if _, err := c.RunTask(id); err != nil {
			t.Fatal(err)
		}
		if got := mustView(t, c, id).Step("a").ResultMap()["t"]; got != name {
			t.Errorf("%s: %v", name, got)
		}
	}
	if err := c.LoadTemplate(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, ErrInvalidTemplate) {
		t.Errorf("missing file: %v", err)
	}
	if err := c.LoadTemplateFile(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, ErrInvalidTemplate) {
		t.Errorf("missing file: %v", err)
	}
}

func TestHeartbeatAndContext(t *testing.T) {
	c := openTemp(t)
	if err := c.LoadTemplate(map[string]any{"name": "hb", "step_templates": []any{
		map[string]any{"name": "long", "handler": "long", "handler_config": map[string]any{"k": "v"}, "lease_ms": 60000}}}); err != nil {
		t.Fatal(err)
	}
	var saved *StepContext
	var exp time.Time
	var hbErr error
	if err := c.RegisterFunc("long", func(ctx *StepContext) (any, error) {
		saved = ctx
		exp, hbErr = ctx.Heartbeat()
		return map[string]any{
			"cfg": ctx.Step.HandlerConfig["k"], "input": ctx.Step.Inputs["strict"], "token": ctx.ClaimToken != "",
			"task": ctx.Task.TaskID, "reason": ctx.Task.Reason, "attempt": ctx.Step.Attempt, "limit": ctx.Step.RetryLimit,
		}, nil
	}); err != nil {
		t.Fatal(err)
	}
	id := mustCreate(t, c, TaskRequest{Name: "hb", Reason: "why", StepInputs: map[string]any{"long": map[string]any{"strict": true}}})
	if _, err := c.RunTask(id); err != nil {
		t.Fatal(err)
	}
	if hbErr != nil || time.Until(exp) < 30*time.Second {
		t.Errorf("heartbeat: %v %v", exp, hbErr)
	}
	got := mustView(t, c, id).Step("long").ResultMap()
	want := map[string]any{"cfg": "v", "input": true, "token": true, "task": id, "reason": "why", "attempt": int64(1), "limit": int64(3)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("results %v\nwant %v", got, want)
	}
	if _, err := saved.Heartbeat(); !errors.Is(err, ErrInvalidState) {
		t.Errorf("heartbeat after return: %v", err)
	}
}

func TestCloseReleasesEverything(t *testing.T) {
	runtime.GC()
	base := liveHandles.Load()
	c, err := Open("sqlite://" + filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.LoadTemplate(diamondYAML); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ { // replacing a handler releases the previous one
		if err := c.RegisterFunc("square", square); err != nil {
			t.Fatal(err)
		}
	}
	if got := liveHandles.Load() - base; got != 1 {
		t.Errorf("after replacing handlers: %d live handles, want 1", got)
	}
	if removed, err := c.UnregisterHandler("square"); err != nil || !removed {
		t.Errorf("unregister: %v %v", removed, err)
	}
	_ = c.RegisterFunc("square", square)
	_ = c.SetQueueInjector(QueueFuncs{Task: func(int64, time.Duration) error { return nil }, Step: func(int64, time.Duration) error { return nil }})
	_, _ = c.Subscribe(nil, func(Event) {})
	w, _ := c.NewWorker()
	if err := w.Start(2); err != nil {
		t.Fatal(err)
	}
	if got := liveHandles.Load() - base; got != 3 {
		t.Errorf("%d live handles, want 3", got)
	}
	if err := c.Close(); err != nil { // stops the worker, closes the subscription
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := liveHandles.Load() - base; got != 0 {
		t.Errorf("after Close: %d live handles", got)
	}
	if _, _, err := c.CreateTask(TaskRequest{Name: "diamond"}); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrInvalidState) {
		t.Errorf("use after close: %v", err)
	}
	if err := c.RegisterFunc("x", square); !errors.Is(err, ErrClosed) {
		t.Errorf("register after close: %v", err)
	}
	if got := liveHandles.Load() - base; got != 0 {
		t.Errorf("failed register leaked a handle: %d", got)
	}
	if err := w.Start(1); !errors.Is(err, ErrClosed) {
		t.Errorf("start after close: %v", err)
	}
	// The finalizer closes a forgotten client.
	func() {
		c2, err := Open("sqlite://" + filepath.Join(t.TempDir(), "f.db"))
		if err != nil {
			t.Fatal(err)
		}
		_ = c2.RegisterFunc("square", square)
	}()
	for i := 0; i < 50 && liveHandles.Load() != base; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if got := liveHandles.Load() - base; got != 0 {
		t.Errorf("finalizer did not release the forgotten client: %d live handles", got)
	}
}

func TestWorkerLifecycle(t *testing.T) {
	c := openTemp(t)
	if err := c.LoadTemplate(diamondYAML); err != nil {
		t.Fatal(err)
	}
	_ = c.RegisterFunc("square", square)
	w, err := c.NewWorker()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if n, err := w.RunOnce(); err != nil || n != 0 {
		t.Errorf("RunOnce on empty db: %d %v", n, err)
	}
	id := mustCreate(t, c, TaskRequest{Name: "diamond", Namespace: "gotest", Context: map[string]any{"n": 1}})
	total := 0
	for i := 0; i < 10; i++ {
		n, err := w.RunOnce()
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if total != 4 || mustView(t, c, id).State != "complete" {
		t.Errorf("RunOnce ran %d steps", total)
	}
	// Start / Stop / Wait twice; a second Start while running fails.
	for round := 0; round < 2; round++ {
		if err := w.Start(2); err != nil {
			t.Fatal(err)
		}
		if err := w.Start(1); err == nil {
			t.Error("second Start accepted")
		}
		id := mustCreate(t, c, TaskRequest{Name: "diamond", Namespace: "gotest", Context: map[string]any{"n": 2, "round": round}})
		deadline := time.Now().Add(30 * time.Second)
		for mustView(t, c, id).State != "complete" {
			if time.Now().After(deadline) {
				t.Fatal("worker did not finish the task")
			}
			time.Sleep(10 * time.Millisecond)
		}
		w.Stop()
		if err := w.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if w.Ran() != 12 {
		t.Errorf("Ran() = %d, want 12", w.Ran())
	}
}

// CallHandler runs one handler without the database; its failures are outcomes.
func TestCallHandler(t *testing.T) {
	c := openTemp(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var seen *StepContext
	var hbErr error
	var tid, callerTid int
	must(c.RegisterFunc("reader", func(ctx *StepContext) (any, error) {
		seen = ctx
		tid = gettid()
		_, hbErr = ctx.Heartbeat()
		payload, _ := ctx.Task.Context["payload"].(string)
		return map[string]any{"len": len(payload), "handler": ctx.Step.Handler}, nil
	}))
	must(c.RegisterFunc("refuser", func(*StepContext) (any, error) {
		return nil, &StepError{Err: errors.New("declined"), Class: "CardDeclined", Permanent: true,
			RetryAfter: 0, Details: map[string]any{"code": 51}}
	}))
	must(c.RegisterFunc("busy", func(*StepContext) (any, error) {
		return nil, Retryable(&gatewayError{429}, 1500*time.Millisecond)
	}))
	must(c.RegisterFunc("panicker", func(*StepContext) (any, error) { panic(&ConformanceError{Message: "boom"}) }))
	must(c.RegisterHandler("pr", resultsHandler{}))

	// (a) the handler reads the context it was given; results come back decoded.
	runtime.LockOSThread()
	callerTid = gettid()
	o, err := c.CallHandler(map[string]any{
		"task":               map[string]any{"task_id": 7, "name": "t", "context": map[string]any{"payload": strings.Repeat("x", 1234)}},
		"step":               map[string]any{"handler": "reader", "name": "read", "attempt": 2, "inputs": map[string]any{"k": "v"}},
		"dependency_results": map[string]any{"up": map[string]any{"value": 3}},
		"claim_token":        "tok",
	})
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != "completed" || o.Error != nil {
		t.Fatalf("outcome %+v", o)
	}
	res, _ := o.Results.(map[string]any)
	if res["len"] != int64(1234) || res["handler"] != "reader" || len(res) != 2 {
		t.Errorf("results %#v", o.Results)
	}
	if seen.Task.TaskID != 7 || seen.Task.Name != "t" || seen.Step.Name != "read" || seen.Step.Attempt != 2 ||
		seen.Step.Inputs["k"] != "v" || seen.DependencyResult("up")["value"] != int64(3) || seen.ClaimToken != "tok" {
		t.Errorf("handler saw %+v", seen)
	}
	if tid != callerTid {
		t.Errorf("handler ran on thread %d, caller on %d", tid, callerTid)
	}
	if !errors.Is(hbErr, ErrStaleClaim) {
		t.Errorf("heartbeat without a claim: %v", hbErr)
	}

	// Missing fields take defaults; ProcessResults runs after Process.
	o, err = c.CallHandler(map[string]any{"task": map[string]any{"context": map[string]any{"x": 21}}, "step": map[string]any{"handler": "pr"}})
	if err != nil || o.Status != "completed" {
		t.Fatalf("pr: %+v %v", o, err)
	}
	if res, _ := o.Results.(map[string]any); res["doubled"] != int64(42) || res["raw"] != int64(21) {
		t.Errorf("pr results %#v", o.Results)
	}

	// (b) a handler's error is a failed outcome with its class, retryability and details.
	o, err = c.CallHandler(map[string]any{"step": map[string]any{"handler": "refuser"}})
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != "failed" || o.Error == nil || o.Results != nil {
		t.Fatalf("refuser outcome %+v", o)
	}
	if f := o.Error; f.Class != "CardDeclined" || f.Message != "declined" || f.Retryable || f.RetryAfter != nil {
		t.Errorf("refuser failure %+v", f)
	}
	if d, _ := o.Error.Details.(map[string]any); d["code"] != int64(51) {
		t.Errorf("refuser details %#v", o.Error.Details)
	}
	o, err = c.CallHandler(map[string]any{"step": map[string]any{"handler": "busy"}})
	if err != nil || o.Status != "failed" || o.Error == nil {
		t.Fatalf("busy: %+v %v", o, err)
	}
	if f := o.Error; f.Class != "gatewayError" || f.Message != "gateway busy (429)" || !f.Retryable ||
		f.RetryAfter == nil || *f.RetryAfter != 1.5 {
		t.Errorf("busy failure %+v", f)
	}
	o, err = c.CallHandler(map[string]any{"step": map[string]any{"handler": "panicker"}})
	if err != nil || o.Status != "failed" || o.Error == nil {
		t.Fatalf("panicker: %+v %v", o, err)
	}
	if f := o.Error; f.Class != "ConformanceError" || f.Message != "boom" || !f.Retryable {
		t.Errorf("panic failure %+v", f)
	}

	// (c) an unknown handler is a failed outcome too, not an error of the call.
	for _, ctx := range []map[string]any{{"step": map[string]any{"handler": "nobody"}}, nil} {
		o, err = c.CallHandler(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if o.Status != "failed" || o.Error == nil || o.Error.Class != "HandlerNotFound" || o.Error.Retryable {
			t.Errorf("unknown handler (ctx %v): %+v", ctx, o)
		}
	}

	// (d) a context of the wrong shape is the call's error.
	for _, ctx := range []map[string]any{
		{"step": "reader"},
		{"step": map[string]any{"handler": "reader", "attempt": "second"}},
		{"dependency_results": []any{1, 2}},
		{"claim_token": 5},
	} {
		o, err = c.CallHandler(ctx)
		var te *Error
		if !errors.Is(err, ErrInvalidArgument) || !errors.As(err, &te) || te.Message == "" || o != nil {
			t.Errorf("malformed context %v: %+v %v", ctx, o, err)
		}
	}

	// Nothing reached the database.
	if h, err := c.Health(); err != nil || h.TotalTasks != 0 || h.TotalSteps != 0 {
		t.Errorf("health %+v %v", h, err)
	}
	c.Close()
	if _, err := c.CallHandler(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}
