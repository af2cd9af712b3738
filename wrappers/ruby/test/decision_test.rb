# frozen_string_literal: true

require_relative "test_helper"

# Decision steps from Ruby: Tasker.activate chooses the steps a decision creates.
class DecisionTest < Minitest::Test
  include TaskerTestHelper

  ROUTE = <<~YAML
    name: route
    namespace_name: test
    version: 1.0.0
    step_templates:
      - {name: route, handler: route, type: decision, candidates: [fast, slow]}
      - {name: fast, handler: leaf, depends_on_step: route}
      - {name: slow, handler: leaf, depends_on_step: route}
      - {name: done, handler: leaf, type: convergence, depends_on_steps: [fast, slow]}
  YAML

  def route_client(&route)
    client = new_client
    client.load_template(ROUTE)
    client.register_handler("route", &route)
    client.register_handler("leaf") { |ctx| { "parents" => ctx.dependency_results.keys.sort } }
    client
  end

  def test_activate_creates_only_the_chosen_steps
    client = route_client { |ctx| Tasker.activate(*ctx.context["choose"], why: "test") }
    task = client.create_task("route", { "choose" => ["slow"] }, namespace: "test")
    client.run_task(task)
    view = client.task_view(task)
    assert_equal "complete", view.state
    assert_equal %w[done route slow], view.steps.map { |s| s["name"] }.sort
    assert_equal({ "why" => "test", "activate" => ["slow"] }, view.step("route")["results"])
    assert_equal({ "parents" => %w[route slow] }, view.step("done")["results"])
  end

  def test_a_choice_outside_the_candidates_fails_permanently
    client = route_client { |_ctx| Tasker.activate("done") }
    task = client.create_task("route", {}, namespace: "test")
    client.run_task(task)
    view = client.task_view(task)
    assert_equal "error", view.state
    assert_equal 1, view.step("route")["attempts"]
    assert_equal "InvalidDecision", view.step("route")["results"]["error"]["class"]
  end
end
