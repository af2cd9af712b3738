package tasker

/*
#include <stdlib.h>
#include "tasker.h"
#include "shims.h"
*/
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"time"
	"unsafe"
)

// StepContext is what a handler receives: the task, the step, the results of the step's
// dependencies and the claim token. It is valid only during the call.
type StepContext struct {
	Task              TaskInfo       `msgpack:"task"`
	Step              StepInfo       `msgpack:"step"`
	DependencyResults map[string]any `msgpack:"dependency_results"`
	ClaimToken        string         `msgpack:"claim_token"`
	// LastCheckpoint is what an earlier attempt of this step recorded with Checkpoint (nil
	// when nothing was recorded): where to resume.
	LastCheckpoint any `msgpack:"checkpoint"`

	call *C.tasker_step_call
	// ctx and cancel back Ctx (cancellation.go); created on first use.
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func (sc *StepContext) normalize() {
	sc.Task.Context = normMap(sc.Task.Context)
	sc.Step.Inputs = normMap(sc.Step.Inputs)
	sc.Step.HandlerConfig = normMap(sc.Step.HandlerConfig)
	sc.LastCheckpoint = Normalize(sc.LastCheckpoint)
	sc.DependencyResults = normMap(sc.DependencyResults)
	if sc.DependencyResults == nil {
		sc.DependencyResults = map[string]any{}
	}
}

// The accessors below carry the names of docs/ABI.md's naming table (the same in every
// wrapper); the fields they read stay public.

// Context returns the task's context: the document given to CreateTask (task.context).
func (sc *StepContext) Context() map[string]any { return sc.Task.Context }

// TaskID returns the id of the step's task.
func (sc *StepContext) TaskID() int64 { return sc.Task.TaskID }

// StepID returns the step's id.
func (sc *StepContext) StepID() int64 { return sc.Step.StepID }

// StepName returns the step's name.
func (sc *StepContext) StepName() string { return sc.Step.Name }

// Attempt returns this attempt's number (1 for the first).
func (sc *StepContext) Attempt() int { return sc.Step.Attempt }

// RetryLimit returns the most attempts the step gets, the first included.
func (sc *StepContext) RetryLimit() int { return sc.Step.RetryLimit }

// Inputs returns the step's inputs (the task request's step_inputs for this step).
func (sc *StepContext) Inputs() map[string]any { return sc.Step.Inputs }

// HandlerConfig returns the step template's handler_config.
func (sc *StepContext) HandlerConfig() map[string]any { return sc.Step.HandlerConfig }

// DependencyResult returns the results of the direct dependency name as a map (nil when
// absent or not a map).
func (sc *StepContext) DependencyResult(name string) map[string]any {
	m, _ := sc.DependencyResults[name].(map[string]any)
	return m
}

// Heartbeat extends the lease of the running step and returns the new expiry. ErrStaleClaim
// means the step was taken over or its task cancelled (then the error also matches
// ErrStepCancelled, and Ctx is cancelled): stop working. Only valid during the handler call.
func (sc *StepContext) Heartbeat() (time.Time, error) {
	if sc.call == nil {
		return time.Time{}, &Error{Code: CodeInvalidState, Name: CodeInvalidState.String(),
			Message: "step context used after its handler returned"}
	}
	var exp C.int64_t
	var cerr *C.tasker_error
	if err := check(C.tasker_step_call_heartbeat(sc.call, &exp, &cerr), cerr); err != nil {
		return time.Time{}, sc.stopHeartbeat(err)
	}
	return time.UnixMilli(int64(exp)), nil
}

// Checkpoint records checkpoint (a cursor, the items processed, a bounded partial result; at
// most 64 KiB as JSON) as the step's resume point, replacing the previous one: a retry of the
// step receives it as LastCheckpoint. Written at once, fenced by the claim. ErrStaleClaim means
// the step was taken over (stop working); ErrPayloadTooLarge and ErrInvalidArgument refuse the
// document; nothing is written then. Only valid during the handler call.
func (sc *StepContext) Checkpoint(checkpoint any) error {
	if sc.call == nil {
		return &Error{Code: CodeInvalidState, Name: CodeInvalidState.String(),
			Message: "step context used after its handler returned"}
	}
	b, err := encode(checkpoint)
	if err != nil {
		return fmt.Errorf("tasker: encoding checkpoint: %w", err)
	}
	var cerr *C.tasker_error
	return check(C.tasker_step_call_checkpoint(sc.call, bufPtr(b), C.size_t(len(b)), &cerr), cerr)
}

// Handler processes one step. The returned value (a map, struct or any document) becomes the
// step's output. A returned error is a failed attempt: wrap it with Retryable or Permanent,
// or return a *StepError, to control retries; other errors are retryable. A panic is
// recovered and recorded as a retryable failure with the panic value's type name as class.
type Handler interface {
	Process(ctx *StepContext) (any, error)
}

// ResultsProcessor is an optional second hook: when a Handler implements it, it receives the
// output of Process and returns the results to persist.
type ResultsProcessor interface {
	ProcessResults(ctx *StepContext, output any) (any, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx *StepContext) (any, error)

// Process calls f(ctx).
func (f HandlerFunc) Process(ctx *StepContext) (any, error) { return f(ctx) }

type handlerEntry struct {
	h  Handler
	rp ResultsProcessor
}

// RegisterHandler registers (or replaces) the step handler called name. Handlers run on the
// goroutine that called into libtasker (a worker goroutine, RunTask, HandleStep) and may run
// concurrently on several goroutines.
func (c *Client) RegisterHandler(name string, h Handler) error {
	if h == nil {
		return errHandlerNil
	}
	e := &handlerEntry{h: h}
	withResults := C.int(0)
	if rp, ok := h.(ResultsProcessor); ok {
		e.rp = rp
		withResults = 1
	}
	hd := newHandle(e)
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	err := c.call(func(p *C.tasker_client) error {
		var cerr *C.tasker_error
		return check(C.tasker_go_register_handler(p, cname, withResults, C.uintptr_t(hd), &cerr), cerr)
	})
	if err != nil {
		deleteHandle(hd) // libtasker did not take the userdata
	}
	return err
}

// RegisterFunc registers a function as the handler called name.
func (c *Client) RegisterFunc(name string, f func(ctx *StepContext) (any, error)) error {
	return c.RegisterHandler(name, HandlerFunc(f))
}

// CallHandler calls the handler named by ctx["step"]["handler"] once, on the calling
// goroutine (its OS thread is locked for the duration), exactly as a worker would (Process,
// then ProcessResults, panics recovered, the results' size limit) but without the database:
// nothing is claimed, written or published, and Heartbeat from inside the handler fails with
// ErrStaleClaim. For testing handlers in isolation.
//
// ctx has the shape of a StepContext document: {"task": {task_id, namespace, name, version,
// context, initiator, source_system, reason, tags}, "step": {step_id, name, handler,
// attempt, retry_limit, retryable, inputs, handler_config}, "dependency_results": {...},
// "claim_token": "..."}; missing fields take defaults (0, "", nil, empty map) and nil is an
// empty context. A handler's failure (including an unknown handler, class
// "HandlerNotFound") is a "failed" outcome, not an error; the error is for the call itself
// (ErrInvalidArgument for a malformed context, ErrClosed after Close).
func (c *Client) CallHandler(ctx map[string]any) (*CallOutcome, error) {
	if ctx == nil {
		ctx = map[string]any{}
	}
	b, err := encode(ctx)
	if err != nil {
		return nil, fmt.Errorf("tasker: encoding step context: %w", err)
	}
	var o CallOutcome
	err = c.call(func(p *C.tasker_client) error {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var out C.tasker_bytes
		var cerr *C.tasker_error
		rc := C.tasker_call_handler(p, bufPtr(b), C.size_t(len(b)), &out, &cerr)
		runtime.KeepAlive(b)
		if err := check(rc, cerr); err != nil {
			return err
		}
		if err := decode(takeBytes(&out), &o); err != nil {
			return fmt.Errorf("tasker: decoding call outcome: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	o.Results = Normalize(o.Results)
	if o.Error != nil {
		o.Error.Details = Normalize(o.Error.Details)
	}
	return &o, nil
}
