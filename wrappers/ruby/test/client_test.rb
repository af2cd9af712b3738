# frozen_string_literal: true

require_relative "test_helper"

class ClientTest < Minitest::Test
  include TaskerTestHelper

  class Square < Tasker::StepHandler
    def process(ctx)
      deps = ctx.dependency_results
      v = deps.empty? ? ctx.context.fetch("n") : deps.values.sum { |r| r["value"] }
      { "value" => v * v }
    end
  end

  def diamond_client
    client = new_client
    client.load_template(DIAMOND)
    %w[a b c d].each { |h| client.register_handler(h, Square) }
    client
  end

  def test_library_version_and_path
    assert_equal "0.1.0", Tasker.library_version
    assert File.exist?(Tasker::Native::LIBRARY_PATH) || Tasker::Native::LIBRARY_PATH == "tasker"
  end

  def test_inline_run_of_a_diamond_passes_dependency_results
    client = diamond_client
    task = client.create_task("diamond", namespace: "test", context: { n: 2 })
    assert task.created?
    execution = client.run_task(task)
    assert_equal "complete", execution["task_state"]
    assert_equal 100.0, execution["completion_percentage"]
    view = client.task_view(task)
    assert view.complete?
    assert_equal({ "a" => 4, "b" => 16, "c" => 16, "d" => 1024 },
                 view.steps.to_h { |s| [s["name"], s.dig("results", "value")] })
    assert_equal %w[b c], view.step("d")["parents"].sort
  end

  def test_step_context_exposes_task_step_and_inputs
    client = new_client
    client.load_template({ "name" => "ctx", "namespace_name" => "test",
                           "step_templates" => [{ "name" => "only", "handler" => "look",
                                                  "handler_config" => { "mode" => "fast" }, "default_retry_limit" => 4 }] })
    seen = nil
    client.register_handler("look") do |ctx|
      seen = { task_id: ctx.task_id, step: ctx.step_name, handler: ctx.handler_name, attempt: ctx.attempt,
               limit: ctx.retry_limit, ctx: ctx.context, inputs: ctx.inputs, config: ctx.handler_config,
               claim: ctx.claim_token, initiator: ctx.task["initiator"], tags: ctx.task["tags"] }
      nil
    end
    task = client.create_task("ctx", namespace: "test", context: { "k" => [1, "é", nil, 2.5, { "x" => true }] },
                                     initiator: "tests", tags: ["vip"], step_inputs: { only: { "strict" => true } })
    client.run_task(task)
    assert_equal task.task_id, seen[:task_id]
    assert_equal "only", seen[:step]
    assert_equal "look", seen[:handler]
    assert_equal 1, seen[:attempt]
    assert_equal 4, seen[:limit]
    assert_equal({ "k" => [1, "é", nil, 2.5, { "x" => true }] }, seen[:ctx])
    assert_equal({ "strict" => true }, seen[:inputs])
    assert_equal({ "mode" => "fast" }, seen[:config])
    assert_kind_of String, seen[:claim]
    assert_equal "tests", seen[:initiator]
    assert_equal ["vip"], seen[:tags]
  end

  def test_load_template_from_file_pathname_yaml_and_hash
    client = new_client
    path = File.join(@tmpdir, "t.yaml")
    File.write(path, DIAMOND.sub("name: diamond", "name: from_file"))
    client.load_template(path)
    client.load_template(Pathname.new(path).sub_ext(".yaml")) # same file via Pathname
    client.load_template(DIAMOND.sub("name: diamond", "name: from_yaml"))
    client.load_template(single_step_template("from_hash"))
    %w[from_file from_yaml from_hash].each do |name|
      assert client.create_task(name, namespace: "test", context: {}).created?, name
    end
  end

  def test_identical_requests_deduplicate
    client = diamond_client
    first = client.create_task("diamond", namespace: "test", context: { n: 2, order: { id: 7, lines: [1, 2] } })
    again = client.create_task("diamond", namespace: "test", context: { order: { lines: [1, 2], id: 7 }, n: 2 })
    other = client.create_task("diamond", namespace: "test", context: { n: 3 })
    assert first.created?
    refute again.created?
    assert_equal first.task_id, again.task_id
    assert other.created?
    refute_equal first.task_id, other.task_id
  end

  def test_reject_duplicates_option_raises_duplicate_task
    client = new_client("dup", reject_duplicates: true)
    client.load_template(single_step_template("one"))
    client.create_task("one", namespace: "test", context: { a: 1 })
    e = assert_raises(Tasker::DuplicateTaskError) { client.create_task("one", namespace: "test", context: { a: 1 }) }
    assert_equal 9, e.code
    assert_equal "duplicate_task", e.name
  end

  def test_process_results_hook_changes_persisted_results
    handler = Class.new(Tasker::StepHandler) do
      def process(ctx) = { "raw" => ctx.attempt }
      def process_results(ctx, output) = { "wrapped" => output, "step" => ctx.step_name }
    end
    client = new_client
    client.load_template(single_step_template("pr", handler: "pr"))
    client.register_handler("pr", handler.new)
    task = client.create_task("pr", namespace: "test", context: {})
    client.run_task(task)
    assert_equal({ "wrapped" => { "raw" => 1 }, "step" => "s" }, client.task_view(task).step("s")["results"])
    assert Tasker::StepHandler.process_results?(handler.new)
    refute Tasker::StepHandler.process_results?(Square.new)
  end

  def test_process_results_exception_is_a_failed_attempt
    handler = Class.new(Tasker::StepHandler) do
      def process(_ctx) = { "ok" => true }
      def process_results(_ctx, _out) = raise(ArgumentError, "bad results")
    end
    client = new_client
    client.load_template(single_step_template("prx", handler: "prx", default_retry_limit: 1))
    client.register_handler("prx", handler)
    task = client.create_task("prx", namespace: "test", context: {})
    client.run_task(task)
    error = client.task_view(task).step_error("s")
    assert_equal "ArgumentError", error["class"]
    assert_equal "bad results", error["message"]
  end

  def test_handler_kinds_class_lambda_and_duck_typed_object
    client = new_client
    client.load_template({ "name" => "kinds", "namespace_name" => "test",
                           "step_templates" => %w[x y z].map { |n| { "name" => n, "handler" => n } } })
    client.register_handler("x", Class.new(Tasker::StepHandler) { def process(_c) = "class" })
    client.register_handler("y", ->(_ctx) { "lambda" })
    duck = Object.new
    def duck.process(_ctx) = "duck"
    client.register_handler("z", duck)
    assert_raises(ArgumentError) { client.register_handler("w", Object.new) }
    task = client.create_task("kinds", namespace: "test", context: {})
    client.run_task(task)
    view = client.task_view(task)
    assert_equal %w[class lambda duck], %w[x y z].map { |n| view.step(n)["results"] }
  end

  def test_unregistered_handler_fails_permanently
    client = new_client
    client.load_template(single_step_template("gone", handler: "gone"))
    client.register_handler("gone") { |_| 1 }
    assert client.unregister_handler("gone")
    refute client.unregister_handler("gone")
    task = client.create_task("gone", namespace: "test", context: {})
    client.run_task(task)
    assert_equal "HandlerNotFound", client.task_view(task).step_error("s")["class"]
  end

  def test_handler_registrations_are_released_with_the_client
    before = Tasker::Callbacks.size
    client = Tasker::Client.new(db_url("release"))
    client.register_handler("one") { |_| 1 }
    client.register_handler("two") { |_| 2 }
    client.register_handler("one") { |_| 3 } # replacing runs the old registration's finalizer
    sub = client.subscribe { |_| nil }
    assert_equal before + 3, Tasker::Callbacks.size
    sub.close
    sub.close
    assert_equal before + 2, Tasker::Callbacks.size
    client.close
    client.close # idempotent
    assert_equal before, Tasker::Callbacks.size
    assert client.closed?
    e = assert_raises(Tasker::ClosedError) { client.health }
    assert_equal "invalid_state", e.name
  end

  def test_open_block_closes_the_client
    kept = nil
    value = Tasker::Client.open(db_url("open")) do |c|
      kept = c
      c.health["total_tasks"]
    end
    assert_equal 0, value
    assert kept.closed?
  end

  def test_health_counts
    client = diamond_client
    client.run_task(client.create_task("diamond", namespace: "test", context: { n: 1 }))
    client.create_task("diamond", namespace: "test", context: { n: 5 })
    health = client.health
    assert_equal 2, health["total_tasks"]
    assert_equal 1, health["complete_tasks"]
    assert_equal 8, health["total_steps"]
    assert_equal 4, health["complete_steps"]
  end

  def test_migrate_is_idempotent
    client = new_client
    assert_same client, client.migrate
  end
end
