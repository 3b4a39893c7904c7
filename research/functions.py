"""Compute functions of the research app (framework-free declarations)."""
from portal.compute_functions import ComputeFunction, env_int

FUNCTIONS = [
    ComputeFunction(
        name="run_research",
        handler="research.compute:handle_research",
        # Thirteen LLM calls with backoff can take many minutes; a retry of the job resumes
        # where it stopped, so Modal-side retries would only repeat a failing provider.
        timeout=env_int("RESEARCH_FUNCTION_TIMEOUT", 3600),
        retries=0,
        max_containers=env_int("RESEARCH_MAX_CONTAINERS", 20),
        memory=1024,
        cpu=0.5,
        pip_packages=("openai==3.54.0", "tenacity==9.2.1"),
    ),
]
