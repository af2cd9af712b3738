# frozen_string_literal: true

module Tasker
  # The task view (docs/ABI.md "Task view"): the task, its steps with states, attempts, results
  # and transition history, and the execution context. Values are the decoded document (Hashes
  # with String keys); helpers below cover the common questions.
  class TaskView
    def initialize(doc) = (@doc = doc || {})

    def to_h = @doc
    def [](key) = @doc[key.to_s]
    def task_id = @doc["task_id"]
    def name = @doc["name"]
    def namespace = @doc["namespace"]
    def version = @doc["version"]
    def state = @doc["state"]
    def complete? = @doc["complete"] == true
    def context = @doc["context"]
    def steps = @doc["steps"] || []
    def transitions = @doc["transitions"] || []
    def execution = @doc["execution"] || {}
    def deadline_at = @doc["deadline_at"] # epoch ms when it fails if unfinished; nil for none

    # The step named `name` (a Hash), or nil.
    def step(name) = steps.find { |s| s["name"] == name.to_s }

    # The step id of the step named `name` (raises KeyError when there is none).
    def step_id(name) = (step(name) || raise(KeyError, "no step #{name.inspect} in task #{task_id}"))["step_id"]

    # The error recorded for a failed step: {"message", "class", "permanent", ...} or nil.
    def step_error(name) = step(name)&.dig("results", "error")

    def inspect = "#<Tasker::TaskView task=#{task_id} #{name} state=#{state} steps=#{steps.size}>"
  end

  # What Client#create_task returns: the task id and whether it was newly created (false when an
  # identical request returned the existing task).
  TaskRef = Struct.new(:task_id, :created) do
    alias_method :id, :task_id
    def created? = created
    def to_i = task_id
    def to_int = task_id
  end
end
