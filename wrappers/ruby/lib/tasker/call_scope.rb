# frozen_string_literal: true

module Tasker
  # Per-thread (per-fiber) bookkeeping around calls into libtasker.
  #
  # * depth: how deeply this thread is nested in libtasker calls (a handler may call back in).
  # * fatal: an Interrupt, SignalException, SystemExit or NoMemoryError raised inside a callback.
  #   It is not a failure of the step: the client call running on this thread is interrupted
  #   (tasker_client_interrupt: its claims go back to ready, no attempt counted) and the exception
  #   is raised again in Ruby once the outermost libtasker call on this thread returns.
  # * deferred: work that may not happen inside a callback (freeing a subscription from inside its
  #   own event callback); it runs when the outermost call returns.
  # * delivering: the subscriptions whose callback is running on this thread.
  # * natives: the native client handles of the Client calls running on this thread (innermost
  #   last), the ones a fatal exception interrupts.
  # * clients: per Ruby Client, how many of its calls run on this thread (Client#close refuses then).
  # * handler_lock, in_handler: whether a step handler's own code runs now, so that another thread
  #   may cut it short (#cancel_handler) at no other moment.
  module CallScope
    State = Struct.new(:depth, :fatal, :deferred, :delivering, :natives, :clients, :handler_lock, :in_handler)

    FATAL = [SignalException, SystemExit, NoMemoryError].freeze

    module_function

    def state
      Thread.current[:__tasker_call_scope] ||= State.new(0, nil, [], [], [], Hash.new(0), Mutex.new, false)
    end

    def depth = state.depth

    # Runs the block as one call into libtasker.
    def enter
      st = state
      st.depth += 1
      yield
    ensure
      st.depth -= 1
      if st.depth.zero?
        until st.deferred.empty?
          begin
            st.deferred.shift.call
          rescue StandardError => e
            warn "tasker: deferred cleanup failed: #{e.class}: #{e.message}"
          end
        end
        if (fatal = st.fatal)
          st.fatal = nil
          raise fatal
        end
      end
    end

    def fatal?(exception) = FATAL.any? { |k| exception.is_a?(k) }

    # Records a fatal exception and interrupts the client call running on this thread (it returns
    # InterruptedError, which the stashed exception then replaces). Returns whether a call was
    # interrupted.
    def stash_fatal(exception)
      st = state
      st.fatal ||= exception
      return false if st.natives.empty?

      Native.tasker_client_interrupt(st.natives.last)
      true
    end

    # Runs a step handler's own code (the block) so that #cancel_handler, from another thread, can
    # raise into it, and only into it: asynchronous exceptions are deferred everywhere else in the
    # callback, which must never let one escape into C.
    def interruptible
      st = state
      Thread.handle_interrupt(Object => :never) do
        st.handler_lock.synchronize { st.in_handler = true }
        begin
          Thread.handle_interrupt(Object => :immediate) { yield }
        ensure
          st.handler_lock.synchronize { st.in_handler = false }
          # A cancel that came as the handler returned: deliver it here, inside the handler's scope.
          Thread.handle_interrupt(Object => :immediate) { Thread.pass } if Thread.pending_interrupt?
        end
      end
    end

    # Raises `exception` in `thread` if a step handler's code runs there now (see #interruptible)
    # inside a call of `client`; returns whether it did.
    def cancel_handler(thread, exception, client)
      st = thread[:__tasker_call_scope]
      return false unless st

      st.handler_lock.synchronize do
        return false unless st.in_handler && st.clients[client].positive?

        thread.raise(exception)
        true
      end
    end

    def pending_fatal = state.fatal

    # Runs the block after the outermost call returns (immediately when not inside a call).
    def defer(&block)
      if depth.zero?
        block.call
      else
        state.deferred << block
      end
    end
  end
end
