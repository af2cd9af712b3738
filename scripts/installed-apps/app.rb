# frozen_string_literal: true

# The installed-libtasker check in Ruby: app.rb TEMPLATE SQLITE_FILE (see README.md).
require "tasker"

template, db = ARGV
Tasker::Client.open("sqlite://#{db}") do |client|
  client.load_template(template)
  client.register_handler("hello") { |ctx| { "text" => "hello #{ctx.context['who']}" } }
  client.register_handler("shout") { |ctx| { "text" => ctx.dependency_result("hello")["text"].upcase } }
  task = client.create_task("installed_check", context: { "who" => "ada" })
  client.run_task(task)
  view = client.task_view(task)
  puts "installed-ruby: #{view.state} #{view.step('shout')['results']['text']} " \
       "(libtasker #{Tasker.library_version} from #{Tasker::Native::LIBRARY_PATH}, gem #{Tasker::VERSION})"
end
