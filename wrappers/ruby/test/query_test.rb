# frozen_string_literal: true

require_relative "test_helper"
require "rbconfig"
require "securerandom"

# The query API (issue #13): list_tasks / list_steps filters and pages, pages stable while another
# thread inserts, wait_task across two processes, timed out and interrupted; on SQLite and, with
# TASKER_CONFORMANCE_PG_URL, on PostgreSQL. That database is shared by the suite, so each case
# works in namespaces of its own and cancels what it leaves unfinished.
class QueryTest < Minitest::Test
  include TaskerTestHelper

  ROOT = File.expand_path("..", __dir__)
  CHILD = File.join(__dir__, "wait_child.rb")
  BOUND = 120 # seconds before a child is killed (its waits would otherwise last an hour)
  LONG = 300 # long enough that only a wakeup, not the timeout, ends a wait
  # Fast retries, but a retry_after of an hour is kept (the backoff's max_ms caps it).
  OPTIONS = { backoff: { base_ms: 5, factor: 2.0, max_ms: 7_200_000 }, poll_interval_ms: 10 }.freeze

  # A client and names of one case: templates in `ns` (and `other`), handlers prefixed with `ns`,
  # so that a shared database's other tasks never match a filter.
  class Space
    attr_reader :client, :ns, :other, :url

    def initialize(url)
      @url = url
      @client = Tasker::Client.new(url, **OPTIONS)
      @ns = "q#{SecureRandom.hex(6)}"
      @other = "#{@ns}o"
    end

    # A one-step template `name`, its handler named "<ns>_<name>"; returns the handler name.
    def template(name, namespace = ns, &handler)
      handler_name = "#{ns}_#{name}"
      client.load_template({ "name" => name, "namespace_name" => namespace, "version" => "1.0.0",
                             "step_templates" => [{ "name" => "only", "handler" => handler_name }] })
      client.register_handler(handler_name, &handler) if handler
      handler_name
    end

    def close
      [ns, other].each do |namespace|
        unfinished = client.each_task(namespace: namespace, states: %w[pending in_progress error])
        unfinished.each { |t| client.cancel_task(t.task_id) }
      end
      client.close
    end
  end

  def each_backend
    backends.each do |backend, pg_url|
      space = Space.new(pg_url || db_url("query-#{SecureRandom.hex(4)}"))
      begin
        yield space, backend
      ensure
        space.close
      end
    end
  end

  def ids(items) = items.map(&:task_id)

  # Runs wait_child.rb with `args`, yields its output (the child running), then reads the rest
  # within BOUND seconds (else kills it and fails). Returns [status, output].
  def child(*args)
    IO.popen([RbConfig.ruby, "-I#{ROOT}/lib", CHILD, *args], err: %i[child out]) do |io|
      yield io if block_given?
      reader = Thread.new { io.read }
      unless reader.join(BOUND)
        Process.kill("KILL", io.pid)
        flunk "the child (#{args.join(' ')}) did not end"
      end
      io.close
      [$?, reader.value] # rubocop:disable Style/SpecialGlobalVars
    end
  end

  def test_list_tasks_filters
    each_backend do |s, backend|
      c = s.client
      s.template("plain") { |_ctx| { "ok" => true } }
      s.template("doomed") { |_ctx| raise Tasker::PermanentError, "no" }
      s.template("flaky", s.other) { |_ctx| raise Tasker::RetryableError.new("later", retry_after: 3600) }
      create = lambda do |name, n, initiator, tags, namespace = s.ns|
        c.create_task(name, { "n" => n }, namespace: namespace, initiator: initiator,
                                          source_system: "#{initiator}-system", tags: tags).task_id
      end
      done = create.call("plain", 1, "web", %w[a b])
      waiting = create.call("plain", 2, "api", ["a"])
      blocked = create.call("doomed", 3, "api", ["b"])
      backing_off = create.call("flaky", 4, "cron", [], s.other)
      c.run_task(done)
      c.run_task(blocked)
      assert c.handle_step(c.task_view(backing_off).step_id("only"))["will_retry"], backend
      listed = ->(**filter) { ids(c.list_tasks(**filter).items) }

      assert_equal [blocked, waiting, done], listed.call(namespace: s.ns), backend # newest first
      assert_equal [blocked, done], listed.call(namespace: s.ns, states: %w[complete error]), backend
      assert_equal [waiting], listed.call(namespace: s.ns, states: :pending), backend
      assert_equal [blocked], listed.call(namespace: s.ns, execution_status: "blocked_by_failures"), backend
      assert_equal [done], listed.call(namespace: s.ns, execution_status: :all_complete), backend
      assert_equal [backing_off], listed.call(namespace: s.other, execution_status: "waiting_for_dependencies")
      assert_equal [waiting, done], listed.call(namespace: s.ns, name: "plain", version: "1.0.0"), backend
      assert_equal [], listed.call(namespace: s.ns, name: "plain", version: "9.9.9"), backend
      assert_equal [blocked, waiting], listed.call(namespace: s.ns, initiator: "api"), backend
      assert_equal [backing_off], listed.call(namespace: s.other, source_system: "cron-system"), backend
      assert_equal [waiting, done], listed.call(namespace: s.ns, tags: ["a"]), backend
      assert_equal [done], listed.call(namespace: s.ns, tags: %w[a b]), backend

      summary = c.list_tasks(namespace: s.ns, states: ["complete"]).items.first
      assert_kind_of Tasker::TaskSummary, summary
      assert_equal [s.ns, "plain", "1.0.0", "web", "web-system", %w[a b]],
                   [summary.namespace, summary.name, summary.version, summary.initiator, summary.source_system,
                    summary.tags], backend
      assert_equal c.execution_context(done), summary.execution, backend
      # Time ranges are [from, to).
      assert_includes listed.call(namespace: s.ns, created_from: summary.created_at), done
      refute_includes listed.call(namespace: s.ns, created_to: summary.created_at), done
      assert_includes listed.call(namespace: s.ns, created_from: summary.created_at,
                                  created_to: summary.created_at + 1), done
      later = c.list_tasks(namespace: s.ns, updated_from: summary.updated_at).items
      assert_includes ids(later), done
      assert(later.all? { |t| t.updated_at >= summary.updated_at }, backend)
      assert_equal [], listed.call(namespace: s.ns, updated_to: 0), backend
    end
  end

  def test_list_steps_filters
    each_backend do |s, backend|
      c = s.client
      doomed = s.template("doomed") { |_ctx| raise Tasker::PermanentError, "no" }
      flaky = s.template("flaky") { |_ctx| raise Tasker::RetryableError.new("later", retry_after: 3600) }
      blocked = c.create_task("doomed", {}, namespace: s.ns).task_id
      backing_off = c.create_task("flaky", {}, namespace: s.ns).task_id
      c.run_task(blocked)
      c.handle_step(c.task_view(backing_off).step_id("only"))
      listed = ->(**filter) { c.list_steps(**filter).items.map { |st| [st.task_id, st.handler] } }

      assert_equal [[blocked, doomed]], listed.call(handler: doomed, states: ["error"]), backend
      assert_equal [[backing_off, flaky]], listed.call(handler: flaky, states: :error), backend
      assert_equal [[blocked, doomed]], listed.call(handler: doomed, condition: "exhausted"), backend
      assert_equal [], listed.call(handler: doomed, condition: "in_backoff"), backend
      assert_equal [[backing_off, flaky]], listed.call(handler: flaky, condition: :in_backoff), backend
      assert_equal [], listed.call(handler: flaky, condition: "exhausted"), backend
      assert_equal [], listed.call(handler: flaky, condition: "lease_expired"), backend
      assert_equal [[blocked, doomed]], listed.call(task_id: blocked, states: ["error"]), backend
      assert_equal [], listed.call(task_id: blocked, states: %w[pending complete]), backend
      step = c.list_steps(task_id: backing_off).items.first
      assert_kind_of Tasker::StepSummary, step
      assert_equal ["only", "error", 1], [step.name, step.state, step.attempts], backend
      refute_nil step.next_attempt_at, backend
      assert_equal [c.task_view(blocked).step_id("only")], c.each_step(handler: doomed, limit: 1).map(&:step_id)
    end
  end

  def test_pages_are_stable_under_concurrent_inserts
    each_backend do |s, backend|
      c = s.client
      s.template("plain")
      before = 25.times.map { |n| c.create_task("plain", { "n" => n }, namespace: s.ns).task_id }.reverse
      stop = false
      inserter = Thread.new do
        made = []
        n = 1000
        until stop
          made << c.create_task("plain", { "n" => n }, namespace: s.ns).task_id
          n += 1
        end
        made
      end
      begin
        # The first page may already hold new tasks; every older one appears exactly once.
        seen = ids(c.each_task(namespace: s.ns, limit: 4).to_a)
      ensure
        stop = true
        inserted = inserter.value
      end
      assert_equal seen.sort.reverse, seen, backend
      assert_equal seen.uniq, seen, backend
      assert_equal before, seen.select { |id| id <= before.first }, backend
      assert_empty seen - before - inserted, backend
    end
  end

  def test_a_page_of_exactly_limit_items_ends_with_an_empty_page
    each_backend do |s, backend|
      c = s.client
      s.template("plain")
      made = 3.times.map { |n| c.create_task("plain", { "n" => n }, namespace: s.ns).task_id }.reverse
      first = c.list_tasks(namespace: s.ns, limit: 3)
      assert_equal made, ids(first.items), backend
      unless first.last?
        rest = c.list_tasks(namespace: s.ns, limit: 3, cursor: first.next_cursor)
        assert_equal [[], true], [rest.items, rest.last?], backend
      end
      assert_equal made, ids(c.each_task(namespace: s.ns, limit: 1)), backend
    end
  end

  def test_a_bad_filter_is_refused_naming_the_field
    each_backend do |s, backend|
      { { limit: 0 } => "limit", { limit: 1001 } => "limit", { states: ["nope"] } => "nope",
        { cursor: "x" } => "cursor", { cursor: "0" } => "cursor", { execution_status: "stuck" } => "stuck" }
        .each do |filter, named|
        e = assert_raises(Tasker::InvalidArgumentError, "#{backend} #{filter}") { s.client.list_tasks(**filter) }
        assert_includes e.message, named, backend
      end
      { { limit: 0 } => "limit", { condition: "sleepy" } => "sleepy", { cursor: "-3" } => "cursor",
        { states: ["later"] } => "later" }.each do |filter, named|
        e = assert_raises(Tasker::InvalidArgumentError, "#{backend} #{filter}") { s.client.list_steps(**filter) }
        assert_includes e.message, named, backend
      end
      assert_raises(ArgumentError) { s.client.list_tasks(task_id: 1) } # a step filter's field
    end
  end

  def test_wait_across_two_processes
    each_backend do |s, backend|
      handler = s.template("remote")
      task_id = s.client.create_task("remote", {}, namespace: s.ns).task_id
      # This side never polls on PostgreSQL: only the child's commit (NOTIFY) can wake it. SQLite
      # has no cross-process wakeup; there the wait polls.
      waiter = Tasker::Client.new(s.url, poll_interval_ms: backend == "postgres" ? 3_600_000 : 10)
      @clients << waiter
      result = nil
      status, output = child("run", s.url, handler, task_id.to_s) { result = waiter.wait_task(task_id, LONG) }
      assert status.success? && output.strip == "complete", "#{backend}: #{output}"
      refute result.timed_out?, backend
      assert_equal "complete", result.task.state, backend
      assert_equal({ "by" => "child" }, result.task.step("only")["results"], backend)
    end
  end

  def test_wait_times_out_with_the_current_view
    each_backend do |s, backend|
      s.template("idle")
      task_id = s.client.create_task("idle", {}, namespace: s.ns).task_id
      result = s.client.wait_task(task_id, 0.03)
      assert_kind_of Tasker::TaskWait, result
      assert result.timed_out?, backend
      assert_equal [task_id, "pending"], [result.task.task_id, result.task.state], backend
      assert s.client.wait_task(task_id, 0).timed_out?, backend # 0 looks once
      assert_raises(ArgumentError) { s.client.wait_task(task_id, -1) }
    end
  end

  def test_wait_returns_a_blocked_task_and_raises_for_a_missing_one
    each_backend do |s, backend|
      s.template("doomed") { |_ctx| raise Tasker::PermanentError, "no" }
      task_id = s.client.create_task("doomed", {}, namespace: s.ns).task_id
      s.client.run_task(task_id)
      result = s.client.wait_task(task_id, LONG)
      refute result.timed_out?, backend
      assert_equal "blocked_by_failures", result.task.execution["execution_status"], backend
      assert_raises(Tasker::TaskNotFoundError) { s.client.wait_task(2**62, LONG) }
    end
  end

  def test_wait_is_interrupted_from_another_thread
    each_backend do |s, backend|
      s.template("idle")
      task_id = s.client.create_task("idle", {}, namespace: s.ns).task_id
      waiter = Tasker::Client.new(s.url, poll_interval_ms: 3_600_000)
      @clients << waiter
      thread = Thread.new do
        waiter.wait_task(task_id, LONG)
      rescue Tasker::Error => e
        e
      end
      # An interrupt ends the calls running when it is made: repeat until the wait ended.
      waiter.interrupt until thread.join(0.005)
      assert_kind_of Tasker::InterruptedError, thread.value, backend
    end
  end

  def test_a_signal_ends_a_wait
    each_backend do |s, backend|
      s.template("idle")
      task_id = s.client.create_task("idle", {}, namespace: s.ns).task_id
      %w[INT TERM].each do |sig|
        status, output = child("wait", s.url, task_id.to_s) do |io|
          assert_equal "waiting\n", io.gets, backend
          sleep 0.5 # let it enter the wait (an hour long): only the signal ends it
          Process.kill(sig, io.pid)
        end
        assert status.signaled? && status.termsig == Signal.list[sig], "#{backend} SIG#{sig}: #{output}"
      end
    end
  end
end
