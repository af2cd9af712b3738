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
      raise ClosedError, "the worker is closed" if @closed
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

    # Asks every thread to return after its current step. Any thread may call it.
    def stop
      @natives.each { |w| Native.tasker_worker_stop(w) } unless @closed
      self
    end

    # Waits for the threads (at most `timeout` seconds); returns the number of steps they ran, or
    # nil on timeout. An exception that ended a worker thread is raised here (once).
    def join(timeout = nil)
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

    # Runs steps on the calling thread until #stop (use instead of #start for a dedicated thread).
    def run
      raise ClosedError, "the worker is closed" if @closed

      Native.tasker_worker_reset(@natives.first)
      activate
      begin
        run_native(@natives.first)
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
      with_worker(@natives.first) { Native.check!(:tasker_worker_run_once, @natives.first, out) }
      out.read_uint64
    end

    private

    def activate = ACTIVE_LOCK.synchronize { ACTIVE[object_id] = self }
    def deactivate = ACTIVE_LOCK.synchronize { ACTIVE.delete(object_id) }

    def new_native
      out = FFI::MemoryPointer.new(:pointer)
      @client.call { |c| Native.check!(:tasker_worker_new, c, out) }
      FFI::AutoPointer.new(out.read_pointer, Native::Release.method(:worker))
    end

    def run_native(native)
      out = FFI::MemoryPointer.new(:uint64)
      with_worker(native) { Native.check!(:tasker_worker_run, native, out) }
      out.read_uint64
    end

    # Marks the native worker as running on this thread, so that an Interrupt raised in a handler
    # stops it (the exception is raised again when the run returns).
    def with_worker(native)
      st = CallScope.state
      previous = st.worker
      st.worker = native
      CallScope.enter { yield }
    ensure
      st.worker = previous
    end
  end
end
