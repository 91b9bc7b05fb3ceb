import pytest

from vs_integrations.backends.response_format import forget_learnt_styles


@pytest.fixture(autouse=True)
def fresh_schema_memory():
    """Each test starts with no learnt reply-schema form (the memory is process-wide)."""
    forget_learnt_styles()
    yield
    forget_learnt_styles()
