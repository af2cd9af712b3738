# frozen_string_literal: true

module Tasker
  # The built-in worker: Ruby threads that each claim ready steps of any task, run their handlers
  # and commit the outcomes, until stopped. Many workers (threads, processes, hosts) may share
  # one database.
  #
  #   worker = Tasker::Worker.new(client, threads: 4).start
  #   ...
  #   worker.stop
  #   worker.join   # => number of steps run
  #
  # Each thread owns one native worker; the database waits release the GVL, so the threads run
  # in parallel with the rest of the program. #close stops, joins and frees them.
  class Worker
    # Workers whose threads may be inside tasker_worker_run. A Ruby thread blocked in native code
    # cannot be killed, so at exit (before Ruby terminates its threads) every one of them is stopped.
    ACTIVE = {}
    ACTIVE_LOCK = Mutex.new

    def self.stop_all
      ACTIVE_LOCK.synchronize { ACTIVE.values }.each(&:stop)
    end

    at_exit { Tasker::Worker.stop_all }

    attr_reader :client, :threads

    def initialize(client, threads: 1)
      raise ArgumentError, "threads must be at least 1" unless threads.to_i >= 1

      @client = client
      @threads = threads.to_i
      @natives = Array.new(@threads) { new_native }
      @running = []
      @ran = 0
      @lock = Mutex.new
      @closed = false
    end

    def running? = @running.any?(&:alive?)
    def closed? = @closed

    # Starts the threads (again, after a stop and join). Returns self.
    def start
      raise ClosedError, "the worker is closed" if @closed || @client.closed?
      raise InvalidStateError, "the worker is already running" if @running.any?

      @natives.each { |w| Native.tasker_worker_reset(w) }
      activate
      @running = @natives.each_with_index.map do |native, i|
        Thread.new do
          Thread.current.name = "tasker-worker-#{i}"
          Thread.current.report_on_exception = false
          ran = run_native(native)
          @lock.synchronize { @ran += ran }
          ran
        end
      end
      self
    end

    # Asks every thread to stop, and returns at once; any thread may call it. A stop is graceful:
    # no more claims, the steps claimed but not started go back to ready (no attempt counted), a
    # running handler may finish within the client's stop_grace_ms (default 30 s; past it its
    # claim goes back and its late result is dropped), an idle thread returns at once.
    def stop
      @natives.each { |w| Native.tasker_worker_stop(w) } unless @closed
      self
    end

    # Waits for the threads (at most `timeout` seconds); returns the number of steps they ran, or
    # nil on timeout. An exception that ended a worker thread is raised here (once).
    #
    # On the main thread, SIGINT or SIGTERM during the wait stops the threads (#stop); a second
    # signal, or the end of the grace period, aborts the handlers still running (their steps go
    # back to ready, no attempt counted). Once the threads have returned, the signal has its
    # usual effect (Interrupt, SignalException; see Tasker::SignalWatch). `handle_signals: false`
    # leaves the signals to the program.
    def join(timeout = nil, handle_signals: true)
      return join_threads(timeout) if @running.empty? || !handle_signals

      SignalWatch.watch(**signal_actions) { join_threads(timeout) }
    end

    private def join_threads(timeout)
      deadline = timeout && (Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout)
      error = nil
      @running.each do |t|
        left = deadline && [deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC), 0].max
        begin
          return nil unless t.join(left)
        rescue Exception => e # rubocop:disable Lint/RescueException -- re-raised below
          error ||= e
        end
      end
      @running = []
      deactivate
      raise error if error

      @ran
    end

    # Stops, joins and frees the native workers. Idempotent.
    def close
      return if @closed

      stop
      join
      @closed = true
      natives = @natives
      @natives = []
      CallScope.enter { natives.each(&:free) }
      nil
    end

    # Runs steps until #stop (use instead of #start for a dedicated thread); returns how many ran.
    # They run on the calling thread, except on the main thread, where they run on a helper thread
    # while the main thread waits for signals: SIGINT or SIGTERM then stops the worker as #join
    # describes, and the signal has its usual effect once it has returned. `handle_signals: false`
    # runs them on the main thread too, and signals wait for the next handler.
    def run(handle_signals: true)
      raise ClosedError, "the worker is closed" if @closed || @client.closed?

      native = @natives.first
      Native.tasker_worker_reset(native)
      activate
      begin
        handle_signals ? SignalWatch.call(**signal_actions) { run_native(native) } : run_native(native)
      ensure
        deactivate
      end
    end

    # Claims and runs up to claim_batch ready steps on the calling thread; returns how many ran
    # (0: nothing was ready). Not while #start's threads are running.
    def run_once
      raise ClosedError, "the worker is closed" if @closed
      raise InvalidStateError, "the worker's threads are running" if @running.any?

      out = FFI::MemoryPointer.new(:uint64)
      @client.call { Native.check!(:tasker_worker_run_once, @natives.first, out) }
      out.read_uint64
    end

    private

    # The first signal stops; a second one, or the grace period, aborts the running handlers.
    def signal_actions
      { stop: -> { stop }, abort: -> { @client.interrupt_and_cancel(Interrupt.new("tasker: worker aborted")) },
        grace: @client.stop_grace }
    end

    def activate = ACTIVE_LOCK.synchronize { ACTIVE[object_id] = self }
    def deactivate = ACTIVE_LOCK.synchronize { ACTIVE.delete(object_id) }

    def new_native
      out = FFI::MemoryPointer.new(:pointer)
      @client.call { |c| Native.check!(:tasker_worker_new, c, out) }
      FFI::AutoPointer.new(out.read_pointer, Native::Release.method(:worker))
    end

    def run_native(native)
      out = FFI::MemoryPointer.new(:uint64)
      # A call of the client's: Client#close stops it and waits for it.
      @client.call { Native.check!(:tasker_worker_run, native, out) }
      out.read_uint64
    rescue InvalidStateError
      raise unless @client.closed?

      0 # the client closed before this call reached libtasker: it is stopped as by #stop
    end
  end
end
