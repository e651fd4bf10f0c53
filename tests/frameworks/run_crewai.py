"""CrewAI: its documented collaboration patterns against the local scripted server at argv[1] (chat
completions, through CrewAI's native OpenAI provider), its spans captured by the OpenTelemetry SDK through the
OpenInference CrewAI and OpenAI instrumentors and written as OTLP JSON lines to argv[2]:
- a sequential crew in which the researcher, allowed to delegate, asks the checker with the `Delegate work to
  coworker` tool (the checker has no agent span of its own: its call runs inside that tool span);
- a hierarchical crew (`Process.hierarchical`): CrewAI's "Crew Manager" delegates the task to a worker.
CrewAI's own telemetry and tracing are switched off: nothing leaves the machine. This runner has an environment
of its own (crewai pins what the rest of the test extra does not take)."""

import os
import sys
from pathlib import Path

os.environ["CREWAI_DISABLE_TELEMETRY"] = "true"
os.environ["CREWAI_TRACING_ENABLED"] = "false"
os.environ["OPENAI_API_KEY"] = "test"

from openinference.instrumentation.crewai import CrewAIInstrumentor  # noqa: E402
from openinference.instrumentation.openai import OpenAIInstrumentor  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from otlp_file import capturing_provider, write_otlp_jsonl  # noqa: E402

base_url, out = sys.argv[1], Path(sys.argv[2])
provider, exporter = capturing_provider("crewai")
CrewAIInstrumentor().instrument(tracer_provider=provider)
OpenAIInstrumentor().instrument(tracer_provider=provider)

from crewai import LLM, Agent, Crew, Process, Task  # noqa: E402

llm = LLM(model="openai/scripted-model", base_url=base_url, api_key="test")
researcher = Agent(role="Researcher", goal="Answer questions", backstory="You find facts.", llm=llm,
                   allow_delegation=True, verbose=False)
checker = Agent(role="Checker", goal="Check answers", backstory="You check facts.", llm=llm, verbose=False)
task = Task(description="What is 2+2?", expected_output="The sum.", agent=researcher)
Crew(agents=[researcher, checker], tasks=[task], process=Process.sequential, verbose=False).kickoff()

writer = Agent(role="Writer", goal="Write slogans", backstory="You write.", llm=llm, verbose=False)
editor = Agent(role="Editor", goal="Edit slogans", backstory="You edit.", llm=llm, verbose=False)
slogan = Task(description="A slogan for a bakery.", expected_output="One slogan.")
Crew(agents=[writer, editor], tasks=[slogan], process=Process.hierarchical, manager_llm=llm, verbose=False).kickoff()
write_otlp_jsonl(exporter.get_finished_spans(), out)
