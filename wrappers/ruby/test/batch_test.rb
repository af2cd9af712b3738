# frozen_string_literal: true

require_relative "test_helper"

# Batch fan-out from Ruby: Tasker.batches / Tasker.no_batches split the work,
# Tasker.batch_results reads the convergence step's batches (succeeded and tolerated failures).
class BatchTest < Minitest::Test
  include TaskerTestHelper

  FANOUT = <<~YAML
    name: fanout
    namespace_name: test
    version: 1.0.0
    step_templates:
      - {name: split, handler: split, type: batchable, batch: {worker: work, max_batches: 10, failure: continue_on_failure}}
      - {name: work, handler: work, type: batch_worker, depends_on_step: split}
      - {name: report, handler: report, type: convergence, depends_on_steps: [work]}
  YAML

  def test_helpers_build_the_output
    assert_equal({ "total" => 10, "batches" => [{ "start" => 0 }] }, Tasker.batches([{ "start" => 0 }], total: 10))
    assert_equal({ "batches" => [] }, Tasker.no_batches)
    ok, failed = Tasker.batch_results({
                                        "split" => { "n" => 2 },
                                        "work_002" => { "error" => { "class" => "Bad" }, "tolerated" => true },
                                        "work_001" => { "sum" => 1 },
                                        "workers_001" => { "sum" => 9 }
                                      }, "work")
    assert_equal({ "work_001" => { "sum" => 1 } }, ok)
    assert_equal({ "work_002" => { "class" => "Bad" } }, failed)
  end

  def test_a_fanout_reports_its_failed_batch
    client = new_client
    client.load_template(FANOUT)
    client.register_handler("split") { |ctx| Tasker.batches((0...ctx.context["n"]).map { |k| { "k" => k } }) }
    client.register_handler("work") do |ctx|
      raise Tasker::PermanentError.new("bad batch", error_class: "BadBatch") if ctx.inputs["k"] == 1

      { "k" => ctx.inputs["k"] }
    end
    client.register_handler("report") do |ctx|
      ok, failed = Tasker.batch_results(ctx.dependency_results, "work")
      { "ok" => ok.keys, "failed" => failed.transform_values { |e| e["class"] } }
    end
    task = client.create_task("fanout", { "n" => 3 }, namespace: "test")
    client.run_task(task)
    view = client.task_view(task)
    assert_equal "complete", view.state
    assert_equal "error", view.step("work_002")["state"]
    assert_equal({ "ok" => %w[work_001 work_003], "failed" => { "work_002" => "BadBatch" } },
                 view.step("report")["results"])

    client.register_handler("split") { |_ctx| Tasker.no_batches }
    none = client.create_task("fanout", { "n" => 0 }, namespace: "test")
    client.run_task(none)
    assert_equal({ "ok" => [], "failed" => {} }, client.task_view(none).step("report")["results"])
  end
end
