"""pydantic's errors as the bot words them: the validator's own sentence, the field, never the value."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.domain.field_problems import field_problems
from bot.domain.policy import PolicyUpdate


def refused(**values: object) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        PolicyUpdate(**values)
    return caught.value


def test_a_validators_sentence_is_given_without_pydantics_prefix_or_the_value() -> None:
    [problem] = field_problems(refused(name="secret\u0007name"))
    assert (problem.field, problem.path, problem.kind) == ("name", "name", "value_error")
    assert problem.message == "name cannot hold control characters or line breaks"
    assert "secret" not in repr(problem)


def test_a_type_error_keeps_pydantics_words_and_names_its_field() -> None:
    [problem] = field_problems(refused(retention_value="thirty"))
    assert problem.field == "retention_value"
    assert problem.kind != "value_error"
    assert "thirty" not in problem.message
