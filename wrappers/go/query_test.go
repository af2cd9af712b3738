package tasker

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The query API (issue #13): ListTasks / ListSteps filters and pages, pages stable while
// another goroutine inserts, WaitTask across two processes (the child is this test binary run
// again with TASKER_WAIT_CHILD set: TestWaitChild), timed out and interrupted; on SQLite and,
// with TASKER_CONFORMANCE_PG_URL, on PostgreSQL. That database is shared by the suite, so each
// case works in namespaces of its own and cancels what it leaves unfinished.

const (
	waitLong   = 300 * time.Second // only a wakeup, not the timeout, ends such a wait
	childBound = 120 * time.Second // a child still running then is killed: the test fails
	noPolling  = time.Hour
)

// forEachBackend runs f as a subtest per backend with a URL of its own (SQLite) or shared.
func forEachBackend(t *testing.T, f func(t *testing.T, url string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, "sqlite://"+filepath.Join(t.TempDir(), "query.db")) })
	t.Run("postgres", func(t *testing.T) {
		pg := os.Getenv("TASKER_CONFORMANCE_PG_URL")
		if pg == "" {
			t.Skip("no PostgreSQL: set TASKER_CONFORMANCE_PG_URL (make test does)")
		}
		f(t, pg)
	})
}

// space is a client and names of one case: templates in ns (and other), handlers prefixed
// with ns, so that a shared database's other tasks never match a filter.
type space struct {
	t              *testing.T
	c              *Client
	url, ns, other string
}

func newSpace(t *testing.T, url string) *space {
	nonce := make([]byte, 6)
	if _, err := rand.Read(nonce); err != nil {
		t.Fatal(err)
	}
	// Fast retries, but a retry-after of an hour is kept (the backoff's maximum caps it).
	c, err := Open(url, WithBackoff(5*time.Millisecond, 2, 2*time.Hour), WithPollInterval(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	s := &space{t: t, c: c, url: url, ns: "q" + hex.EncodeToString(nonce)}
	s.other = s.ns + "o"
	t.Cleanup(func() {
		for _, ns := range []string{s.ns, s.other} {
			err := c.EachTask(TaskFilter{Namespace: ns, States: []string{"pending", "in_progress", "error"}},
				func(task *TaskSummary) error {
					_, err := c.CancelTask(task.TaskID)
					return err
				})
			if err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		c.Close()
	})
	return s
}

// template registers a one-step template name in namespace (ns when ""), its handler named
// "<ns>_<name>" (registered when h is not nil); it returns the handler's name.
func (s *space) template(name, namespace string, h func(*StepContext) (any, error)) string {
	s.t.Helper()
	if namespace == "" {
		namespace = s.ns
	}
	handler := s.ns + "_" + name
	tpl := map[string]any{"name": name, "namespace_name": namespace, "version": "1.0.0",
		"step_templates": []any{map[string]any{"name": "only", "handler": handler}}}
	if err := s.c.LoadTemplateMap(tpl); err != nil {
		s.t.Fatal(err)
	}
	if h != nil {
		if err := s.c.RegisterFunc(handler, h); err != nil {
			s.t.Fatal(err)
		}
	}
	return handler
}

func (s *space) create(req TaskRequest) int64 {
	s.t.Helper()
	if req.Namespace == "" {
		req.Namespace = s.ns
	}
	if req.Context == nil {
		req.Context = map[string]any{}
	}
	return mustCreate(s.t, s.c, req)
}

func (s *space) taskIDs(f TaskFilter) []int64 {
	s.t.Helper()
	page, err := s.c.ListTasks(f)
	if err != nil {
		s.t.Fatalf("ListTasks(%+v): %v", f, err)
	}
	ids := []int64{}
	for _, task := range page.Items {
		ids = append(ids, task.TaskID)
	}
	return ids
}

func (s *space) stepID(taskID int64) int64 {
	s.t.Helper()
	return mustView(s.t, s.c, taskID).Step("only").StepID
}

func permanentFailure(*StepContext) (any, error) { return nil, Permanent(errors.New("no")) }
func retryInAnHour(*StepContext) (any, error)    { return nil, Retryable(errors.New("later"), time.Hour) }
func succeed(*StepContext) (any, error)          { return map[string]any{"ok": true}, nil }

func ids(v ...int64) []int64 { return append([]int64{}, v...) }

func TestListTasksFilters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		s := newSpace(t, url)
		s.template("plain", "", succeed)
		s.template("doomed", "", permanentFailure)
		s.template("flaky", s.other, retryInAnHour)
		labelled := func(name string, n int, initiator string, tags []string, ns string) int64 {
			return s.create(TaskRequest{Name: name, Namespace: ns, Context: map[string]any{"n": n},
				Initiator: initiator, SourceSystem: initiator + "-system", Tags: tags})
		}
		done := labelled("plain", 1, "web", []string{"a", "b"}, "")
		waiting := labelled("plain", 2, "api", []string{"a"}, "")
		blocked := labelled("doomed", 3, "api", []string{"b"}, "")
		backingOff := labelled("flaky", 4, "cron", nil, s.other)
		for _, id := range []int64{done, blocked} {
			if _, err := s.c.RunTask(id); err != nil {
				t.Fatal(err)
			}
		}
		if out, err := s.c.HandleStep(s.stepID(backingOff)); err != nil || !out.WillRetry {
			t.Fatalf("HandleStep: %+v, %v", out, err)
		}
		cases := []struct {
			filter TaskFilter
			want   []int64
		}{
			{TaskFilter{Namespace: s.ns}, ids(blocked, waiting, done)}, // newest first
			{TaskFilter{Namespace: s.ns, States: []string{"complete", "error"}}, ids(blocked, done)},
			{TaskFilter{Namespace: s.ns, States: []string{"pending"}}, ids(waiting)},
			{TaskFilter{Namespace: s.ns, ExecutionStatus: "blocked_by_failures"}, ids(blocked)},
			{TaskFilter{Namespace: s.ns, ExecutionStatus: "all_complete"}, ids(done)},
			{TaskFilter{Namespace: s.other, ExecutionStatus: "waiting_for_dependencies"}, ids(backingOff)},
			{TaskFilter{Namespace: s.ns, Name: "plain", Version: "1.0.0"}, ids(waiting, done)},
			{TaskFilter{Namespace: s.ns, Name: "plain", Version: "9.9.9"}, ids()},
			{TaskFilter{Namespace: s.ns, Initiator: "api"}, ids(blocked, waiting)},
			{TaskFilter{Namespace: s.other, SourceSystem: "cron-system"}, ids(backingOff)},
			{TaskFilter{Namespace: s.ns, Tags: []string{"a"}}, ids(waiting, done)},
			{TaskFilter{Namespace: s.ns, Tags: []string{"a", "b"}}, ids(done)},
		}
		for _, tc := range cases {
			if got := s.taskIDs(tc.filter); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ListTasks(%+v) = %v, want %v", tc.filter, got, tc.want)
			}
		}
		page, err := s.c.ListTasks(TaskFilter{Namespace: s.ns, States: []string{"complete"}})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("%+v, %v", page, err)
		}
		sum := page.Items[0]
		got := []any{sum.Namespace, sum.Name, sum.Version, sum.Initiator, sum.SourceSystem, sum.Tags}
		if want := []any{s.ns, "plain", "1.0.0", "web", "web-system", []string{"a", "b"}}; !reflect.DeepEqual(got, want) {
			t.Errorf("summary %v, want %v", got, want)
		}
		ec, err := s.c.ExecutionContext(done)
		if err != nil || !reflect.DeepEqual(*ec, sum.Execution) {
			t.Errorf("summary execution %+v, execution context %+v (%v)", sum.Execution, ec, err)
		}
		// Time ranges are [from, to).
		has := func(f TaskFilter) bool {
			f.Namespace = s.ns
			for _, id := range s.taskIDs(f) {
				if id == done {
					return true
				}
			}
			return false
		}
		if !has(TaskFilter{CreatedFrom: sum.CreatedAt}) || has(TaskFilter{CreatedTo: sum.CreatedAt}) ||
			!has(TaskFilter{CreatedFrom: sum.CreatedAt, CreatedTo: sum.CreatedAt + 1}) ||
			!has(TaskFilter{UpdatedFrom: sum.UpdatedAt}) || has(TaskFilter{UpdatedTo: sum.UpdatedAt}) {
			t.Errorf("time ranges around %+v", sum)
		}
	})
}

func TestListStepsFilters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		s := newSpace(t, url)
		doomed := s.template("doomed", "", permanentFailure)
		flaky := s.template("flaky", "", retryInAnHour)
		blocked := s.create(TaskRequest{Name: "doomed"})
		backingOff := s.create(TaskRequest{Name: "flaky"})
		if _, err := s.c.RunTask(blocked); err != nil {
			t.Fatal(err)
		}
		if _, err := s.c.HandleStep(s.stepID(backingOff)); err != nil {
			t.Fatal(err)
		}
		type hit struct {
			task    int64
			handler string
		}
		cases := []struct {
			filter StepFilter
			want   []hit
		}{
			{StepFilter{Handler: doomed, States: []string{"error"}}, []hit{{blocked, doomed}}},
			{StepFilter{Handler: flaky, States: []string{"error"}}, []hit{{backingOff, flaky}}},
			{StepFilter{Handler: doomed, Condition: "exhausted"}, []hit{{blocked, doomed}}},
			{StepFilter{Handler: doomed, Condition: "in_backoff"}, []hit{}},
			{StepFilter{Handler: flaky, Condition: "in_backoff"}, []hit{{backingOff, flaky}}},
			{StepFilter{Handler: flaky, Condition: "exhausted"}, []hit{}},
			{StepFilter{Handler: flaky, Condition: "lease_expired"}, []hit{}},
			{StepFilter{TaskID: blocked, States: []string{"error"}}, []hit{{blocked, doomed}}},
			{StepFilter{TaskID: blocked, States: []string{"pending", "complete"}}, []hit{}},
		}
		for _, tc := range cases {
			page, err := s.c.ListSteps(tc.filter)
			if err != nil {
				t.Fatalf("ListSteps(%+v): %v", tc.filter, err)
			}
			got := []hit{}
			for _, st := range page.Items {
				got = append(got, hit{st.TaskID, st.Handler})
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ListSteps(%+v) = %v, want %v", tc.filter, got, tc.want)
			}
		}
		page, err := s.c.ListSteps(StepFilter{TaskID: backingOff})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("%+v, %v", page, err)
		}
		st := page.Items[0]
		if st.Name != "only" || st.State != "error" || st.Attempts != 1 || st.NextAttemptAt == nil ||
			st.StepID != s.stepID(backingOff) {
			t.Errorf("step summary %+v", st)
		}
		var each []int64
		err = s.c.EachStep(StepFilter{Handler: doomed, Limit: 1}, func(st *StepSummary) error {
			each = append(each, st.StepID)
			return nil
		})
		if err != nil || !reflect.DeepEqual(each, ids(s.stepID(blocked))) {
			t.Errorf("EachStep: %v, %v", each, err)
		}
	})
}

func TestPagesAreStableUnderConcurrentInserts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		s := newSpace(t, url)
		s.template("plain", "", nil)
		var before []int64
		for n := 0; n < 25; n++ {
			before = append([]int64{s.create(TaskRequest{Name: "plain", Context: map[string]any{"n": n}})}, before...)
		}
		var stop atomic.Bool
		var inserted []int64
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 1000; !stop.Load(); n++ {
				id, _, err := s.c.CreateTask(TaskRequest{Name: "plain", Namespace: s.ns, Context: map[string]any{"n": n}})
				if err != nil {
					t.Error(err)
					return
				}
				inserted = append(inserted, id)
			}
		}()
		// The first page may already hold new tasks; every older one appears exactly once.
		var seen []int64
		err := s.c.EachTask(TaskFilter{Namespace: s.ns, Limit: 4}, func(task *TaskSummary) error {
			seen = append(seen, task.TaskID)
			return nil
		})
		stop.Store(true)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if !sort.SliceIsSorted(seen, func(i, j int) bool { return seen[i] > seen[j] }) {
			t.Errorf("not strictly newest first: %v", seen)
		}
		known := map[int64]int{}
		for _, id := range append(append([]int64{}, before...), inserted...) {
			known[id] = 0
		}
		var old []int64
		for _, id := range seen {
			if _, ok := known[id]; !ok {
				t.Errorf("task %d was never created here", id)
			}
			if known[id]++; known[id] > 1 {
				t.Errorf("task %d listed twice", id)
			}
			if id <= before[0] {
				old = append(old, id)
			}
		}
		if !reflect.DeepEqual(old, before) {
			t.Errorf("the tasks that existed: listed %v, want %v", old, before)
		}
	})
}

func TestPageOfExactlyLimitItems(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		s := newSpace(t, url)
		s.template("plain", "", nil)
		made := []int64{}
		for n := 0; n < 3; n++ {
			made = append([]int64{s.create(TaskRequest{Name: "plain", Context: map[string]any{"n": n}})}, made...)
		}
		first, err := s.c.ListTasks(TaskFilter{Namespace: s.ns, Limit: 3})
		if err != nil || len(first.Items) != 3 {
			t.Fatalf("%+v, %v", first, err)
		}
		if first.NextCursor != "" {
			rest, err := s.c.ListTasks(TaskFilter{Namespace: s.ns, Limit: 3, Cursor: first.NextCursor})
			if err != nil || len(rest.Items) != 0 || rest.NextCursor != "" {
				t.Errorf("after the last item: %+v, %v", rest, err)
			}
		}
		var each []int64
		stopAt := errors.New("enough")
		err = s.c.EachTask(TaskFilter{Namespace: s.ns, Limit: 1}, func(task *TaskSummary) error {
			each = append(each, task.TaskID)
			if len(each) == 2 {
				return stopAt
			}
			return nil
		})
		if !errors.Is(err, stopAt) || !reflect.DeepEqual(each, made[:2]) {
			t.Errorf("EachTask stopped by its callback: %v, %v", each, err)
		}
	})
}

func TestBadFiltersAreRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		s := newSpace(t, url)
		taskCases := map[string]TaskFilter{
			"limit": {Limit: 1001}, "nope": {States: []string{"nope"}}, "cursor": {Cursor: "x"},
			"stuck": {ExecutionStatus: "stuck"},
		}
		for named, f := range taskCases {
			_, err := s.c.ListTasks(f)
			if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), named) {
				t.Errorf("ListTasks(%+v): %v, want ErrInvalidArgument naming %q", f, err, named)
			}
		}
		stepCases := map[string]StepFilter{
			"limit": {Limit: 1001}, "sleepy": {Condition: "sleepy"}, "cursor": {Cursor: "-3"},
			"later": {States: []string{"later"}},
		}
		for named, f := range stepCases {
			_, err := s.c.ListSteps(f)
			if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), named) {
				t.Errorf("ListSteps(%+v): %v, want ErrInvalidArgument naming %q", f, err, named)
			}
		}
	})
}

// TestWaitChild is the other process of the wait tests: with TASKER_WAIT_CHILD=run it runs the
// task TASKER_WAIT_TASK (its steps' handler is TASKER_WAIT_HANDLER) and prints its final state;
// with TASKER_WAIT_CHILD=wait it prints "waiting", waits an hour for the task under
// signal.NotifyContext and prints what WaitTask returned. Skipped otherwise.
func TestWaitChild(t *testing.T) {
	mode := os.Getenv("TASKER_WAIT_CHILD")
	if mode == "" {
		t.Skip("the child process of the wait tests")
	}
	taskID, err := strconv.ParseInt(os.Getenv("TASKER_WAIT_TASK"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	// Polling every hour: on PostgreSQL only a NOTIFY (or a signal) ends these waits early.
	c, err := Open(os.Getenv("TASKER_WAIT_URL"), WithPollInterval(noPolling))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	switch mode {
	case "run":
		if err := c.RegisterFunc(os.Getenv("TASKER_WAIT_HANDLER"), func(*StepContext) (any, error) {
			return map[string]any{"by": "child"}, nil
		}); err != nil {
			t.Fatal(err)
		}
		ec, err := c.RunTask(taskID)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("state %s\n", ec.TaskState)
	case "wait":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		fmt.Println("waiting")
		_, err := c.WaitTask(ctx, taskID, time.Hour)
		fmt.Printf("returned interrupted=%v canceled=%v\n", errors.Is(err, ErrInterrupted), errors.Is(err, context.Canceled))
	}
}

// waitChild starts TestWaitChild in mode with env; it returns the child and its output lines.
func waitChild(t *testing.T, mode string, env ...string) (*exec.Cmd, <-chan string) {
	return startChild(t, "TestWaitChild", append([]string{"TASKER_WAIT_CHILD=" + mode}, env...), nil)
}

// startChild runs the test binary again for the test named test only, with env added (stderr
// to stderr when not nil); it returns the child and its output lines.
func startChild(t *testing.T, test string, env []string, stderr io.Writer) (*exec.Cmd, <-chan string) {
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return cmd, lines
}

// finish reads the child's output to its end within childBound (else kills it and fails), waits
// for it and returns the lines read.
func finish(t *testing.T, cmd *exec.Cmd, lines <-chan string) []string {
	var seen []string
	timeout := time.After(childBound)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				if err := cmd.Wait(); err != nil {
					t.Fatalf("child: %v: %q", err, seen)
				}
				return seen
			}
			seen = append(seen, line)
		case <-timeout:
			cmd.Process.Kill()
			t.Fatalf("the child did not end: %q", seen)
		}
	}
}

func contains(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func TestWaitAcrossTwoProcesses(t *testing.T) {
	if os.Getenv("TASKER_WAIT_CHILD") != "" {
		t.Skip("in the child")
	}
	forEachBackend(t, func(t *testing.T, url string) {
		s := newSpace(t, url)
		handler := s.template("remote", "", nil)
		id := s.create(TaskRequest{Name: "remote"})
		// This side never polls on PostgreSQL: only the child's commit (NOTIFY) can wake it.
		// SQLite has no cross-process wakeup; there the wait polls.
		poll := 10 * time.Millisecond
		if strings.HasPrefix(url, "postgres") {
			poll = noPolling
		}
		waiter, err := Open(url, WithPollInterval(poll))
		if err != nil {
			t.Fatal(err)
		}
		defer waiter.Close()
		cmd, lines := waitChild(t, "run", "TASKER_WAIT_URL="+url, "TASKER_WAIT_HANDLER="+handler,
			fmt.Sprintf("TASKER_WAIT_TASK=%d", id))
		w, err := waiter.WaitTask(context.Background(), id, waitLong)
		seen := finish(t, cmd, lines)
		if err != nil {
			t.Fatal(err)
		}
		if !contains(seen, "state complete") {
			t.Errorf("the child: %q", seen)
		}
		if w.TimedOut || w.Task.State != "complete" || !reflect.DeepEqual(w.Task.Step("only").Results, map[string]any{"by": "child"}) {
			t.Errorf("wait result %+v", w)
		}
	})
}

func TestWaitTimesOutWithTheCurrentView(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		s := newSpace(t, url)
		s.template("idle", "", nil)
		id := s.create(TaskRequest{Name: "idle"})
		for _, timeout := range []time.Duration{30 * time.Millisecond, 0} { // 0 looks once
			w, err := s.c.WaitTask(context.Background(), id, timeout)
			if err != nil || !w.TimedOut || w.Task.TaskID != id || w.Task.State != "pending" {
				t.Errorf("WaitTask(%v): %+v, %v", timeout, w, err)
			}
		}
		if _, err := s.c.WaitTask(context.Background(), id, -time.Second); err == nil {
			t.Error("a negative timeout was accepted")
		}
	})
}

func TestWaitReturnsABlockedTaskAndFailsForAMissingOne(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		s := newSpace(t, url)
		s.template("doomed", "", permanentFailure)
		id := s.create(TaskRequest{Name: "doomed"})
		if _, err := s.c.RunTask(id); err != nil {
			t.Fatal(err)
		}
		w, err := s.c.WaitTask(context.Background(), id, waitLong)
		if err != nil || w.TimedOut || w.Task.Execution.ExecutionStatus != "blocked_by_failures" {
			t.Errorf("WaitTask: %+v, %v", w, err)
		}
		if _, err := s.c.WaitTask(context.Background(), 1<<62, waitLong); !errors.Is(err, ErrTaskNotFound) {
			t.Errorf("a missing task: %v", err)
		}
	})
}

// endWait runs wait on a goroutine and calls end until wait returned (an interrupt ends only
// the calls running when it is made); it returns wait's error.
func endWait(wait func() error, end func()) error {
	done := make(chan error, 1)
	go func() { done <- wait() }()
	for {
		end()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestWaitIsInterrupted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		s := newSpace(t, url)
		s.template("idle", "", nil)
		id := s.create(TaskRequest{Name: "idle"})
		waiter, err := Open(url, WithPollInterval(noPolling))
		if err != nil {
			t.Fatal(err)
		}
		defer waiter.Close()
		// By Interrupt.
		waitErr := endWait(func() error {
			_, err := waiter.WaitTask(context.Background(), id, waitLong)
			return err
		}, waiter.Interrupt)
		if !errors.Is(waitErr, ErrInterrupted) {
			t.Errorf("interrupted wait: %v", waitErr)
		}
		// By its context: the error matches both.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		waitErr = endWait(func() error {
			_, err := waiter.WaitTask(ctx, id, waitLong)
			return err
		}, cancel)
		if !errors.Is(waitErr, context.Canceled) {
			t.Errorf("cancelled wait: %v", waitErr)
		}
	})
}

// A signal under signal.NotifyContext ends a wait in another process.
func TestSignalEndsAWait(t *testing.T) {
	if os.Getenv("TASKER_WAIT_CHILD") != "" {
		t.Skip("in the child")
	}
	forEachBackend(t, func(t *testing.T, url string) {
		s := newSpace(t, url)
		s.template("idle", "", nil)
		id := s.create(TaskRequest{Name: "idle"})
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
			cmd, lines := waitChild(t, "wait", "TASKER_WAIT_URL="+url, fmt.Sprintf("TASKER_WAIT_TASK=%d", id))
			timeout := time.After(childBound)
			for waiting := false; !waiting; {
				select {
				case line, ok := <-lines:
					if !ok {
						t.Fatal("the child ended before it waited")
					}
					waiting = line == "waiting"
				case <-timeout:
					cmd.Process.Kill()
					t.Fatal("the child did not start waiting")
				}
			}
			time.Sleep(500 * time.Millisecond) // let it enter the wait (an hour long): only the signal ends it
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			// Cancelled in the wait (interrupted), or, under load, just before it began.
			seen := finish(t, cmd, lines)
			if !contains(seen, "returned interrupted=true canceled=true") &&
				!contains(seen, "returned interrupted=false canceled=true") {
				t.Errorf("%v: the child: %q", sig, seen)
			}
		}
	})
}
