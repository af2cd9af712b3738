# frozen_string_literal: true

require_relative "test_helper"

# A task request's priority reaches the engine (docs/SCHEDULING.md "Priorities"): accepted in
# range, refused outside it with the engine's message.
class PriorityTest < Minitest::Test
  include TaskerTestHelper

  def test_priority_is_validated_by_the_engine
    client = new_client("prio")
    client.load_template(single_step_template("one"))
    assert client.create_task("one", namespace: "test", context: { a: 1 }, priority: 100).created?
    e = assert_raises(Tasker::InvalidRequestError) do
      client.create_task("one", namespace: "test", context: { a: 2 }, priority: 101)
    end
    assert_includes e.message, "priority must be within -100..=100"
  end
end
