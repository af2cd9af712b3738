# frozen_string_literal: true

module Tasker
  # What a step handler receives: the task, the step, the results of the step's dependencies and
  # the claim. The underlying document (see docs/ABI.md "Step context") is available as #to_h.
  # Valid during the handler call; #heartbeat and #checkpoint only work while the handler runs.
  # #last_checkpoint is what an earlier attempt recorded with #checkpoint (nil when nothing).
  class StepContext
    attr_reader :task, :step, :dependency_results, :claim_token, :last_checkpoint

    def initialize(document, call = nil)
      @doc = document || {}
      @task = @doc["task"] || {}
      @step = @doc["step"] || {}
      @dependency_results = @doc["dependency_results"] || {}
      @claim_token = @doc["claim_token"]
      @last_checkpoint = @doc["checkpoint"]
      @call = call
    end

    def task_id = @task["task_id"]
    # The task's context document (the `context` given to create_task).
    def context = @task["context"] || {}
    def step_id = @step["step_id"]
    def step_name = @step["name"]
    def handler_name = @step["handler"]
    # 1 on the first attempt.
    def attempt = @step["attempt"]
    def retry_limit = @step["retry_limit"]
    def retryable? = @step["retryable"] != false
    def last_attempt? = !retryable? || attempt.to_i >= retry_limit.to_i
    def inputs = @step["inputs"] || {}
    def handler_config = @step["handler_config"] || {}
    def dependency_result(name) = @dependency_results[name.to_s]
    def [](key) = @doc[key.to_s]
    def to_h = @doc

    # Extends the lease of the running step; returns the new expiry as a Time. Raises
    # Tasker::CancelledError (a StaleClaimError) when the step's task was cancelled,
    # Tasker::StaleClaimError when the step was taken over (stop working either way: the outcome
    # will be refused) and Tasker::InvalidStateError outside the handler call.
    def heartbeat
      raise InvalidStateError, "heartbeat outside the handler call" unless @call

      out = FFI::MemoryPointer.new(:int64)
      begin
        Native.check!(:tasker_step_call_heartbeat, @call, out)
      rescue StaleClaimError => e
        raise CancelledError, e.message if stop_reason_or_nil == :cancelled

        raise
      end
      Time.at(out.read_int64 / 1000.0)
    end

    # The stop reasons of tasker_step_call_is_cancelled, by code.
    STOP_REASONS = { 1 => :cancelled, 2 => :timed_out, 3 => :claim_lost }.freeze

    # Why the handler should stop: :cancelled (its task was cancelled; the outcome will be
    # discarded), :timed_out (past the step's timeout; the outcome will be recorded as a Timeout
    # failure), :claim_lost (taken over); nil while it may go on. One read of the step row; does
    # not extend the lease (docs/TIMEOUTS_AND_CANCELLATION.md).
    def stop_reason
      raise InvalidStateError, "stop_reason outside the handler call" unless @call

      out = FFI::MemoryPointer.new(:int32)
      Native.check!(:tasker_step_call_is_cancelled, @call, out)
      STOP_REASONS[out.read_int32]
    end

    # #stop_reason, or nil when it cannot be read (no claim: #call_handler's step 0).
    def stop_reason_or_nil
      stop_reason
    rescue Error
      nil
    end
    private :stop_reason_or_nil

    # True when #stop_reason names a reason: stop working and return.
    def cancelled? = !stop_reason.nil?

    # Records `checkpoint` (a cursor, the items processed, a bounded partial result; at most 64 KiB
    # as JSON) as the step's resume point, replacing the previous one: a retry of the step gets it
    # as #last_checkpoint. Written at once, fenced by the claim. Raises Tasker::StaleClaimError
    # when the step was taken over (stop working), Tasker::PayloadTooLargeError when too large,
    # Tasker::InvalidArgumentError outside the document policy, Tasker::InvalidStateError outside
    # the handler call; nothing is written then.
    def checkpoint(checkpoint)
      raise InvalidStateError, "checkpoint outside the handler call" unless @call

      mem, len = Native.buffer(Codec.encode(checkpoint))
      Native.check!(:tasker_step_call_checkpoint, @call, mem, len)
      nil
    end

    def inspect = "#<Tasker::StepContext task=#{task_id} step=#{step_name.inspect} attempt=#{attempt}>"

    # Called when the callback returns: the native call object is gone.
    def finish! = (@call = nil)
  end
end
