# frozen_string_literal: true

module Tasker
  # Host-queue hooks (Client#queue_injector=). libtasker calls #enqueue_step(step_id, delay) when
  # a step becomes ready or a retry is due, and #enqueue_task(task_id, delay) when a task must be
  # looked at again; `delay` is in seconds (Float). Your job then calls client.handle_step(id) /
  # client.handle_task(id). Calls happen after commit, on the thread that called into libtasker.
  # Any object with these two methods works; this class wraps two callables:
  #
  #   client.queue_injector = Tasker::QueueInjector.new(
  #     enqueue_step: ->(id, delay) { StepJob.perform_in(delay, id) },
  #     enqueue_task: ->(id, delay) { TaskJob.perform_in(delay, id) })
  #
  # A hook that raises makes the enqueue fail; the work stays ready in the database.
  class QueueInjector
    def initialize(enqueue_task:, enqueue_step:)
      @enqueue_task = enqueue_task
      @enqueue_step = enqueue_step
    end

    def enqueue_task(task_id, delay) = @enqueue_task.call(task_id, delay)
    def enqueue_step(step_id, delay) = @enqueue_step.call(step_id, delay)
  end
end
