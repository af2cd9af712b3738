# frozen_string_literal: true

module Tasker
  # SIGINT and SIGTERM while the main thread waits for libtasker (Worker#run, Worker#join,
  # Client#run_task).
  #
  # Ruby runs traps on the main thread between Ruby instructions, never while that thread is inside
  # a C call, which may last until the next step or forever (an idle worker). So the waiting is
  # done in Ruby (a helper thread makes the C call, see .call_on_helper), the traps installed for
  # the wait only queue the signal, and a watcher thread turns it into libtasker calls (stop,
  # interrupt: safe from any thread). The first signal runs `stop`; a second one, or `grace`
  # seconds after the first, runs `abort`. Afterwards the previous traps are restored and each
  # signal received is sent again, so that it has its usual effect (Interrupt, SignalException,
  # the program's own trap) once the call has ended cleanly.
  module SignalWatch
    SIGNALS = %w[INT TERM].freeze
    IGNORED = [nil, "", "IGNORE", "SIG_IGN"].freeze

    module_function

    # Whether signals can reach a wait on this thread: only the main thread runs traps, and not
    # while it is inside a libtasker call (a handler waiting for something).
    def applies? = Thread.current.equal?(Thread.main) && CallScope.depth.zero?

    # Runs the block with the traps installed (see the module); returns its value. Without
    # #applies?, just runs the block. `abort` defaults to `stop`, `grace` to never.
    def watch(stop:, abort: stop, grace: nil)
      return yield unless applies?

      events = Thread::Queue.new
      previous = install(events)
      received = []
      watcher = Thread.new { dispatch(events, received, stop, abort, grace) }
      watcher.report_on_exception = false
      begin
        yield
      ensure
        restore(previous)
        events << :quit
        watcher.join
        # Sent again with the previous traps: the default ones raise here, at once.
        received.uniq.each { |sig| Process.kill(sig, Process.pid) }
      end
    end

    # Runs the block (a blocking libtasker call) under #watch, on a helper thread when #applies?.
    def call(stop:, abort: stop, grace: nil, &block)
      return yield unless applies?

      watch(stop: stop, abort: abort, grace: grace) { call_on_helper(abort, &block) }
    end

    # Runs the block on a new thread and waits for it in Ruby, so that traps run meanwhile;
    # returns its value or raises its exception. If the wait itself is cut short (another
    # exception in this thread), `abort` ends the call and it is waited for.
    def call_on_helper(abort)
      helper = Thread.new { yield }
      helper.report_on_exception = false
      begin
        helper.value
      ensure
        if helper.alive?
          abort.call
          helper.join
        end
      end
    end

    def install(events)
      SIGNALS.to_h do |sig|
        prev = Signal.trap(sig) { |signo| events << Signal.signame(signo) }
        Signal.trap(sig, prev) if IGNORED.include?(prev) # an ignored signal stays ignored
        [sig, prev]
      end
    end

    def restore(previous)
      previous.each { |sig, prev| Signal.trap(sig, prev) unless IGNORED.include?(prev) }
    end

    def dispatch(events, received, stop, abort, grace)
      timer = nil
      while (event = events.pop) != :quit
        if event == :grace
          abort.call
          next
        end
        received << event
        if received.size == 1
          stop.call
          timer = Thread.new { sleep(grace); events << :grace } if grace
        else
          abort.call
        end
      end
    ensure
      timer&.kill
    end
  end
end
