package tasker

// The //export'ed trampolines called by the C glue in shims.c. cgo forbids C definitions in
// the preamble of a file with //export, so this preamble only includes declarations.

/*
#include <stdint.h>
#include <stdlib.h>
#include "tasker.h"
*/
import "C"

import (
	"fmt"
	"os"
	"runtime/cgo"
	"runtime/debug"
	"sync/atomic"
	"time"
	"unsafe"
)

// liveHandles counts cgo handles given to libtasker and not yet released by its finalizers.
var liveHandles atomic.Int64

func newHandle(v any) cgo.Handle {
	liveHandles.Add(1)
	return cgo.NewHandle(v)
}

func deleteHandle(h cgo.Handle) {
	h.Delete()
	liveHandles.Add(-1)
}

//export goTaskerFreeHandle
func goTaskerFreeHandle(ud C.uintptr_t) {
	deleteHandle(cgo.Handle(ud))
}

//export goTaskerProcess
func goTaskerProcess(ud C.uintptr_t, call *C.tasker_step_call, data *C.uint8_t, n C.size_t) {
	e := cgo.Handle(ud).Value().(*handlerEntry)
	runStep(call, data, n, func(sc *StepContext) (any, error) { return e.h.Process(sc) })
}

//export goTaskerProcessResults
func goTaskerProcessResults(ud C.uintptr_t, call *C.tasker_step_call, data *C.uint8_t, n C.size_t,
	out *C.uint8_t, outLen C.size_t) {
	e := cgo.Handle(ud).Value().(*handlerEntry)
	runStep(call, data, n, func(sc *StepContext) (any, error) {
		output, err := decodeAny(cBytes(out, outLen))
		if err != nil {
			return nil, &StepError{Err: fmt.Errorf("decoding step output: %w", err), Class: "DecodeError"}
		}
		return e.rp.ProcessResults(sc, output)
	})
}

// runStep decodes the context, runs fn and reports its outcome on call. A panic in fn is
// recovered here and becomes a failed attempt: it never unwinds into libtasker.
func runStep(call *C.tasker_step_call, data *C.uint8_t, n C.size_t, fn func(*StepContext) (any, error)) {
	maybeGC()
	sc := &StepContext{call: call}
	defer sc.finish()
	defer func() {
		if r := recover(); r != nil {
			class, msg := panicFailure(r)
			failCall(call, msg, class, true, -1, map[string]any{"panic": true, "stack": string(debug.Stack())})
		}
	}()
	if err := decode(cBytes(data, n), sc); err != nil {
		failCall(call, "decoding step context: "+err.Error(), "DecodeError", true, -1, nil)
		return
	}
	sc.normalize()
	value, err := fn(sc)
	if err != nil {
		reportError(call, err)
		return
	}
	if value == nil {
		value = map[string]any{}
	}
	b, err := encode(value)
	if err != nil {
		failCall(call, "encoding step output: "+err.Error(), "EncodeError", true, -1, nil)
		return
	}
	var cerr *C.tasker_error
	rc := C.tasker_step_call_set_output(call, bufPtr(b), C.size_t(len(b)), &cerr)
	if err := check(rc, cerr); err != nil {
		failCall(call, "invalid step output: "+err.Error(), "InvalidOutput", true, -1, nil)
	}
}

func reportError(call *C.tasker_step_call, err error) {
	se := asStepError(err)
	after := -1.0
	if se.RetryAfter > 0 {
		after = se.RetryAfter.Seconds()
	}
	failCall(call, err.Error(), se.Class, !se.Permanent, after, se.Details)
}

func failCall(call *C.tasker_step_call, msg, class string, retryable bool, after float64, details any) {
	var db []byte
	if details != nil {
		db, _ = encode(details)
	}
	cmsg := C.CString(msg)
	defer C.free(unsafe.Pointer(cmsg))
	var cclass *C.char
	if class != "" {
		cclass = C.CString(class)
		defer C.free(unsafe.Pointer(cclass))
	}
	var cerr *C.tasker_error
	rc := C.tasker_step_call_fail(call, cmsg, cclass, C.bool(retryable), C.double(after), bufPtr(db), C.size_t(len(db)), &cerr)
	if check(rc, cerr) != nil && db != nil {
		// Details were rejected: record the failure without them.
		C.tasker_step_call_fail(call, cmsg, cclass, C.bool(retryable), C.double(after), nil, 0, nil)
	}
}

//export goTaskerEnqueue
func goTaskerEnqueue(ud C.uintptr_t, kind C.int, id C.int64_t, delayMs C.uint64_t) (rc C.int32_t) {
	defer func() {
		if r := recover(); r != nil {
			_, msg := panicFailure(r)
			fmt.Fprintf(os.Stderr, "tasker: queue injector panicked: %s\n", msg)
			rc = 1
		}
	}()
	q := cgo.Handle(ud).Value().(QueueInjector)
	delay := time.Duration(delayMs) * time.Millisecond
	var err error
	if kind == 0 {
		err = q.EnqueueTask(int64(id), delay)
	} else {
		err = q.EnqueueStep(int64(id), delay)
	}
	if err != nil {
		return 1
	}
	return 0
}

//export goTaskerEvent
func goTaskerEvent(ud C.uintptr_t, data *C.uint8_t, n C.size_t) {
	defer func() {
		if r := recover(); r != nil {
			_, msg := panicFailure(r)
			fmt.Fprintf(os.Stderr, "tasker: event subscriber panicked: %s\n", msg)
		}
	}()
	fn := cgo.Handle(ud).Value().(func(Event))
	var ev Event
	if err := decode(cBytes(data, n), &ev); err != nil {
		fmt.Fprintf(os.Stderr, "tasker: decoding event: %v\n", err)
		return
	}
	ev.Payload = normMap(ev.Payload)
	fn(ev)
}
