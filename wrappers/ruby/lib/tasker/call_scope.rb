# frozen_string_literal: true

module Tasker
  # Per-thread (per-fiber) bookkeeping around calls into libtasker.
  #
  # * depth: how deeply this thread is nested in libtasker calls (a handler may call back in).
  # * fatal: an Interrupt, SignalException, SystemExit or NoMemoryError raised inside a callback.
  #   The callback records the failed attempt in C as usual, and the exception is raised again in
  #   Ruby once the outermost libtasker call on this thread returns (so Ctrl-C still works).
  # * deferred: work that may not happen inside a callback (freeing a subscription from inside its
  #   own event callback); it runs when the outermost call returns.
  # * delivering: the subscriptions whose callback is running on this thread.
  # * worker: the native worker running on this thread, stopped when a fatal exception is stashed.
  module CallScope
    State = Struct.new(:depth, :fatal, :deferred, :delivering, :worker, :clients)

    FATAL = [SignalException, SystemExit, NoMemoryError].freeze

    module_function

    def state
      Thread.current[:__tasker_call_scope] ||= State.new(0, nil, [], [], nil, Hash.new(0))
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

    def stash_fatal(exception)
      st = state
      st.fatal ||= exception
      Native.tasker_worker_stop(st.worker) if st.worker
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
