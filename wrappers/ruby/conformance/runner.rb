# frozen_string_literal: true

# The Ruby runner of the cross-language conformance suite (ffi-tests/conformance/README.md).
#
#   ruby conformance/runner.rb sqlite                 # fresh SQLite file per scenario
#   ruby conformance/runner.rb postgres URL           # URL: a database shared by all scenarios
#   ruby conformance/runner.rb sqlite 05_retry_after  # only the scenarios whose name matches
#
# Prints `PASS|FAIL <backend> <scenario>` per scenario and `ruby-conformance-<backend>: N passed,
# N failed`; exits non-zero when a scenario failed.

$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "tasker"
require "json"
require "securerandom"
require "fileutils"
require "tmpdir"

# What the `raise` behaviour raises: the binding must record its class name and message.
class ConformanceError < StandardError; end

module Conformance
  SCENARIOS = ENV.fetch("TASKER_CONFORMANCE_SCENARIOS", File.expand_path("../../../ffi-tests/conformance/scenarios", __dir__))
  RUN_ID = "ruby-#{Process.pid}-#{SecureRandom.hex(4)}"
  DEFAULT_OPTIONS = { "backoff" => { "base_ms" => 5, "factor" => 2.0, "max_ms" => 40 },
                      "poll_interval_ms" => 10, "lease_check_interval_ms" => 50 }.freeze

  class Failure < StandardError; end

  # A handler scripted by a behaviour spec; counts executions per step id.
  class ScriptedHandler < Tasker::StepHandler
    def initialize(spec, executions, client, seen)
      super()
      @spec = spec
      @executions = executions
      @client = client
      @seen = seen
    end

    def process(ctx)
      @executions.record(ctx.step_id)
      deps = ctx.dependency_results.keys.sort
      case @spec["behavior"]
      when "square"
        v = if deps.empty?
              ctx.context["n"] || 0
            else
              ctx.dependency_results.values.sum { |r| r.is_a?(Hash) && r["value"].is_a?(Integer) ? r["value"] : 0 }
            end
        { "value" => v * v, "deps" => deps }
      when "echo"
        ctx.context.reject { |k, _| k == "conformance_run" }.merge("step" => ctx.step_name, "deps" => deps)
      when "length"
        { "length" => ctx.context["blob"].to_s.length }
      when "fail_then_succeed"
        if ctx.attempt <= @spec.fetch("failures", 0)
          raise Tasker::RetryableError.new("transient failure on attempt #{ctx.attempt}",
                                           error_class: @spec["class"] || "TransientError",
                                           retry_after: @spec["retry_after"])
        end
        { "value" => ctx.attempt }
      when "fail_permanently"
        raise Tasker::PermanentError.new(@spec["message"], error_class: @spec["class"])
      when "fail_always"
        raise Tasker::RetryableError.new(@spec["message"], error_class: @spec["class"])
      when "raise"
        raise ConformanceError, @spec["message"]
      when "sleep"
        sleep(@spec.fetch("ms", 0) / 1000.0)
        { "value" => 1 }
      when "decide"
        Tasker.activate(*ctx.context.fetch("choose", []))
      when "split"
        { "batches" => Array.new(Integer(ctx.context.fetch("batch_count", 0))) { |i| { "index" => i } } }
      when "checkpointed"
        checkpointed(ctx)
      when "batch_item"
        index = Integer(ctx.inputs.fetch("index", 0))
        if ctx.context["fail_index"] == index
          raise Tasker::PermanentError.new("bad batch #{index}", error_class: "BadBatch")
        end
        { "value" => index }
      when "cancel_own_task"
        cancel_own_task(ctx)
      else
        raise Tasker::PermanentError, "unknown behavior #{@spec['behavior'].inspect}"
      end
    end

    # Resumes at the checkpoint's cursor, checkpoints after each item, fails once at fail_at.
    def checkpointed(ctx)
      items = ctx.context["items"] || []
      cp = ctx.last_checkpoint || {}
      cursor = cp["cursor"] || 0
      before = cp["processed"] || []
      mine = []
      (cursor...items.size).each do |i|
        if ctx.attempt == 1 && i == @spec["fail_at"]
          raise Tasker::RetryableError.new("failed at item #{i}", error_class: "CheckpointedFailure")
        end

        mine << items[i]
        ctx.checkpoint({ "cursor" => i + 1, "processed" => before + [mine] })
      end
      { "processed" => before + [mine], "resumed_from" => cursor }
    end
  end

  # cancel_own_task: what each step's handler saw, by step name (its output is discarded).
  class ScriptedHandler
    def cancel_own_task(ctx)
      saw = [(ctx.stop_reason || :none).to_s]
      Thread.new { @client.cancel_task(ctx.task_id) }.join
      saw << (ctx.stop_reason || :none).to_s
      begin
        ctx.heartbeat
        saw << "ok"
      rescue Tasker::StaleClaimError
        saw << "stale_claim"
      end
      @seen[ctx.step_name] = saw
      { "seen" => saw }
    end
  end

  class Executions
    def initialize
      @lock = Mutex.new
      @counts = Hash.new(0)
    end

    def record(step_id) = @lock.synchronize { @counts[step_id] += 1 }
    def [](step_id) = @lock.synchronize { @counts[step_id] }
  end

  # Records (kind, id, delay_ms) in a FIFO.
  class RecordingQueue
    attr_reader :fifo

    def initialize = (@fifo = Thread::Queue.new)
    def enqueue_task(id, delay) = @fifo << [:task, id, (delay * 1000).round]
    def enqueue_step(id, delay) = @fifo << [:step, id, (delay * 1000).round]
  end

  # Runs one scenario on one client.
  class Scenario
    def initialize(doc, url)
      @doc = doc
      @url = url
      @aliases = {}
      @events = []
      @events_lock = Mutex.new
      @executions = Executions.new
      @outcomes = Hash.new(0)
      @queue = nil
      @seen = {}
    end

    def run
      options = DEFAULT_OPTIONS.merge(@doc["options"] || {})
      Tasker::Client.open(@url, **options.transform_keys(&:to_sym)) do |client|
        @client = client
        client.load_template(@doc["template"])
        (@doc["handlers"] || {}).each { |name, spec| set_handler(name, spec) }
        sub = nil
        if @doc["events"]
          sub = client.subscribe(@doc["events"]) do |e|
            name = e.step_name ? "#{e.name}:#{e.step_name}" : e.name
            @events_lock.synchronize { @events << [e.task_id, name] }
          end
        end
        begin
          @doc["ops"].each_with_index do |op, i|
            send("op_#{op['op']}", op)
          rescue Failure => e
            raise Failure, "op #{i} (#{op['op']}): #{e.message}"
          end
        ensure
          sub&.close
          client.queue_injector = nil if @queue
        end
      end
    end

    private

    def check(cond, message)
      raise Failure, message unless cond
    end

    def set_handler(name, spec) = @client.register_handler(name, ScriptedHandler.new(spec, @executions, @client, @seen))

    def task(name) = @aliases.fetch(name) { raise Failure, "unknown task alias #{name}" }

    def step_id(task_alias, step)
      @client.task_view(task(task_alias)).step_id(step)
    end

    def op_create(op)
      context = (op["context"] || {}).merge("conformance_run" => RUN_ID)
      context["blob"] = "x" * op["context_blob_bytes"] if op["context_blob_bytes"]
      request = { name: @doc["template"]["name"], namespace: @doc["template"]["namespace_name"], context: context }
      request[:bypass_steps] = op["bypass_steps"] if op["bypass_steps"]
      request[:delay_ms] = op["delay_ms"] if op["delay_ms"]
      begin
        ref = @client.create_task(**request)
      rescue Tasker::Error => e
        raise Failure, "create failed: #{e.name}: #{e.message}" unless op["expect_error"]
        check(e.name == op["expect_error"], "expected error #{op['expect_error']}, got #{e.name} (#{e.message})")
        return
      end
      check(!op["expect_error"], "expected error #{op['expect_error']}, but the task was created")
      if op.key?("expect_created")
        check(ref.created? == op["expect_created"], "created=#{ref.created?}, expected #{op['expect_created']}")
      end
      check(ref.task_id == task(op["same_as"]), "task #{ref.task_id} is not #{op['same_as']}") if op["same_as"]
      @aliases[op["as"]] = ref.task_id
    end

    def op_create_many(op)
      op["count"].times do |i|
        context = (op["context"] || {}).merge("n" => i, "i" => i, "conformance_run" => RUN_ID)
        ref = @client.create_task(@doc["template"]["name"], namespace: @doc["template"]["namespace_name"],
                                                            context: context)
        @aliases["#{op['prefix']}#{i}"] = ref.task_id
      end
    end

    def op_run(op) = @client.run_task(task(op["task"]))

    def op_workers(op)
      worker = Tasker::Worker.new(@client, threads: op["threads"]).start
      ids = Array.new(op["count"]) { |i| task("#{op['tasks_prefix']}#{i}") }
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 120
      begin
        loop do
          ids.reject! { |id| %w[complete error cancelled].include?(@client.execution_context(id)["task_state"]) }
          break if ids.empty?
          raise Failure, "#{ids.size} tasks unfinished after 120 s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

          sleep 0.02
        end
      ensure
        worker.close
      end
    end

    def op_set_queue(_op)
      @queue = RecordingQueue.new
      @client.queue_injector = @queue
    end

    def op_clear_queue(_op) = (@client.queue_injector = nil)

    def op_drain_queue(_op)
      handled = 0
      until @queue.fifo.empty?
        raise Failure, "drain_queue: more than 10000 entries" if (handled += 1) > 10_000

        kind, id, delay = @queue.fifo.pop
        sleep([delay, 20].min / 1000.0) if delay.positive?
        if kind == :step
          @outcomes[@client.handle_step(id)["outcome"]] += 1
        else
          @client.handle_task(id)
        end
      end
    end

    def op_expect_queue(op)
      check(@outcomes["completed"] == op["completed"], "completed outcomes #{@outcomes['completed']}, " \
                                                       "expected #{op['completed']} (#{@outcomes})")
    end

    def op_resolve_step(op) = @client.resolve_step(step_id(op["task"], op["step"]), op["results"] || {})
    def op_retry_step(op) = @client.retry_step(step_id(op["task"], op["step"]))
    def op_set_handler(op) = set_handler(op["name"], op["handler"])

    def op_cancel(op)
      changed = @client.cancel_task(task(op["task"]))
      return unless op.key?("expect_changed")

      check(changed == op["expect_changed"], "cancel changed=#{changed}, expected #{op['expect_changed']}")
    end

    def op_expect_task(op)
      view = @client.task_view(task(op["task"]))
      label = "task #{op['task']}"
      check(view.state == op["state"], "#{label}: state #{view.state}, expected #{op['state']}") if op["state"]
      if op["execution_status"]
        status = view.execution["execution_status"]
        check(status == op["execution_status"], "#{label}: execution_status #{status}, expected #{op['execution_status']}")
      end
      (op["steps"] || {}).each do |name, want|
        step = view.step(name)
        check(step, "#{label}: no step #{name}")
        check_step(label, name, step, want)
      end
      present = view.steps.map { |s| s["name"] }
      (op["absent_steps"] || []).each do |name|
        check(!present.include?(name), "#{label}: step #{name} exists, expected absent")
      end
    end

    def check_step(label, name, step, want)
      where = "#{label} step #{name}"
      %w[state attempts checkpoint].each do |key|
        next unless want.key?(key)

        check(step[key] == want[key], "#{where}: #{key} #{step[key].inspect}, expected #{want[key].inspect}")
      end
      results = step["results"].is_a?(Hash) ? step["results"] : {}
      (want["results"] || {}).each do |key, value|
        check(results[key] == value, "#{where}: results[#{key}] #{results[key].inspect}, expected #{value.inspect}")
      end
      error = results["error"].is_a?(Hash) ? results["error"] : {}
      { "error_class" => "class", "error_message" => "message" }.each do |key, field|
        next unless want.key?(key)

        check(error[field] == want[key], "#{where}: #{key} #{error[field].inspect}, expected #{want[key].inspect}")
      end
      return unless want.key?("backoff_ms")

      backoffs = step["transitions"].select { |t| t["to_state"] == "error" }.map { |t| t.dig("metadata", "backoff_ms") }
      check(backoffs == want["backoff_ms"], "#{where}: backoff_ms #{backoffs.inspect}, expected #{want['backoff_ms'].inspect}")
    end

    def op_expect_all(op)
      op["count"].times do |i|
        name = "#{op['prefix']}#{i}"
        view = @client.task_view(task(name))
        check(view.state == op["state"], "task #{name}: state #{view.state}, expected #{op['state']}")
        next unless op["each_step_once"]

        view.steps.each do |s|
          n = @executions[s["step_id"]]
          check(n == 1, "task #{name} step #{s['name']} (#{s['step_id']}) ran #{n} times")
        end
      end
    end

    def op_expect_seen(op)
      got = @seen[op["step"]]
      check(got == op["seen"], "step #{op['step']} saw #{got.inspect}, expected #{op['seen'].inspect}")
    end

    def op_expect_events(op)
      id = task(op["task"])
      names = @events_lock.synchronize { @events.select { |t, _| t == id }.map(&:last) }
      check(names == op["names"], "events #{names.inspect}, expected #{op['names'].inspect}")
    end

    def method_missing(name, *args)
      return super unless name.to_s.start_with?("op_")

      raise Failure, "unknown op #{name.to_s.delete_prefix('op_')}"
    end

    def respond_to_missing?(name, include_private = false) = name.to_s.start_with?("op_") || super
  end

  def self.main(argv)
    backend = argv.shift or abort "usage: runner.rb sqlite|postgres [URL] [FILTER]"
    url = backend == "postgres" ? (argv.shift or abort "postgres needs a database URL") : nil
    filter = argv.shift
    passed = failed = 0
    # Not Dir.mktmpdir's block form: its cleanup raises when an SQLite -wal/-shm file vanishes
    # mid-delete (a client closed by the GC at that moment); rm_rf tolerates that.
    dir = Dir.mktmpdir("tasker-rb-conformance")
    begin
      Dir[File.join(SCENARIOS, "*.json")].sort.each do |file|
        doc = JSON.parse(File.read(file, encoding: "UTF-8"))
        name = doc["name"] || File.basename(file, ".json")
        next if filter && !name.include?(filter)

        scenario_url = url || "sqlite://#{File.join(dir, "#{name}.db")}"
        started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        begin
          Scenario.new(doc, scenario_url).run
          passed += 1
          ms = ((Process.clock_gettime(Process::CLOCK_MONOTONIC) - started) * 1000).round
          puts "PASS #{backend} #{name} (#{ms} ms)"
        rescue Failure, Tasker::Error, StandardError => e
          failed += 1
          puts "FAIL #{backend} #{name}: #{e.class == Failure ? '' : "#{e.class}: "}#{e.message}"
        end
        $stdout.flush
      end
    ensure
      FileUtils.rm_rf(dir)
    end
    puts "ruby-conformance-#{backend}: #{passed} passed, #{failed} failed"
    failed.zero? && passed.positive?
  end
end

exit(Conformance.main(ARGV.dup) ? 0 : 1) if $PROGRAM_NAME == __FILE__
