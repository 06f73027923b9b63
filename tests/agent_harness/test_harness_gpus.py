"""GPU selection: the accepted forms and the check against what the machine shows."""

from __future__ import annotations

import pytest

from agent_contracts.errors import ExitCode
from agent_harness.errors import ConfigError, GPUError
from agent_harness.gpus import GpuSelection, check_gpus, default_gpus, parse_gpus


def test_forms() -> None:
    assert parse_gpus("none") == GpuSelection()
    assert parse_gpus("all").all
    assert parse_gpus("0").ids == ("0",)
    assert parse_gpus("0,1").ids == ("0", "1")
    assert default_gpus(0) == GpuSelection()
    assert default_gpus(2).ids == ("0", "1")


@pytest.mark.parametrize(
    "text", ["gpu0", "0,0", "0,00", "1,01", " 0, 0", "00,0", "1,a", "-1", "\u0661", "9" * 5000]
)
def test_bad_forms_are_usage_errors(text: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_gpus(text)
    assert err.value.exit_code == ExitCode.USAGE


def test_absent_gpus_are_an_environment_error() -> None:
    with pytest.raises(GPUError) as err:
        check_gpus(parse_gpus("0"), visible=[])
    assert err.value.exit_code == ExitCode.ENVIRONMENT
    with pytest.raises(GPUError, match="GPU 3"):
        check_gpus(parse_gpus("0,3"), visible=["0", "1"])
    check_gpus(parse_gpus("none"), visible=[])
    check_gpus(parse_gpus("1"), visible=["0", "1"])
