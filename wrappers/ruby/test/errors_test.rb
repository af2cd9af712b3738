# frozen_string_literal: true

require_relative "test_helper"

class ErrorsTest < Minitest::Test
  include TaskerTestHelper

  def assert_tasker_error(klass, code, name, pattern)
    e = assert_raises(klass) { yield }
    assert_kind_of Tasker::Error, e
    assert_equal code, e.code
    assert_equal name, e.name
    assert_match pattern, e.message
    e
  end

  def test_unknown_option_is_invalid_argument
    assert_tasker_error(Tasker::InvalidArgumentError, 2, "invalid_argument", /nope/) do
      Tasker::Client.new(db_url, nope: 1)
    end
  end

  def test_bad_url
    e = assert_raises(Tasker::Error) { Tasker::Client.new("mysql://localhost/x") }
    assert_includes [2, 14], e.code
    refute_empty e.message
  end

  def test_passwords_are_masked
    ["Postgres://u:s3cret@h/db", " postgres://u:s3cret@h/db", "mysql://u:s3cret@h"].each do |url|
      e = assert_raises(Tasker::ConfigError) { Tasker::Client.new(url) }
      refute_includes e.message, "s3cret"
      assert_includes e.message, "u:***@h"
    end
    assert_equal "postgres://u:***@host/db?password=***&a=1",
                 Tasker::Client.redact_url("postgres://u:p@ss@host/db?password=x&a=1")
    client = new_client
    client.instance_variable_set(:@url, "postgres://u:s3cret@host/db") # as a PostgreSQL client holds it
    refute_includes client.inspect, "s3cret"
    assert_includes client.inspect, "u:***@host"
  end

  def test_template_errors
    client = new_client
    assert_tasker_error(Tasker::InvalidTemplateError, 3, "invalid_template", /wat/) do
      client.load_template("name: t\nwat: 1\nstep_templates: []\n")
    end
    assert_tasker_error(Tasker::InvalidTemplateError, 3, "invalid_template", /missing/) do
      client.load_template({ "name" => "t", "step_templates" => [{ "name" => "a", "handler" => "a",
                                                                   "depends_on_step" => "missing" }] })
    end
    e = assert_tasker_error(Tasker::TemplateCycleError, 4, "template_cycle", /->/) do
      client.load_template({ "name" => "cyc", "step_templates" => [
                             { "name" => "a", "handler" => "h", "depends_on_step" => "b" },
                             { "name" => "b", "handler" => "h", "depends_on_step" => "a" }
                           ] })
    end
    assert_kind_of Tasker::InvalidTemplateError, e
    assert_raises(ArgumentError) { client.load_template(42) }
    assert_tasker_error(Tasker::InvalidTemplateError, 3, "invalid_template", /missing\.yaml/) do
      client.load_template(File.join(@tmpdir, "missing.yaml"))
    end
  end

  def test_task_creation_errors
    client = new_client
    client.load_template({ "name" => "schema", "namespace_name" => "test",
                           "schema" => { "type" => "object", "required" => ["order_id"],
                                         "properties" => { "order_id" => { "type" => "string" } } },
                           "step_templates" => [{ "name" => "a", "handler" => "a" }] })
    assert_tasker_error(Tasker::UnknownTemplateError, 5, "unknown_template", /nothing/) do
      client.create_task("nothing", namespace: "test", context: {})
    end
    assert_tasker_error(Tasker::SchemaValidationError, 7, "schema_validation", /order_id/) do
      client.create_task("schema", namespace: "test", context: { "order_id" => 5 })
    end
    assert_tasker_error(Tasker::InvalidRequestError, 6, "invalid_request", /a/) do
      client.create_task("schema", namespace: "test", context: { "order_id" => "x" }, bypass_steps: ["a"])
    end
    assert_tasker_error(Tasker::InvalidArgumentError, 2, "invalid_argument", /./) do
      client.create_task("schema", namespace: "test", context: { 1 => "integer keys are not allowed" })
    end
    assert_raises(ArgumentError) { client.create_task(context: {}) }
  end

  def test_payload_too_large
    client = new_client("small", max_payload_bytes: 1024)
    client.load_template(single_step_template("big"))
    assert_tasker_error(Tasker::PayloadTooLargeError, 8, "payload_too_large", /./) do
      client.create_task("big", namespace: "test", context: { "blob" => "x" * 4096 })
    end
  end

  def test_not_found_and_illegal_transition
    client = new_client
    assert_tasker_error(Tasker::TaskNotFoundError, 10, "task_not_found", /424242/) { client.task_view(424_242) }
    assert_tasker_error(Tasker::TaskNotFoundError, 10, "task_not_found", /./) { client.run_task(424_242) }
    assert_tasker_error(Tasker::StepNotFoundError, 11, "step_not_found", /./) { client.retry_step(424_242) }
    assert_tasker_error(Tasker::StepNotFoundError, 11, "step_not_found", /./) { client.handle_step(424_242) }
    assert_kind_of Tasker::NotFoundError, Tasker::StepNotFoundError.new("x")

    client.load_template(single_step_template("done"))
    client.register_handler("done") { |_| 1 }
    task = client.create_task("done", namespace: "test", context: {})
    client.run_task(task)
    assert_tasker_error(Tasker::IllegalTransitionError, 12, "illegal_transition", /./) { client.cancel_task(task) }
    step = client.task_view(task).step_id("s")
    assert_tasker_error(Tasker::IllegalTransitionError, 12, "illegal_transition", /./) { client.retry_step(step) }
  end

  def test_result_names_and_error_construction
    assert_equal "ok", Tasker.result_name(0)
    assert_equal "stale_claim", Tasker.result_name(13)
    e = Tasker::DatabaseError.new("db down")
    assert_equal 15, e.code
    assert_equal "database", e.name
    assert_equal "db down", e.message
    assert_equal Tasker::CODES.size, 19
    assert_equal Tasker::InterruptedError, Tasker::CODES[19]
    assert_equal "interrupted", Tasker.result_name(19)
  end

  def test_step_failure_errors
    r = Tasker::RetryableError.new("busy", retry_after: 1.5, error_class: "GatewayBusy", details: { "code" => 429 })
    assert r.retryable?
    assert_equal 1.5, r.retry_after
    assert_equal "GatewayBusy", r.error_class
    p = Tasker::PermanentError.new("declined")
    refute p.retryable?
    assert_equal "Tasker::PermanentError", p.error_class
    custom = Class.new(Tasker::PermanentError)
    assert_equal "Tasker::PermanentError", custom.new("x").error_class # anonymous: nearest named ancestor
  end
end
