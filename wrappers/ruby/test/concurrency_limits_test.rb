# frozen_string_literal: true

require_relative "test_helper"

# A step template's concurrency limit is part of the template document: registered through the
# wrapper, enforced by the engine, and refused with the engine's message when invalid
# (docs/FLOW_CONTROL.md).
class ConcurrencyLimitsTest < Minitest::Test
  include TaskerTestHelper

  def test_a_limited_step_runs
    client = new_client("limits")
    client.register_handler("call") { |ctx| { "customer" => ctx.context["customer"] } }
    client.load_template(single_step_template("limited", handler: "call",
                                                         concurrency: { "limit" => 2, "key" => "/customer" }))
    task = client.create_task("limited", namespace: "test", context: { customer: "c-1" })
    assert_equal "complete", client.run_task(task)["task_state"]
  end

  def test_an_invalid_limit_is_refused
    client = new_client("limits")
    e = assert_raises(Tasker::InvalidTemplateError) do
      client.load_template(single_step_template("limited", concurrency: { "limit" => 0 }))
    end
    assert_includes e.message, "concurrency.limit must be within 1..=100000"
  end
end
