# frozen_string_literal: true

module Tasker
  # A lifecycle event (docs/ABI.md "Event"): name ("step.completed", ...), task_id, step_id and
  # step_name (step events), from_state/to_state, timestamp (epoch ms) and a payload Hash.
  Event = Struct.new(:name, :task_id, :step_id, :step_name, :from_state, :to_state, :timestamp, :payload,
                     keyword_init: true) do
    def self.from_h(doc)
      doc ||= {}
      new(name: doc["name"], task_id: doc["task_id"], step_id: doc["step_id"], step_name: doc["step_name"],
          from_state: doc["from_state"], to_state: doc["to_state"], timestamp: doc["timestamp"],
          payload: doc["payload"] || {})
    end

    def time = timestamp && Time.at(timestamp / 1000.0)
    def step? = !step_id.nil?
  end

  # An event subscription (Client#subscribe). #close unsubscribes; if it is never closed, the GC
  # releases it once the Subscription object is unreachable.
  class Subscription
    # What C's userdata points at (through the slab): the block and a closed flag. Kept apart from
    # the Subscription so that the slab does not keep the Subscription (and its handle) alive.
    class Sink
      attr_accessor :closed

      def initialize(block)
        @block = block
        @closed = false
      end

      def closed? = @closed

      # Runs on the thread whose call caused the event.
      def deliver(event)
        return if @closed

        delivering = CallScope.state.delivering
        delivering.push(self)
        begin
          @block.call(event)
        ensure
          delivering.pop
        end
      end
    end

    attr_reader :patterns

    # @api private — use Client#subscribe.
    def initialize(client, patterns, sink, ptr)
      @client = client # the native subscription keeps the client alive; so does the Ruby object
      @patterns = patterns
      @sink = sink
      @ptr = FFI::AutoPointer.new(ptr, Native::Release.method(:subscription))
    end

    def closed? = @sink.closed?

    # Unsubscribes. Safe to call more than once, and from inside the subscription's own block (the
    # native handle is then released when the outermost libtasker call on this thread returns).
    def close
      return nil if @sink.closed?

      @sink.closed = true
      ptr = @ptr
      @ptr = nil
      if CallScope.state.delivering.include?(@sink)
        CallScope.defer { ptr.free }
      else
        ptr.free
      end
      nil
    end

    def inspect = "#<Tasker::Subscription #{@patterns.inspect}#{closed? ? ' closed' : ''}>"
  end
end
