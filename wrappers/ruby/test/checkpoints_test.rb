# frozen_string_literal: true

require_relative "test_helper"

# Step checkpoints: a retry resumes from the last checkpoint; refused checkpoints; only while
# the handler runs.
class CheckpointsTest < Minitest::Test
  include TaskerTestHelper

  def run_single(name, context, &block)
    client = new_client
    client.load_template(single_step_template(name, default_retry_limit: 3))
    client.register_handler(name, &block)
    task = client.create_task(name, namespace: "test", context: context)
    client.run_task(task)
    client.task_view(task)
  end

  def test_a_retry_resumes_from_the_last_checkpoint
    seen = []
    view = run_single("ckpt", { "items" => [1, 2, 3, 4] }) do |ctx|
      cp = ctx.last_checkpoint || { "cursor" => 0, "sum" => 0 }
      done = []
      sum = cp["sum"]
      items = ctx.context["items"]
      (cp["cursor"]...items.size).each do |i|
        if ctx.attempt == 1 && i == 2
          seen << [ctx.attempt, ctx.last_checkpoint, done]
          raise Tasker::RetryableError, "failed midway"
        end
        sum += items[i]
        done << i
        ctx.checkpoint({ "cursor" => i + 1, "sum" => sum })
      end
      seen << [ctx.attempt, ctx.last_checkpoint, done]
      { "sum" => sum }
    end
    assert_equal [[1, nil, [0, 1]], [2, { "cursor" => 2, "sum" => 3 }, [2, 3]]], seen
    assert_equal({ "sum" => 10 }, view.step("s")["results"])
    assert_equal({ "cursor" => 4, "sum" => 10 }, view.step("s")["checkpoint"])
  end

  def test_refused_checkpoints_and_outside_the_handler
    kept = nil
    refused = []
    view = run_single("ckpt_limits", {}) do |ctx|
      kept = ctx
      ctx.checkpoint({ "cursor" => 1 })
      ["x" * (64 * 1024), { "k" => "nul\0" }].each do |bad|
        ctx.checkpoint(bad)
      rescue Tasker::Error => e
        refused << e.class
      end
      {}
    end
    assert_equal [Tasker::PayloadTooLargeError, Tasker::InvalidArgumentError], refused
    assert_equal({ "cursor" => 1 }, view.step("s")["checkpoint"])
    assert_raises(Tasker::InvalidStateError) { kept.checkpoint({ "cursor" => 2 }) }
  end
end
