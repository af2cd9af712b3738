# frozen_string_literal: true

# Host-queue mode with Sidekiq-style jobs, without Sidekiq: libtasker tells the application what
# to run next (enqueue_step / enqueue_task with a delay), the application's job system runs a job
# that calls client.handle_step(id) / client.handle_task(id). MiniSidekiq below mimics the parts of
# Sidekiq this needs (include Job, perform_async, perform_in, a pool of processor threads); in a
# Rails app the two job classes and the injector are all you write, with real Sidekiq.
#
#   ruby examples/sidekiq_style.rb [TASKS]      (TASKER_DATABASE_URL or a temporary SQLite file)

$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "tasker"
require "tmpdir"

module MiniSidekiq
  # A scheduled set: jobs ordered by due time, popped by processor threads when due.
  class ScheduledQueue
    def initialize
      @jobs = []
      @lock = Mutex.new
      @ready = ConditionVariable.new
      @closed = false
    end

    def push(at, klass, args)
      @lock.synchronize do
        @jobs << [at, klass, args]
        @jobs.sort_by!(&:first)
        @ready.broadcast
      end
    end

    # The next due job, or nil once the queue is shut down.
    def pop
      @lock.synchronize do
        loop do
          return nil if @closed

          now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
          return @jobs.shift.drop(1) if @jobs.any? && @jobs.first.first <= now

          @ready.wait(@lock, @jobs.any? ? @jobs.first.first - now : nil)
        end
      end
    end

    def shutdown = @lock.synchronize { (@closed = true) && @ready.broadcast }
  end

  QUEUE = ScheduledQueue.new

  # `include MiniSidekiq::Job` gives a class Sidekiq's perform_async / perform_in.
  module Job
    def self.included(base) = base.extend(ClassMethods)

    module ClassMethods
      def perform_async(*args) = perform_in(0, *args)

      def perform_in(seconds, *args)
        QUEUE.push(Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds.to_f, self, args)
      end
    end
  end

  # Processor threads: pop due jobs and run `new.perform(*args)`, like Sidekiq's processors.
  def self.run(concurrency)
    Array.new(concurrency) do |i|
      Thread.new do
        Thread.current.name = "mini-sidekiq-#{i}"
        while (job = QUEUE.pop)
          klass, args = job
          begin
            klass.new.perform(*args)
          rescue StandardError => e
            warn "job #{klass}#{args.inspect} failed: #{e.class}: #{e.message}" # Sidekiq would retry it
          end
        end
      end
    end
  end
end

# --- the application's side -------------------------------------------------------------------

module App
  class << self
    attr_accessor :tasker # one Tasker::Client per process, shared by every job thread
  end
end

# The two jobs libtasker's hooks enqueue.
class TaskerStepJob
  include MiniSidekiq::Job
  def perform(step_id) = App.tasker.handle_step(step_id)
end

class TaskerTaskJob
  include MiniSidekiq::Job
  def perform(task_id) = App.tasker.handle_task(task_id)
end

class Reserve < Tasker::StepHandler
  def process(ctx) = { "reserved" => ctx.context["qty"] }
end

class Charge < Tasker::StepHandler
  def process(ctx)
    # the first attempt asks to be retried in 0.2 s: libtasker enqueues the step again with that delay
    raise Tasker::RetryableError.new("gateway busy", retry_after: 0.2, error_class: "GatewayBusy") if ctx.attempt == 1

    { "charged" => ctx.dependency_result("reserve")["reserved"] * 100 }
  end
end

TEMPLATE = <<~YAML
  name: sidekiq_order
  namespace_name: examples
  version: 1.0.0
  step_templates:
    - {name: reserve, handler: reserve}
    - {name: charge, handler: charge, depends_on_step: reserve}
    - {name: notify, handler: notify, depends_on_step: charge}
YAML

count = Integer(ARGV[0] || 5)
Dir.mktmpdir("tasker-sidekiq") do |dir|
  url = ENV.fetch("TASKER_DATABASE_URL", "sqlite://#{dir}/sidekiq.db")
  Tasker::Client.open(url) do |client|
    App.tasker = client
    client.load_template(TEMPLATE)
    client.register_handler("reserve", Reserve)
    client.register_handler("charge", Charge)
    client.register_handler("notify") { |ctx| { "sent_to" => ctx.context["email"] } }

    # The hooks run on whichever thread called into libtasker (here: the processor threads).
    enqueued = Hash.new(0)
    count_lock = Mutex.new
    client.queue_injector = Tasker::QueueInjector.new(
      enqueue_step: lambda { |id, delay|
        count_lock.synchronize { enqueued[:step] += 1 }
        TaskerStepJob.perform_in(delay, id)
      },
      enqueue_task: lambda { |id, delay|
        count_lock.synchronize { enqueued[:task] += 1 }
        TaskerTaskJob.perform_in(delay, id)
      }
    )

    processors = MiniSidekiq.run(3)
    stamp = Process.clock_gettime(Process::CLOCK_REALTIME, :nanosecond)
    tasks = Array.new(count) do |i|
      client.create_task("sidekiq_order", namespace: "examples",
                                          context: { "order" => "#{stamp}-#{i}", "qty" => i + 1, "email" => "c#{i}@example.com" })
    end
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 60
    until tasks.all? { |t| client.execution_context(t)["task_state"] == "complete" }
      abort "tasks did not complete in 60 s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      sleep 0.05
    end
    MiniSidekiq::QUEUE.shutdown
    processors.each(&:join)
    client.queue_injector = nil

    tasks.each do |t|
      view = client.task_view(t)
      charge = view.step("charge")
      puts format("task %-4d %-9s charge: attempts=%d results=%s", t.task_id, view.state, charge["attempts"],
                  charge["results"].inspect)
    end
    puts "enqueued #{enqueued[:step]} step jobs and #{enqueued[:task]} task jobs; all #{count} tasks complete"
  end
end
