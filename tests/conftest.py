"""Shared test fixtures."""
import pytest

from tape import _tape


@pytest.fixture
def fresh_tape():
    """Record the test on a tape of its own.

    A failed test keeps its tensors (and their tape) alive in its traceback; a new tape per test keeps
    one failure from leaking into the recordings of the tests after it. Used by the table-driven
    gradient tests through ``pytestmark = pytest.mark.usefixtures("fresh_tape")``.
    """
    _tape.state.tape_ref = None
    yield
    _tape.state.tape_ref = None
