package tasker

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"time"
)

// Code is a libtasker result code (tasker_result). The numbers are stable.
type Code uint32

// Result codes, as in include/tasker.h.
const (
	CodeOK                Code = 0
	CodeNullParameter     Code = 1
	CodeInvalidArgument   Code = 2
	CodeInvalidTemplate   Code = 3
	CodeTemplateCycle     Code = 4
	CodeUnknownTemplate   Code = 5
	CodeInvalidRequest    Code = 6
	CodeSchemaValidation  Code = 7
	CodePayloadTooLarge   Code = 8
	CodeDuplicateTask     Code = 9
	CodeTaskNotFound      Code = 10
	CodeStepNotFound      Code = 11
	CodeIllegalTransition Code = 12
	CodeStaleClaim        Code = 13
	CodeConfig            Code = 14
	CodeDatabase          Code = 15
	CodePanic             Code = 16
	CodeInternal          Code = 17
	CodeInvalidState      Code = 18
	CodeInterrupted       Code = 19 // Client.Interrupt (or a cancelled context) ended the call
)

var codeNames = map[Code]string{
	CodeOK: "ok", CodeNullParameter: "null_parameter", CodeInvalidArgument: "invalid_argument",
	CodeInvalidTemplate: "invalid_template", CodeTemplateCycle: "template_cycle",
	CodeUnknownTemplate: "unknown_template", CodeInvalidRequest: "invalid_request",
	CodeSchemaValidation: "schema_validation", CodePayloadTooLarge: "payload_too_large",
	CodeDuplicateTask: "duplicate_task", CodeTaskNotFound: "task_not_found",
	CodeStepNotFound: "step_not_found", CodeIllegalTransition: "illegal_transition",
	CodeStaleClaim: "stale_claim", CodeConfig: "config", CodeDatabase: "database",
	CodePanic: "panic", CodeInternal: "internal", CodeInvalidState: "invalid_state",
	CodeInterrupted: "interrupted",
}

// String returns the result name ("task_not_found", ...), as tasker_result_name does.
func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("code_%d", uint32(c))
}

// Error is a failed libtasker call: the result code, its name and libtasker's message.
//
// Match a kind of failure with errors.Is(err, tasker.ErrTaskNotFound) (codes are compared) or
// read the details with errors.As(err, &e) where e is a *tasker.Error.
type Error struct {
	Code    Code
	Name    string // result name, e.g. "unknown_template"
	Message string // libtasker's message, e.g. "no template conformance/x:1.0.0"
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "tasker: " + e.Name
	}
	return "tasker: " + e.Name + ": " + e.Message
}

// Is reports whether target is a *Error with the same code (so the sentinels below match).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func sentinel(c Code) *Error { return &Error{Code: c, Name: c.String()} }

// Sentinels for errors.Is.
var (
	ErrNullParameter     = sentinel(CodeNullParameter)
	ErrInvalidArgument   = sentinel(CodeInvalidArgument)
	ErrInvalidTemplate   = sentinel(CodeInvalidTemplate)
	ErrTemplateCycle     = sentinel(CodeTemplateCycle)
	ErrUnknownTemplate   = sentinel(CodeUnknownTemplate)
	ErrInvalidRequest    = sentinel(CodeInvalidRequest)
	ErrSchemaValidation  = sentinel(CodeSchemaValidation)
	ErrPayloadTooLarge   = sentinel(CodePayloadTooLarge)
	ErrDuplicateTask     = sentinel(CodeDuplicateTask)
	ErrTaskNotFound      = sentinel(CodeTaskNotFound)
	ErrStepNotFound      = sentinel(CodeStepNotFound)
	ErrIllegalTransition = sentinel(CodeIllegalTransition)
	ErrStaleClaim        = sentinel(CodeStaleClaim)
	ErrConfig            = sentinel(CodeConfig)
	ErrDatabase          = sentinel(CodeDatabase)
	ErrPanic             = sentinel(CodePanic)
	ErrInternal          = sentinel(CodeInternal)
	ErrInvalidState      = sentinel(CodeInvalidState)
	ErrInterrupted       = sentinel(CodeInterrupted)
)

// ErrClosed is returned by calls on a closed Client, Worker or Subscription. It matches
// ErrInvalidState with errors.Is.
var ErrClosed = &Error{Code: CodeInvalidState, Name: CodeInvalidState.String(), Message: "handle is closed"}

// StepError is what a handler returns to describe a failed attempt precisely. Any other error
// returned by a handler is a retryable failure whose class is derived from its type (see
// ErrorClass).
type StepError struct {
	Err        error         // the cause; its message becomes the step's error message
	Class      string        // error class recorded with the step; "" derives it from Err
	Permanent  bool          // true: no retry, the task is blocked
	RetryAfter time.Duration // > 0: the delay before the next attempt (capped by backoff max_ms)
	Details    any           // optional document stored under results.error.details
}

func (e *StepError) Error() string {
	if e.Err == nil {
		return "step failed"
	}
	return e.Err.Error()
}

func (e *StepError) Unwrap() error { return e.Err }

// Retryable marks err as a retryable failure; after > 0 asks for that delay before the next
// attempt (0 leaves the delay to the template's backoff).
func Retryable(err error, after time.Duration) error {
	se := asStepError(err)
	se.Permanent = false
	se.RetryAfter = after
	return se
}

// Permanent marks err as a permanent failure: the step is not retried and blocks its task.
func Permanent(err error) error {
	se := asStepError(err)
	se.Permanent = true
	se.RetryAfter = 0
	return se
}

// Fail builds a retryable failure with an explicit class and message.
func Fail(class, message string) *StepError {
	return &StepError{Err: errors.New(message), Class: class}
}

func asStepError(err error) *StepError {
	var se *StepError
	if errors.As(err, &se) {
		cp := *se
		if cp.Class == "" {
			cp.Class = ErrorClass(err)
		}
		return &cp
	}
	return &StepError{Err: err, Class: ErrorClass(err)}
}

// ErrorClass returns the class recorded for a handler error: the result of an
// `ErrorClass() string` method when err (or an error it wraps) has one, else the name of its
// type without package or pointer (e.g. "GatewayError"). The anonymous error types of the
// standard library (errors.New, fmt.Errorf, errors.Join) give "StepError".
func ErrorClass(err error) string {
	if err == nil {
		return "StepError"
	}
	var c interface{ ErrorClass() string }
	if errors.As(err, &c) {
		if s := c.ErrorClass(); s != "" {
			return s
		}
	}
	var se *StepError
	if errors.As(err, &se) {
		if se.Class != "" {
			return se.Class
		}
		if se.Err != nil {
			return ErrorClass(se.Err)
		}
		return "StepError"
	}
	if c := valueClass(err, ""); c != "" {
		return c
	}
	// An anonymous wrapper of the standard library (fmt.Errorf with %w): use the wrapped type.
	if inner := errors.Unwrap(err); inner != nil {
		return ErrorClass(inner)
	}
	return "StepError"
}

// valueClass names the dynamic type of v without package path or pointer stars; builtin and
// standard-library-internal types give fallback.
func valueClass(v any, fallback string) string {
	if _, ok := v.(runtime.Error); ok {
		return "RuntimeError"
	}
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Name() == "" || t.PkgPath() == "" {
		return fallback
	}
	switch t.PkgPath() {
	case "errors", "fmt", "runtime":
		return fallback
	}
	if i := strings.LastIndexByte(t.Name(), '['); i > 0 { // generic instantiation
		return t.Name()[:i]
	}
	return t.Name()
}

// panicFailure describes a recovered panic value as (class, message).
func panicFailure(v any) (string, string) {
	class := valueClass(v, "Panic")
	switch x := v.(type) {
	case error:
		return class, x.Error()
	case fmt.Stringer:
		return class, x.String()
	case string:
		return class, x
	}
	// A value whose Error method has a pointer receiver: panic(MyError{...}).
	if t := reflect.TypeOf(v); t != nil && t.Kind() != reflect.Pointer {
		p := reflect.New(t)
		p.Elem().Set(reflect.ValueOf(v))
		if e, ok := p.Interface().(error); ok {
			return class, e.Error()
		}
	}
	return class, fmt.Sprintf("%v", v)
}
