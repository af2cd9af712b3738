package tasker

/*
#include "tasker.h"
#include "shims.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"time"
)

// QueueInjector receives the work libtasker wants done when the host runs its own queue:
// deliver each id to HandleTask / HandleStep after the delay. Both run on the goroutine
// that called into libtasker, after commit. A returned error leaves the work ready in the
// database (a worker or a later HandleTask picks it up).
type QueueInjector interface {
	EnqueueTask(taskID int64, delay time.Duration) error
	EnqueueStep(stepID int64, delay time.Duration) error
}

// QueueFuncs adapts two functions to QueueInjector.
type QueueFuncs struct {
	Task func(taskID int64, delay time.Duration) error
	Step func(stepID int64, delay time.Duration) error
}

// EnqueueTask calls q.Task.
func (q QueueFuncs) EnqueueTask(id int64, d time.Duration) error { return q.Task(id, d) }

// EnqueueStep calls q.Step.
func (q QueueFuncs) EnqueueStep(id int64, d time.Duration) error { return q.Step(id, d) }

// SetQueueInjector installs the host-queue hooks, replacing earlier ones; nil removes them.
func (c *Client) SetQueueInjector(q QueueInjector) error {
	var hd uintptr
	if q != nil {
		hd = uintptr(newHandle(q))
	}
	err := c.call(func(p *C.tasker_client) error {
		var cerr *C.tasker_error
		return check(C.tasker_go_set_queue_injector(p, C.uintptr_t(hd), &cerr), cerr)
	})
	if err != nil && hd != 0 {
		goTaskerFreeHandle(C.uintptr_t(hd))
	}
	return err
}

// HandleStep delivers a step from the host queue: it runs the step's whole lifecycle on the
// calling goroutine and enqueues what became ready. Stale, early or duplicate deliveries are
// harmless (outcome "skipped").
func (c *Client) HandleStep(stepID int64) (*StepOutcome, error) {
	var o StepOutcome
	err := c.call(func(p *C.tasker_client) error {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var out C.tasker_bytes
		var cerr *C.tasker_error
		if err := check(C.tasker_handle_step(p, C.int64_t(stepID), &out, &cerr), cerr); err != nil {
			return err
		}
		if err := decode(takeBytes(&out), &o); err != nil {
			return fmt.Errorf("tasker: decoding step outcome: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &o, nil
}

// HandleTask delivers a task from the host queue: expired leases become failed attempts,
// ready steps are enqueued, otherwise the task is enqueued again later.
func (c *Client) HandleTask(taskID int64) (*ExecutionContext, error) {
	var ec ExecutionContext
	err := c.call(func(p *C.tasker_client) error {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var out C.tasker_bytes
		var cerr *C.tasker_error
		if err := check(C.tasker_handle_task(p, C.int64_t(taskID), &out, &cerr), cerr); err != nil {
			return err
		}
		return decode(takeBytes(&out), &ec)
	})
	if err != nil {
		return nil, err
	}
	return &ec, nil
}
