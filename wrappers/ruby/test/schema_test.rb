# frozen_string_literal: true

require_relative "test_helper"
require "json"
require "minitest/mock"

# The documents this gem reads and builds against docs/schema/documents.schema.json, the schema
# generated from libtasker's serde types (`make schema`): a field renamed on either side fails.
class SchemaTest < Minitest::Test
  include TaskerTestHelper

  SCHEMA = JSON.parse(File.read(File.expand_path("../../../docs/schema/documents.schema.json", __dir__)))

  def variants(name) = SCHEMA.fetch("$defs").fetch(name).then { |d| d["oneOf"] || [d] }

  # The keys a document may have (for a tagged union: those of any variant).
  def properties(name) = variants(name).flat_map { |v| (v["properties"] || {}).keys }.uniq.sort

  # A document whose every value names its own key, so a reader of the wrong key is caught.
  def sample(name) = properties(name).to_h { |k| [k, "<#{name}.#{k}>"] }

  def test_event_members_are_the_event_document
    assert_equal properties("Event"), Tasker::Event.members.map(&:to_s).sort
    event = Tasker::Event.from_h(sample("Event"))
    Tasker::Event.members.each { |m| assert_equal "<Event.#{m}>", event[m], m }
  end

  def test_step_context_reads_schema_fields
    doc = sample("StepContext").merge("task" => sample("TaskInfo"), "step" => sample("StepInfo"),
                                      "dependency_results" => { "up" => "<up>" })
    ctx = Tasker::StepContext.new(doc)
    # Each reader and the document field it returns (docs/ABI.md "Names").
    {
      context: "<TaskInfo.context>", task_id: "<TaskInfo.task_id>", step_id: "<StepInfo.step_id>",
      step_name: "<StepInfo.name>", handler_name: "<StepInfo.handler>", attempt: "<StepInfo.attempt>",
      retry_limit: "<StepInfo.retry_limit>", inputs: "<StepInfo.inputs>",
      handler_config: "<StepInfo.handler_config>", claim_token: "<StepContext.claim_token>",
      last_checkpoint: "<StepContext.checkpoint>",
      dependency_results: { "up" => "<up>" }
    }.each { |reader, expected| assert_equal expected, ctx.public_send(reader), reader }
    assert_equal "<up>", ctx.dependency_result("up")
  end

  def test_task_view_reads_schema_fields
    view = Tasker::TaskView.new(sample("TaskView"))
    %i[task_id name namespace version state context steps transitions execution].each do |reader|
      assert_equal "<TaskView.#{reader}>", view.public_send(reader), reader
    end
  end

  # Every field of Tasker::StepError reaches the failure document (tasker_step_call_fail's
  # arguments are the fields of the handler failure, "StepError" in the schema).
  def test_step_error_carries_every_failure_field
    readers = { "message" => :message, "class" => :error_class, "retryable" => :retryable?,
                "retry_after" => :retry_after, "details" => :details }
    assert_equal properties("StepError"), readers.keys.sort
    error = Tasker::RetryableError.new("m", error_class: "C", details: { "d" => 1 }, retry_after: 1.5)
    assert_equal ["m", "C", true, 1.5, { "d" => 1 }], readers.values.map { |r| error.public_send(r) }
  end

  # The query documents (docs/ABI.md "Task wait", "Task filter and page", "Step filter and page").
  def test_query_types_are_the_query_documents
    { Tasker::TaskWait => "TaskWait", Tasker::TaskSummary => "TaskSummary", Tasker::StepSummary => "StepSummary",
      Tasker::Page => "TaskSummaryPage" }.each do |type, name|
      assert_equal properties(name), type.members.map(&:to_s).sort, name
    end
    assert_equal properties("StepSummaryPage"), Tasker::Page.members.map(&:to_s).sort
    assert_equal properties("TaskFilter"), Tasker::Query::TASK_FILTER.map(&:to_s).sort
    assert_equal properties("StepFilter"), Tasker::Query::STEP_FILTER.map(&:to_s).sort
    [Tasker::TaskSummary, Tasker::StepSummary].each do |type|
      name = type.name.split("::").last
      summary = type.from_h(sample(name))
      type.members.each { |m| assert_equal "<#{name}.#{m}>", summary[m], m }
    end
    wait = Tasker::TaskWait.from_h({ "timed_out" => true, "task" => sample("TaskView") })
    assert_equal [true, "<TaskView.state>"], [wait.timed_out?, wait.task.state]
  end

  class Captured < StandardError; end

  def test_create_task_builds_a_task_request
    client = new_client
    built = nil
    capture = lambda do |value|
      built = value
      raise Captured # stop before the request reaches libtasker
    end
    Tasker::Codec.stub(:encode, capture) do
      assert_raises(Captured) do
        client.create_task("t", { "k" => 1 }, namespace: "n", version: "1.0.0", initiator: "i",
                                              source_system: "s", reason: "r", tags: [], bypass_steps: [],
                                              step_inputs: {}, run_at: 1, delay_ms: nil,
                                              step_timeouts: {}, priority: 5, deadline_ms: 60_000)
      end
    end
    assert_equal properties("TaskRequest"), built.keys.map(&:to_s).sort
    assert_equal({ "k" => 1 }, built[:context])
  end
end
