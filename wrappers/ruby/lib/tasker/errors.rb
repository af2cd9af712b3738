# frozen_string_literal: true

module Tasker
  # An error returned by libtasker: a stable numeric #code, its #name ("schema_validation", ...)
  # and the library's message. Each result code has its own subclass (see CODES), so callers can
  # `rescue Tasker::SchemaValidationError` or `rescue Tasker::NotFoundError`.
  class Error < StandardError
    attr_reader :code, :name

    def initialize(message = nil, code: nil, name: nil)
      @code = code || self.class.default_code
      @name = name || (@code && Tasker.result_name(@code))
      super(message || @name || self.class.name)
    end

    class << self
      attr_accessor :default_code

      # Builds the typed error for a failed call and frees the native error object.
      def from_native(code, err_ptr)
        message = nil
        unless err_ptr.null?
          message = Tasker.utf8(Native.tasker_error_message(err_ptr))
          Native.tasker_error_free(err_ptr)
        end
        klass = CODES.fetch(code, Error)
        name = Tasker.result_name(code)
        klass.new(message.nil? || message.empty? ? name : message, code: code, name: name)
      end
    end
  end

  # Base class of TaskNotFoundError and StepNotFoundError.
  class NotFoundError < Error; end

  class NullParameterError < Error; end
  class InvalidArgumentError < Error; end
  class InvalidTemplateError < Error; end
  class TemplateCycleError < InvalidTemplateError; end
  class UnknownTemplateError < Error; end
  class InvalidRequestError < Error; end
  class SchemaValidationError < InvalidRequestError; end
  class PayloadTooLargeError < InvalidRequestError; end
  class DuplicateTaskError < Error; end
  class TaskNotFoundError < NotFoundError; end
  class StepNotFoundError < NotFoundError; end
  class IllegalTransitionError < Error; end
  class StaleClaimError < Error; end
  # Raised by StepContext#heartbeat when the step's task was cancelled while the handler ran: stop
  # working and return (the outcome is discarded). A StaleClaimError, so rescuing that still works.
  class CancelledError < StaleClaimError; end
  class ConfigError < Error; end
  class DatabaseError < Error; end
  class PanicError < Error; end
  class InternalError < Error; end
  class InvalidStateError < Error; end
  # Raised by this gem when a closed Client, Worker or Subscription is used.
  class ClosedError < InvalidStateError; end
  # The call was interrupted (Client#interrupt, or a signal) and returned early: the claims it held
  # went back to ready without counting their attempts.
  class InterruptedError < Error; end

  # Result code => error class (numbers from include/tasker.h; stable, never reused).
  CODES = {
    1 => NullParameterError, 2 => InvalidArgumentError, 3 => InvalidTemplateError,
    4 => TemplateCycleError, 5 => UnknownTemplateError, 6 => InvalidRequestError,
    7 => SchemaValidationError, 8 => PayloadTooLargeError, 9 => DuplicateTaskError,
    10 => TaskNotFoundError, 11 => StepNotFoundError, 12 => IllegalTransitionError,
    13 => StaleClaimError, 14 => ConfigError, 15 => DatabaseError, 16 => PanicError,
    17 => InternalError, 18 => InvalidStateError, 19 => InterruptedError
  }.freeze
  CODES.each { |code, klass| klass.default_code ||= code }
  ClosedError.default_code = 18

  # Raised by a step handler to report a failed attempt on purpose. Use RetryableError or
  # PermanentError; any other exception is a retryable failed attempt named after its class.
  class StepError < StandardError
    attr_reader :retry_after, :details

    # message:     what went wrong (stored in the step's results under error.message)
    # error_class: the class recorded in error.class (default: this exception's class name)
    # details:     any MessagePack-able document stored under error.details
    def initialize(message = nil, error_class: nil, details: nil, retry_after: nil)
      super(message)
      @error_class = error_class
      @details = details
      @retry_after = retry_after
    end

    def error_class
      @error_class || Tasker.class_name_of(self)
    end

    def retryable? = true
  end

  # A failed attempt that may be retried (within the step's retry limit). `retry_after:` in
  # seconds overrides the backoff for the next attempt (capped by the backoff maximum).
  class RetryableError < StepError; end

  # A failed attempt that must not be retried: the step goes to `error` and blocks the task.
  class PermanentError < StepError
    def initialize(message = nil, error_class: nil, details: nil)
      super(message, error_class: error_class, details: details, retry_after: nil)
    end

    def retryable? = false
  end

  class << self
    # A Ruby String as valid UTF-8 (invalid bytes replaced), for messages crossing the boundary.
    def utf8(str)
      s = str.to_s
      s = s.dup.force_encoding(Encoding::UTF_8) if s.encoding == Encoding::BINARY
      s = s.encode(Encoding::UTF_8, invalid: :replace, undef: :replace) unless s.encoding == Encoding::UTF_8
      s.valid_encoding? ? s : s.scrub
    end

    # The name of an exception's class, or of its nearest named ancestor for anonymous classes.
    def class_name_of(exception)
      exception.class.ancestors.each do |mod|
        return mod.name if mod.is_a?(Class) && mod.name
      end
      "Exception"
    end

    def result_name(code)
      Native.tasker_result_name(code).to_s.dup.force_encoding(Encoding::UTF_8)
    end
  end
end
