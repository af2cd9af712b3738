# frozen_string_literal: true

module Tasker
  # The C trampolines and the userdata slab.
  #
  # C never holds a Ruby object: the `void *userdata` of each registration is an integer id into
  # SLAB, and the trampolines are FFI::Function constants, so they live as long as the process and
  # the GC can never collect a callback C may still call. libtasker runs each registration's
  # `userdata_free` exactly once; USERDATA_FREE then drops the slab entry.
  #
  # libtasker only calls back on the thread that called into it, with the GVL released by
  # `blocking: true`; the ffi gem re-acquires the GVL for the callback. No exception ever leaves a
  # trampoline: a handler's exception becomes a failed attempt (a fatal one, see CallScope, interrupts
  # the call instead), an enqueue hook's a non-zero return,
  # a subscriber's a warning.
  module Callbacks
    SLAB = {} # id => registration; Hash#[]= and #delete are atomic under the GVL

    HandlerEntry = Struct.new(:name, :handler)
    InjectorEntry = Struct.new(:injector)

    class << self
      # Stores a registration and returns [id, userdata pointer].
      def add(entry)
        id = entry.object_id # unique while the entry is alive, and the slab keeps it alive
        SLAB[id] = entry
        [id, FFI::Pointer.new(id)]
      end

      def remove(id) = SLAB.delete(id)
      def size = SLAB.size

      # process / process_results: run the handler, report its outcome on the call object.
      def run_step(id, call, ctx_ptr, ctx_len, out_ptr = nil, out_len = 0)
        context = nil
        begin
          entry = SLAB[id]
          raise InvalidStateError, "the handler registration is gone" unless entry
          if (fatal = CallScope.pending_fatal)
            raise fatal.class, "not run: #{fatal.class} pending on this thread"
          end

          context = StepContext.new(Codec.decode(ctx_ptr.read_bytes(ctx_len)), call)
          result = CallScope.interruptible do
            if out_ptr
              entry.handler.process_results(context, Codec.decode(out_ptr.read_bytes(out_len)))
            else
              entry.handler.process(context)
            end
          end
          set_output(call, result)
        rescue Exception => e # rubocop:disable Lint/RescueException -- nothing may cross into C
          report_failure(call, e)
        ensure
          context&.finish!
        end
      rescue Exception # rubocop:disable Lint/RescueException
        nil # last resort: the call reports NoOutput
      end

      def set_output(call, value)
        mem, len = Native.buffer(Codec.encode(value))
        Native.check!(:tasker_step_call_set_output, call, mem, len)
      end

      def report_failure(call, error)
        # Interrupt, SignalException, SystemExit: not a failure of the step. The call is interrupted
        # and the handler returns without an outcome (libtasker gives the claim back).
        return if CallScope.fatal?(error) && CallScope.stash_fatal(error)

        if error.is_a?(StepError)
          klass = error.error_class.to_s
          retryable = error.retryable?
          retry_after = begin
            error.retry_after.nil? ? -1.0 : Float(error.retry_after)
          rescue StandardError
            -1.0
          end
          details = error.details
        else
          klass = Tasker.class_name_of(error)
          retryable = true
          retry_after = -1.0
          details = { "backtrace" => (error.backtrace || []).first(10).map { |l| Tasker.utf8(l) } }
        end
        # NameError and friends: the message without error_highlight's source snippet (Ruby 3.1+)
        message = c_string(error.respond_to?(:original_message) ? error.original_message : error.message)
        klass = c_string(klass)
        klass = "StepError" if klass.empty?
        dmem, dlen = begin
          details.nil? ? [nil, 0] : Native.buffer(Codec.encode(details))
        rescue StandardError
          [nil, 0]
        end
        rc = Native.tasker_step_call_fail(call, message, klass, retryable, retry_after, dmem, dlen, nil)
        # Details libtasker refuses (binary data, non-string keys) must not lose the failure.
        Native.tasker_step_call_fail(call, message, klass, retryable, retry_after, nil, 0, nil) unless rc.zero?
      end

      def c_string(value)
        Tasker.utf8(value).delete("\0")
      rescue StandardError
        "(unprintable)"
      end

      def enqueue(id, hook, item_id, delay_ms)
        entry = SLAB[id]
        return 1 unless entry

        entry.injector.public_send(hook, item_id, delay_ms / 1000.0)
        0
      rescue Exception => e # rubocop:disable Lint/RescueException
        if CallScope.fatal?(e)
          CallScope.stash_fatal(e)
        else
          warn "tasker: #{hook}(#{item_id}) raised #{e.class}: #{e.message}"
        end
        1
      end

      def event(id, ptr, len)
        sub = SLAB[id]
        return if sub.nil? || sub.closed?

        sub.deliver(Event.from_h(Codec.decode(ptr.read_bytes(len))))
      rescue Exception => e # rubocop:disable Lint/RescueException
        if CallScope.fatal?(e)
          CallScope.stash_fatal(e)
        else
          warn "tasker: event subscriber raised #{e.class}: #{e.message}"
        end
      end
    end

    PROCESS = FFI::Function.new(:void, %i[pointer pointer pointer size_t]) do |ud, call, ctx, len|
      Callbacks.run_step(ud.address, call, ctx, len)
    end

    PROCESS_RESULTS = FFI::Function.new(:void, %i[pointer pointer pointer size_t pointer size_t]) do |ud, call, ctx, len, out, out_len|
      Callbacks.run_step(ud.address, call, ctx, len, out, out_len)
    end

    ENQUEUE_TASK = FFI::Function.new(:int32, %i[pointer int64 uint64]) do |ud, id, delay|
      Callbacks.enqueue(ud.address, :enqueue_task, id, delay)
    end

    ENQUEUE_STEP = FFI::Function.new(:int32, %i[pointer int64 uint64]) do |ud, id, delay|
      Callbacks.enqueue(ud.address, :enqueue_step, id, delay)
    end

    EVENT = FFI::Function.new(:void, %i[pointer pointer size_t]) do |ud, ptr, len|
      Callbacks.event(ud.address, ptr, len)
    end

    USERDATA_FREE = FFI::Function.new(:void, [:pointer]) do |ud|
      Callbacks.remove(ud.address)
    rescue Exception # rubocop:disable Lint/RescueException
      nil
    end
  end
end
