// Command tasker-conformance runs the cross-language conformance scenarios
// (ffi-tests/conformance/scenarios/*.json) through the Go binding.
//
//	tasker-conformance -backend sqlite   [-scenarios DIR] [-run REGEXP]
//	tasker-conformance -backend postgres -url postgres://...
//
// It prints `PASS <backend> <scenario>` or `FAIL <backend> <scenario>: <message>` per
// scenario and ends with `go-conformance-<backend>: N passed, N failed`; the exit status is 1
// when a scenario failed.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	tasker "github.com/libtasker/tasker-go"
)

type scenario struct {
	Name     string                    `json:"name"`
	Options  map[string]any            `json:"options"`
	Template map[string]any            `json:"template"`
	Handlers map[string]map[string]any `json:"handlers"`
	Events   []string                  `json:"events"`
	Ops      []map[string]any          `json:"ops"`
}

// ConformanceError is the value the `raise` behaviour panics with.
type ConformanceError struct{ Message string }

func (e *ConformanceError) Error() string { return e.Message }

var runID = fmt.Sprintf("go-%d-%d", os.Getpid(), time.Now().UnixNano())

func main() {
	backend := flag.String("backend", "sqlite", "sqlite or postgres")
	url := flag.String("url", os.Getenv("TASKER_CONFORMANCE_PG_URL"), "PostgreSQL URL (postgres backend)")
	dir := flag.String("scenarios", "", "scenario directory (default: <repo>/ffi-tests/conformance/scenarios)")
	only := flag.String("run", "", "only scenarios whose name matches this regexp")
	flag.Parse()
	if *dir == "" {
		*dir = defaultScenarioDir()
	}
	files, _ := filepath.Glob(filepath.Join(*dir, "*.json"))
	sort.Strings(files)
	if len(files) == 0 {
		fmt.Fprintf(os.Stderr, "no scenarios in %s\n", *dir)
		os.Exit(2)
	}
	if *backend == "postgres" && *url == "" {
		fmt.Fprintln(os.Stderr, "postgres backend needs -url or TASKER_CONFORMANCE_PG_URL")
		os.Exit(2)
	}
	var filter *regexp.Regexp
	if *only != "" {
		filter = regexp.MustCompile(*only)
	}
	tmp, err := os.MkdirTemp("", "tasker-go-conformance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer os.RemoveAll(tmp)
	passed, failed := 0, 0
	for _, f := range files {
		var sc scenario
		raw, err := os.ReadFile(f)
		if err == nil {
			err = parseScenario(raw, &sc)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		if sc.Name != "" {
			name = sc.Name
		}
		if filter != nil && !filter.MatchString(name) {
			continue
		}
		if err == nil {
			dbURL := *url
			if *backend == "sqlite" {
				dbURL = "sqlite://" + filepath.Join(tmp, name+".db")
			}
			err = runScenario(&sc, dbURL)
		}
		if err != nil {
			failed++
			fmt.Printf("FAIL %s %s: %v\n", *backend, name, err)
		} else {
			passed++
			fmt.Printf("PASS %s %s\n", *backend, name)
		}
	}
	fmt.Printf("go-conformance-%s: %d passed, %d failed\n", *backend, passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}

// parseScenario decodes a scenario keeping JSON integers as int64 (libtasker rejects 5.0
// where it expects an integer) and other numbers as float64.
func parseScenario(raw []byte, sc *scenario) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(sc); err != nil {
		return err
	}
	if sc.Options == nil {
		sc.Options = map[string]any{}
	}
	sc.Options = numbers(sc.Options).(map[string]any)
	sc.Template = numbers(sc.Template).(map[string]any)
	for k, v := range sc.Handlers {
		sc.Handlers[k] = numbers(v).(map[string]any)
	}
	for i, op := range sc.Ops {
		sc.Ops[i] = numbers(op).(map[string]any)
	}
	return nil
}

// numbers turns json.Number values into int64 (integers) or float64.
func numbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
		return x
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

func defaultScenarioDir() string {
	_, file, _, ok := runtime.Caller(0)
	if ok {
		d := filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "ffi-tests", "conformance", "scenarios")
		if _, err := os.Stat(d); err == nil {
			return d
		}
	}
	return "ffi-tests/conformance/scenarios"
}

type recordedEvent struct {
	taskID int64
	name   string
}

type queueEntry struct {
	kind  string
	id    int64
	delay time.Duration
}

type runner struct {
	sc      *scenario
	c       *tasker.Client
	tasks   map[string]int64
	mu      sync.Mutex
	events  []recordedEvent
	runs    map[int64]int // executions per step id
	fifo    []queueEntry
	queueOK map[string]int
	seen    map[string][]string // cancel_own_task: what each step's handler saw, by step name
}

func runScenario(sc *scenario, url string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("runner panic: %v", r)
		}
	}()
	opts := map[string]any{
		"backoff":                 map[string]any{"base_ms": 5, "factor": 2.0, "max_ms": 40},
		"poll_interval_ms":        10,
		"lease_check_interval_ms": 50,
	}
	for k, v := range sc.Options {
		opts[k] = v
	}
	c, err := tasker.Open(url, tasker.WithOptions(opts))
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer c.Close()
	r := &runner{sc: sc, c: c, tasks: map[string]int64{}, runs: map[int64]int{}, queueOK: map[string]int{},
		seen: map[string][]string{}}
	if err := c.LoadTemplate(sc.Template); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	for name, spec := range sc.Handlers {
		if err := c.RegisterHandler(name, r.behaviour(spec)); err != nil {
			return fmt.Errorf("handler %s: %w", name, err)
		}
	}
	if sc.Events != nil {
		sub, err := c.Subscribe(sc.Events, func(e tasker.Event) {
			n := e.Name
			if e.StepName != "" {
				n += ":" + e.StepName
			}
			r.mu.Lock()
			r.events = append(r.events, recordedEvent{e.TaskID, n})
			r.mu.Unlock()
		})
		if err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		defer sub.Close()
	}
	for i, op := range sc.Ops {
		if err := r.op(op); err != nil {
			return fmt.Errorf("op %d (%v): %w", i, op["op"], err)
		}
	}
	return nil
}

// --- handler behaviours ---

func str(m map[string]any, k, def string) string {
	if s, ok := m[k].(string); ok {
		return s
	}
	return def
}

func num(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	}
	return 0, false
}

func intOf(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case float64:
		return int64(x)
	case int:
		return int64(x)
	}
	return 0
}

func depNames(ctx *tasker.StepContext) []string {
	names := make([]string, 0, len(ctx.DependencyResults))
	for k := range ctx.DependencyResults {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func (r *runner) behaviour(spec map[string]any) tasker.Handler {
	b := str(spec, "behavior", "")
	return tasker.HandlerFunc(func(ctx *tasker.StepContext) (any, error) {
		r.mu.Lock()
		r.runs[ctx.Step.StepID]++
		r.mu.Unlock()
		switch b {
		case "square":
			var v int64
			if len(ctx.DependencyResults) == 0 {
				v = intOf(ctx.Context()["n"])
			}
			for name := range ctx.DependencyResults {
				v += intOf(ctx.DependencyResult(name)["value"])
			}
			return map[string]any{"value": v * v, "deps": depNames(ctx)}, nil
		case "echo":
			out := map[string]any{}
			for k, v := range ctx.Context() {
				if k != "conformance_run" {
					out[k] = v
				}
			}
			out["step"] = ctx.StepName()
			out["deps"] = depNames(ctx)
			return out, nil
		case "length":
			blob, _ := ctx.Context()["blob"].(string)
			return map[string]any{"length": utf8.RuneCountInString(blob)}, nil
		case "fail_then_succeed":
			if int64(ctx.Attempt()) <= intOf(spec["failures"]) {
				var after time.Duration
				if s, ok := num(spec["retry_after"]); ok {
					after = time.Duration(s * float64(time.Second))
				}
				return nil, tasker.Retryable(tasker.Fail(str(spec, "class", "TransientError"),
					fmt.Sprintf("transient failure on attempt %d", ctx.Attempt())), after)
			}
			return map[string]any{"value": ctx.Attempt()}, nil
		case "fail_permanently":
			return nil, tasker.Permanent(tasker.Fail(str(spec, "class", "PermanentError"), str(spec, "message", "failed")))
		case "fail_always":
			return nil, tasker.Retryable(tasker.Fail(str(spec, "class", "StepError"), str(spec, "message", "failed")), 0)
		case "raise":
			panic(&ConformanceError{Message: str(spec, "message", "raised")})
		case "sleep":
			ms, _ := num(spec["ms"])
			time.Sleep(time.Duration(ms * float64(time.Millisecond)))
			return map[string]any{"value": 1}, nil
		case "decide":
			choose, _ := ctx.Context()["choose"].([]any)
			names := make([]string, 0, len(choose))
			for _, c := range choose {
				name, _ := c.(string)
				names = append(names, name)
			}
			return tasker.Activate(names...), nil
		case "split":
			n, _ := num(ctx.Context()["batch_count"])
			batches := make([]any, 0, int(n))
			for i := 0; i < int(n); i++ {
				batches = append(batches, map[string]any{"index": i})
			}
			return map[string]any{"batches": batches}, nil
		case "checkpointed":
			return checkpointed(ctx, spec)
		case "batch_item":
			index := intOf(ctx.Step.Inputs["index"])
			if f, ok := ctx.Context()["fail_index"]; ok && intOf(f) == index {
				return nil, tasker.Permanent(tasker.Fail("BadBatch", fmt.Sprintf("bad batch %d", index)))
			}
			return map[string]any{"value": index}, nil
		case "cancel_own_task":
			return r.cancelOwnTask(ctx), nil
		}
		return nil, tasker.Permanent(fmt.Errorf("unknown behavior %q", b))
	})
}

// checkpointed resumes at the checkpoint's cursor, checkpoints after each item and fails once
// at fail_at.
func checkpointed(ctx *tasker.StepContext, spec map[string]any) (any, error) {
	items, _ := ctx.Context()["items"].([]any)
	cp, _ := ctx.LastCheckpoint.(map[string]any)
	cursor := intOf(cp["cursor"])
	before, _ := cp["processed"].([]any)
	failAt, failing := num(spec["fail_at"])
	mine := []any{}
	for i := cursor; i < int64(len(items)); i++ {
		if ctx.Attempt() == 1 && failing && float64(i) == failAt {
			return nil, tasker.Retryable(tasker.Fail("CheckpointedFailure", fmt.Sprintf("failed at item %d", i)), 0)
		}
		mine = append(mine, items[i])
		processed := append(append([]any{}, before...), mine)
		if err := ctx.Checkpoint(map[string]any{"cursor": i + 1, "processed": processed}); err != nil {
			return nil, tasker.Permanent(err)
		}
	}
	return map[string]any{"processed": append(append([]any{}, before...), mine), "resumed_from": cursor}, nil
}

// cancelOwnTask records the stop reason, cancels its own task from another goroutine, records
// the stop reason again and the heartbeat's result; the output is discarded, so the runner keeps
// what it saw under the step's name.
func (r *runner) cancelOwnTask(ctx *tasker.StepContext) map[string]any {
	reason := func() string {
		switch got, err := ctx.StopReason(); {
		case err != nil:
			return "error"
		case got == tasker.StopNone:
			return "none"
		default:
			return string(got)
		}
	}
	saw := []string{reason()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = r.c.CancelTask(ctx.TaskID())
	}()
	<-done
	saw = append(saw, reason())
	switch _, err := ctx.Heartbeat(); {
	case err == nil:
		saw = append(saw, "ok")
	case errors.Is(err, tasker.ErrStaleClaim):
		saw = append(saw, "stale_claim")
	default:
		saw = append(saw, "error")
	}
	r.mu.Lock()
	r.seen[ctx.StepName()] = saw
	r.mu.Unlock()
	return map[string]any{"seen": saw}
}

// --- operations ---

func (r *runner) task(op map[string]any) (int64, error) {
	alias := str(op, "task", "")
	id, ok := r.tasks[alias]
	if !ok {
		return 0, fmt.Errorf("unknown task alias %q", alias)
	}
	return id, nil
}

func (r *runner) stepID(op map[string]any) (int64, error) {
	id, err := r.task(op)
	if err != nil {
		return 0, err
	}
	v, err := r.c.TaskView(id)
	if err != nil {
		return 0, err
	}
	s := v.Step(str(op, "step", ""))
	if s == nil {
		return 0, fmt.Errorf("no step %q", str(op, "step", ""))
	}
	return s.StepID, nil
}

func (r *runner) request(ctx map[string]any) tasker.TaskRequest {
	c := map[string]any{"conformance_run": runID}
	for k, v := range ctx {
		c[k] = v
	}
	return tasker.TaskRequest{
		Name:      str(r.sc.Template, "name", ""),
		Namespace: str(r.sc.Template, "namespace_name", "default"),
		Context:   c,
	}
}

func strs(v any) []string {
	var out []string
	if a, ok := v.([]any); ok {
		for _, x := range a {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func (r *runner) op(op map[string]any) error {
	c := r.c
	switch str(op, "op", "") {
	case "create":
		ctx, _ := op["context"].(map[string]any)
		req := r.request(ctx)
		if n, ok := num(op["context_blob_bytes"]); ok {
			req.Context.(map[string]any)["blob"] = strings.Repeat("x", int(n))
		}
		req.BypassSteps = strs(op["bypass_steps"])
		if n, ok := num(op["delay_ms"]); ok {
			d := uint64(n)
			req.DelayMs = &d
		}
		id, created, err := c.CreateTask(req)
		if want, ok := op["expect_error"].(string); ok {
			var e *tasker.Error
			if err == nil {
				return fmt.Errorf("create succeeded, expected error %s", want)
			}
			if !errors.As(err, &e) || e.Name != want {
				return fmt.Errorf("create failed with %v, expected %s", err, want)
			}
			return nil
		}
		if err != nil {
			return err
		}
		if want, ok := op["expect_created"].(bool); ok && want != created {
			return fmt.Errorf("created = %v, expected %v", created, want)
		}
		if same, ok := op["same_as"].(string); ok && r.tasks[same] != id {
			return fmt.Errorf("task id %d, expected the id of %s (%d)", id, same, r.tasks[same])
		}
		r.tasks[str(op, "as", "")] = id
	case "create_many":
		ctx, _ := op["context"].(map[string]any)
		for i := 0; i < int(intOf(op["count"])); i++ {
			m := map[string]any{}
			for k, v := range ctx {
				m[k] = v
			}
			m["n"], m["i"] = i, i
			id, _, err := c.CreateTask(r.request(m))
			if err != nil {
				return err
			}
			r.tasks[str(op, "prefix", "")+strconv.Itoa(i)] = id
		}
	case "run":
		id, err := r.task(op)
		if err != nil {
			return err
		}
		if _, err := c.RunTask(id); err != nil {
			return err
		}
	case "workers":
		return r.workers(op)
	case "set_queue":
		return c.SetQueueInjector(tasker.QueueFuncs{
			Task: func(id int64, d time.Duration) error { r.push(queueEntry{"task", id, d}); return nil },
			Step: func(id int64, d time.Duration) error { r.push(queueEntry{"step", id, d}); return nil },
		})
	case "clear_queue":
		return c.SetQueueInjector(nil)
	case "drain_queue":
		for n := 0; ; n++ {
			r.mu.Lock()
			if len(r.fifo) == 0 {
				r.mu.Unlock()
				return nil
			}
			e := r.fifo[0]
			r.fifo = r.fifo[1:]
			r.mu.Unlock()
			if n >= 10000 {
				return errors.New("queue did not drain after 10000 entries")
			}
			if e.delay > 0 {
				time.Sleep(min(e.delay, 20*time.Millisecond))
			}
			if e.kind == "step" {
				o, err := c.HandleStep(e.id)
				if err != nil {
					return err
				}
				r.queueOK[o.Outcome]++
			} else if _, err := c.HandleTask(e.id); err != nil {
				return err
			}
		}
	case "expect_queue":
		if want := int(intOf(op["completed"])); r.queueOK["completed"] != want {
			return fmt.Errorf("queue completed %d steps, expected %d (outcomes %v)", r.queueOK["completed"], want, r.queueOK)
		}
	case "resolve_step":
		sid, err := r.stepID(op)
		if err != nil {
			return err
		}
		_, err = c.ResolveStep(sid, op["results"])
		return err
	case "retry_step":
		sid, err := r.stepID(op)
		if err != nil {
			return err
		}
		_, err = c.RetryStep(sid)
		return err
	case "cancel":
		id, err := r.task(op)
		if err != nil {
			return err
		}
		changed, err := c.CancelTask(id)
		if err != nil {
			return err
		}
		if want, ok := op["expect_changed"].(bool); ok && want != changed {
			return fmt.Errorf("cancel changed = %v, expected %v", changed, want)
		}
	case "set_handler":
		spec, _ := op["handler"].(map[string]any)
		return c.RegisterHandler(str(op, "name", ""), r.behaviour(spec))
	case "expect_task":
		return r.expectTask(op)
	case "expect_all":
		return r.expectAll(op)
	case "expect_seen":
		want := strs(op["seen"])
		r.mu.Lock()
		got := r.seen[str(op, "step", "")]
		r.mu.Unlock()
		if strings.Join(got, " ") != strings.Join(want, " ") {
			return fmt.Errorf("step %s saw %v, expected %v", str(op, "step", ""), got, want)
		}
	case "expect_events":
		id, err := r.task(op)
		if err != nil {
			return err
		}
		var got []string
		r.mu.Lock()
		for _, e := range r.events {
			if e.taskID == id {
				got = append(got, e.name)
			}
		}
		r.mu.Unlock()
		want := strs(op["names"])
		if strings.Join(got, " ") != strings.Join(want, " ") {
			return fmt.Errorf("events %v, expected %v", got, want)
		}
	default:
		return fmt.Errorf("unknown op %v", op["op"])
	}
	return nil
}

func (r *runner) push(e queueEntry) {
	r.mu.Lock()
	r.fifo = append(r.fifo, e)
	r.mu.Unlock()
}

func (r *runner) workers(op map[string]any) error {
	w, err := r.c.NewWorker()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Start(int(intOf(op["threads"]))); err != nil {
		return err
	}
	prefix, count := str(op, "tasks_prefix", ""), int(intOf(op["count"]))
	deadline := time.Now().Add(120 * time.Second)
	for {
		done := 0
		for i := 0; i < count; i++ {
			ec, err := r.c.ExecutionContext(r.tasks[prefix+strconv.Itoa(i)])
			if err != nil {
				w.Stop()
				return err
			}
			switch ec.TaskState {
			case "complete", "error", "cancelled":
				done++
			}
		}
		if done == count {
			break
		}
		if time.Now().After(deadline) {
			w.Stop()
			_ = w.Wait()
			return fmt.Errorf("only %d of %d tasks finished within 120 s", done, count)
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.Stop()
	return w.Wait()
}

// jsonEqual compares two JSON-like values, numbers by value.
func jsonEqual(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		return false
	}
	var na, nb any
	_ = json.Unmarshal(ja, &na)
	_ = json.Unmarshal(jb, &nb)
	ca, _ := json.Marshal(na)
	cb, _ := json.Marshal(nb)
	return string(ca) == string(cb)
}

func (r *runner) expectTask(op map[string]any) error {
	id, err := r.task(op)
	if err != nil {
		return err
	}
	v, err := r.c.TaskView(id)
	if err != nil {
		return err
	}
	if want, ok := op["state"].(string); ok && v.State != want {
		return fmt.Errorf("task %s state %s, expected %s", str(op, "task", ""), v.State, want)
	}
	if want, ok := op["execution_status"].(string); ok && v.Execution.ExecutionStatus != want {
		return fmt.Errorf("execution_status %s, expected %s", v.Execution.ExecutionStatus, want)
	}
	steps, _ := op["steps"].(map[string]any)
	names := make([]string, 0, len(steps))
	for n := range steps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		exp, _ := steps[name].(map[string]any)
		s := v.Step(name)
		if s == nil {
			return fmt.Errorf("no step %q", name)
		}
		if want, ok := exp["state"].(string); ok && s.State != want {
			return fmt.Errorf("step %s state %s, expected %s", name, s.State, want)
		}
		if want, ok := num(exp["attempts"]); ok && float64(s.Attempts) != want {
			return fmt.Errorf("step %s attempts %d, expected %v", name, s.Attempts, want)
		}
		if want, ok := exp["results"].(map[string]any); ok {
			got := s.ResultMap()
			for k, wv := range want {
				if !jsonEqual(got[k], wv) {
					return fmt.Errorf("step %s results[%s] = %v, expected %v", name, k, got[k], wv)
				}
			}
		}
		f := s.Failure()
		if want, ok := exp["error_class"].(string); ok && (f == nil || f.Class != want) {
			return fmt.Errorf("step %s error %+v, expected class %s", name, f, want)
		}
		if want, ok := exp["error_message"].(string); ok && (f == nil || f.Message != want) {
			return fmt.Errorf("step %s error %+v, expected message %q", name, f, want)
		}
		if want, ok := exp["checkpoint"]; ok && !jsonEqual(s.Checkpoint, want) {
			return fmt.Errorf("step %s checkpoint %v, expected %v", name, s.Checkpoint, want)
		}
		if want, ok := exp["backoff_ms"]; ok {
			got := []any{}
			for _, t := range s.Transitions {
				if t.ToState == "error" {
					got = append(got, t.Metadata["backoff_ms"])
				}
			}
			if !jsonEqual(got, want) {
				return fmt.Errorf("step %s backoffs %v, expected %v", name, got, want)
			}
		}
	}
	absent, _ := op["absent_steps"].([]any)
	for _, a := range absent {
		if name, _ := a.(string); v.Step(name) != nil {
			return fmt.Errorf("step %s exists, expected absent", name)
		}
	}
	return nil
}

func (r *runner) expectAll(op map[string]any) error {
	prefix, count, state := str(op, "prefix", ""), int(intOf(op["count"])), str(op, "state", "")
	once, _ := op["each_step_once"].(bool)
	for i := 0; i < count; i++ {
		alias := prefix + strconv.Itoa(i)
		v, err := r.c.TaskView(r.tasks[alias])
		if err != nil {
			return err
		}
		if v.State != state {
			return fmt.Errorf("task %s state %s, expected %s", alias, v.State, state)
		}
		if once {
			r.mu.Lock()
			for _, s := range v.Steps {
				if n := r.runs[s.StepID]; n != 1 {
					r.mu.Unlock()
					return fmt.Errorf("task %s step %s ran %d times", alias, s.Name, n)
				}
			}
			r.mu.Unlock()
		}
	}
	return nil
}
