# frozen_string_literal: true

require_relative "test_helper"

# A step template's rate limit is part of the template document: registered through the
# wrapper, applied by the engine, and refused with the engine's message when invalid
# (docs/FLOW_CONTROL.md).
class RateLimitsTest < Minitest::Test
  include TaskerTestHelper

  def test_a_rate_limited_step_runs
    client = new_client("rates")
    client.register_handler("call") { |ctx| { "customer" => ctx.context["customer"] } }
    rate = { "limit" => 5, "per_ms" => 1000, "key" => "/customer" }
    client.load_template(single_step_template("rated", handler: "call", rate_limit: rate))
    task = client.create_task("rated", namespace: "test", context: { customer: "c-1" })
    assert_equal "complete", client.run_task(task)["task_state"]
  end

  def test_an_invalid_rate_is_refused
    client = new_client("rates")
    e = assert_raises(Tasker::InvalidTemplateError) do
      client.load_template(single_step_template("rated", rate_limit: { "limit" => 5, "per_ms" => 0 }))
    end
    assert_includes e.message, "rate_limit.per_ms must be within"
  end
end
