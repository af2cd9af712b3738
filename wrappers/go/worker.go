package tasker

/*
#include "tasker.h"
*/
import "C"

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
)

// Worker runs ready steps of any task on goroutines of the host. Start(n) launches n
// goroutines, each running a libtasker worker until Stop; Wait joins them. Handlers run on
// those goroutines (each locks its OS thread while inside libtasker).
type Worker struct {
	c      *core
	mu     sync.Mutex
	owner  *Client // set while goroutines run, so the client stays reachable
	active []*C.tasker_worker
	single *C.tasker_worker // for RunOnce
	wg     sync.WaitGroup
	errs   []error
	ran    atomic.Uint64
	closed bool
}

// NewWorker creates a worker pool bound to the client. Close it (or the client) when done.
func (c *Client) NewWorker() (*Worker, error) {
	w := &Worker{c: c.core}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	c.workers[w] = struct{}{}
	return w, nil
}

func (w *Worker) newC() (*C.tasker_worker, error) {
	var out *C.tasker_worker
	err := w.c.call(func(p *C.tasker_client) error {
		var cerr *C.tasker_error
		return check(C.tasker_worker_new(p, &out, &cerr), cerr)
	})
	return out, err
}

// Start launches n goroutines that run steps until Stop. It fails when the pool is already
// running or closed.
func (w *Worker) Start(n int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if len(w.active) > 0 {
		return errors.New("tasker: worker already started")
	}
	if n < 1 {
		n = 1
	}
	ws := make([]*C.tasker_worker, 0, n)
	for i := 0; i < n; i++ {
		p, err := w.newC()
		if err != nil {
			for _, q := range ws {
				C.tasker_worker_free(q)
			}
			return err
		}
		ws = append(ws, p)
	}
	w.active = ws
	w.errs = nil
	w.owner = &Client{w.c}
	for _, p := range ws {
		w.wg.Add(1)
		go w.loop(p)
	}
	return nil
}

func (w *Worker) loop(p *C.tasker_worker) {
	defer w.wg.Done()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ran C.uint64_t
	var cerr *C.tasker_error
	err := check(C.tasker_worker_run(p, &ran, &cerr), cerr)
	w.ran.Add(uint64(ran))
	if errors.Is(err, ErrInvalidState) && w.c.isClosed() {
		err = nil // the client was closed before this goroutine got to run: it is stopped
	}
	if err != nil {
		w.mu.Lock()
		w.errs = append(w.errs, err)
		w.mu.Unlock()
	}
}

// Stop asks every running goroutine to stop and returns at once (see Wait); any goroutine may
// call it. A stop is graceful: no more claims, the steps claimed but not started go back to
// ready (no attempt counted), a running handler may finish within the client's stop_grace_ms
// option (WithStopGrace; default 30 s: past it its claim goes back and its late outcome is
// dropped), an idle goroutine returns at once.
func (w *Worker) Stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.active {
		C.tasker_worker_stop(p)
	}
}

// RunContext runs n goroutines as Start does until ctx is done, then stops them as Stop does
// and waits for them (Wait). With signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM),
// SIGINT and SIGTERM stop the worker gracefully. It returns the goroutines' errors, nil after
// a clean stop; it returns early if they end by themselves (the client was closed).
func (w *Worker) RunContext(ctx context.Context, n int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := w.Start(n); err != nil {
		return err
	}
	ended := make(chan struct{})
	go func() {
		w.wg.Wait()
		close(ended)
	}()
	select {
	case <-ctx.Done():
		w.Stop()
	case <-ended:
	}
	err := w.Wait()
	<-ended // the WaitGroup may be reused (Start) only once every Wait on it has returned
	return err
}

// Wait waits for the goroutines started by Start to return (after Stop) and releases them.
// It returns their errors, if any. The pool can be started again afterwards.
func (w *Worker) Wait() error {
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.active {
		C.tasker_worker_free(p)
	}
	w.active = nil
	w.owner = nil
	err := errors.Join(w.errs...)
	w.errs = nil
	return err
}

// RunOnce claims up to claim_batch ready steps and runs them on the calling goroutine; it
// returns how many ran (0: nothing was ready).
func (w *Worker) RunOnce() (int, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return 0, ErrClosed
	}
	if w.single == nil {
		p, err := w.newC()
		if err != nil {
			w.mu.Unlock()
			return 0, err
		}
		w.single = p
	}
	p := w.single
	w.mu.Unlock()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ran C.uint64_t
	var cerr *C.tasker_error
	if err := check(C.tasker_worker_run_once(p, &ran, &cerr), cerr); err != nil {
		return 0, err
	}
	w.ran.Add(uint64(ran))
	return int(ran), nil
}

// Ran returns how many steps this pool has run so far (counted when each goroutine returns
// and after each RunOnce).
func (w *Worker) Ran() uint64 { return w.ran.Load() }

// Close stops the pool, waits for it and releases it. Calling it again does nothing.
func (w *Worker) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	w.Stop()
	err := w.Wait()
	w.mu.Lock()
	if w.single != nil {
		C.tasker_worker_free(w.single)
		w.single = nil
	}
	w.mu.Unlock()
	w.c.mu.Lock()
	delete(w.c.workers, w)
	w.c.mu.Unlock()
	return err
}
