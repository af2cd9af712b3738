# frozen_string_literal: true

require "pathname"

module Tasker
  # A connection to one libtasker database (SQLite file or PostgreSQL) with its templates,
  # handlers, queue hooks and subscribers. Thread-safe: share one client between threads.
  #
  #   Tasker::Client.open("sqlite://orders.db") do |client|
  #     client.load_template("order_fulfillment.yaml")
  #     client.register_handler("validate_order", ValidateOrder)
  #     task = client.create_task("order_fulfillment", namespace: "ecommerce", context: {...})
  #     client.run_task(task)
  #   end
  #
  # Close it with #close (or use the block form); the GC releases it otherwise.
  class Client
    # url: "sqlite://PATH", "sqlite::memory:", "postgres://..."; nil means $TASKER_DATABASE_URL,
    # else "sqlite://tasker.db". options: client options (docs/ABI.md), e.g.
    # `backoff: {base_ms: 500}, lease_ms: 60_000, reject_duplicates: true`.
    def initialize(url = nil, **options)
      mem, len = Native.buffer(options.empty? ? nil : Codec.encode(options))
      out = FFI::MemoryPointer.new(:pointer)
      CallScope.enter { Native.check!(:tasker_client_new, url&.to_s, mem, len, out) }
      @ptr = FFI::AutoPointer.new(out.read_pointer, Native::Release.method(:client))
      @url = url
      @stop_grace = (options[:stop_grace_ms] || options["stop_grace_ms"] || 30_000).to_f / 1000
      @lock = Mutex.new
      @idle = ConditionVariable.new
      @inflight = 0
      @closed = false
    end

    # Opens a client, yields it and closes it afterwards; returns the block's value.
    def self.open(url = nil, **options)
      client = new(url, **options)
      return client unless block_given?

      begin
        yield client
      ensure
        client.close
      end
    end

    attr_reader :url

    # Seconds a stopping worker lets its running handler finish (the stop_grace_ms option).
    attr_reader :stop_grace

    def closed? = @closed

    # Closes and releases the client (tasker_client_close): new calls raise ClosedError, running
    # workers stop as by Worker#stop (grace period included) and their threads return,
    # subscriptions are dropped, and it waits for the calls other threads are making on it (a
    # running #run_task is waited for: #interrupt it first to end it). Idempotent.
    def close
      if CallScope.state.clients[self].positive?
        raise InvalidStateError, "cannot close a client from inside one of its own callbacks"
      end

      ptr = @lock.synchronize do
        return nil if @closed

        @closed = true
        @ptr
      end
      CallScope.enter { Native.check!(:tasker_client_close, ptr) }
      @lock.synchronize do
        @idle.wait(@lock) while @inflight.positive?
        @ptr = nil
      end
      CallScope.enter { ptr.free }
      nil
    end

    # Interrupts every blocking call running on this client now, from any thread (#run_task,
    # Worker#run and #join's threads, #handle_step): each returns as soon as the handler running on
    # its thread returns, gives its claims back (the steps are ready again, no attempt counted)
    # and raises InterruptedError. Calls started later are not affected. May be called from a trap.
    def interrupt
      @lock.synchronize { Native.tasker_client_interrupt(@ptr) unless @closed }
      nil
    rescue ThreadError # in a trap, where no Mutex may be locked: from a thread, at once
      Thread.new { interrupt }
      nil
    end

    # Registers a task template: a file path (String or Pathname), YAML text, or a Hash with the
    # YAML structure. Returns self.
    def load_template(source)
      case source
      when Hash
        mem, len = Native.buffer(Codec.encode(source))
        call { |c| Native.check!(:tasker_register_template_msgpack, c, mem, len) }
      when Pathname
        call { |c| Native.check!(:tasker_register_template_file, c, source.to_s) }
      when String
        # One line that names a file, or has no "key: value" in it, is a path.
        if !source.include?("\n") && (File.file?(source) || !source.include?(":"))
          call { |c| Native.check!(:tasker_register_template_file, c, source) }
        else
          mem, len = Native.buffer(source.b)
          call { |c| Native.check!(:tasker_register_template_yaml, c, mem, len) }
        end
      else
        raise ArgumentError, "load_template expects a path, YAML text or a Hash, got #{source.class}"
      end
      self
    end

    # Registers (or replaces) the handler called `name`: a Tasker::StepHandler instance or
    # subclass, any object with process(context) (and optionally process_results), or a block.
    # The handler runs on whichever thread drives the step (worker, run_task, handle_step).
    def register_handler(name, handler = nil, &block)
      handler = resolve_handler(name, handler, block)
      entry = Callbacks::HandlerEntry.new(name.to_s, handler)
      id, userdata = Callbacks.add(entry)
      results_fn = StepHandler.process_results?(handler) ? Callbacks::PROCESS_RESULTS : nil
      begin
        call do |c|
          Native.check!(:tasker_register_handler, c, name.to_s, Callbacks::PROCESS, results_fn, userdata,
                        Callbacks::USERDATA_FREE)
        end
      rescue Exception # rubocop:disable Lint/RescueException -- libtasker did not take userdata
        Callbacks.remove(id)
        raise
      end
      handler
    end

    # Removes the handler called `name`; returns whether one was registered.
    def unregister_handler(name)
      out = FFI::MemoryPointer.new(:uint8)
      call { |c| Native.check!(:tasker_unregister_handler, c, name.to_s, out) }
      out.read_uint8 != 0
    end

    # Creates a task. `name`, the context (positionally as in the other wrappers, or `context:`)
    # and any of: namespace, version, initiator, source_system, reason, tags, bypass_steps,
    # step_inputs, run_at / delay_ms (a delayed start, in milliseconds; docs/ABI.md "Task
    # request"), priority (-100..=100, overrides the template's; docs/SCHEDULING.md). Returns a TaskRef (task_id, created?): an
    # identical request returns the existing task with created? false.
    def create_task(name = nil, context = nil, **request)
      request[:name] = name if name
      request[:context] = context unless context.nil?
      raise ArgumentError, "create_task needs a template name" unless request[:name] || request["name"]

      mem, len = Native.buffer(Codec.encode(request))
      id = FFI::MemoryPointer.new(:int64)
      created = FFI::MemoryPointer.new(:uint8)
      call { |c| Native.check!(:tasker_create_task, c, mem, len, id, created) }
      TaskRef.new(id.read_int64, created.read_uint8 != 0)
    end

    # Runs one task to the end on this thread (its handlers run here, backoffs are waited out) and
    # returns the final execution context (a Hash) when it is complete, blocked or cancelled.
    #
    # On the main thread, SIGINT or SIGTERM aborts the run: the handler running is cut short, the
    # steps it held go back to ready without counting an attempt or recording a failure, and the
    # signal then has its usual effect (Interrupt; see Tasker::SignalWatch). The steps then run on
    # a helper thread, so that the main thread can receive the signal (`handle_signals: false`:
    # on the main thread itself, and signals wait for the next handler). #interrupt from another
    # thread aborts it with InterruptedError.
    def run_task(task, handle_signals: true)
      id = Tasker.id_of(task, :task_id)
      return run_task_here(id) unless handle_signals

      abort = -> { interrupt_and_cancel(Interrupt.new("tasker: run_task interrupted")) }
      SignalWatch.call(stop: abort) { run_task_here(id) }
    end

    # @api private — #interrupt, and raises `exception` into the handlers of this client running
    # on other threads now, so that a slow handler ends at once.
    def interrupt_and_cancel(exception)
      interrupt
      Thread.list.each { |t| CallScope.cancel_handler(t, exception, self) unless t.equal?(Thread.current) }
    end

    private def run_task_here(id)
      document_call { |c, buf| Native.check!(:tasker_run_task, c, id, buf) }
    end

    # Host-queue delivery of a step: runs its lifecycle on this thread and enqueues what became
    # ready. Returns the outcome Hash ("outcome" => "completed" | "failed" | "skipped" | ...).
    def handle_step(step)
      document_call { |c, buf| Native.check!(:tasker_handle_step, c, Tasker.id_of(step, :step_id), buf) }
    end

    # Host-queue delivery of a task (expired leases, ready steps, re-enqueue). Returns the
    # execution context Hash.
    def handle_task(task)
      document_call { |c, buf| Native.check!(:tasker_handle_task, c, Tasker.id_of(task, :task_id), buf) }
    end

    # Calls the handler named by context["step"]["handler"] once, on this thread, as a worker
    # would (process, then process_results), but without the database: nothing is claimed,
    # written or published, and ctx.heartbeat raises StaleClaimError. `context` is a StepContext
    # Hash ("task", "step", "dependency_results", "claim_token"; String or Symbol keys); missing
    # fields take defaults. Returns {"status" => "completed", "results" => ...} or
    # {"status" => "failed", "error" => {"message", "class", "retryable", "retry_after", "details"}}:
    # a failing handler (also "HandlerNotFound", a panic, too large results) is an outcome, not an
    # exception. Raises InvalidArgumentError for a context libtasker cannot decode, and
    # Tasker::Error when the loaded libtasker predates tasker_call_handler.
    def call_handler(context = {})
      context = {} if context.nil?
      raise ArgumentError, "call_handler expects a Hash, got #{context.class}" unless context.is_a?(Hash)
      unless Native.call_handler?
        raise Error, "#{Native::LIBRARY_PATH} has no tasker_call_handler (an older libtasker build; rebuild it)"
      end

      mem, len = Native.buffer(Codec.encode(context))
      document_call { |c, buf| Native.check!(:tasker_call_handler, c, mem, len, buf) }
    end

    # Installs the host-queue hooks (an object with enqueue_task(id, delay) and
    # enqueue_step(id, delay), see Tasker::QueueInjector), or removes them with nil.
    def queue_injector=(injector)
      if injector.nil?
        call { |c| Native.check!(:tasker_set_queue_injector, c, nil, nil, nil, nil) }
        @queue_injector = nil
        return
      end
      unless injector.respond_to?(:enqueue_task) && injector.respond_to?(:enqueue_step)
        raise ArgumentError, "a queue injector needs enqueue_task(id, delay) and enqueue_step(id, delay)"
      end

      id, userdata = Callbacks.add(Callbacks::InjectorEntry.new(injector))
      begin
        call do |c|
          Native.check!(:tasker_set_queue_injector, c, Callbacks::ENQUEUE_TASK, Callbacks::ENQUEUE_STEP, userdata,
                        Callbacks::USERDATA_FREE)
        end
      rescue Exception # rubocop:disable Lint/RescueException
        Callbacks.remove(id)
        raise
      end
      @queue_injector = injector
    end

    attr_reader :queue_injector

    # Subscribes to lifecycle events: patterns are event names or prefixes ending in "*"
    # ("step.*", "task.completed"); none means every event. The block receives a Tasker::Event
    # after commit, on the thread whose call caused it; an exception in it is only logged.
    # Returns a Tasker::Subscription (close it to unsubscribe).
    def subscribe(*patterns, &block)
      raise ArgumentError, "subscribe needs a block" unless block

      patterns = patterns.flatten.map(&:to_s)
      sink = Subscription::Sink.new(block)
      id, userdata = Callbacks.add(sink)
      out = FFI::MemoryPointer.new(:pointer)
      begin
        call do |c|
          Native.check!(:tasker_subscribe, c, patterns.join(","), Callbacks::EVENT, userdata, Callbacks::USERDATA_FREE,
                        out)
        end
      rescue Exception # rubocop:disable Lint/RescueException
        Callbacks.remove(id)
        raise
      end
      Subscription.new(self, patterns, sink, out.read_pointer)
    end

    # The task view: task, steps (states, attempts, results, transitions) and execution context.
    def task_view(task)
      TaskView.new(document_call { |c, buf| Native.check!(:tasker_task_view, c, Tasker.id_of(task, :task_id), buf) })
    end

    # The execution context Hash: counts, execution_status, recommended_action, health, ...
    def execution_context(task)
      document_call { |c, buf| Native.check!(:tasker_execution_context, c, Tasker.id_of(task, :task_id), buf) }
    end

    # System health counts (tasks and steps by state, retryable, exhausted, in backoff, ...).
    def health
      document_call { |c, buf| Native.check!(:tasker_health, c, buf) }
    end

    # Blocks until the task is settled: finished (complete, cancelled, resolved_manually) or blocked
    # (state error, or execution_status blocked_by_failures), at most `timeout` seconds (a Numeric;
    # 0 looks once). Returns a TaskWait (#timed_out?, #task: the TaskView as it then is): a timeout
    # is not an exception. Woken by commits through this client and, on PostgreSQL, by other
    # processes' commits (NOTIFY); otherwise by polling every poll_interval_ms. On the main thread
    # SIGINT/SIGTERM end the wait and then have their usual effect (Interrupt), as in #run_task;
    # #interrupt from another thread ends it with InterruptedError. Raises TaskNotFoundError.
    def wait_task(task, timeout, handle_signals: true)
      id = Tasker.id_of(task, :task_id)
      unless timeout.is_a?(Numeric) && timeout.finite? && !timeout.negative?
        raise ArgumentError, "timeout is seconds, a finite number >= 0, not #{timeout.inspect}"
      end

      # C counts whole milliseconds; rounding up keeps a short positive timeout a wait.
      ms = (timeout * 1000).ceil
      wait = -> { document_call { |c, buf| Native.check!(:tasker_wait_task, c, id, ms, buf) } }
      TaskWait.from_h(handle_signals ? SignalWatch.call(stop: -> { interrupt }, &wait) : wait.call)
    end

    # One Page of the tasks matching every filter given (none: every task), newest first, of
    # TaskSummary. Keywords are the filter's fields (Query::TASK_FILTER, docs/ABI.md "Task filter
    # and page"): states (any of them), execution_status, namespace, name, version, initiator,
    # source_system, tags (all of them), created_from/created_to/updated_from/updated_to (epoch ms,
    # from inclusive, to exclusive), cursor (the previous page's next_cursor), limit (1 to 1000,
    # default 50). A bad filter (unknown state, limit out of range, a cursor this library did not
    # return) raises InvalidArgumentError.
    def list_tasks(**filter)
      list(:tasker_list_tasks, Query.filter(filter, Query::TASK_FILTER), TaskSummary)
    end

    # One Page of the steps matching every filter given, newest first, of StepSummary. Keywords
    # (Query::STEP_FILTER): task_id, states, condition ("in_backoff", "exhausted",
    # "lease_expired", "lease_active"), handler, cursor, limit; paged as #list_tasks.
    def list_steps(**filter)
      list(:tasker_list_steps, Query.filter(filter, Query::STEP_FILTER), StepSummary)
    end

    # Yields every TaskSummary matching the filter (#list_tasks' keywords; limit is the page
    # size), page after page; an Enumerator without a block.
    def each_task(**filter, &block)
      return enum_for(__method__, **filter) unless block

      each_page(filter, block) { |f| list_tasks(**f) }
    end

    # Yields every StepSummary matching the filter (#list_steps' keywords), page after page; an
    # Enumerator without a block.
    def each_step(**filter, &block)
      return enum_for(__method__, **filter) unless block

      each_page(filter, block) { |f| list_steps(**f) }
    end

    # Stores a cron schedule (replacing the one named `name`): a task of `template` with
    # `context` at every tick of `cron` (5 fields, or 6 with seconds first) read in the IANA
    # `time_zone`. `missed`: "skip" (after downtime only the latest missed tick fires) or
    # "catch_up" (up to `max_catch_up`, default 10). Returns the stored schedule (a Hash).
    # Raises InvalidRequestError naming a bad expression, zone, name or bound; UnknownTemplateError.
    def upsert_schedule(name, template:, cron:, namespace: nil, version: nil, context: nil, time_zone: "UTC",
                        enabled: true, missed: "skip", max_catch_up: nil)
      spec = { "name" => name, "template" => template, "cron" => cron, "time_zone" => time_zone,
               "enabled" => enabled, "missed" => missed, "namespace" => namespace, "version" => version,
               "context" => context, "max_catch_up" => max_catch_up }.compact
      mem, len = Native.buffer(Codec.encode(spec))
      document_call { |c, buf| Native.check!(:tasker_schedule_upsert, c, mem, len, buf) }
    end

    # Every schedule (Hashes), by name, with next_tick_at and last_tick_at (epoch ms).
    def schedules
      document_call { |c, buf| Native.check!(:tasker_schedule_list, c, buf) }
    end

    # Deletes a schedule and its tick history (its tasks stay); false when there was none.
    def delete_schedule(name)
      out = FFI::MemoryPointer.new(:uint8)
      call { |c| Native.check!(:tasker_schedule_delete, c, name, out) }
      out.read_uint8 != 0
    end

    # Enables or disables a schedule (re-enabled: from its first tick after now); false when
    # there is none.
    def set_schedule_enabled(name, enabled)
      out = FFI::MemoryPointer.new(:uint8)
      call { |c| Native.check!(:tasker_schedule_set_enabled, c, name, enabled ? true : false, out) }
      out.read_uint8 != 0
    end

    # Fires the ticks due at `now_ms` (default: now), once across every process; workers do this
    # by themselves every schedule_check_interval_ms. Returns the number of tasks created.
    def fire_due_schedules(now_ms = nil)
      now = now_ms || (Time.now.to_r * 1000).to_i
      out = FFI::MemoryPointer.new(:uint64)
      call { |c| Native.check!(:tasker_schedule_fire_due, c, now, out) }
      out.read_uint64
    end

    # Fails the unfinished tasks past their deadline (at most 100 per call, oldest first): each
    # ends in state error (class Deadline) with its unfinished steps cancelled. Workers do this
    # every lease_check_interval_ms; call it from a process without workers. Returns the tasks
    # failed.
    def enforce_deadlines
      out = FFI::MemoryPointer.new(:uint64)
      call { |c| Native.check!(:tasker_enforce_deadlines, c, out) }
      out.read_uint64
    end

    # One pass of the client's `retention` option (none: nothing) over the next window of task
    # ids. Workers do this every retention interval_ms; call it from a process without workers.
    # Returns the tasks purged.
    def apply_retention
      out = FFI::MemoryPointer.new(:uint64)
      call { |c| Native.check!(:tasker_apply_retention, c, out) }
      out.read_uint64
    end

    # Deletes the complete and cancelled tasks finished before `finished_before` (epoch ms) with
    # their steps and history, in batches of `batch_size` (default 500), each its own
    # transaction; only `template`'s tasks when given (in `namespace`, of `version` when given).
    # `dry_run: true` counts instead. Returns {"dry_run", "tasks", "steps", "batches"}.
    def purge_tasks(finished_before, template: nil, namespace: nil, version: nil, dry_run: false, batch_size: nil)
      if template.nil? && !(namespace.nil? && version.nil?)
        raise ArgumentError, "namespace and version narrow a template: pass template too"
      end

      request = { "finished_before" => finished_before, "dry_run" => dry_run }
      request["batch_size"] = batch_size unless batch_size.nil?
      request["template"] = { "name" => template, "namespace" => namespace, "version" => version } if template
      mem, len = Native.buffer(Codec.encode(request))
      document_call { |c, buf| Native.check!(:tasker_purge_tasks, c, mem, len, buf) }
    end

    # Cancels the task (every unfinished step; late results are discarded). Returns false when it
    # was already cancelled; raises IllegalTransitionError for a finished task.
    def cancel_task(task)
      out = FFI::MemoryPointer.new(:uint8)
      call { |c| Native.check!(:tasker_cancel_task, c, Tasker.id_of(task, :task_id), out) }
      out.read_uint8 != 0
    end

    # Resolves a pending or failed step by hand with `results`; dependents proceed.
    def resolve_step(step, results = {})
      mem, len = Native.buffer(Codec.encode(results || {}))
      out = FFI::MemoryPointer.new(:uint8)
      call { |c| Native.check!(:tasker_resolve_step, c, Tasker.id_of(step, :step_id), mem, len, out) }
      out.read_uint8 != 0
    end

    # Retries a failed step (its attempts restart); a blocked task resumes. Returns whether
    # anything changed.
    def retry_step(step)
      out = FFI::MemoryPointer.new(:uint8)
      call { |c| Native.check!(:tasker_retry_step, c, Tasker.id_of(step, :step_id), out) }
      out.read_uint8 != 0
    end

    # Applies the embedded migrations again (idempotent; they already ran at connect).
    def migrate
      call { |c| Native.check!(:tasker_migrate, c) }
      self
    end

    # A Tasker::Worker running `threads` Ruby threads over this client (not started yet).
    def worker(threads: 1) = Worker.new(self, threads: threads)

    def inspect = "#<Tasker::Client #{@url && Client.redact_url(@url).inspect}#{@closed ? ' closed' : ''}>"

    # The URL with its password masked (postgres://u:***@host/db), whatever the scheme, and a
    # password= query parameter masked too: for inspect and logs.
    def self.redact_url(url)
      text = url.to_s
      if (scheme_end = text.index("://"))
        start = scheme_end + 3
        rest = text[start..]
        authority = rest[0, rest.index(%r{[/?#]}) || rest.length]
        at = authority.rindex("@") # a password may itself contain '@'
        colon = at && authority[0, at].index(":")
        text = text[0, start + colon + 1] + "***" + text[(start + at)..] if colon
      end
      head, sep, query = text.partition("?")
      return text if sep.empty?

      head + sep + query.split("&", -1).map { |kv|
        key, eq, = kv.partition("=")
        !eq.empty? && key.casecmp?("password") ? "#{key}=***" : kv
      }.join("&")
    end

    # @api private — runs the block with the native handle, counted as a call in flight so that
    # #close waits for it.
    def call
      @lock.synchronize do
        raise ClosedError, "the client is closed" if @closed

        @inflight += 1
      end
      st = CallScope.state
      clients = st.clients
      clients[self] += 1
      st.natives.push(@ptr)
      begin
        CallScope.enter { yield @ptr }
      ensure
        st.natives.pop
        clients[self] -= 1
        clients.delete(self) if clients[self].zero?
        @lock.synchronize do
          @inflight -= 1
          @idle.broadcast if @inflight.zero?
        end
      end
    end

    private

    def document_call
      buf = Native::Bytes.new
      call { |c| yield c, buf }
      Native.take_document(buf)
    end

    def list(function, filter, type)
      mem, len = Native.buffer(Codec.encode(filter))
      doc = document_call { |c, buf| Native.check!(function, c, mem, len, buf) }
      Page.new(items: doc.fetch("items").map { |item| type.from_h(item) }, next_cursor: doc["next_cursor"])
    end

    def each_page(filter, block)
      loop do
        page = yield filter
        page.items.each(&block)
        return nil if page.last?

        filter = filter.merge(cursor: page.next_cursor)
      end
    end

    def resolve_handler(name, handler, block)
      raise ArgumentError, "give a handler or a block for #{name.inspect}, not both" if handler && block

      handler = BlockHandler.new(block) if block
      handler = handler.new if handler.is_a?(Class)
      handler = BlockHandler.new(handler) if handler.is_a?(Proc) || handler.is_a?(Method)
      unless handler.respond_to?(:process)
        raise ArgumentError, "handler for #{name.inspect} must respond to process(context)"
      end

      handler
    end
  end

  # Accepts an Integer id or an object with the given id method (TaskRef, Event, ...).
  def self.id_of(value, method)
    return value if value.is_a?(Integer)
    return value.public_send(method) if value.respond_to?(method)
    return value.to_int if value.respond_to?(:to_int)

    raise ArgumentError, "expected an id, got #{value.inspect}"
  end
end
