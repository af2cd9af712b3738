# frozen_string_literal: true

# The order-fulfillment workflow through the Ruby binding (what ./demo.sh runs):
#   validate_order -> (reserve_inventory, check_fraud) -> process_payment -> ship_order
# process_payment fails once with a retryable error asking for a retry after 1 s.
# Runs on the embedded SQLite default (tasker.db in the current directory) or TASKER_DATABASE_URL.

$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "tasker"

TEMPLATE = ENV.fetch("TASKER_DEMO_TEMPLATE",
                     File.expand_path("../../../examples/templates/order_fulfillment.yaml", __dir__))

class ValidateOrder < Tasker::StepHandler
  def process(ctx)
    items = ctx.context.fetch("items")
    raise Tasker::PermanentError.new("order has no items", error_class: "InvalidOrder") if items.empty?

    { "valid" => true, "total_cents" => items.sum { |i| i["qty"] * i["price_cents"] } }
  end
end

class ReserveInventory < Tasker::StepHandler
  def process(ctx)
    { "reserved" => ctx.context["items"].map { |i| "#{i['sku']} x#{i['qty']}" },
      "total_cents" => ctx.dependency_result("validate_order")["total_cents"] }
  end
end

class CheckFraud < Tasker::StepHandler
  def process(ctx) = { "score" => ctx.context["customer"].length % 7, "approved" => true }
end

class ProcessPayment < Tasker::StepHandler
  def process(ctx)
    if ctx.attempt == 1
      raise Tasker::RetryableError.new("payment gateway busy (429)", retry_after: 1, error_class: "GatewayBusy")
    end

    # dependency_results holds the results of the step's parents: reserve_inventory and check_fraud
    { "charged_cents" => ctx.dependency_result("reserve_inventory")["total_cents"] }
  end

  # The persisted results: the output plus a receipt number.
  def process_results(ctx, output) = output.merge("receipt" => "R-#{ctx.task_id}-#{ctx.attempt}")
end

class ShipOrder < Tasker::StepHandler
  def process(ctx)
    { "carrier" => "ups", "order_id" => ctx.context["order_id"],
      "charged_cents" => ctx.dependency_result("process_payment")["charged_cents"] }
  end
end

HANDLERS = { "validate_order" => ValidateOrder, "reserve_inventory" => ReserveInventory,
             "check_fraud" => CheckFraud, "process_payment" => ProcessPayment, "ship_order" => ShipOrder }.freeze

def on_event(event)
  p = event.payload
  case event.name
  when "step.execution_requested" then puts format("  > %-18s started (attempt %d)", event.step_name, p["attempt"])
  when "step.completed" then puts format("  + %-18s finished in %d ms", event.step_name, p["execution_duration_ms"])
  when "step.failed"
    retry_note = p["retry_available"] ? "retry in #{p['backoff_ms']} ms" : "no retry left"
    puts format("  ! %-18s failed: %s (%s) -> %s", event.step_name, p["error_message"], p["error_class"], retry_note)
  else puts "  * #{event.name}"
  end
end

url = ENV["TASKER_DATABASE_URL"].to_s.empty? ? nil : ENV["TASKER_DATABASE_URL"]
ok = Tasker::Client.open(url) do |client|
  client.load_template(TEMPLATE)
  HANDLERS.each { |name, handler| client.register_handler(name, handler) }
  subscription = client.subscribe("step.execution_requested", "step.completed", "step.failed",
                                  "task.start_requested", "task.completed", "task.failed") { |e| on_event(e) }

  order_id = "ORD-#{Time.now.strftime('%Y%m%d%H%M%S%L')}"
  task = client.create_task("order_fulfillment", namespace: "ecommerce", initiator: "ruby demo",
                                                 context: { "order_id" => order_id, "customer" => "ada@example.com",
                                                            "items" => [{ "sku" => "BOOK-1", "qty" => 2, "price_cents" => 1999 },
                                                                        { "sku" => "PEN-9", "qty" => 1, "price_cents" => 350 }] })
  puts "libtasker #{Tasker.library_version} (Ruby #{RUBY_VERSION}) - order #{order_id}, task #{task.task_id} " \
       "on #{url || 'the default database (sqlite://tasker.db)'}"
  client.run_task(task)
  subscription.close

  view = client.task_view(task)
  puts
  puts format("%-18s %-12s %8s %12s", "step", "state", "attempts", "duration ms")
  view.steps.each do |s|
    duration = s["processed_at"] && s["last_attempted_at"] ? s["processed_at"] - s["last_attempted_at"] : 0
    puts format("%-18s %-12s %8d %12d", s["name"], s["state"], s["attempts"], duration)
  end
  puts
  puts "task #{task.task_id}: #{view.state}  (payment: #{view.step('process_payment')['results'].inspect})"
  view.state == "complete"
end
exit(ok ? 0 : 1)
