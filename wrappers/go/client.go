package tasker

/*
#include <stdlib.h>
#include "tasker.h"
#include "shims.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Option configures Open. Options build libtasker's client-options document (docs/ABI.md).
type Option func(map[string]any)

// WithOptions merges raw client options (top-level keys replace earlier ones), e.g.
// {"lease_ms": 60000, "reenqueue": {...}}. Unknown keys are rejected by Open.
func WithOptions(opts map[string]any) Option {
	return func(m map[string]any) {
		for k, v := range opts {
			m[k] = v
		}
	}
}

// WithBackoff sets the default retry backoff: min(base × factor^attempts, max).
func WithBackoff(base time.Duration, factor float64, max time.Duration) Option {
	return WithOptions(map[string]any{"backoff": map[string]any{
		"base_ms": base.Milliseconds(), "factor": factor, "max_ms": max.Milliseconds()}})
}

// WithLease sets the default step lease.
func WithLease(d time.Duration) Option {
	return WithOptions(map[string]any{"lease_ms": d.Milliseconds()})
}

// WithPollInterval sets how often idle workers poll for ready steps.
func WithPollInterval(d time.Duration) Option {
	return WithOptions(map[string]any{"poll_interval_ms": d.Milliseconds()})
}

// WithClaimBatch sets how many ready steps a worker claims at once.
func WithClaimBatch(n int) Option { return WithOptions(map[string]any{"claim_batch": n}) }

// WithMaxConnections sets the size of the database pool.
func WithMaxConnections(n int) Option { return WithOptions(map[string]any{"max_connections": n}) }

// WithEnvironment selects the template environment overrides to apply.
func WithEnvironment(env string) Option { return WithOptions(map[string]any{"environment": env}) }

// WithStopGrace sets how long a stopping worker lets its running handler finish before giving
// its claim back (stop_grace_ms; default 30 s).
func WithStopGrace(d time.Duration) Option {
	return WithOptions(map[string]any{"stop_grace_ms": d.Milliseconds()})
}

// WithRejectDuplicates makes identical task requests fail with ErrDuplicateTask.
func WithRejectDuplicates(on bool) Option {
	return WithOptions(map[string]any{"reject_duplicates": on})
}

// Client is a connection to one libtasker database (SQLite file or PostgreSQL). It is safe
// for concurrent use. Close it when done; a finalizer closes a forgotten client.
type Client struct {
	*core
}

// core is what workers and subscriptions reference, so that the finalizer on Client can run
// while they are still open.
type core struct {
	mu       sync.Mutex
	cond     *sync.Cond
	ptr      *C.tasker_client
	inflight int
	closed   bool
	workers  map[*Worker]struct{}
	subs     map[*Subscription]struct{}
}

// Open connects to url ("sqlite://PATH", "sqlite::memory:", "postgres://..."; "" means
// $TASKER_DATABASE_URL, else "sqlite://tasker.db") and applies the migrations.
func Open(url string, opts ...Option) (*Client, error) {
	var optBytes []byte
	if len(opts) > 0 {
		m := map[string]any{}
		for _, o := range opts {
			o(m)
		}
		b, err := encode(m)
		if err != nil {
			return nil, fmt.Errorf("tasker: encoding options: %w", err)
		}
		optBytes = b
	}
	var curl *C.char
	if url != "" {
		curl = C.CString(url)
		defer C.free(unsafe.Pointer(curl))
	}
	var out *C.tasker_client
	var cerr *C.tasker_error
	rc := C.tasker_client_new(curl, bufPtr(optBytes), C.size_t(len(optBytes)), &out, &cerr)
	runtime.KeepAlive(optBytes)
	if err := check(rc, cerr); err != nil {
		return nil, err
	}
	co := &core{ptr: out, workers: map[*Worker]struct{}{}, subs: map[*Subscription]struct{}{}}
	co.cond = sync.NewCond(&co.mu)
	c := &Client{co}
	runtime.SetFinalizer(c, func(c *Client) { c.Close() })
	return c, nil
}

// enter marks a call in flight; Close waits for calls in flight. It returns nil when closed.
func (c *core) enter() *C.tasker_client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.inflight++
	return c.ptr
}

func (c *core) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *core) leave() {
	c.mu.Lock()
	c.inflight--
	if c.inflight == 0 {
		c.cond.Broadcast()
	}
	c.mu.Unlock()
}

// Close closes the client (tasker_client_close): new calls fail with ErrClosed, running
// workers stop as by Worker.Stop (grace period included) and are waited for, subscriptions
// are dropped, calls in flight on other goroutines are waited for (a running RunTask too:
// Interrupt it first to end it), then the client is released. Calling it again does nothing.
// Do not call it from inside a handler or subscriber of this client.
func (c *Client) Close() error {
	runtime.SetFinalizer(c, nil)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	ptr := c.ptr
	workers := make([]*Worker, 0, len(c.workers))
	for w := range c.workers {
		workers = append(workers, w)
	}
	subs := make([]*Subscription, 0, len(c.subs))
	for s := range c.subs {
		subs = append(subs, s)
	}
	c.mu.Unlock()
	var first error
	// libtasker stops every worker at once (not one after the other) and waits for the calls.
	var cerr *C.tasker_error
	if err := check(C.tasker_client_close(ptr, &cerr), cerr); err != nil {
		first = err
	}
	for _, w := range workers {
		if err := w.Close(); err != nil && first == nil {
			first = err
		}
	}
	for _, s := range subs {
		s.Close()
	}
	c.mu.Lock()
	for c.inflight > 0 {
		c.cond.Wait()
	}
	c.ptr = nil
	c.mu.Unlock()
	C.tasker_client_free(ptr)
	return first
}

// call runs fn with the client pointer, guarding against a concurrent Close.
func (c *core) call(fn func(p *C.tasker_client) error) error {
	p := c.enter()
	if p == nil {
		return ErrClosed
	}
	defer c.leave()
	return fn(p)
}

// Migrate applies the embedded migrations again (they already ran at Open).
func (c *Client) Migrate() error {
	return c.call(func(p *C.tasker_client) error {
		var cerr *C.tasker_error
		return check(C.tasker_migrate(p, &cerr), cerr)
	})
}

// LoadTemplate registers a task template given as a file path, YAML text (a string with a
// newline, or []byte), or a map/struct with the YAML structure.
func (c *Client) LoadTemplate(src any) error {
	switch t := src.(type) {
	case string:
		if !strings.ContainsAny(t, "\n") {
			if _, err := os.Stat(t); err == nil {
				return c.LoadTemplateFile(t)
			}
		}
		return c.LoadTemplateYAML(t)
	case []byte:
		return c.LoadTemplateYAML(string(t))
	default:
		return c.LoadTemplateMap(src)
	}
}

// LoadTemplateFile registers a template from a YAML file.
func (c *Client) LoadTemplateFile(path string) error {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	return c.call(func(p *C.tasker_client) error {
		var cerr *C.tasker_error
		return check(C.tasker_register_template_file(p, cpath, &cerr), cerr)
	})
}

// LoadTemplateYAML registers a template from YAML text.
func (c *Client) LoadTemplateYAML(yaml string) error {
	b := []byte(yaml)
	return c.call(func(p *C.tasker_client) error {
		var cerr *C.tasker_error
		rc := C.tasker_register_template_yaml(p, bufPtr(b), C.size_t(len(b)), &cerr)
		runtime.KeepAlive(b)
		return check(rc, cerr)
	})
}

// LoadTemplateMap registers a template given as a map (or struct) with the YAML structure.
func (c *Client) LoadTemplateMap(tpl any) error {
	b, err := encode(tpl)
	if err != nil {
		return fmt.Errorf("tasker: encoding template: %w", err)
	}
	return c.call(func(p *C.tasker_client) error {
		var cerr *C.tasker_error
		rc := C.tasker_register_template_msgpack(p, bufPtr(b), C.size_t(len(b)), &cerr)
		runtime.KeepAlive(b)
		return check(rc, cerr)
	})
}

// CreateTask creates a task. created is false when an identical task already existed (its
// id is returned).
func (c *Client) CreateTask(req TaskRequest) (taskID int64, created bool, err error) {
	b, err := encode(&req)
	if err != nil {
		return 0, false, fmt.Errorf("tasker: encoding task request: %w", err)
	}
	err = c.call(func(p *C.tasker_client) error {
		var id C.int64_t
		var cr C.bool
		var cerr *C.tasker_error
		rc := C.tasker_create_task(p, bufPtr(b), C.size_t(len(b)), &id, &cr, &cerr)
		runtime.KeepAlive(b)
		if err := check(rc, cerr); err != nil {
			return err
		}
		taskID, created = int64(id), bool(cr)
		return nil
	})
	return taskID, created, err
}

// Interrupt ends every blocking call running on this client now, from any goroutine
// (RunTask, RunTaskContext, workers, HandleStep): each returns as soon as the handler running
// on its thread returns, gives its claims back (the steps are ready again, no attempt counted,
// an outcome reported later is not written) and fails with ErrInterrupted. Calls started later
// are not affected.
func (c *Client) Interrupt() {
	_ = c.call(func(p *C.tasker_client) error {
		C.tasker_client_interrupt(p)
		return nil
	})
}

// RunTask runs the task to the end on the calling goroutine (its OS thread is locked for the
// duration, as handlers run on it) and returns its final execution context.
func (c *Client) RunTask(taskID int64) (*ExecutionContext, error) {
	return c.RunTaskContext(context.Background(), taskID)
}

// RunTaskContext is RunTask that ends when ctx is done (with signal.NotifyContext: on Ctrl-C):
// the run is interrupted as by Interrupt once the running handler returns, the step goes back
// to ready without counting an attempt or recording a failure, and the error matches both
// ErrInterrupted and ctx.Err() with errors.Is.
func (c *Client) RunTaskContext(ctx context.Context, taskID int64) (*ExecutionContext, error) {
	var ec *ExecutionContext
	err := c.interruptOnDone(ctx, func() (err error) {
		ec, err = c.runTask(taskID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ec, nil
}

func (c *Client) runTask(taskID int64) (*ExecutionContext, error) {
	var ec ExecutionContext
	err := c.call(func(p *C.tasker_client) error {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var out C.tasker_bytes
		var cerr *C.tasker_error
		if err := check(C.tasker_run_task(p, C.int64_t(taskID), &out, &cerr), cerr); err != nil {
			return err
		}
		return decode(takeBytes(&out), &ec)
	})
	if err != nil {
		return nil, err
	}
	return &ec, nil
}

func (c *Client) bytesCall(f func(p *C.tasker_client, out *C.tasker_bytes, cerr **C.tasker_error) C.tasker_result) ([]byte, error) {
	var data []byte
	err := c.call(func(p *C.tasker_client) error {
		var out C.tasker_bytes
		var cerr *C.tasker_error
		if err := check(f(p, &out, &cerr), cerr); err != nil {
			return err
		}
		data = takeBytes(&out)
		return nil
	})
	return data, err
}

// TaskView reads the task with its steps, results, history and execution context.
func (c *Client) TaskView(taskID int64) (*TaskView, error) {
	data, err := c.bytesCall(func(p *C.tasker_client, out *C.tasker_bytes, cerr **C.tasker_error) C.tasker_result {
		return C.tasker_task_view(p, C.int64_t(taskID), out, cerr)
	})
	if err != nil {
		return nil, err
	}
	var v TaskView
	if err := decode(data, &v); err != nil {
		return nil, fmt.Errorf("tasker: decoding task view: %w", err)
	}
	v.normalize()
	return &v, nil
}

// ExecutionContext reads the task's counts, execution status and health.
func (c *Client) ExecutionContext(taskID int64) (*ExecutionContext, error) {
	data, err := c.bytesCall(func(p *C.tasker_client, out *C.tasker_bytes, cerr **C.tasker_error) C.tasker_result {
		return C.tasker_execution_context(p, C.int64_t(taskID), out, cerr)
	})
	if err != nil {
		return nil, err
	}
	var ec ExecutionContext
	if err := decode(data, &ec); err != nil {
		return nil, fmt.Errorf("tasker: decoding execution context: %w", err)
	}
	return &ec, nil
}

// Health counts tasks and steps by state.
func (c *Client) Health() (*Health, error) {
	data, err := c.bytesCall(func(p *C.tasker_client, out *C.tasker_bytes, cerr **C.tasker_error) C.tasker_result {
		return C.tasker_health(p, out, cerr)
	})
	if err != nil {
		return nil, err
	}
	var h Health
	if err := decode(data, &h); err != nil {
		return nil, fmt.Errorf("tasker: decoding health: %w", err)
	}
	return &h, nil
}

// CancelTask cancels every unfinished step of the task; changed is false when it was
// already cancelled.
func (c *Client) CancelTask(taskID int64) (changed bool, err error) {
	err = c.call(func(p *C.tasker_client) error {
		var ch C.bool
		var cerr *C.tasker_error
		if err := check(C.tasker_cancel_task(p, C.int64_t(taskID), &ch, &cerr), cerr); err != nil {
			return err
		}
		changed = bool(ch)
		return nil
	})
	return changed, err
}

// ResolveStep resolves a pending or failed step by hand with results (nil: an empty map);
// its dependents proceed.
func (c *Client) ResolveStep(stepID int64, results any) (changed bool, err error) {
	var b []byte
	if results != nil {
		if b, err = encode(results); err != nil {
			return false, fmt.Errorf("tasker: encoding results: %w", err)
		}
	}
	err = c.call(func(p *C.tasker_client) error {
		var ch C.bool
		var cerr *C.tasker_error
		rc := C.tasker_resolve_step(p, C.int64_t(stepID), bufPtr(b), C.size_t(len(b)), &ch, &cerr)
		runtime.KeepAlive(b)
		if err := check(rc, cerr); err != nil {
			return err
		}
		changed = bool(ch)
		return nil
	})
	return changed, err
}

// RetryStep retries a failed step (its attempts restart); a blocked task resumes. changed
// reports whether anything changed.
func (c *Client) RetryStep(stepID int64) (changed bool, err error) {
	err = c.call(func(p *C.tasker_client) error {
		var ch C.bool
		var cerr *C.tasker_error
		if err := check(C.tasker_retry_step(p, C.int64_t(stepID), &ch, &cerr), cerr); err != nil {
			return err
		}
		changed = bool(ch)
		return nil
	})
	return changed, err
}

// UnregisterHandler removes the handler called name; it reports whether one existed.
func (c *Client) UnregisterHandler(name string) (bool, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var removed bool
	err := c.call(func(p *C.tasker_client) error {
		var r C.bool
		var cerr *C.tasker_error
		if err := check(C.tasker_unregister_handler(p, cname, &r, &cerr), cerr); err != nil {
			return err
		}
		removed = bool(r)
		return nil
	})
	return removed, err
}

// errHandlerNil is returned when registering a nil handler.
var errHandlerNil = errors.New("tasker: nil handler")
