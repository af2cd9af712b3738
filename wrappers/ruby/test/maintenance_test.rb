# frozen_string_literal: true

require_relative "test_helper"

# The maintenance calls a process without workers makes itself: #enforce_deadlines,
# #apply_retention, and #purge_tasks with a template filter.
class MaintenanceTest < Minitest::Test
  include TaskerTestHelper

  def now_ms = (Time.now.to_r * 1000).to_i

  def test_enforce_deadlines_fails_a_task_past_its_deadline
    client = new_client
    client.load_template(single_step_template("deadline_due"))
    task = client.create_task("deadline_due", namespace: "test", context: {}, deadline_ms: 1)
    sleep 0.02 # past the 1 ms deadline; nothing runs the task meanwhile
    assert_equal 1, client.enforce_deadlines
    view = client.task_view(task)
    assert_equal "error", view.state
    assert_equal "Deadline", view.transitions.last["metadata"]["error_class"]
    assert_equal 0, client.enforce_deadlines
  end

  def test_apply_retention_purges_old_complete_tasks
    client = new_client("retention", retention: { complete_ms: 1 })
    client.load_template(single_step_template("kept_briefly"))
    client.register_handler("kept_briefly") { |_ctx| { "done" => true } }
    task = client.create_task("kept_briefly", namespace: "test", context: {})
    client.run_task(task)
    sleep 0.02 # older than complete_ms
    assert_equal 1, client.apply_retention
    assert_raises(Tasker::TaskNotFoundError) { client.task_view(task) }
  end

  def test_purge_tasks_of_one_template
    client = new_client
    ids = %w[purged spared].to_h do |name|
      client.load_template(single_step_template(name))
      client.register_handler(name) { |_ctx| { "done" => true } }
      task = client.create_task(name, namespace: "test", context: {})
      client.run_task(task)
      [name, task.task_id]
    end
    later = now_ms + 60_000
    dry = client.purge_tasks(later, template: "purged", namespace: "test", dry_run: true)
    assert_equal({ "dry_run" => true, "tasks" => 1, "steps" => 1, "batches" => 1 }, dry)
    assert_equal 0, client.purge_tasks(later, template: "purged", version: "9.9.9")["tasks"]
    assert_equal 1, client.purge_tasks(later, template: "purged")["tasks"]
    assert_equal "complete", client.task_view(ids["spared"]).state
    err = assert_raises(Tasker::InvalidArgumentError) { client.purge_tasks(later, batch_size: 0) }
    assert_includes err.message, "batch_size"
  end
end
