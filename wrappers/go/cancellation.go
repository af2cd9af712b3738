package tasker

/*
#include "tasker.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
)

// StopReason says why a running handler should stop (docs/TIMEOUTS_AND_CANCELLATION.md).
type StopReason string

// The stop reasons of tasker_step_call_is_cancelled.
const (
	// StopNone: the handler may go on.
	StopNone StopReason = ""
	// StopCancelled: the step's task was cancelled; the outcome will be discarded.
	StopCancelled StopReason = "cancelled"
	// StopTimedOut: the attempt is past the step's timeout; the outcome will be recorded as a
	// Timeout failure.
	StopTimedOut StopReason = "timed_out"
	// StopClaimLost: the step was taken over; the outcome will be dropped.
	StopClaimLost StopReason = "claim_lost"
)

// The causes of a cancelled Ctx (context.Cause), one per StopReason; ErrStepCancelled also
// wraps Heartbeat's ErrStaleClaim when the task was cancelled.
var (
	ErrStepCancelled = errors.New("tasker: the step's task was cancelled")
	ErrStepTimedOut  = errors.New("tasker: the step's attempt is past its timeout")
	ErrClaimLost     = errors.New("tasker: the step's claim was lost")
	// errHandlerReturned ends Ctx when the handler returns.
	errHandlerReturned = errors.New("tasker: the handler returned")
)

var stopReasons = map[int32]StopReason{1: StopCancelled, 2: StopTimedOut, 3: StopClaimLost}
var stopCauses = map[StopReason]error{
	StopCancelled: ErrStepCancelled, StopTimedOut: ErrStepTimedOut, StopClaimLost: ErrClaimLost}

// StopReason asks libtasker whether the handler should stop, and why (StopNone: go on). One
// read of the step row; it does not extend the lease (Heartbeat does). A reason also cancels
// Ctx. Only valid during the handler call (ErrInvalidState after).
func (sc *StepContext) StopReason() (StopReason, error) {
	if sc.call == nil {
		return StopNone, &Error{Code: CodeInvalidState, Name: CodeInvalidState.String(),
			Message: "step context used after its handler returned"}
	}
	var r C.int32_t
	var cerr *C.tasker_error
	if err := check(C.tasker_step_call_is_cancelled(sc.call, &r, &cerr), cerr); err != nil {
		return StopNone, err
	}
	reason := stopReasons[int32(r)]
	sc.observe(reason)
	return reason, nil
}

// IsCancelled reports whether StopReason names a reason: stop working and return.
func (sc *StepContext) IsCancelled() (bool, error) {
	reason, err := sc.StopReason()
	return reason != StopNone, err
}

// Ctx returns a context.Context for the handler's work: it is cancelled, with the reason's
// error as its cause (context.Cause: ErrStepCancelled, ErrStepTimedOut, ErrClaimLost), as soon
// as Heartbeat, StopReason or IsCancelled sees that the handler should stop, and when the
// handler returns. libtasker cannot interrupt a handler: call Heartbeat or IsCancelled between
// units of work so that the context learns of a cancellation.
func (sc *StepContext) Ctx() context.Context {
	if sc.ctx == nil {
		sc.ctx, sc.cancel = context.WithCancelCause(context.Background())
	}
	return sc.ctx
}

// observe cancels Ctx for a stop reason.
func (sc *StepContext) observe(reason StopReason) {
	if cause := stopCauses[reason]; cause != nil && sc.cancel != nil {
		sc.cancel(cause)
	}
}

// stopHeartbeat turns Heartbeat's ErrStaleClaim into one that also matches ErrStepCancelled
// when the task was cancelled (and cancels Ctx).
func (sc *StepContext) stopHeartbeat(err error) error {
	if !errors.Is(err, ErrStaleClaim) {
		return err
	}
	reason, rerr := sc.StopReason()
	if rerr == nil && reason == StopCancelled {
		return fmt.Errorf("%w: %w", ErrStepCancelled, err)
	}
	return err
}

// finish ends Ctx when the handler returns.
func (sc *StepContext) finish() {
	if sc.cancel != nil {
		sc.cancel(errHandlerReturned)
	}
	sc.call = nil
}
