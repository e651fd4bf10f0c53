"""smolagents (managed agents): a CodeAgent manager that delegates to a ToolCallingAgent named "researcher",
against the local scripted server at argv[1] (chat completions), its spans captured by the OpenTelemetry SDK
through the OpenInference smolagents instrumentor and written as OTLP JSON lines to argv[2]. The manager's
code runs in smolagents' own local executor: the script's code only calls the researcher and final_answer."""

import sys
from pathlib import Path

from openinference.instrumentation.smolagents import SmolagentsInstrumentor

sys.path.insert(0, str(Path(__file__).parent))
from otlp_file import capturing_provider, write_otlp_jsonl  # noqa: E402

base_url, out = sys.argv[1], Path(sys.argv[2])
provider, exporter = capturing_provider("smolagents-managed")
SmolagentsInstrumentor().instrument(tracer_provider=provider)

from smolagents import CodeAgent, OpenAIServerModel, ToolCallingAgent  # noqa: E402

model = OpenAIServerModel(model_id="scripted-model", api_base=base_url, api_key="test")
researcher = ToolCallingAgent(tools=[], model=model, name="researcher", description="Looks facts up.",
                              max_steps=2, verbosity_level=0)
manager = CodeAgent(tools=[], model=model, managed_agents=[researcher], max_steps=3, verbosity_level=0)
manager.run("What is 2+2?")
write_otlp_jsonl(exporter.get_finished_spans(), out)
