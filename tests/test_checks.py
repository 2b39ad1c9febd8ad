import numpy as np
import pytest
import torch

from symcl.checks import as_integer, check_integer


@pytest.mark.parametrize("value", [3, np.int64(3), np.uint8(3), torch.tensor(3)])
def test_every_kind_of_integer_counts_and_comes_back_as_a_python_int(value):
    assert type(as_integer(value)) is int and as_integer(value) == 3
    assert type(check_integer("Enc", "dim", value, 1)) is int


@pytest.mark.parametrize("value", [True, np.bool_(True), 3.0, np.float64(3), "3", None, torch.tensor(3.0)])
def test_bools_floats_and_strings_are_not_integers(value):
    assert as_integer(value) is None
    with pytest.raises(ValueError, match=r"The 'dim' parameter of Enc must be an integer >= 1\. Got .* instead\."):
        check_integer("Enc", "dim", value, 1)


def test_check_integer_names_the_minimum_and_may_allow_none():
    with pytest.raises(ValueError, match=r"'max_age' parameter of Queue must be None or an integer >= 0\. Got .*-1"):
        check_integer("Queue", "max_age", np.int64(-1), 0, allow_none=True)
    assert check_integer("Queue", "max_age", None, 0, allow_none=True) is None
