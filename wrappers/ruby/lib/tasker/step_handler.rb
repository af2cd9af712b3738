# frozen_string_literal: true

module Tasker
  # Base class for step handlers:
  #
  #   class ChargeCard < Tasker::StepHandler
  #     def process(context)
  #       total = context.dependency_result("validate_order")["total_cents"]
  #       raise Tasker::RetryableError.new("gateway busy", retry_after: 2) if gateway.busy?
  #       { "charged_cents" => total }               # the output
  #     end
  #
  #     # optional: turn the output into the results that are persisted
  #     def process_results(context, output)
  #       output.merge("receipt" => "R-#{context.task_id}")
  #     end
  #   end
  #
  # One instance serves every thread that runs steps, so keep it free of per-call state.
  # Raise Tasker::RetryableError / Tasker::PermanentError to fail on purpose; any other exception
  # is a retryable failed attempt recorded with the exception's class name and message.
  class StepHandler
    def process(_context)
      raise NotImplementedError, "#{self.class} must implement process(context)"
    end

    def process_results(_context, output) = output

    # True when the handler's class overrides #process_results (only then is the hook installed).
    def self.process_results?(handler)
      return false unless handler.respond_to?(:process_results)
      return true unless handler.is_a?(StepHandler)

      handler.method(:process_results).owner != StepHandler
    end
  end

  # A handler made from a block: `client.register_handler("name") { |context| output }`.
  class BlockHandler < StepHandler
    def initialize(block)
      super()
      @block = block
    end

    def process(context) = @block.call(context)
  end
end
