"""Credentials: what reaches the agent, env file errors, and redaction of streamed output."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_contracts.errors import ExitCode
from agent_harness.errors import CredentialError
from agent_harness.secrets import (
    REDACTED,
    Redactor,
    StreamRedactor,
    read_env_file,
    select_credentials,
)

KEY = "sk-test-FAKE-0000111122223333"


def test_only_the_provider_key_under_both_names_and_hf_token() -> None:
    values = {"OPENAI": KEY, "DB_PASSWORD": "x" * 8, "HF_TOKEN": "hf_FAKE", "OTHER": "y"}
    creds = select_credentials("openai", values, environ={})
    assert dict(creds.values) == {"OPENAI_API_KEY": KEY, "OPENAI": KEY, "HF_TOKEN": "hf_FAKE"}
    assert KEY not in repr(creds)


def test_anthropic_pair_and_no_provider() -> None:
    creds = select_credentials("anthropic", {"ANTHROPIC_API_KEY": "ak-FAKE"}, environ={})
    assert creds.names == ["ANTHROPIC", "ANTHROPIC_API_KEY"]
    assert select_credentials("none", {"OPENAI_API_KEY": KEY}, environ={}).names == []


def test_the_environment_wins_over_the_file() -> None:
    creds = select_credentials("openai", {"OPENAI_API_KEY": "from-file"}, {"OPENAI": "from-env"})
    assert creds.values["OPENAI_API_KEY"] == "from-env"


def test_missing_provider_key_names_it() -> None:
    with pytest.raises(CredentialError, match="OPENAI_API_KEY") as err:
        select_credentials("openai", {"ANTHROPIC_API_KEY": "x"}, environ={})
    assert err.value.exit_code == ExitCode.USAGE


def test_pass_env_passes_named_values_and_refuses_database_credentials() -> None:
    values = {"WANDB_API_KEY": "wb-FAKE", "DB_PASSWORD": "pw", "DATABASE_URL": "postgres://"}
    creds = select_credentials("none", values, environ={}, pass_env=["WANDB_API_KEY"])
    assert creds.names == ["WANDB_API_KEY"]
    refused = ("DB_PASSWORD", "db_password", "DATABASE_URL", "database_url", "PGPASSWORD",
               "pgpass", "POSTGRES_PASSWORD", "postgres_user", "AGENT_EVAL_RESULTS_DIR",
               "TASK_DIR", "not a name", "PATH", "LD_PRELOAD", "PYTHONPATH")  # fmt: skip
    for name in refused:
        with pytest.raises(CredentialError):
            select_credentials("none", values, environ={}, pass_env=[name])
    with pytest.raises(CredentialError, match="MISSING"):
        select_credentials("none", values, environ={}, pass_env=["MISSING"])
    unsafe = select_credentials("none", {}, environ={"PATH": "/x"}, pass_env_unsafe=["PATH"])
    assert unsafe.values == {"PATH": "/x"}
    with pytest.raises(CredentialError, match="database credential"):
        select_credentials("none", values, environ={}, pass_env_unsafe=["db_password"])


def test_env_file_reading(tmp_path: Path) -> None:
    good = tmp_path / "good.env"
    good.write_text('# comment\nexport OPENAI_API_KEY="sk-1 2"\nEMPTY\nB=$A\n', encoding="utf-8")
    assert read_env_file(good) == {"OPENAI_API_KEY": "sk-1 2", "B": "$A"}
    bad = tmp_path / "bad.env"
    bad.write_text("OPENAI_API_KEY=x\nthis is not an assignment\n", encoding="utf-8")
    with pytest.raises(CredentialError, match="line 2"):
        read_env_file(bad)
    for target in (tmp_path / "absent.env", tmp_path):
        with pytest.raises(CredentialError) as err:
            read_env_file(target)
        assert err.value.exit_code == ExitCode.USAGE
    binary = tmp_path / "binary.env"
    binary.write_bytes(b"A=\xff\xfe\n")
    with pytest.raises(CredentialError, match="UTF-8"):
        read_env_file(binary)


def test_redactor_hides_every_value() -> None:
    redact = Redactor([KEY, "hf_FAKE_TOKEN"])
    assert redact(f"key={KEY} token=hf_FAKE_TOKEN") == f"key={REDACTED} token={REDACTED}"
    assert Redactor([])("nothing to hide") == "nothing to hide"


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_stream_redaction_survives_any_chunking(size: int) -> None:
    data = f"start\nthe key is {KEY} ok\n{KEY}{KEY}\nno newline at the end {KEY}".encode()
    stream = StreamRedactor(Redactor([KEY]))
    out = "".join(stream.feed(data[i : i + size]).log for i in range(0, len(data), size))
    out += stream.flush().log
    assert KEY not in out
    assert out.count(REDACTED) == 4
    assert out.startswith("start\nthe key is ")


def test_long_lines_without_newline_are_released_but_never_a_split_value() -> None:
    stream = StreamRedactor(Redactor([KEY]), max_pending=16)
    data = ("." * 40 + KEY + "." * 40).encode()
    released = [stream.feed(data[i : i + 5]).log for i in range(0, len(data), 5)]
    assert any(released)  # long output is not held back until the end
    out = "".join(released) + stream.flush().log
    assert KEY not in out and REDACTED in out


def test_multibyte_characters_split_across_chunks() -> None:
    stream = StreamRedactor(Redactor([KEY]))
    data = "héllo ✓\n".encode()
    parts = [stream.feed(data[i : i + 1]) for i in range(len(data))] + [stream.flush()]
    assert "".join(p.log for p in parts) == "".join(p.console for p in parts) == "héllo ✓\n"


def test_an_empty_provider_key_is_reported_as_empty(tmp_path: Path) -> None:
    env = tmp_path / "empty.env"
    env.write_text('OPENAI_API_KEY=\nOPENAI=""\n', encoding="utf-8")
    with pytest.raises(CredentialError) as err:
        select_credentials("openai", read_env_file(env), {})
    assert "which is empty" in err.value.message and err.value.exit_code == 2


def test_a_named_empty_variable_reaches_the_agent_empty(tmp_path: Path) -> None:
    env = tmp_path / "named.env"
    env.write_text("WANDB_MODE=\n", encoding="utf-8")
    chosen = select_credentials("none", read_env_file(env), {}, ["WANDB_MODE"])
    assert chosen.values == {"WANDB_MODE": ""} and chosen.secrets() == []
    with pytest.raises(CredentialError, match="set neither"):
        select_credentials("none", {}, {}, ["WANDB_MODE"])


def test_env_file_dialects(tmp_path: Path) -> None:
    env = tmp_path / "dialects.env"
    env.write_bytes(
        b"\xef\xbb\xbf# comment\r\nexport OPENAI_API_KEY='sk-one'\r\nHF_TOKEN=hf-a # note\r\n"
        b"HF_TOKEN=hf-b\r\nEXTRA=${HOME}\r\n"
    )
    values = read_env_file(env)
    chosen = select_credentials("openai", values, {}, ["EXTRA"])
    assert chosen.values == {
        "OPENAI_API_KEY": "sk-one",
        "OPENAI": "sk-one",
        "HF_TOKEN": "hf-b",
        "EXTRA": "${HOME}",
    }
