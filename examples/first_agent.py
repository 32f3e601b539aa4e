"""Your first agent in the browser: a metric, a tracked function, LLM calls and an alert rule.

The example of the README and of docs/getting-started.md (a test checks they are this file). Run it with
``python examples/first_agent.py`` and open the address it prints.
"""

import zgen_otel
from zgen_otel.alerting import get_alert_manager
from zgen_otel.llm import llm_call

zgen_otel.configure(service_name="my-agent")
get_alert_manager().add_metric_rule(name="queue_too_deep", description="The queue is over 100",
                                    metric_name="agent.queue_depth", threshold=100, operator=">")

@zgen_otel.track("search_tool")
def search(query: str) -> str:
    return f"results for {query}"

for step in range(20):
    zgen_otel.record_metric("queue_depth", step * 10, "agent")       # a metric: agent.queue_depth
    with llm_call(model="gpt-4o-mini", provider="openai") as call:   # an LLM call: tokens, latency
        search("weather")                                            # a tracked call: duration, outcome
        call.set_usage(input_tokens=120, output_tokens=40)

handle = zgen_otel.start_server()                  # the web page, served from this process
input(f"Open {handle.url} and press Enter to stop.\n")
