"""Where an agent runs: a Docker container or a local process, behind one interface."""

from agent_harness.runtimes.base import AgentProcess, Launch, LogSink, Runtime

__all__ = ["AgentProcess", "Launch", "LogSink", "Runtime"]
